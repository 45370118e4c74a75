"""The newsletter as a spam filter sees it: SpamAssassin's local rules on real messages.

Run only where ``spamassassin`` is installed (``tests/run.sh`` installs it as root on Debian);
``-L`` keeps it off the network. The scores are what SpamAssassin 4.0's rules give without
Bayes or DNS lists: a clean message scores near 0, 5 is spam.

HTML_OBFUSCATE_* is the share of tags that stand between two characters of text (neither a
space nor ASCII punctuation): ``中<b>文</b>`` counts twice, a comment between two characters
once. Line breaks must add none. Inline markup inside runs of Chinese text always counts (no
markup that shows the same text avoids it); what keeps the share below 0.2, where
HTML_OBFUSCATE_20_30 (2.5 points) starts, is the layout's own structure: one MJML section
per paper (templates/email.mjml).
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import NOW, paper_md, write

from pipeline.config import load_config
from pipeline.publish.publisher import publish_issue

pytestmark = pytest.mark.skipif(shutil.which("spamassassin") is None, reason="spamassassin is not installed")

HOSTILE_ISSUE = "2024-10-07"
HOSTILE = '<script>alert("x")</script> {{ 7*7 }} ]]> \'单引号\' "双引号" 😀 שלום עולם'
# SpamAssassin's own HTML parser, for the two counts behind HTML_OBFUSCATE_*: tags, and text split by them.
COUNT_OBFUSCATION = r"""
use Mail::SpamAssassin::HTML;
my $html = do { local $/; <STDIN> };
my $parser = Mail::SpamAssassin::HTML->new(0, 0);
$parser->parse($html);
print(($parser->{tags} // 0), " ", ($parser->{obfuscation} // 0), "\n");
"""
# Where HTML_OBFUSCATE_20_30 (2.5 points) starts; below, HTML_OBFUSCATE_10_20 gives 0.2.
OBFUSCATION_LIMIT = 0.2


@dataclass(frozen=True)
class Sent:
    """An issue as published: the messages written to the Maildir and the HTML part as built."""

    messages: list[bytes]
    built_html: bytes

    @property
    def html(self) -> bytes:
        """The first message's HTML part as its reader gets it (transfer encoding undone)."""
        message = email.message_from_bytes(self.messages[0], policy=email.policy.default)
        return message.get_body(("html",)).get_payload(decode=True)


def spam_report(message: bytes) -> tuple[float, dict[str, float]]:
    """SpamAssassin's score of ``message`` and the points of each rule that fired (local rules only)."""
    run = subprocess.run(["spamassassin", "-L", "-t"], input=message, capture_output=True, timeout=120, check=True)
    report = run.stdout.decode("utf-8", "replace")
    score = float(re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report).group(1))
    rules = {name: float(points) for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", report, re.M)}
    return score, rules


def obfuscation(html: bytes) -> tuple[int, int]:
    """``(tags, text splits)`` as SpamAssassin counts them in ``html``."""
    run = subprocess.run(["perl", "-e", COUNT_OBFUSCATION], input=html, capture_output=True, timeout=60, check=True)
    tags, splits = run.stdout.split()
    return int(tags), int(splits)


def publish(root: Path, issue_id: str) -> Sent:
    """Publish ``issue_id`` on the email channel into the newsletter's Maildir."""
    config = load_config(root / "config.yaml")
    [result] = publish_issue(config, issue_id, ["email"], now=NOW)
    assert result.status == "done", result.detail
    box = mailbox.Maildir(root / "outbox" / "maildir", factory=None, create=False)
    built = (config.output_dir / "issues" / issue_id / "email.html").read_bytes()
    return Sent([box.get_bytes(key) for key in box.keys()], built)


class Shown(HTMLParser):
    """The text an HTML part shows, whitespace folded as HTML folds it."""

    def __init__(self, html: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.feed(html.decode("utf-8"))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())


def hostile_paper(n: int) -> str:
    """A full digest: Chinese text with inline markup inside its runs, hostile strings, a long unbroken run."""
    plain = f"第{n}篇论文研究长上下文推理中的缓存压缩问题，作者在多个基准上做了对比。"
    marked = f"作者提出了一种**无需微调**的方法，在`LongBench`上把延迟降低了*一半*，代码见[仓库](https://github.com/example/p{n})。"
    points = "".join(f"- **要点{k}**：{plain}\n" for k in range(1, 4))
    body = (
        plain * 3
        + marked
        + f"\n\n## 研究背景\n\n{plain * 4} {HOSTILE}\n\n{points}"
        + "\n## 如何解决\n\n"
        + "长段落没有任何空格也没有标点符号" * 30
        + f"\n\n## 实验效果\n\n{plain * 3}{marked}\n\n## 推荐理由\n\n{plain * 3}\n"
    )
    return paper_md(
        f"{HOSTILE} Paper {n}",
        f"2410.{10000 + n}",
        body,
        rating=n % 10,
        title_translated=json.dumps(f"第 {n} 篇：{HOSTILE}", ensure_ascii=False),
    )


@pytest.fixture
def hostile(example: Path) -> Path:
    """The bundled example newsletter with a ten-paper issue of hostile text."""
    folder = example / "issues" / HOSTILE_ISSUE
    summary = json.dumps(f"十篇论文：{HOSTILE}", ensure_ascii=False)
    write(folder / "issue.yaml", f"title: 十篇论文特刊\nsummary: {summary}\nintro: 本期**共十篇**。\n")
    for n in range(1, 11):
        write(folder / f"{n:02d}-p{n}.md", hostile_paper(n))
    data = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    data["channels"]["email"]["unsubscribe_secret"] = "测试密钥-not-a-real-secret"
    (example / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return example


@pytest.fixture
def bundled(example: Path) -> Sent:
    return publish(example, "2024-04-28")


@pytest.fixture
def hostile_sent(hostile: Path) -> Sent:
    return publish(hostile, HOSTILE_ISSUE)


def test_no_link_names_its_recipient(bundled):
    for raw in bundled.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        address = message["To"].addresses[0].addr_spec
        body = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[1]
        unsubscribe = message["List-Unsubscribe"]
        assert "/unsubscribe?u=" in unsubscribe and address not in unsubscribe and "%40" not in unsubscribe
        assert address.encode() not in body and address.replace("@", "%40").encode() not in body
        assert body.count(unsubscribe.strip("<>").encode()) == 2  # the text part's footer and the HTML's 退订
    _, rules = spam_report(bundled.messages[0])
    assert "GB_CUSTOM_HTM_URI" not in rules, rules


@pytest.mark.parametrize("which", ["bundled", "hostile_sent"])
def test_line_breaks_add_nothing_a_spam_filter_reads(which, request):
    """The part as sent reads as it was built: the same text, no comment, no word split by a break."""
    sent: Sent = request.getfixturevalue(which)
    html = sent.html
    assert max(len(line.rstrip(b"\r")) for line in sent.messages[0].split(b"\n")) <= 998  # RFC 5322
    assert html.count(b"<!--") == sent.built_html.count(b"<!--")
    assert Shown(html).text == Shown(sent.built_html).text
    built_tags, built_splits = obfuscation(sent.built_html)
    tags, splits = obfuscation(html)
    # A run of Chinese text longer than a line can only break in a <wbr> between two ideographs.
    wbr = len(re.findall(rb"<wbr\r?\n>", html))
    assert (tags, splits) == (built_tags + wbr, built_splits + wbr)
    assert wbr <= (10 * 2 if which == "hostile_sent" else 0)


def test_the_bundled_example_scores_clean(bundled):
    score, rules = spam_report(bundled.messages[0])
    assert score <= 0.5, rules
    tags, splits = obfuscation(bundled.html)
    assert splits / tags < OBFUSCATION_LIMIT, (tags, splits)


def test_a_hostile_ten_paper_issue_stays_far_from_spam(hostile_sent):
    """Nineteen pieces of inline markup inside Chinese text in every paper, and a long unbroken run."""
    score, rules = spam_report(hostile_sent.messages[0])
    assert score <= 2.0, rules
    assert not any(rule.startswith("HTML_OBFUSCATE_2") for rule in rules), rules
    tags, splits = obfuscation(hostile_sent.html)
    assert splits / tags < OBFUSCATION_LIMIT, (tags, splits)
