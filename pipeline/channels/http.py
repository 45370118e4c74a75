"""HTTP POSTs with the retries every HTTP channel needs (the webhook, the feed's WebSub ping).

429 and 5xx answers and dropped connections are retried with backoff, honouring Retry-After
up to a limit; any other refusal is the caller's to judge. The URL may be a secret (a webhook
URL lets whoever has it post), so messages name only its host.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from pipeline import __version__
from pipeline.errors import TemporaryChannelError

ATTEMPTS = 5  # tries per message, the first included
BACKOFF = 1.0  # seconds before the first retry when the server gives no Retry-After; doubles each time
MAX_WAIT = 300.0  # a Retry-After longer than this is not waited for: the run fails and is retried later
USER_AGENT = f"paper-digest-publish/{__version__}"


class Stopped(Exception):
    """SIGTERM arrived while waiting to retry: nothing is in flight, the run resumes next time."""


def host_of(url: str) -> str:
    """What of a secret URL may be shown: scheme, host and port (no user, path or query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" if parts.hostname else "the endpoint"


def retry_after(response: Any) -> float | None:
    """Seconds a 429/503 asks us to wait: Retry-After (seconds or HTTP date), else Discord's body field."""
    value = response.headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None
    try:
        return max(0.0, float(response.json()["retry_after"]))
    except (ValueError, KeyError, TypeError):
        return None


def post_with_retries(
    url: str,
    data: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    stop: threading.Event,
    log: logging.Logger,
    attempts: int | None = None,
) -> Any:
    """POST ``data``; retry connection failures, 429 and 5xx with backoff. Returns the final response.

    Raises TemporaryChannelError when the endpoint keeps refusing, Stopped when ``stop`` is set
    while waiting. Messages name the host only: the URL itself may be a secret.
    """
    import requests  # imported here: commands that do not publish stay fast

    attempts = attempts or ATTEMPTS
    where = host_of(url)
    headers = {"User-Agent": USER_AGENT, **headers}
    for attempt in range(1, attempts + 1):
        delay = BACKOFF * 2 ** (attempt - 1)
        try:
            response = requests.post(url, data=data, headers=headers, timeout=timeout)
        except requests.exceptions.ReadTimeout:
            # The request may have arrived: sending it again could announce the issue twice.
            raise TemporaryChannelError(
                f"{where} did not answer within {timeout:g}s (the message may have arrived)"
            ) from None
        except requests.exceptions.RequestException as exc:
            problem = f"cannot reach {where} ({type(exc).__name__})"
        else:
            if response.status_code != 429 and response.status_code < 500:
                return response
            problem = f"{where} answered HTTP {response.status_code}"
            asked = retry_after(response)
            if asked is not None:
                if asked > MAX_WAIT:
                    raise TemporaryChannelError(
                        f"{problem} and asks to wait {asked:.0f}s; try again later", retry_after=asked
                    )
                delay = asked
        if attempt == attempts:
            raise TemporaryChannelError(f"{problem}; gave up after {attempts} attempts")
        log.warning("%s; retrying in %.1fs (attempt %d of %d)", problem, delay, attempt + 1, attempts)
        if stop.wait(delay):
            raise Stopped(problem)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- payloads
