"""The editor's commands: `init` and `new` scaffold, `add` looks papers up on arXiv, `check`
reports every problem, `build` renders into public/, `bib` prints BibTeX.

Heavy modules are imported inside the commands so that `publish --help` starts fast.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from contextlib import nullcontext
from pathlib import Path

import click

from pipeline.cli.group import Context, cli, config_option, echo_problems, pass_ctx, plural
from pipeline.errors import IssueError


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Make a new newsletter folder: a commented config.yaml, subscribers.csv (the email
    channel's list: email,name,status, one example reader), one example issue and an empty
    templates/ for overrides. Never overwrites: if any of these files exists, nothing is written."""
    from pipeline.authoring.scaffold import init_newsletter

    created = init_newsletter(directory)
    for path in created:
        click.echo(f"created {path}")
    command = _command_name()
    click.echo(f"Next: cd {shlex.quote(str(directory))} && {command} check && {command} build")


def _command_name() -> str:
    """``publish`` when that is on PATH as this program; else the path this one was started by
    (``.venv/bin/publish`` after the README's quick start), made absolute to work after a cd."""
    started = Path(sys.argv[0])
    on_path = shutil.which("publish")
    if started.name != "publish" or (on_path and Path(on_path).resolve() == started.resolve()):
        return "publish"
    return shlex.quote(str(started.resolve()))


@cli.command()
@click.argument("day", metavar="DATE")
@click.option("--slug", help="Second issue on the same day: DATE-SLUG (a-z, 0-9, -).")
@click.option("--title", help="The issue's title (default: the site title and the date).")
@config_option
@pass_ctx
def new(obj: Context, day: str, slug: str | None, title: str | None) -> None:
    """Scaffold an issue folder for DATE (YYYY-MM-DD) with one example entry."""
    from pipeline.authoring.scaffold import new_issue

    folder = new_issue(obj.config, day, slug, title)
    click.echo(f"created {folder}/ (issue.yaml, 01-example.md)")
    click.echo(f"Next: edit the entry, then `publish check {folder.name}`")


@cli.command()
@click.argument("issue_ids", nargs=-1, metavar="[ISSUE]...")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Check every issue again, rather than reusing the findings of the issues unchanged since the last check.",
)
@config_option
@pass_ctx
def check(obj: Context, issue_ids: tuple[str, ...], strict: bool, no_cache: bool) -> None:
    """Check issues against the format and report every problem at once."""
    from pipeline.build.check import check_issues
    from pipeline.build.recheck import CheckMemory

    reused = 0
    if issue_ids:
        report = check_issues(obj.config, _unique(issue_ids))
    else:  # the whole archive (a minute at 500 issues, of which an edit changes one): on all CPUs, remembered
        memory = CheckMemory(obj.config.state_dir / "build" / "checked.json", reuse=not no_cache)
        report = memory.check(obj.config)
        reused = len(report.issues) - len(report.checked)
    echo_problems(report.problems, Path.cwd())
    for line in report.notes:
        click.echo(line)
    errors, warnings = len(report.errors), len(report.warnings)
    kept = f" ({reused} unchanged since the last check: their findings reused)" if reused else ""
    click.echo(
        f"{plural(report.issue_count, 'issue')} checked: {plural(errors, 'error')}, {plural(warnings, 'warning')}{kept}"
    )
    if errors or (strict and warnings):
        if strict and warnings and not errors:
            click.echo("--strict: the warnings count as errors", err=True)
        sys.exit(1)


@cli.command()
@click.argument("issue_ids", nargs=-1, metavar="[ISSUE]...")
@click.option("--force", is_flag=True, help="Render every issue again, even unchanged ones.")
@click.option(
    "--no-search",
    is_flag=True,
    help="Leave the search index (public/search/) as it is: neither updated nor removed.",
)
@config_option
@pass_ctx
def build(obj: Context, issue_ids: tuple[str, ...], force: bool, no_search: bool) -> None:
    """Render issues to public/: pages, BibTeX, index, feeds and site pages; email and WeChat files
    for the issues that may still be sent and for every ISSUE named."""
    from pipeline.build import search
    from pipeline.build.builder import build as run_build

    named = _unique(issue_ids)
    with search.skipped() if no_search else nullcontext():
        report = run_build(obj.config, named, progress=_progress_printer(), force=force)
    echo_problems(report.problems, Path.cwd())
    # Only files whose bytes differ are replaced (their mtimes stay valid for HTTP caches), so
    # a forced rebuild of unchanged input rightly changes none: say "changed", not "written".
    written = f"{plural(len(report.written), 'file')} changed in {obj.config.output_dir}"
    if force:
        written += " (all re-rendered; files whose content is the same are left untouched)"
    if report.unlisted:
        click.echo(
            f"{plural(len(report.unlisted), 'issue')} not on the index or in the feeds (a draft, or not due yet): "
            f"{', '.join(report.unlisted)}; see each at public/issues/<id>/ or with `publish preview`, and when it is due with `publish status`"
        )
    if named is None:
        click.echo(f"built {plural(len(report.built), 'issue')}, {len(report.skipped)} unchanged; {written}")
        return
    for issue_id in named:
        click.echo(f"{issue_id}: {'built' if issue_id in report.built else 'unchanged'}")
    others = [i for i in report.built if i not in named]  # never built before: the archive needs them
    if others:
        click.echo(f"also built {plural(len(others), 'other issue')} not built before: {', '.join(others)}")
    click.echo(written)


def _unique(issue_ids: tuple[str, ...]) -> list[str] | None:
    """The ids as given, each once; None (every issue) when none are given."""
    return list(dict.fromkeys(issue_ids)) or None


def _progress_printer():
    """A one-line progress display on a terminal; silence otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, issue_id: str) -> None:
        if total >= 20:
            end = "\n" if done == total else ""
            click.echo(f"\r[{done}/{total}] {issue_id}", err=True, nl=False)
            if end:
                click.echo("", err=True)

    return show


@cli.command()
@click.argument("issue_id", metavar="ISSUE")
@click.argument("papers", nargs=-1, required=True, metavar="ARXIV_ID_OR_URL...")
@click.option("--again", is_flag=True, help="Add a paper even though an earlier issue featured it.")
@config_option
@pass_ctx
def add(obj: Context, issue_id: str, papers: tuple[str, ...], again: bool) -> None:
    """Look papers up on arXiv and write one NN-slug.md entry per paper into ISSUE
    (created, without the example entry, if it does not exist yet)."""
    from pipeline.authoring.add import PaperError, add_papers

    report = add_papers(obj.config, issue_id, papers, again=again)
    if report.created_issue:
        click.echo(f"created {report.folder}/ (issue.yaml)")
    for item in report.results:
        if item.path is not None and item.paper is not None:
            click.echo(f"added {item.path.name}: {item.paper.title} (arXiv {item.paper.id})")
        else:
            click.echo(f"not added: {item.error}" + (f" ({item.hint})" if item.hint else ""), err=True)
    if report.failed:
        raise PaperError(
            f"{len(report.failed)} of {len(report.results)} paper(s) not added; nothing was written for them"
        )


@cli.command()
@click.argument("issue_id", metavar="ISSUE")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE instead of standard output."
)
@config_option
@pass_ctx
def bib(obj: Context, issue_id: str, output: Path | None) -> None:
    """Print BibTeX for the papers of ISSUE (also built as public/issues/ISSUE/papers.bib)."""
    from pipeline.atomic import write_atomic
    from pipeline.load.issues import load_issues
    from pipeline.render.bibtex import issue_bibtex

    result = load_issues(obj.config, [issue_id])
    if result.errors:
        raise IssueError(result.problems)
    text = issue_bibtex(result.issues[0])
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text.encode("utf-8"))
        click.echo(f"wrote {plural(len(result.issues[0].papers), 'entry', 'entries')} to {output}")


# The command families in their own modules. Each registers its commands on `cli` with
