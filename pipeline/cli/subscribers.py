"""`publish subscribers …`: the subscriber list in the ledger, from the command line.

The group registers on `publish` (pipeline.cli.group) when pipeline.cli imports this module;
errors raised here are turned into messages and exit codes by pipeline.cli.main. Heavy modules are imported inside the
commands so that `publish --help` starts fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.group import Context, cli, config_option, pass_ctx, plural
from pipeline.errors import PublishError


@cli.group("subscribers")
@config_option
def subscribers_group() -> None:
    """The subscriber list in the ledger: import, add, remove, list, export, count, bounces.

    Unsubscribed, bounced and complained addresses stay suppressed: no import brings them back."""


@subscribers_group.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@config_option
@pass_ctx
def subscribers_import(obj: Context, csv_file: Path) -> None:
    """Merge a CSV with email,name[,status] columns into the list; report what changed.

    Names in the file replace the stored ones (the email channel's own list, merged before
    each send, does so only when it was saved later). UTF-8 (with or without BOM) or UTF-16."""
    from pipeline.audience.subscribers import import_csv
    from pipeline.ledger import Ledger

    with Ledger(obj.config.state_path) as ledger:
        report = import_csv(ledger, csv_file, explicit=True)
    click.echo(f"{csv_file}: {report.summary()}")
    for reason, number in report.reasons().most_common():
        click.echo(f"  skipped {number}: {reason}")
    for line, address, reason in report.skipped[:50]:
        click.echo(f"  line {line}: {address or '(empty)'}: {reason}")
    if len(report.skipped) > 50:
        click.echo(f"  … and {len(report.skipped) - 50} more")


@subscribers_group.command("add")
@click.argument("address", metavar="EMAIL")
@click.option(
    "--name", default="", help="The subscriber's name, used in the greeting (or write EMAIL as 'Name <address>')."
)
@click.option(
    "--resubscribe", is_flag=True, help="Reactivate an unsubscribed or bounced address (only when the person asked)."
)
@config_option
@pass_ctx
def subscribers_add(obj: Context, address: str, name: str, resubscribe: bool) -> None:
    """Add EMAIL as an active subscriber (or update its name). EMAIL may carry the name, as
    mail programs write it: '赵磊 <zhao.lei@example.com>'."""
    from email.utils import parseaddr

    from pipeline.audience.subscribers import add as add_subscriber
    from pipeline.audience.subscribers import get, normalize_address
    from pipeline.ledger import Ledger

    written_name = parseaddr(address)[0].strip()
    name = name or written_name  # --name wins over the name in EMAIL
    email = normalize_address(address)
    with Ledger(obj.config.state_path) as ledger:
        outcome = add_subscriber(ledger, email, name, method="cli", resubscribe=resubscribe)
        current = get(ledger, email)
    if outcome.startswith("suppressed:"):
        raise PublishError(
            f"{email} is {current.status} since {current.updated_at[:10]} ({current.status_reason or current.source}); not added",
            hint="suppressions win; if the person asked to come back, add --resubscribe (or they sign up again on the website)",
        )
    stored = f", name {current.name}" if current.name else ""
    click.echo(f"{email}: {outcome} ({current.status}){stored}")


@subscribers_group.command("remove")
@click.argument("address", metavar="EMAIL")
@click.option(
    "--forget",
    is_flag=True,
    help="Delete the address and its history instead (an erasure request); a later import may add it again.",
)
@config_option
@pass_ctx
def subscribers_remove(obj: Context, address: str, forget: bool) -> None:
    """Unsubscribe EMAIL now; it stays suppressed, so imports never add it back.

    An address not on the list is recorded as unsubscribed too, so that a later import or
    the email channel's list cannot add it (--forget removes such a record)."""
    from pipeline.audience.subscribers import forget as forget_subscriber
    from pipeline.audience.subscribers import get, normalize_address, unsubscribe
    from pipeline.ledger import Ledger

    email = normalize_address(address)
    with Ledger(obj.config.state_path) as ledger:
        if forget:
            found = forget_subscriber(ledger, email)
            click.echo(f"{email}: {'deleted with its history' if found else 'not on the list, nothing to delete'}")
            return
        before = get(ledger, email)
        changed = unsubscribe(ledger, email, "cli")
    if before is None:
        click.echo(
            f"{email}: was not on the list; recorded as unsubscribed so that no later import or send adds it "
            "(--forget deletes the record)"
        )
    elif changed:
        click.echo(f"{email}: unsubscribed (was {before.status})")
    else:
        click.echo(f"{email}: already {before.status} since {before.updated_at[:10]}, unchanged")


@subscribers_group.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained"]),
    help="Only this status.",
)
@config_option
@pass_ctx
def subscribers_list(obj: Context, status: str | None) -> None:
    """One line per subscriber: address, status, source (how it was added), date added,
    date of the last change, name."""
    from pipeline.audience.subscribers import listing
    from pipeline.ledger import Ledger

    with Ledger(obj.config.state_path) as ledger:
        for number, sub in enumerate(listing(ledger, status)):
            if number == 0:
                click.echo(f"{'email':<36} {'status':<12} {'source':<24} {'added':<10} {'changed':<10}  name")
            click.echo(
                f"{sub.email:<36} {sub.status:<12} {sub.source:<24} {sub.created_at[:10]} {sub.updated_at[:10]}  {sub.name}".rstrip()
            )


@subscribers_group.command("export")
@click.argument("output", metavar="[FILE.csv]", required=False, type=click.Path(path_type=Path, dir_okay=False))
@config_option
@pass_ctx
def subscribers_export(obj: Context, output: Path | None) -> None:
    """Write the whole list as CSV (to FILE, or standard output); it can be imported again.

    FILE gets a UTF-8 byte-order mark ("CSV UTF-8"), without which Excel on Chinese Windows
    reads the names as GBK; standard output stays plain UTF-8 for scripts."""
    import io

    from pipeline.atomic import write_atomic
    from pipeline.audience.subscribers import export_csv
    from pipeline.ledger import Ledger

    buffer = io.StringIO()
    with Ledger(obj.config.state_path) as ledger:
        number = export_csv(ledger, buffer)
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        write_atomic(output, buffer.getvalue().encode("utf-8-sig"))
        click.echo(f"exported {plural(number, 'subscriber')} to {output}")


@subscribers_group.command("count")
@config_option
@pass_ctx
def subscribers_count(obj: Context) -> None:
    """How many subscribers there are in each status."""
    from pipeline.audience.subscribers import counts
    from pipeline.ledger import Ledger

    with Ledger(obj.config.state_path) as ledger:
        numbers = counts(ledger)
    for status_name, number in numbers.items():
        click.echo(f"{status_name:<13} {number}")
    click.echo(f"{'total':<13} {sum(numbers.values())}")


@subscribers_group.command("bounces")
@click.argument("maildir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@config_option
@pass_ctx
def subscribers_bounces(obj: Context, maildir: Path) -> None:
    """Read bounce (RFC 3464) and complaint (RFC 5965) reports from MAILDIR and suppress
    hard-bouncing, complaining and repeatedly soft-bouncing addresses. Safe to run again."""
    from pipeline.audience.bounces import SOFT_LIMIT, process_maildir
    from pipeline.audience.tokens import load_secret
    from pipeline.ledger import Ledger

    with Ledger(obj.config.state_path) as ledger:
        report = process_maildir(ledger, maildir, load_secret(obj.config))
    for line in report.suppressed:
        click.echo(f"suppressed {line}")
    for line in report.counted:
        click.echo(f"counted {line}")
    for line in report.ignored:
        click.echo(f"ignored {line}")
    click.echo(
        f"{report.messages} message(s), {report.already} already processed: {report.hard} hard bounce(s), {report.soft} soft, "
        f"{report.complaints} complaint(s); {len(report.suppressed)} address(es) suppressed (soft bounces: after {SOFT_LIMIT} issues in a row)"
    )
