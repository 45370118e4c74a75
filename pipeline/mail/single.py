"""One transactional message, such as a double opt-in confirmation, sent through the
transport of an email channel with the same retries as a newsletter send."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from pipeline.audience.recipients import normalise
from pipeline.config import Config, Options
from pipeline.errors import ChannelError
from pipeline.mail.message import parse_sender, simple_message
from pipeline.mail.pool import Pool, Throttle
from pipeline.mail.transports import open_transport


def send_one(
    config: Config, channel_name: str, to_addr: str, to_name: str, subject: str, text: str, html: str | None = None
) -> None:
    """Send one transactional message (e.g. a double opt-in confirmation) through the channel's transport.

    Retries temporary failures like a newsletter send; raises ChannelError when it is not delivered.
    """
    settings = config.channels.get(channel_name)
    if settings is None or not settings.declares("from"):
        raise ChannelError(f"no email channel named {channel_name!r} in {config.path.name}")
    options: Options = settings.options
    address = normalise(to_addr)
    if address is None:
        raise ChannelError(f"{to_addr!r} is not an email address")
    envelope = parse_sender(options.get("from"), options.get("reply_to"))
    data = simple_message(envelope, address, to_name, subject, text, html, datetime.now(timezone.utc))
    transport = open_transport(config, options)
    throttle = Throttle(options.get("max_per_second"))
    pool = Pool(
        transport,
        envelope.address,
        throttle=throttle,
        retries=int(options.get("retries", 5)),
        retry_delay=float(options.get("retry_delay", 2)),
        stop=threading.Event(),
        workers=1,
    )
    with pool:
        pool.submit(address, data)
        outcome = pool.next_outcome()
    if outcome.state != "sent":
        raise ChannelError(f"message to {address} not sent: {outcome.error}", hint=outcome.hint)
