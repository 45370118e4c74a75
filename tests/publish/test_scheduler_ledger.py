"""The scheduler with a state database it cannot use: one log line saying what to do, no
traceback, `--once` exits 1, and the file is left for the editor to restore."""

from __future__ import annotations

import logging

from fake_http import FakeHTTP
from test_scheduler import DUE, at, site  # noqa: F401  site: the fixture

from pipeline.publish.scheduler import run_forever


def test_an_empty_state_db_stops_the_pass_with_one_line(site, caplog):  # noqa: F811
    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        config.state_path.parent.mkdir(parents=True, exist_ok=True)
        config.state_path.write_bytes(b"")
        with caplog.at_level(logging.INFO, logger="pipeline.scheduler"):
            assert run_forever(config, once=True, now=lambda: at("2025-03-10T09:00:00+08:00")) == 1
    [failed] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failed.getMessage() == (
        f"scheduler pass failed: {config.state_path} is not a publish ledger (the file is empty: 0 bytes)"
        " — restore it from a backup, or move it away to start a new ledger"
    )
    assert failed.exc_info is None and not server.requests
    assert config.state_path.stat().st_size == 0
