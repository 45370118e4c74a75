"""The `publish` group and what every command shares: the --config option, the context
that loads the config on first use, and the way problems are printed.

The commands themselves live beside this module (editing, publishing, subscribers) and
register on ``cli`` with ``@cli.command`` when they are imported; ``pipeline.cli`` imports
them all and holds ``main``, the one place that turns exceptions into messages and exit codes.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline import __version__
from pipeline.errors import Problem


class Context:
    """What every command needs: where the config is, loaded on first use."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from pipeline.config import load_config

            self._config = load_config(self.config_path)
        return self._config


pass_ctx = click.make_pass_decorator(Context)


def _set_config(click_ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:  # given after the subcommand: it wins over the one before
        click_ctx.ensure_object(Context).config_path = value


def config_option(command):
    """``--config PATH`` accepted after the subcommand too (``publish check --config x.yaml``)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=None,
        expose_value=False,
        callback=_set_config,
        help="The newsletter's config.yaml (default: ./config.yaml).",
    )(command)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 issue``, ``2 issues``; ``many`` for irregular plurals (entry → entries)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def echo_problems(problems: list[Problem], root: Path | None = None) -> None:
    """Print problems as ``path:line: severity: message``, errors first."""
    for problem in sorted(problems, key=lambda p: (p.is_error is False, str(p.path), p.line or 0)):
        click.echo(problem.format(root), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=Path("config.yaml"),
    show_default=True,
    help="The newsletter's config.yaml.",
)
@click.version_option(__version__, prog_name="publish")
@click.pass_context
def cli(click_ctx: click.Context, config_path: Path) -> None:
    """Turn dated issue folders of paper entries into feeds, email, WeChat articles and web
    pages, and publish each issue to its channels, once."""
    click_ctx.obj = Context(config_path)
