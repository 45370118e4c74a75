"""Build benchmark: our `publish build` against Pelican 4.12 on the same generated content.

Generates N issues × M papers (mixed Chinese/English Markdown, ~3,000 characters per paper)
as a newsletter folder, converts the same issues into Pelican Markdown articles, then times
both tools as subprocesses in one run and prints a table of figures against the targets.

    python bench/bench_build.py              # 500 issues × 10 papers
    python bench/bench_build.py --sizes 200x10 500x10   # both sizes, one after the other, and a summary
    python bench/bench_build.py --quick      # 50 × 10
    python bench/bench_build.py --issues 200 --papers 5 --no-pelican
    python bench/bench_build.py --profile cold   # also write a cProfile of our cold build

Pelican and Python-Markdown come from bench/requirements.txt; they are not dependencies of
the tool. Everything is generated under bench/out/ (gitignored) unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE_URL = "https://digest.example.org/"
SITE_TITLE = "大模型前沿论文速递"
AUTHOR = "Digest Editors"
CATEGORY = "论文速递"
FEED_ITEMS = 20
FIRST_DAY = date(2015, 1, 5)  # weekly issues from here stay in the past for 500+ weeks

SECTIONS = ("研究背景", "问题与挑战", "如何解决", "创新点", "实验效果", "推荐理由")
TARGETS = {  # figure → (limit, aim); seconds unless noted
    "cold_ratio": (0.5, 0.4),
    "nochange": (0.3, None),  # the issue's figures at 500 × 10: no-change < 0.3 s, one edit < 0.5 s
    "edit": (0.5, None),
    "peak_mb": (150.0, None),
    "help_ms": (150.0, None),
}

# ---------------------------------------------------------------- content

ZH_SUBJECTS = [
    "大模型",
    "这类方法",
    "作者团队",
    "现有工作",
    "该框架",
    "新的训练策略",
    "推理阶段的缓存",
    "检索模块",
    "评测基准",
    "开源社区",
    "多模态模型",
    "小规模模型",
    "强化学习信号",
    "长上下文窗口",
    "注意力机制",
]
ZH_VERBS = [
    "显著提升了",
    "重新审视了",
    "系统地分析了",
    "有效缓解了",
    "首次揭示了",
    "大幅降低了",
    "进一步扩展了",
    "巧妙地结合了",
    "在多个基准上验证了",
    "从理论上解释了",
    "依然难以处理",
    "往往忽视了",
]
ZH_OBJECTS = [
    "推理效率",
    "显存占用",
    "训练成本",
    "泛化能力",
    "数据污染问题",
    "幻觉现象",
    "指令遵循能力",
    "长文本理解",
    "代码生成质量",
    "数学推理能力",
    "对齐效果",
    "鲁棒性",
    "可解释性",
    "安全边界",
]
ZH_TAILS = [
    "，这一点在实际部署中尤为关键",
    "，而且几乎不需要额外的标注数据",
    "，同时保持了原有的生成质量",
    "，但代价是更长的训练时间",
    "，其效果在更大规模的模型上更加明显",
    "，为后续研究提供了清晰的基线",
    "",
]
EN_TERMS = [
    "KV cache",
    "Transformer",
    "RLHF",
    "chain-of-thought",
    "mixture-of-experts",
    "LoRA",
    "retrieval-augmented generation",
    "in-context learning",
    "speculative decoding",
    "FlashAttention",
    "instruction tuning",
    "reward model",
    "tokenizer",
    "beam search",
    "contrastive learning",
    "distillation",
    "sparse attention",
    "RoPE",
]
EN_SENTENCES = [
    "The key insight is that most tokens contribute little to the final prediction.",
    "In short, the model learns *when* to stop reasoning, not only *how*.",
    "Ablations show that each component matters, but the retrieval step matters most.",
    "This is a simple idea that turns out to scale surprisingly well.",
    "Results hold across model sizes from 1B to 70B parameters.",
    "The authors release code, data and checkpoints under a permissive license.",
]
CODE_BITS = [
    "`top_k=32`",
    "`torch.compile`",
    "`max_new_tokens`",
    "`attn_mask`",
    "`kv_cache.evict()`",
    "`temperature=0.7`",
    "`--window 4096`",
    "`pass@1`",
    "`BLEU-4`",
    "`lr=3e-4`",
]
LINKS = [
    ("项目主页", "https://github.com/example/{slug}"),
    ("论文 PDF", "https://arxiv.org/pdf/{arxiv}"),
    ("官方博客", "https://blog.example.org/{slug}"),
    ("Hugging Face", "https://huggingface.co/example/{slug}"),
]
TAGS = [
    "大语言模型",
    "长上下文",
    "代码智能",
    "AI 安全",
    "多模态",
    "强化学习",
    "检索增强",
    "模型压缩",
    "推理加速",
    "形式化验证",
    "可解释性",
    "数据集",
    "评测",
    "对齐",
    "智能体",
]
TITLE_WORDS = [
    "Efficient",
    "Scalable",
    "Robust",
    "Adaptive",
    "Sparse",
    "Long-Context",
    "Self-Improving",
    "Verifiable",
    "Multimodal",
    "Retrieval-Augmented",
    "Reasoning",
    "Alignment",
    "Compression",
    "Agents",
    "Memory",
    "Decoding",
]
ZH_TITLE_WORDS = [
    "高效",
    "可扩展",
    "鲁棒",
    "自适应",
    "稀疏",
    "长上下文",
    "自我改进",
    "可验证",
    "多模态",
    "检索增强",
    "推理",
    "对齐",
    "压缩",
    "智能体",
    "记忆",
    "解码",
]
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Smith", "Garcia", "Müller", "Kim", "Nguyen", "Rossi", "Sato"]


def _sentence(rng: random.Random) -> str:
    """One mixed sentence: mostly Chinese, often with an English term, code or emphasis."""
    kind = rng.random()
    zh = f"{rng.choice(ZH_SUBJECTS)}{rng.choice(ZH_VERBS)}{rng.choice(ZH_OBJECTS)}{rng.choice(ZH_TAILS)}"
    if kind < 0.25:
        return f"借助 {rng.choice(EN_TERMS)}，{zh}。"
    if kind < 0.4:
        return f"{zh}，关键参数是 {rng.choice(CODE_BITS)}。"
    if kind < 0.55:
        return f"**{rng.choice(ZH_OBJECTS)}**方面，{zh}。"
    if kind < 0.65:
        return rng.choice(EN_SENTENCES)
    return f"{zh}。"


def _paragraph(rng: random.Random, chars: int) -> str:
    text = ""
    while len(text) < chars:
        text += _sentence(rng)
    return text


def _bullets(rng: random.Random, count: int, ordered: bool = False) -> str:
    lines = []
    for n in range(1, count + 1):
        mark = f"{n}." if ordered else "-"
        lines.append(f"{mark} **{rng.choice(ZH_OBJECTS)}**：{_sentence(rng)}")
    return "\n".join(lines)


def _link(rng: random.Random, slug: str, arxiv: str) -> str:
    label, url = rng.choice(LINKS)
    return f"[{label}]({url.format(slug=slug, arxiv=arxiv)})"


def paper_body(rng: random.Random, slug: str, arxiv: str, rating: int, target: int = 3000) -> str:
    """A paper's Markdown body: lead, then the six ## sections of the bundled example."""
    per_section = (target - 250) // len(SECTIONS)
    parts = [_paragraph(rng, 200) + f"更多细节见{_link(rng, slug, arxiv)}。"]
    for title in SECTIONS:
        parts.append(f"## {title}")
        if title == "推荐理由":
            parts.append(_paragraph(rng, per_section - 20) + f"推荐阅读指数 **{rating}/10**。")
            continue
        if title in ("问题与挑战", "创新点"):
            parts.append(_paragraph(rng, per_section // 3))
            parts.append(_bullets(rng, 4))
        elif title == "如何解决":
            parts.append(
                _paragraph(rng, per_section // 3)
                + f"实现上主要依赖 {rng.choice(CODE_BITS)} 与 {_link(rng, slug, arxiv)}。"
            )
            parts.append(_bullets(rng, 3, ordered=True))
        else:
            parts.append(_paragraph(rng, per_section // 2))
            parts.append(_paragraph(rng, per_section // 2 - 40))
    return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class GenPaper:
    slug: str
    title: str
    title_zh: str
    authors: list[str]
    arxiv: str
    year: int
    rating: int
    tags: list[str]
    body: str

    def markdown(self) -> str:
        """The entry file: YAML front matter (as FORMAT.md) and the body."""
        front = {
            "title": self.title,
            "title_translated": self.title_zh,
            "authors": self.authors,
            "venue": f"arXiv preprint arXiv:{self.arxiv}",
            "year": self.year,
            "arxiv": self.arxiv,
            "rating": self.rating,
            "tags": self.tags,
        }
        lines = ["---"]
        for key, value in front.items():
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
        return "\n".join(lines) + "\n---\n" + self.body


@dataclass(frozen=True)
class GenIssue:
    id: str
    day: date
    number: int
    title: str
    summary: str
    intro: str
    tags: list[str]
    papers: list[GenPaper]

    def yaml(self) -> str:
        intro = "\n".join(f"  {line}" if line else "" for line in self.intro.splitlines())
        return (
            f"title: {json.dumps(self.title, ensure_ascii=False)}\n"
            f"summary: {json.dumps(self.summary, ensure_ascii=False)}\n"
            f"intro: |\n{intro}\n"
            f'outro: "以上就是本期全部内容，我们下期见。"\n'
            f"tags: {json.dumps(self.tags, ensure_ascii=False)}\n"
        )


def generate(issues: int, papers: int, seed: int = 20240930) -> list[GenIssue]:
    """Deterministic content: weekly issues, unique arXiv ids, ~3,000 characters per paper."""
    rng = random.Random(seed)
    result = []
    for i in range(issues):
        day = FIRST_DAY + timedelta(weeks=i)
        gen_papers = []
        for j in range(papers):
            words = rng.sample(range(len(TITLE_WORDS)), 3)
            slug = f"{j + 1:02d}-{TITLE_WORDS[words[0]].lower()}-{i}-{j}"
            arxiv = f"{day.year % 100:02d}{day.month:02d}.{10000 + i * papers + j:05d}"
            rating = rng.randint(5, 10)
            gen_papers.append(
                GenPaper(
                    slug=slug,
                    title=" ".join(TITLE_WORDS[w] for w in words) + f" for Large Language Models ({i}.{j})",
                    title_zh="面向大模型的" + "、".join(ZH_TITLE_WORDS[w] for w in words) + "方法",
                    authors=[
                        f"{rng.choice('ABCDEFGHJKLMNPRSTWYZ')} {rng.choice(SURNAMES)}" for _ in range(rng.randint(2, 6))
                    ],
                    arxiv=arxiv,
                    year=day.year,
                    rating=rating,
                    tags=rng.sample(TAGS, 3),
                    body=paper_body(rng, slug, arxiv, rating),
                )
            )
        tags = ["大语言模型", "论文速递", *rng.sample(TAGS[1:], 2)]
        intro = (
            f"本期精选 {papers} 篇大模型论文，覆盖**{tags[2]}**与**{tags[3]}**两条主线。\n\n"
            f"- {_sentence(rng)}\n- {_sentence(rng)}\n\n每篇末尾附有 `x/10` 形式的推荐阅读指数。"
        )
        result.append(
            GenIssue(
                id=day.isoformat(),
                day=day,
                number=i + 1,
                title=f"{SITE_TITLE} · 第{i + 1}期：{tags[2]}与{tags[3]}",
                summary=f"本期 {papers} 篇：{'、'.join(p.title_zh[6:14] for p in gen_papers[:3])}等。",
                intro=intro,
                tags=tags,
                papers=gen_papers,
            )
        )
    return result


# ---------------------------------------------------------------- writing both sites

OUR_CONFIG = f"""\
site:
  title: {SITE_TITLE}
  url: {SITE_URL}
  language: zh-CN
  author: {AUTHOR}
  description: 每期精选几篇大模型方向的新论文，附结构化中文导读与推荐阅读指数。
  timezone: Asia/Shanghai
  publish_time: "08:00"
paths:
  issues: issues
  templates: templates
  output: public
  state: .publish/state.db
channels:
  feed: {{type: feed, items: {FEED_ITEMS}}}
  email:
    type: email
    from: {SITE_TITLE} <digest@example.org>
    subscribers: subscribers.csv
    maildir: outbox/maildir
  wechat: {{type: wechat, mode: export, author: 论文速递编辑部}}
"""

PELICAN_CONF = f"""\
# Minimal Pelican settings for the benchmark: default theme, no cache, absolute URLs.
AUTHOR = {AUTHOR!r}
SITENAME = {SITE_TITLE!r}
SITEURL = {SITE_URL.rstrip("/")!r}
PATH = "content"
TIMEZONE = "Asia/Shanghai"
DEFAULT_LANG = "zh"
RELATIVE_URLS = False
CACHE_CONTENT = False
LOAD_CONTENT_CACHE = False
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
FEED_MAX_ITEMS = {FEED_ITEMS}        # the same item count as our feeds
RSS_FEED_SUMMARY_ONLY = False  # full content, as ours
"""


def write_ours(root: Path, issues: list[GenIssue]) -> None:
    """Our newsletter folder: config.yaml, subscribers.csv, issues/<date>/{{issue.yaml, NN-slug.md}}."""
    (root / "config.yaml").write_text(OUR_CONFIG, "utf-8")
    (root / "subscribers.csv").write_text("email,name\nreader@example.org,读者\n", "utf-8")
    for issue in issues:
        folder = root / "issues" / issue.id
        folder.mkdir(parents=True)
        (folder / "issue.yaml").write_text(issue.yaml(), "utf-8")
        for paper in issue.papers:
            (folder / f"{paper.slug}.md").write_text(paper.markdown(), "utf-8")


def pelican_article(issue: GenIssue) -> str:
    """One Pelican article per issue with the same text: papers as ##, their sections as ###."""
    meta = [
        f"Title: {issue.title}",
        f"Date: {issue.day.isoformat()} 08:00",
        f"Category: {CATEGORY}",
        f"Tags: {', '.join(issue.tags)}",
        f"Author: {AUTHOR}",
        f"Slug: {issue.id}",
        f"Summary: {issue.summary}",
    ]
    parts = [issue.intro]
    for paper in issue.papers:
        parts.append(
            f"## {paper.title_zh}\n\n*{paper.title}* — {', '.join(paper.authors)} · "
            f"[arXiv:{paper.arxiv}](https://arxiv.org/abs/{paper.arxiv}) · 推荐 {paper.rating}/10"
        )
        parts.append(paper.body.replace("\n## ", "\n### "))
    parts.append("以上就是本期全部内容，我们下期见。")
    return "\n".join(meta) + "\n\n" + "\n\n".join(parts) + "\n"


def write_pelican(root: Path, issues: list[GenIssue]) -> None:
    (root / "content").mkdir(parents=True)
    (root / "pelicanconf.py").write_text(PELICAN_CONF, "utf-8")
    for issue in issues:
        (root / "content" / f"{issue.id}.md").write_text(pelican_article(issue), "utf-8")


# ---------------------------------------------------------------- running


@dataclass
class Run:
    seconds: float  # wall clock
    cpu_seconds: float  # user + system, the child and the workers it waited for
    max_rss_mb: float  # the largest single process (wait4's ru_maxrss)
    tree_pss_mb: float  # peak of the summed PSS of the child and its workers (sampled)
    stdout: str
    stderr: str


class TreeMemory(threading.Thread):
    """Samples the summed PSS (shared pages split fairly) of a process and its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in _tree(self.pid)))


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, sample: bool = False) -> Run:
    """Run a child to completion: wall and CPU time, its own peak RSS (wait4, not RUSAGE_CHILDREN)."""
    out_path, err_path = cwd / ".bench-stdout", cwd / ".bench-stderr"
    # The previous step's files go to disk first: a cold build leaves ~260 MB of dirty pages,
    # and their writeback would otherwise compete with whatever is timed next.
    os.sync()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = TreeMemory(proc.pid) if sample and Path("/proc/self/smaps_rollup").exists() else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if sampler:
        sampler.stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = Run(
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        (sampler.peak_kb / 1024) if sampler else 0.0,
        out_path.read_text("utf-8", "replace"),
        err_path.read_text("utf-8", "replace"),
    )
    out_path.unlink()
    err_path.unlink()
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result


def child_env(checkout: Path = REPO) -> dict[str, str]:
    """Run the `pipeline` package of this checkout (or another), with bytecode caching."""
    env = dict(os.environ)
    # A user's install caches bytecode; without it every run would recompile the package.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(checkout) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def ours_cmd(*args: str, profile: Path | None = None) -> list[str]:
    if profile is not None:
        return [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(profile),
            "-m",
            "pipeline",
            "--config",
            "config.yaml",
            *args,
        ]
    return [sys.executable, "-m", "pipeline", "--config", "config.yaml", *args]


def clean_ours(root: Path) -> None:
    shutil.rmtree(root / "public", ignore_errors=True)
    shutil.rmtree(root / ".publish", ignore_errors=True)


def edit_one(root: Path, issue: GenIssue, n: int) -> None:
    """Change one paper's text in one issue (a realistic fix of a sentence)."""
    path = root / "issues" / issue.id / f"{issue.papers[0].slug}.md"
    text = path.read_text("utf-8")
    path.write_text(text.rstrip("\n") + f"\n\n（第 {n} 次修订：补充了一处 **实验细节**。）\n", "utf-8")


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def built_counts(stdout: str) -> str:
    """'built X issue(s), Y unchanged' from our build's summary line."""
    for line in stdout.splitlines():
        if line.startswith("built "):
            return line.split(";")[0]
    return "?"


# ---------------------------------------------------------------- report


def verdict(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    limit, aim = TARGETS[key]
    if value > limit:
        return "MISSED"
    if aim is not None and value > aim:
        return "met (aim missed)"
    return "met"


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=500)
    parser.add_argument("--papers", type=int, default=10)
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        metavar="NxM",
        help="several sizes in one run (e.g. 200x10 500x10), each as --issues N --papers M, then a summary",
    )
    parser.add_argument("--quick", action="store_true", help="50 issues × 10 papers")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each rebuild (median reported)")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold builds of each tool (best reported)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="where content is generated")
    parser.add_argument("--no-pelican", action="store_true", help="time our build only")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another checkout (a folder holding pipeline/, e.g. the code before a change): its cold "
        "build is timed in turns with ours and Pelican's, on the same content",
    )
    parser.add_argument(
        "--profile",
        choices=("cold", "nochange", "edit"),
        action="append",
        default=[],
        help="also write a cProfile of that build to OUT/ and print its top functions",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.issues, args.papers = 50, 10
    sizes = args.sizes or [(args.issues, args.papers)]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    summaries = []
    for issues, papers in sizes:
        args.issues, args.papers = issues, papers
        summaries.append(bench_size(args))
        print()
    if len(summaries) > 1:
        print("Summary:\n")
        print_table([SUMMARY_HEADER, *summaries])
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    return 0


def parse_size(text: str) -> tuple[int, int]:
    """``200x10`` → (200, 10)."""
    issues, _, papers = text.lower().replace("×", "x").partition("x")
    if not (issues.isdigit() and papers.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: write a size as ISSUESxPAPERS, e.g. 200x10")
    return int(issues), int(papers)


SUMMARY_HEADER = (
    "size",
    "ours cold wall / CPU",
    "Pelican cold wall / CPU",
    "ratio wall / CPU",
    "baseline cold wall / CPU",
    "no-change",
    "one edit",
    "peak RSS / PSS",
)


def bench_size(args: argparse.Namespace) -> tuple[str, ...]:
    """Generate, time and print the table for one size; its row of the summary."""
    work = args.out / f"{args.issues}x{args.papers}"
    shutil.rmtree(work, ignore_errors=True)
    ours, pelican = work / "ours", work / "pelican"
    ours.mkdir(parents=True)
    started = time.perf_counter()
    issues = generate(args.issues, args.papers)
    write_ours(ours, issues)
    write_pelican(pelican, issues)
    chars = [len(p.body) for i in issues for p in i.papers]
    print(f"generated {args.issues} issues × {args.papers} papers in {time.perf_counter() - started:.1f}s under {work}")
    print(
        f"  paper bodies: {statistics.mean(chars):.0f} characters on average ({min(chars)}–{max(chars)}); "
        f"CPUs: {os.cpu_count()}; Python {sys.version.split()[0]}"
    )
    env = child_env()
    pelican_cmd = [sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py", "-o", "out"]
    # Bytecode for both tools is compiled once before anything is timed.
    run([sys.executable, "-c", "import pipeline.build.builder"], REPO, env)
    if not args.no_pelican:
        run([sys.executable, "-c", "import pelican, markdown"], pelican, env)
    base_env = child_env(args.baseline.resolve()) if args.baseline else None
    if base_env:
        run([sys.executable, "-c", "import pipeline.build.builder"], args.baseline, base_env)
    print(f"load before timing: {os.getloadavg()[0]:.2f} (other processes compete for the CPUs when > 0.5)")

    # Cold: fresh output and state folders (and a fresh Pelican output folder), best of --cold-runs.
    colds, pels, bases = [], [], []
    for _ in range(args.cold_runs):
        if base_env:  # first, so that the state the rebuilds below start from is ours
            clean_ours(ours)
            bases.append(run(ours_cmd("build"), ours, base_env))
            print(
                f"baseline cold:  {bases[-1].seconds:6.2f}s wall {bases[-1].cpu_seconds:6.2f}s CPU  "
                f"{bases[-1].max_rss_mb:4.0f} MB max RSS  {count_files(ours / 'public')} files"
            )
        clean_ours(ours)
        colds.append(run(ours_cmd("build"), ours, env))
        print(
            f"ours cold:      {colds[-1].seconds:6.2f}s wall {colds[-1].cpu_seconds:6.2f}s CPU  "
            f"{colds[-1].max_rss_mb:4.0f} MB max RSS  "
            f"{built_counts(colds[-1].stdout)}; {count_files(ours / 'public')} files"
        )
        if not args.no_pelican:
            shutil.rmtree(pelican / "out", ignore_errors=True)
            pels.append(run(pelican_cmd, pelican, env))
            print(
                f"pelican cold:   {pels[-1].seconds:6.2f}s wall {pels[-1].cpu_seconds:6.2f}s CPU  "
                f"{pels[-1].max_rss_mb:4.0f} MB max RSS  {count_files(pelican / 'out')} files"
            )
    # Timed without the memory sampler: reading /proc every 20 ms takes CPU from a build that uses
    # both CPUs (1.5-4 s of a 9 s cold build at 200 x 10), not from Pelican, which uses one. One more
    # cold build of ours, untimed, is sampled for memory.
    clean_ours(ours)
    sampled_cold = run(ours_cmd("build"), ours, env, sample=True)
    print(f"ours cold, sampled for memory (untimed): {sampled_cold.tree_pss_mb:4.0f} MB PSS all processes")
    cold = min(colds, key=lambda r: r.seconds)
    pel = min(pels, key=lambda r: r.seconds) if pels else None
    base = min(bases, key=lambda r: r.seconds) if bases else None

    # Rebuilds are timed without the memory sampler (reading /proc every 20 ms takes CPU from a
    # build of a few hundred ms on 2 CPUs); one more of each, untimed, is sampled for memory.
    nochange = [run(ours_cmd("build"), ours, env) for _ in range(args.repeat)]
    sampled = [run(ours_cmd("build"), ours, env, sample=True)]
    print(f"ours no-change: {' '.join(f'{r.seconds:.3f}s' for r in nochange)}  {built_counts(nochange[-1].stdout)}")
    edits = []
    for n in range(args.repeat):
        edit_one(ours, issues[-1 - n % 2], n + 1)  # the newest issues: the usual fix before sending
        edits.append(run(ours_cmd("build"), ours, env))
    print(f"ours one edit:  {' '.join(f'{r.seconds:.3f}s' for r in edits)}  {built_counts(edits[-1].stdout)}")
    edit_one(ours, issues[-1], args.repeat + 1)
    sampled.append(run(ours_cmd("build"), ours, env, sample=True))
    helps = [run([sys.executable, "-m", "pipeline", "--help"], REPO, env) for _ in range(5)]

    for phase in args.profile:
        if phase == "cold":
            clean_ours(ours)
        elif phase == "edit":
            edit_one(ours, issues[-1], 99)
        prof = work / f"profile-{phase}.prof"
        # One process, so that cProfile sees every issue (a parallel build profiles only the parent).
        run(ours_cmd("build", profile=prof), ours, {**env, "PUBLISH_BUILD_JOBS": "1"})
        import pstats

        print(f"\n--- cProfile of our {phase} build ({prof}) ---")
        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(30)

    runs = [*colds, sampled_cold, *nochange, *edits, *sampled]
    peak = max(r.max_rss_mb for r in runs)
    pss = max(r.tree_pss_mb for r in runs)
    ratio = cold.seconds / pel.seconds if pel else None
    cpu_ratio = cold.cpu_seconds / pel.cpu_seconds if pel else None
    nochange_s = statistics.median(r.seconds for r in nochange)
    edit_s = statistics.median(r.seconds for r in edits)
    help_ms = min(r.seconds for r in helps) * 1000
    print(f"\nResults, {args.issues} issues × {args.papers} papers ({os.cpu_count()} CPUs):\n")
    print_table(
        [
            ("figure", "value", "target (aim)", "verdict"),
            ("cold build, ours (wall / CPU)", f"{cold.seconds:.2f} s / {cold.cpu_seconds:.2f} s", "", ""),
            (
                "cold build, Pelican 4.12 (wall / CPU)",
                f"{pel.seconds:.2f} s / {pel.cpu_seconds:.2f} s" if pel else "skipped",
                "",
                "",
            ),
            (
                "cold ratio ours/Pelican, wall",
                f"{ratio:.2f}×" if ratio else "-",
                "≤ 0.5× (0.4×)",
                verdict(ratio, "cold_ratio"),
            ),
            ("cold ratio ours/Pelican, CPU time", f"{cpu_ratio:.2f}×" if cpu_ratio else "-", "(for reference)", ""),
            *(
                [
                    ("cold build, baseline (wall / CPU)", f"{base.seconds:.2f} s / {base.cpu_seconds:.2f} s", "", ""),
                    (
                        "cold ratio ours/baseline, wall / CPU",
                        f"{cold.seconds / base.seconds:.2f}× / {cold.cpu_seconds / base.cpu_seconds:.2f}×",
                        "",
                        "",
                    ),
                ]
                if base
                else []
            ),
            (
                "rebuild, nothing changed (median)",
                f"{nochange_s:.3f} s",
                "< 0.3 s",
                verdict(nochange_s, "nochange"),
            ),
            ("rebuild, one issue edited (median)", f"{edit_s:.3f} s", "< 0.5 s", verdict(edit_s, "edit")),
            ("peak RSS, largest process", f"{peak:.0f} MB", "< 150 MB", verdict(peak, "peak_mb")),
            (
                "peak PSS, all build processes",
                f"{pss:.0f} MB" if pss else "-",
                "< 150 MB",
                verdict(pss or None, "peak_mb"),
            ),
            ("`publish --help` (best of 5)", f"{help_ms:.0f} ms", "< 150 ms", verdict(help_ms, "help_ms")),
        ]
    )
    if pel:
        print(f"\n(Pelican: {pel.max_rss_mb:.0f} MB max RSS; load average now {os.getloadavg()[0]:.2f})")
    return (
        f"{args.issues} × {args.papers}",
        f"{cold.seconds:.2f} s / {cold.cpu_seconds:.2f} s",
        f"{pel.seconds:.2f} s / {pel.cpu_seconds:.2f} s" if pel else "skipped",
        f"{ratio:.2f}× / {cpu_ratio:.2f}×" if ratio and cpu_ratio else "-",
        f"{base.seconds:.2f} s / {base.cpu_seconds:.2f} s" if base else "-",
        f"{nochange_s:.3f} s",
        f"{edit_s:.3f} s",
        f"{peak:.0f} MB / {pss:.0f} MB",
    )


if __name__ == "__main__":
    sys.exit(main())
