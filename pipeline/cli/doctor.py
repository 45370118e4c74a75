"""`publish doctor`: what a bulk sender needs (DKIM, SPF, DMARC, one-click unsubscribe) for each
email channel, and what a received copy's Authentication-Results say. Prints and exits; the
checks themselves are ``pipeline.channels.email.sender_checks``. Nothing is looked up in DNS.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.group import Context, cli, config_option, pass_ctx, plural
from pipeline.errors import UsageError

LABELS = {"ok": "ok", "missing": "MISSING", "warn": "warning", "todo": "to check", "info": "note"}


@cli.command()
@click.option("--channel", "channels", multiple=True, metavar="NAME", help="Only this email channel (repeatable).")
@click.option(
    "--eml",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A received copy (e.g. of --test-to, saved as .eml): read its Authentication-Results and check its signature.",
)
@config_option
@pass_ctx
def doctor(obj: Context, channels: tuple[str, ...], eml: Path | None) -> None:
    """Show what Gmail and Yahoo ask of bulk senders and what each email channel lacks: the From
    domain, the DKIM record to publish, the SPF and DMARC records to check, one-click unsubscribe.
    Exit 1 when something required is missing."""
    from pipeline.channels import mailing_channels
    from pipeline.channels.email import sender_checks

    config = obj.config
    names = doctor_channels(config, channels, mailing_channels(config))
    data = eml.read_bytes() if eml is not None else None
    missing = 0
    for name in names:
        click.echo(f"{name}:")
        for check in sender_checks(config, name, data):
            click.echo(format_check(check))
            missing += check.missing
    if missing:
        click.echo(f"{plural(missing, 'required item')} missing")
        sys.exit(1)
    click.echo("nothing required is missing" + ("" if data else "; the records marked 'to check' are not looked up"))


def doctor_channels(config, asked: tuple[str, ...], mailing: list[str]) -> list[str]:
    """The email channels to examine: those named, else every one."""
    if not mailing:
        raise UsageError("no email channel is configured", hint="add a channel with type: email to config.yaml")
    for name in asked:
        if name not in mailing:
            raise UsageError(f"--channel {name}: not an email channel", hint=f"email channels: {', '.join(mailing)}")
    return list(dict.fromkeys(asked)) or mailing


def format_check(check) -> str:
    """``  MISSING   DKIM: …``: the state first, so the eye finds what to do."""
    return f"  {LABELS.get(check.state, check.state):<9} {check.what}: {check.detail}"
