"""`publish preview`: a local server that shows the newsletter as readers will, rebuilt and
reloaded in the browser on every change; it never sends anything and never writes public/."""

from __future__ import annotations

import threading

import click

from pipeline.cli.group import Context, cli, config_option, pass_ctx


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in the default browser.")
@config_option
@pass_ctx
def preview(obj: Context, host: str, port: int, open_browser: bool) -> None:
    """Preview the newsletter: every issue's page, email (375/700 px, light and dark) and WeChat
    article, with `publish check`'s problems on top; rebuilt and reloaded on each change of
    issues/, templates/ or config.yaml. Builds into the state folder's preview/, never public/."""
    from pipeline.cli.publishing import _listen_error
    from pipeline.web.preview import Preview, serve_preview

    config = obj.config  # a config that does not load is an error here, before anything starts
    session = Preview(obj.config_path.resolve())
    session.rebuild()
    try:
        server = serve_preview(session, host, port)
    except OSError as exc:
        raise _listen_error(exc, host, port) from None
    url = f"http://{host}:{server.server_port}/"
    click.echo(f"previewing {config.site.title} at {url} (building into {session.config.output_dir}); Ctrl-C stops")
    for problems in session.problems.values():
        for problem in problems:
            click.echo(problem, err=True)
    stop = threading.Event()
    threading.Thread(target=session.watch, args=(stop,), daemon=True).start()
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
