"""`publish add` and the arXiv client, against an HTTP server on 127.0.0.1 that answers like
the arXiv API: one Atom feed per request with one entry per id found (fixtures in
tests/fixtures/arxiv, one feed per paper version), nothing for an id it does not know."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from conftest import BASIC_CONFIG, REPO, paper_md, write

from pipeline.authoring import arxiv
from pipeline.authoring.add import add_papers, markdown_text
from pipeline.authoring.arxiv import ArxivClient, ArxivError, parse_feed, parse_id
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import UsageError
from pipeline.load.issues import load_issues, split_front_matter
from pipeline.markdown import parse
from pipeline.render.papers import plain_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv"
FEED_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title type="html">ArXiv Query: search_query=&amp;id_list={ids}&amp;start=0&amp;max_results={n}</title>
  <id>http://arxiv.org/api/test</id>
  <updated>2024-10-02T00:00:00-04:00</updated>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <opensearch:itemsPerPage>{n}</opensearch:itemsPerPage>
"""
ENTRY = re.compile(r"<entry>.*?</entry>", re.DOTALL)


class FakeArxiv:
    """The API's answers: entries from the fixtures, or one scripted failure for every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.mode: str | None = None  # error, malformed, doctype, slow, rate, busy
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append({"path": self.path, "agent": self.headers.get("User-Agent"), "at": time.time()})
                status, body = outer.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/query"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, path: str) -> tuple[int, bytes]:
        if self.mode == "slow":
            time.sleep(1.5)
        scripted = {"error": "error.xml", "malformed": "malformed.xml", "doctype": "doctype.xml"}
        if self.mode in scripted:
            return 200, (FIXTURES / scripted[self.mode]).read_bytes()
        if self.mode == "rate":
            return 200, b"Rate exceeded."
        if self.mode == "busy":
            return 503, b"Service Unavailable"
        ids = parse_qs(urlsplit(path).query)["id_list"][0].split(",")
        entries = [e for e in (self.entry(i) for i in ids) if e]
        head = FEED_HEAD.format(ids=",".join(ids), n=len(ids), total=len(entries))
        return 200, (head + "\n".join(entries) + "\n</feed>\n").encode("utf-8")

    def entry(self, arxiv_id: str) -> str | None:
        """That version's entry, or the latest version's when the id has none."""
        if "v" in arxiv_id:
            path = FIXTURES / f"{arxiv_id}.xml"
        else:
            versions = sorted(FIXTURES.glob(f"{arxiv_id}v*.xml"), key=lambda p: int(p.stem.split("v")[-1]))
            path = versions[-1] if versions else None
        if path is None or not path.is_file():
            return None
        return ENTRY.search(path.read_text("utf-8")).group(0)

    @property
    def asked(self) -> list[list[str]]:
        return [parse_qs(urlsplit(r["path"]).query)["id_list"][0].split(",") for r in self.requests]


@pytest.fixture
def fake_arxiv():
    server = FakeArxiv()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(arxiv, "MIN_INTERVAL", 0.0)


def with_arxiv(config_text: str, api: str, timeout: float = 5) -> str:
    return config_text + f"arxiv:\n  api_base: {api}\n  timeout: {timeout}\n"


@pytest.fixture
def site(example: Path, fake_arxiv: FakeArxiv) -> Path:
    """The bundled example (2024-04-28, 2024-09-30 featuring 2409.14274) pointed at the fake API."""
    config = example / "config.yaml"
    config.write_text(with_arxiv(config.read_text("utf-8"), fake_arxiv.url), encoding="utf-8")
    return example


def run(root: Path, *args: str, monkeypatch, capsys) -> tuple[int, str, str]:
    """The `publish` console entry point in-process: exit code, stdout, stderr."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["publish", "--config", str(root / "config.yaml"), *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def front(path: Path) -> dict:
    return yaml.safe_load(split_front_matter(path.read_text("utf-8"))[0])


# ---------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "given, expected",
    [
        ("2409.14274", "2409.14274"),
        ("2409.14274v2", "2409.14274v2"),
        ("arXiv:2409.14274", "2409.14274"),
        (" ARXIV:2409.14274v3 ", "2409.14274v3"),
        ("https://arxiv.org/abs/2409.14274", "2409.14274"),
        ("https://arxiv.org/pdf/2409.14274v1", "2409.14274v1"),
        ("http://export.arxiv.org/abs/2409.14274v2/", "2409.14274v2"),
        ("https://arxiv.org/pdf/2409.14274v1.pdf", "2409.14274v1"),
        ("https://www.arxiv.org/abs/0704.0001?context=cs#top", "0704.0001"),
    ],
)
def test_ids_are_normalised(given: str, expected: str) -> None:
    assert parse_id(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "2409.1427",
        "2413.00001",
        "hep-th/9901001",
        "https://example.org/abs/2409.14274",
        "2409.14274v",
        "论文 2409.14274",
    ],
)
def test_bad_ids_are_usage_errors(given: str) -> None:
    with pytest.raises(UsageError):
        parse_id(given)


# ---------------------------------------------------------------- parsing


def test_entry_fields_are_read_from_the_atom_answer() -> None:
    [paper] = parse_feed((FIXTURES / "2409.14274v2.xml").read_bytes())
    assert paper.id == "2409.14274v2" and paper.base_id == "2409.14274"
    assert paper.title == "Proof Automation with Large Language Models"
    assert paper.authors == ("Minghai Lu", "Benjamin Delaware", "Tianyi Zhang")
    assert paper.year == 2024 and paper.published.startswith("2024-09-22")
    assert paper.primary_category == "cs.SE" and "cs.LO" in paper.categories
    assert paper.journal_ref.startswith("Proceedings of the 39th")
    assert paper.doi == "10.1145/3691620.3695521"
    assert paper.pdf_url == "https://arxiv.org/pdf/2409.14274v2"
    # Hard-wrapped lines are joined; paragraphs survive.
    assert paper.summary.split("\n\n")[0].endswith("fixes the small mistakes it makes.")
    assert len(paper.summary.split("\n\n")) == 2
    assert not paper.withdrawn


def test_accented_names_and_markup_in_titles_are_kept_as_text() -> None:
    [paper] = parse_feed((FIXTURES / "2405.01234v1.xml").read_bytes())
    assert paper.authors[:2] == ("José Ramón Müller", "Zoë Łukasiewicz")
    assert "Nguyễn Văn An" in paper.authors
    assert paper.title.startswith('Über-Efficient Décoding: "Attention" & <Tokens>')


@pytest.mark.parametrize(
    "fixture, message",
    [
        ("error.xml", "incorrect id format for 1234.12345"),
        ("malformed.xml", "not well-formed"),
        ("doctype.xml", "DOCTYPE"),
    ],
)
def test_error_entries_and_bad_documents_are_errors(fixture: str, message: str) -> None:
    with pytest.raises(ArxivError, match=message):
        parse_feed((FIXTURES / fixture).read_bytes())


def test_a_document_that_is_not_an_atom_feed_is_refused() -> None:
    with pytest.raises(ArxivError, match="not an Atom feed"):
        parse_feed(b"<html><body>Service page</body></html>")


def test_an_id_arxiv_does_not_know_has_no_entry() -> None:
    assert parse_feed((FIXTURES / "empty.xml").read_bytes()) == []


def test_withdrawn_papers_are_recognised() -> None:
    [paper] = parse_feed((FIXTURES / "2401.00002v2.xml").read_bytes())
    assert paper.withdrawn


def test_the_abstract_reads_back_from_markdown_as_the_same_text() -> None:
    [paper] = parse_feed((FIXTURES / "2405.01234v1.xml").read_bytes())
    rendered = plain_text(parse(markdown_text(paper.summary)), limit=10_000)
    assert rendered == " ".join(paper.summary.split())
    tokens = [t.type for t in parse(markdown_text(paper.summary)).tokens]
    assert "heading_open" not in tokens and "ordered_list_open" not in tokens


# ---------------------------------------------------------------- publish add


def test_add_writes_one_entry_per_paper_from_one_request(
    site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys
) -> None:
    code, out, err = run(
        site,
        "add",
        "2024-10-07",
        "arXiv:2405.01234",
        "https://arxiv.org/pdf/2310.06770v1",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert fake_arxiv.asked == [["2405.01234", "2310.06770v1"]]
    agent = fake_arxiv.requests[0]["agent"]
    assert agent.startswith("paper-digest-publish/") and "https://digest.example.org/" in agent
    folder = site / "issues" / "2024-10-07"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "01-uber-efficient-decoding-attention-tokens.md",
        "02-scaling-laws-sparse-mixture-models.md",
        "issue.yaml",
    ]
    assert "created" in out and "added 01-uber-efficient-decoding-attention-tokens.md" in out
    meta = front(folder / names[0])
    assert meta["authors"][0] == "José Ramón Müller" and meta["arxiv"] == "2405.01234"
    assert meta["year"] == 2024 and meta["venue"] == "arXiv preprint arXiv:2405.01234"
    assert meta["url"] == "https://arxiv.org/abs/2405.01234" and meta["tags"] == ["cs.CL", "自然语言处理"]
    second = front(folder / names[1])
    assert second["venue"] == "Nature 620 (2023) 47-60" and second["pdf"] == "https://arxiv.org/pdf/2310.06770v1"
    # The loader takes the new issue as it is, sections and all.
    result = load_issues(load_config(site / "config.yaml"), ["2024-10-07"])
    assert not result.errors, [p.format() for p in result.errors]
    [issue] = result.issues
    paper = issue.papers[0]
    assert paper.title.startswith("Über-Efficient Décoding") and paper.sections[0].title == "摘要"
    assert "<script>" in plain_text(paper.sections[0].body, 10_000)
    assert [s.title for s in paper.sections[1:]] == ["研究背景", "问题与挑战", "如何解决", "实验效果", "推荐理由"]
    assert all(s.body.is_empty for s in paper.sections[1:])


def test_numbering_continues_and_nothing_is_overwritten(site: Path, fake_arxiv: FakeArxiv) -> None:
    config = load_config(site / "config.yaml")
    folder = site / "issues" / "2024-09-30"
    write(folder / "07-notes.md", paper_md("Notes", arxiv=None))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report = add_papers(config, "2024-09-30", ["2405.01234"])
    assert not report.failed and not report.created_issue
    assert report.results[0].path.name == "08-uber-efficient-decoding-attention-tokens.md"
    assert all((folder / name).read_bytes() == data for name, data in before.items())


def test_multi_version_ids_follow_the_version_asked_for(site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys) -> None:
    code, _, err = run(site, "add", "2024-10-07", "2409.14274", "--again", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    code, _, err = run(site, "add", "2024-10-14", "2409.14274v1", "--again", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    latest = front(next((site / "issues" / "2024-10-07").glob("01-*.md")))
    first = front(next((site / "issues" / "2024-10-14").glob("01-*.md")))
    assert latest["arxiv"] == "2409.14274" and latest["venue"].startswith("Proceedings of the 39th")
    assert latest["url"] == "https://arxiv.org/abs/2409.14274"
    assert first["arxiv"] == "2409.14274v1" and first["venue"] == "arXiv preprint arXiv:2409.14274"
    assert first["pdf"] == "https://arxiv.org/pdf/2409.14274v1"
    assert fake_arxiv.asked == [["2409.14274"], ["2409.14274v1"]]


def test_answers_are_cached_so_an_id_is_fetched_once(site: Path, fake_arxiv: FakeArxiv) -> None:
    config = load_config(site / "config.yaml")
    add_papers(config, "2024-10-07", ["2405.01234", "2409.14274"], again=True)
    report = add_papers(config, "2024-10-14", ["2405.01234", "2409.14274v2"], again=True)
    assert not report.failed
    assert fake_arxiv.asked == [["2405.01234", "2409.14274"]]  # v2 was the latest: cached under both names
    assert (config.state_dir / "arxiv" / "2405.01234.json").is_file()


def test_a_missing_id_is_an_error_and_the_others_are_still_added(
    site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys
) -> None:
    code, out, err = run(site, "add", "2024-10-07", "2409.99999", "2405.01234", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1
    assert "2409.99999: no such paper on arXiv" in err and "1 of 2 paper(s) not added" in err
    assert [p.name for p in (site / "issues" / "2024-10-07").glob("*.md")] == [
        "01-uber-efficient-decoding-attention-tokens.md"
    ]
    assert fake_arxiv.asked == [["2409.99999", "2405.01234"]]
    assert not (site / ".publish" / "arxiv" / "2409.99999.json").exists()  # failures are not cached


def test_a_withdrawn_paper_writes_nothing(site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys) -> None:
    code, _, err = run(site, "add", "2024-10-07", "2401.00002", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and "withdrawn" in err
    assert not (site / "issues" / "2024-10-07").exists()  # no paper to add: no issue folder either


@pytest.mark.parametrize(
    "mode, message",
    [
        ("error", "refused the request: incorrect id format"),
        ("malformed", "not well-formed XML"),
        ("doctype", "DOCTYPE"),
        ("rate", "throttling"),
        ("busy", "busy (HTTP 503)"),
        ("slow", "did not answer within 0.5 s"),
    ],
)
def test_api_trouble_is_a_clear_error_for_every_paper(
    example: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys, mode: str, message: str
) -> None:
    config = example / "config.yaml"
    config.write_text(with_arxiv(config.read_text("utf-8"), fake_arxiv.url, timeout=0.5), encoding="utf-8")
    fake_arxiv.mode = mode
    code, _, err = run(example, "add", "2024-10-07", "2405.01234", "2310.06770", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1
    assert err.count(message) == 2, err
    assert not (example / "issues" / "2024-10-07").exists()
    assert not list((example / ".publish" / "arxiv").glob("*.json"))


def test_a_paper_of_an_earlier_issue_needs_again(site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys) -> None:
    code, _, err = run(
        site, "add", "2024-10-07", "https://arxiv.org/abs/2409.14274v2", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 1 and "already featured in issue 2024-09-30" in err and "--again" in err
    assert fake_arxiv.requests == [] and not (site / "issues" / "2024-10-07").exists()
    code, _, err = run(
        site,
        "add",
        "2024-10-07",
        "https://arxiv.org/abs/2409.14274v2",
        "--again",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    # --again never allows the same paper twice in one issue.
    code, _, err = run(site, "add", "2024-10-07", "2409.14274", "--again", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and "already in issue 2024-10-07" in err
    assert len(list((site / "issues" / "2024-10-07").glob("*.md"))) == 1


def test_check_names_the_earlier_issue_only(site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys) -> None:
    assert run(site, "add", "2024-10-07", "2409.14274v1", "--again", monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    code, out, err = run(site, "check", monkeypatch=monkeypatch, capsys=capsys)
    repeats = [line for line in err.splitlines() if "already featured" in line]
    assert len(repeats) == 1, err
    assert repeats[0].startswith("issues/2024-10-07/01-proof-automation-large-language-models.md")
    assert "arXiv 2409.14274 was already featured in issue 2024-09-30" in repeats[0]


def test_bad_ids_stop_the_command_before_any_request(site: Path, fake_arxiv: FakeArxiv, monkeypatch, capsys) -> None:
    code, _, err = run(site, "add", "2024-10-07", "2405.01234", "not-an-id", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "'not-an-id' is not an arXiv id" in err
    code, _, err = run(site, "add", "2024-10-07", "2405.01234", "2405.01234v1", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "given twice" in err
    code, _, err = run(site, "add", "2024-13-07", "2405.01234", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "not an issue id" in err
    assert fake_arxiv.requests == []


def test_requests_are_spaced_across_clients(site: Path, fake_arxiv: FakeArxiv) -> None:
    config = load_config(site / "config.yaml")
    ArxivClient(config, interval=0.5).lookup(["2405.01234"])
    ArxivClient(config, interval=0.5).lookup(["2310.06770"])  # a new client, as in a new process
    first, second = (r["at"] for r in fake_arxiv.requests)
    assert second - first >= 0.45
    assert (config.state_dir / "arxiv" / "last-request").is_file()


def test_add_as_a_separate_process(newsletter, fake_arxiv: FakeArxiv) -> None:
    root = newsletter(with_arxiv(BASIC_CONFIG, fake_arxiv.url))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--config",
            str(root / "config.yaml"),
            "add",
            "2024-10-07-extra",
            "2310.06770",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (root / "issues" / "2024-10-07-extra" / "01-scaling-laws-sparse-mixture-models.md").is_file()
    assert not (root / "issues" / "2024-10-07-extra" / "01-example.md").exists()
    assert "draft: true" in (root / "issues" / "2024-10-07-extra" / "issue.yaml").read_text("utf-8")
