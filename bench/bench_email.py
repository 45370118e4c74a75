"""Email benchmark: one issue to N subscribers through a loopback aiosmtpd sink.

Generates a newsletter folder (the bundled example's config and issue 2024-04-28, a CSV of
N subscribers with Chinese names), starts an aiosmtpd sink in its own process (it counts
messages and keeps nothing), then runs `publish_issue(..., ["email"])` in a fresh process
per scenario so that each peak RSS is its own:

    10,000 subscribers with 1 connection      messages/s, peak RSS
    10,000 subscribers with 4 connections     messages/s, peak RSS
    100,000 subscribers with 4 connections    peak RSS, to compare with 10,000

    python bench/bench_email.py               # the three scenarios (a few minutes on 2 cores)
    python bench/bench_email.py --quick       # 2,000 / 2,000 / 20,000
    python bench/bench_email.py --count 5000 --connections 2 --no-large
    python bench/bench_email.py --latency 20 --no-large   # a relay that takes 20 ms to answer DATA
    python bench/bench_email.py --size        # the HTML part as sent, against Gmail's clip

Memory is the process's peak RSS (``ru_maxrss``) and, to show what sending adds, its RSS
just before the send (after imports and the build). Everything is generated under a
temporary folder that is removed afterwards. The rate is for the whole `publish issue`
after the build: snapshot of the list into the ledger, sending, recording. On a small
machine the sink (aiosmtpd parses every line of every message in Python) is the limit, so
the sender's own CPU time per message is printed too: its capacity without the sink.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ISSUE = "2024-04-28"


# the sink ---------------------------------------------------------------------------------


class CountingSink:
    """aiosmtpd handler: accept everything, count, keep nothing."""

    def __init__(self, counter, latency: float) -> None:
        self.counter = counter
        self.latency = latency

    async def handle_DATA(self, server, session, envelope):
        if self.latency:
            import asyncio

            await asyncio.sleep(self.latency)
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 2.0.0 Ok: queued"


def run_sink(port: int, counter, ready, latency: float) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(CountingSink(counter, latency), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# the newsletter ----------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def make_newsletter(root: Path, count: int, port: int, connections: int) -> Path:
    """A folder with config.yaml (email → the sink), the example issue and ``count`` subscribers."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "issues" / ISSUE, root / "issues" / ISSUE, dirs_exist_ok=True)
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    email = data["channels"]["email"]
    email["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 30}
    email["connections"] = connections
    email["max_errors"] = 10
    data["channels"] = {"email": email}
    (root / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with (root / "subscribers.csv").open("w", encoding="utf-8") as out:
        out.write("email,name,status\n")
        for i in range(count):
            name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]
            out.write(f"reader{i:06d}@example{i % 97}.com,{name},active\n")
    return root / "config.yaml"


# the size of the HTML part ------------------------------------------------------------------


def ten_long_papers(root: Path) -> Path:
    """A newsletter whose issue holds the example issue's five papers twice (other arXiv ids the second time)."""
    import re

    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    source, folder = REPO / "issues" / ISSUE, root / "issues" / ISSUE
    folder.mkdir(parents=True)
    shutil.copy(source / "issue.yaml", folder / "issue.yaml")
    for n, paper in enumerate(sorted(source.glob("*.md")) * 2):
        text = paper.read_text(encoding="utf-8")
        if n >= 5:
            text = re.sub(r'^arxiv: "24(\d\d)\.', r'arxiv: "25\1.', text, flags=re.M)
        (folder / f"{n:02d}-{paper.name}").write_text(text, encoding="utf-8")
    return root / "config.yaml"


def size_report() -> None:
    """email.html of the example issue and of a ten-paper issue as long: raw, as sent (8bit, base64)."""
    sys.path.insert(0, str(REPO))
    from datetime import datetime, timezone

    from pipeline.config import load_config
    from pipeline.load.issues import load_issues
    from pipeline.mail.placeholder import unsubscribe_placeholder
    from pipeline.render.context import RenderContext
    from pipeline.render.email import GMAIL_CLIP_BYTES, measure, render_issue

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="bench-email-size-"))
    try:
        print(f"{'issue':<32} {'papers':>6} {'raw':>9} {'8bit':>9} {'base64':>9}  of the clip ({GMAIL_CLIP_BYTES:,})")
        for label, config_path in (
            ("example " + ISSUE, REPO / "config.yaml"),
            ("ten long papers", ten_long_papers(work)),
        ):
            config = load_config(config_path)
            [issue] = [i for i in load_issues(config).issues if i.id == ISSUE]
            html = render_issue(issue, RenderContext(config, now))[f"issues/{ISSUE}/email.html"]
            placeholder = unsubscribe_placeholder(config)
            raw, eight_bit = measure(html, True, placeholder)
            _, seven_bit = measure(html, False, placeholder)
            print(
                f"{label:<32} {len(issue.papers):>6} {raw:>9,} {eight_bit:>9,} {seven_bit:>9,}  "
                f"{eight_bit / GMAIL_CLIP_BYTES:.0%} / {seven_bit / GMAIL_CLIP_BYTES:.0%}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# one scenario, in its own process ------------------------------------------------------------


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scenario(config_path: Path) -> dict:
    """Build, then publish the issue by email; figures as a dict (printed as JSON)."""
    sys.path.insert(0, str(REPO))
    from datetime import datetime, timezone

    from pipeline.build.builder import build
    from pipeline.config import load_config
    from pipeline.publish.publisher import publish_issue

    config = load_config(config_path)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    build(config, [ISSUE], now=now)
    before = rss_kib()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    [result] = publish_issue(config, ISSUE, ["email"], now=now)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    size = len((config.output_dir / "issues" / ISSUE / "email.html").read_bytes())
    from pipeline.channels.base import Job
    from pipeline.channels.email import build_message
    from pipeline.ledger import Ledger
    from pipeline.publish.publisher import load_one

    with Ledger(config.state_path) as ledger:
        job = Job(
            load_one(config, ISSUE),
            "email",
            config,
            config.channels["email"].options,
            ledger,
            config.output_dir / "issues" / ISSUE,
        )
        message_bytes = len(build_message(job).personalise("reader000000@example0.com", "王伟"))
    return {
        "status": result.status,
        "detail": result.detail,
        "seconds": seconds,
        "cpu": cpu,
        "rss_before_kib": before,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "html_bytes": size,
        "message_bytes": message_bytes,
    }


def run_scenario(work: Path, count: int, connections: int, port: int, counter) -> dict:
    folder = work / f"n{count}-c{connections}"
    config_path = make_newsletter(folder, count, port, connections)
    at_start = counter.value
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, __file__, "--scenario", str(config_path)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"scenario {count}×{connections} failed:\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures.update(count=count, connections=connections, received=counter.value - at_start)
    figures["rate"] = figures["received"] / figures["seconds"]
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def report(rows: list[dict]) -> None:
    print(
        f"{'subscribers':>11} {'conns':>5} {'received':>9} {'seconds':>8} {'msgs/s':>7} {'sender CPU/msg':>14} "
        f"{'RSS before':>11} {'peak RSS':>9} {'added':>7}  status"
    )
    for r in rows:
        added = r["peak_rss_kib"] - r["rss_before_kib"]
        per_message = r["cpu"] / max(r["received"], 1) * 1e6
        print(
            f"{r['count']:>11,} {r['connections']:>5} {r['received']:>9,} {r['seconds']:>8.1f} {r['rate']:>7.0f} {per_message:>12.0f}µs "
            f"{r['rss_before_kib'] / 1024:>9.1f}MB {r['peak_rss_kib'] / 1024:>7.1f}MB {added / 1024:>5.1f}MB  {r['status']}"
        )
    print(
        f"message: issue {ISSUE}, email.html {rows[0]['html_bytes']:,} bytes, {rows[0]['message_bytes']:,} bytes per message as sent"
    )
    small = [r for r in rows if r["connections"] == max(x["connections"] for x in rows) and r is not rows[-1]]
    if len(rows) >= 3 and small:
        a, b = small[-1], rows[-1]
        grow = (b["peak_rss_kib"] - a["peak_rss_kib"]) / 1024
        print(
            f"memory: {b['count']:,} subscribers peak {b['peak_rss_kib'] / 1024:.1f} MB vs {a['count']:,} peak "
            f"{a['peak_rss_kib'] / 1024:.1f} MB ({grow:+.1f} MB for {b['count'] / a['count']:.0f}× the list)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="subscribers for the rate scenarios")
    parser.add_argument("--large", type=int, default=100_000, help="subscribers for the memory scenario")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4], help="connection counts to time")
    parser.add_argument("--no-large", action="store_true", help="skip the memory scenario")
    parser.add_argument("--quick", action="store_true", help="2,000 / 20,000 subscribers")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="the sink waits this long before each 250"
    )
    parser.add_argument("--size", action="store_true", help="only the HTML part's size as sent, against the clip")
    parser.add_argument("--scenario", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size:
        size_report()
        return
    if args.scenario:
        print(json.dumps(scenario(args.scenario)))
        return
    if args.quick:
        args.count, args.large = 2_000, 20_000
    port = free_port()
    counter, ready = multiprocessing.Value("q", 0), multiprocessing.Event()
    sink = multiprocessing.Process(target=run_sink, args=(port, counter, ready, args.latency / 1000), daemon=True)
    sink.start()
    ready.wait(30)
    work = Path(tempfile.mkdtemp(prefix="bench-email-"))
    rows = []
    try:
        for connections in args.connections:
            rows.append(run_scenario(work, args.count, connections, port, counter))
            print(f"  {args.count:,} × {connections} connection(s): {rows[-1]['rate']:.0f} msgs/s", file=sys.stderr)
        if not args.no_large:
            rows.append(run_scenario(work, args.large, max(args.connections), port, counter))
    finally:
        sink.terminate()
        shutil.rmtree(work, ignore_errors=True)
    report(rows)


if __name__ == "__main__":
    main()
