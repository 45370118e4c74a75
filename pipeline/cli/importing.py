"""`publish import`: digests written as plain text → a new issue folder (pipeline.authoring.importer)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.group import Context, cli, config_option, echo_problems, pass_ctx, plural


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--issue", "issue_id", metavar="ID", help="The issue to make (default: the date the digest gives).")
@click.option("--dry-run", is_flag=True, help="Show the files that would be written; write nothing.")
@config_option
@pass_ctx
def import_(obj: Context, files: tuple[Path, ...], issue_id: str | None, dry_run: bool) -> None:
    """Turn digests written as plain text (UTF-8 or GBK) into a new issue folder: issue.yaml and
    one NN-slug.md per paper. Never overwrites; lines not understood are listed as warnings."""
    from pipeline.authoring.importer import import_digests

    plan = import_digests(obj.config, list(files), issue_id, dry_run=dry_run)
    echo_problems(plan.warnings, Path.cwd())
    for digest in plan.digests:
        click.echo(f"{digest.path}: read as {digest.encoding}, {plural(len(digest.papers), 'paper')}")
    verb = "would write" if dry_run else "wrote"
    for path, text in plan.files.items():
        click.echo(f"{verb} {path} ({plural(len(text.encode('utf-8')), 'byte')})")
    if dry_run:
        click.echo("nothing written (--dry-run)")
    else:
        click.echo(f"Next: edit the entries (the issue is a draft), then `publish check {plan.issue_id}`")
