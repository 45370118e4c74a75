"""BibTeX of an issue: `publish bib`, and papers.bib written and linked by `publish build`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conftest import NOW, paper_md, write

from pipeline.build.builder import build
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.load.issues import load_issues
from pipeline.render.bibtex import escape, issue_bibtex

SPECIAL_TITLE = "Über-Efficient Décoding: 100% & $O(n^2)$ #1 {Cost} ~ x_1 ^ \\\\ <b>"


def read_bib(text: str) -> list[dict]:
    """A small BibTeX reader: type, key and brace-delimited fields of each entry."""
    entries = []
    for match in re.finditer(r"^@(\w+)\{([^,\s]+),\n", text, re.MULTILINE):
        fields, pos = {}, match.end()
        while True:
            field = re.compile(r"\s*(\w+) = \{").match(text, pos)
            if not field:
                break
            depth, i = 1, field.end()
            while depth:
                char = text[i]
                if char == "\\":
                    i += 2
                    continue
                depth += {"{": 1, "}": -1}.get(char, 0)
                i += 1
            fields[field.group(1)] = text[field.end() : i - 1]
            pos = i + (1 if text[i] == "," else 0)
        assert text[pos:].lstrip().startswith("}"), text[pos : pos + 40]
        entries.append({"type": match.group(1), "key": match.group(2), **fields})
    return entries


def bare_specials(value: str) -> list[str]:
    """LaTeX special characters not escaped by a backslash."""
    return re.findall(r"(?<!\\)[&%$#_]", value)


def run(root: Path, *args: str, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["publish", "--config", str(root / "config.yaml"), *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.fixture
def special(newsletter) -> Path:
    """An issue whose papers exercise escaping, entry types and key collisions."""
    root = newsletter()
    folder = root / "issues" / "2024-10-07"
    write(folder / "issue.yaml", "title: 测试一期\n")
    write(
        folder / "01-special.md",
        paper_md(
            SPECIAL_TITLE,
            arxiv="2405.01234",
            year="2024",
            tags="[cs.CL, 自然语言处理]",
            authors='["José Ramón Müller", "Barnes and Noble Collaboration", "Lu, Minghai", "Zoë Łukasiewicz"]',
        ).replace("authors: [Ann Author, 张三]\n", ""),
    )
    write(
        folder / "02-proof.md",
        paper_md(
            "Proof Automation with LLMs",
            arxiv="2409.14274v2",
            year="2024",
            venue='"Proceedings of the 39th IEEE/ACM International Conference on Automated Software Engineering (ASE 2024)"',
            authors="[Minghai Lu]",
        ).replace("authors: [Ann Author, 张三]\n", ""),
    )
    write(
        folder / "03-proof-again.md",
        paper_md("Proof Search, Revisited", arxiv="2409.14381", year="2024", authors="[Mei Lu]").replace(
            "authors: [Ann Author, 张三]\n", ""
        ),
    )
    write(
        folder / "04-nature.md",
        paper_md(
            "Scaling Laws for Sparse Mixture Models", arxiv="2310.06770", year="2023", venue='"Nature 620 (2023) 47-60"'
        ),
    )
    write(
        folder / "05-chinese.md",
        paper_md(
            "大模型中文评测", arxiv=None, year="2024", authors="[张三, 李四]", url="https://example.org/a?x={1}&y=2"
        ).replace("authors: [Ann Author, 张三]\n", ""),
    )
    return root


def special_issue(root: Path):
    result = load_issues(load_config(root / "config.yaml"))
    assert not result.errors, [p.format() for p in result.errors]
    return result.issues[0]


def test_arxiv_papers_are_misc_with_eprint_fields(example_issues) -> None:
    entries = read_bib(issue_bibtex(example_issues["2024-09-30"]))
    assert [e["key"] for e in entries] == ["lu2024proof", "zhang2024investigating", "geng2024impact"]
    first = entries[0]
    assert first["type"] == "misc" and first["eprint"] == "2409.14274" and first["archivePrefix"] == "arXiv"
    assert first["title"] == "{Proof Automation with Large Language Models}"
    assert first["author"] == "M Lu and B Delaware and T Zhang" and first["year"] == "2024"
    assert first["note"] == "使用大语言模型做自动化证明"


def test_special_characters_are_escaped(special: Path) -> None:
    entries = read_bib(issue_bibtex(special_issue(special)))
    title = entries[0]["title"]
    assert title == (
        "{Über-Efficient Décoding: 100\\% \\& \\$O(n\\^{}2)\\$ \\#1 \\{Cost\\} \\~{} x\\_1 \\^{} "
        "\\textbackslash{}\\textbackslash{} \\textless{}b\\textgreater{}}"
    )
    for entry in entries:
        for name, value in entry.items():
            if name not in ("type", "key", "url"):
                assert not bare_specials(value), (name, value)
    assert entries[4]["url"] == "https://example.org/a?x=%7B1%7D&y=2"


def test_authors_that_bibtex_would_misread_are_braced(special: Path) -> None:
    first = read_bib(issue_bibtex(special_issue(special)))[0]
    assert (
        first["author"]
        == "José Ramón Müller and {Barnes and Noble Collaboration} and {Lu, Minghai} and Zoë Łukasiewicz"
    )
    assert first["key"] == "muller2024uber" and first["primaryClass"] == "cs.CL"


def test_venues_choose_the_entry_type(special: Path) -> None:
    entries = read_bib(issue_bibtex(special_issue(special)))
    assert entries[1]["type"] == "inproceedings" and entries[1]["booktitle"].startswith("Proceedings of the 39th")
    assert entries[1]["eprint"] == "2409.14274v2"
    assert entries[3]["type"] == "article" and entries[3]["journal"] == "Nature 620 (2023) 47-60"
    assert entries[4]["type"] == "misc" and "eprint" not in entries[4]


VENUES = [  # (venue as an editor writes it, entry type, field that keeps it)
    ("COLM 2024", "inproceedings", "booktitle"),
    ("ICLR 2025", "inproceedings", "booktitle"),
    ("NeurIPS 2024", "inproceedings", "booktitle"),
    ("Findings of ACL 2024", "inproceedings", "booktitle"),
    ("ICLR 2024 Workshop on Reliable and Responsible Foundation Models", "inproceedings", "booktitle"),
    ("CoRL'23", "inproceedings", "booktitle"),
    ("IEEE TPAMI 2024", "article", "journal"),
    ("JMLR 2024", "article", "journal"),
    ("OpenAI 技术博客", "misc", "howpublished"),
]


def test_every_venue_is_kept_and_conference_acronyms_are_inproceedings(newsletter) -> None:
    root = newsletter()
    folder = root / "issues" / "2024-10-14"
    write(folder / "issue.yaml", "title: 会议论文一期\n")
    for number, (venue, _, _) in enumerate(VENUES, 1):
        write(
            folder / f"{number:02d}-paper.md",
            paper_md(f"第{number}篇 Paper {number}", arxiv=f"2409.{14270 + number}", year="2024", venue=f'"{venue}"'),
        )
    entries = read_bib(issue_bibtex(special_issue(root)))
    assert [(e["type"], e.get(field)) for e, (_, _, field) in zip(entries, VENUES)] == [
        (kind, venue) for venue, kind, _ in VENUES
    ]
    assert all(e["archivePrefix"] == "arXiv" for e in entries)


def test_an_arxiv_preprint_venue_is_not_repeated_and_one_entry_is_singular(newsletter) -> None:
    root = newsletter()
    write(root / "issues" / "2024-10-14" / "issue.yaml", "title: 只有一篇\n")
    write(
        root / "issues" / "2024-10-14" / "01-only.md",
        paper_md("唯一的论文 Only Paper", venue='"arXiv preprint arXiv:2409.14274"'),
    )
    text = issue_bibtex(special_issue(root))
    assert text.startswith("% Papers of issue 2024-10-14: 1 entry\n")
    (entry,) = read_bib(text)
    assert entry["type"] == "misc" and "howpublished" not in entry and entry["eprint"] == "2409.14274"


def test_keys_are_unique_and_stable(special: Path) -> None:
    issue = special_issue(special)
    keys = [e["key"] for e in read_bib(issue_bibtex(issue))]
    assert keys == ["muller2024uber", "lu2024proof", "lu2024proofa", "author2023scaling", "chinese2024"]
    assert issue_bibtex(issue) == issue_bibtex(special_issue(special))


def test_escape_flattens_whitespace_and_control_characters() -> None:
    assert escape("a\n\tb\x07c") == "a b c"


def test_build_writes_and_links_papers_bib(example: Path, monkeypatch, capsys) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    bib = example / "public" / "issues" / "2024-09-30" / "papers.bib"
    page = (example / "public" / "issues" / "2024-09-30" / "index.html").read_text("utf-8")
    assert 'href="papers.bib"' in page
    assert len(read_bib(bib.read_text("utf-8"))) == 3
    code, out, err = run(example, "bib", "2024-09-30", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    assert out == bib.read_text("utf-8")
    code, out, _ = run(example, "bib", "2024-04-28", "-o", "out/april.bib", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "5 entries" in out
    assert len(read_bib((example / "out" / "april.bib").read_text("utf-8"))) == 5


def test_bib_refuses_bad_and_broken_issues(example: Path, monkeypatch, capsys) -> None:
    code, _, err = run(example, "bib", "../etc", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "not an issue id" in err
    write(example / "issues" / "2024-10-07" / "issue.yaml", "title: 坏的一期\n")
    write(example / "issues" / "2024-10-07" / "01-bad.md", "---\ntitle: [unclosed\n---\n")
    code, out, err = run(example, "bib", "2024-10-07", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and out == "" and "01-bad.md" in err
