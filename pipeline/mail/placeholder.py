"""The unsubscribe placeholder: where each recipient's unsubscribe URL goes in the built email
parts (see :mod:`pipeline.mail.message`, which puts the URLs in).

A module of its own, so that rendering the parts does not import the ``email`` package, which
only sending needs (~20 ms of a rebuild after an edit).
"""

from __future__ import annotations

from urllib.parse import quote

from pipeline.config import Config

UNSUBSCRIBE_FRAGMENT = "#unsubscribe"


def unsubscribe_placeholder(config: Config) -> str:
    """Where each recipient's unsubscribe URL goes in the built email parts.

    A web reader of the public copy who follows it reaches the subscription page, whose
    ``#unsubscribe`` section says how to unsubscribe: served by ``publish serve`` and also
    written by the build (``public/subscribe/index.html``), so it works on a static host too.
    """
    url = config.site.absolute("subscribe")
    # Percent-encoded, so that it needs no escaping in HTML and holds no "=" for QP to encode.
    return quote(url.split("#", 1)[0], safe=":/?@!$()*+,;%~") + UNSUBSCRIBE_FRAGMENT
