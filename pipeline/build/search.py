"""Whether a build updates the archive's search index (:mod:`pipeline.render.search`).

The index is a site-level output, rendered with the others. ``PUBLISH_BUILD_SEARCH=0`` in the
environment, ``publish build --no-search`` or a build inside ``with skipped():`` leaves it as
it is: not written, not removed. Each issue's own ``search.json`` is written whatever the switch, so the index catches
up with one build when it is on again.

Archives built before the index was the build's own had a Pagefind index in ``pagefind/``:
:func:`drop_old_index` removes it, so a deploy does not serve a search box over stale pages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pipeline.config import Config

_ENABLED: ContextVar[bool] = ContextVar("search_enabled", default=True)
OLD_BUNDLE = "pagefind"
OLD_STAMPS = ("search-shards.json", "search.key")


@contextmanager
def skipped() -> Iterator[None]:
    """Builds inside this block leave the search index as it is."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def enabled() -> bool:
    """Whether this build renders the search index."""
    return _ENABLED.get() and os.environ.get("PUBLISH_BUILD_SEARCH", "") != "0"


def drop_old_index(config: Config) -> None:
    """Remove the Pagefind index of an earlier version (its ``shards.json`` marks it as ours)."""
    bundle = config.output_dir / OLD_BUNDLE
    if (bundle / "shards.json").is_file():
        shutil.rmtree(bundle, ignore_errors=True)
    shutil.rmtree(config.output_dir.parent / f".{config.output_dir.name}.{OLD_BUNDLE}", ignore_errors=True)
    for name in OLD_STAMPS:
        (config.state_dir / "build" / name).unlink(missing_ok=True)
