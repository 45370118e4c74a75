"""Parts of a site-level output rendered again only when their own inputs change: the build's
:class:`pipeline.render.context.PartCache`, handed to the renderers through the context.

A site-level output is rendered again whenever any public card changes, and the tag pages of
a long archive are thousands of files (~1 s of a one-issue rebuild at 500 issues, ~5 s with
2,000 tags) of which an edit touches a few. :class:`PartMemo` keeps, per part (a tag's page
or feed, a year's archive page or search shards), the hash of its inputs and of the bytes
rendered from them, in ``<state folder>/build/<name>-parts.json``
(a cache, beside the Jinja bytecode cache: never in the output). A part whose inputs hash as
before is kept (:data:`pipeline.render.context.KEPT`: the build neither reads nor writes its
files) only when its files are still as they were rendered: a file edited by hand makes the
part render again, so the result is always what rendering would give. The build saves the
memory after its commit, so it never names files that were not written.

Checking a file: its size, times and inode, when they were recorded more than
:data:`SETTLE_NS` after it was last written (a later write would then show in its times);
otherwise its bytes are read and hashed, and once they match and the file has settled its
stat is recorded. Reading back the 8 MB of tag pages of a 500-issue archive took ~0.15 s of
every rebuild after an edit.

The inputs' hash includes the tool's version, the config and every template, as an issue's
key does (:mod:`pipeline.build.state`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from pipeline import __version__
from pipeline.atomic import SETTLE_NS, file_problem, write_atomic
from pipeline.render.context import KEPT, PACKAGE_TEMPLATES, RenderContext


class PartMemo:
    """What each part of one output was rendered from, and the hashes of what it gave."""

    def __init__(self, ctx: RenderContext, name: str, environment: bytes | None = None) -> None:
        """``environment``: what every part depends on besides its inputs, when the build has
        it already (its environment key); by default, hashed here."""
        self.path = ctx.config.state_dir / "build" / f"{name}-parts.json"
        self.output = ctx.config.output_dir
        self.environment = environment if environment is not None else _environment(ctx)
        try:
            self.old: dict[str, list] = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            self.old = {}
        self.new: dict[str, list] = {}
        self.used = False  # an output skipped by this build keeps its memory as it was

    def files(self, part: str, inputs: bytes, render: Callable[[], dict[str, bytes]]) -> dict:
        """The part's files: :data:`KEPT` each when ``inputs`` are as before and the files are
        as rendered, else rendered (name → bytes)."""
        self.used = True
        key = hashlib.sha256(self.environment + inputs).hexdigest()
        entry = self.old.get(part)
        if entry and entry[0] == key:
            checked = self._checked(entry[1])
            if checked is not None:
                self.new[part] = [key, checked]
                return dict.fromkeys(checked, KEPT)
        files = render()
        self.new[part] = [key, {path: [_digest(data), None] for path, data in files.items()}]
        return files

    def save(self) -> None:
        """Remember this build's parts (only those it had; a cache, so no fsync)."""
        if not self.used or self.new == self.old:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, orjson.dumps(self.new, option=orjson.OPT_SORT_KEYS), durable=False)
        except OSError:
            pass  # a read-only state folder only costs the rendering next time

    def _checked(self, recorded: dict) -> dict[str, list] | None:
        """``{path: [digest, stat]}`` when every file is as rendered (its stat recorded once it
        has settled), None when one is missing or changed."""
        checked = {}
        settled = time.time_ns() - SETTLE_NS
        for relative, kept in recorded.items():
            digest, signature = kept if isinstance(kept, list) else (kept, None)  # a memory from before stats
            path = self.output / relative
            try:
                stat = os.stat(path)
                if _signature(stat) != signature:
                    if _digest(path.read_bytes()) != digest:
                        return None
                    signature = _signature(stat) if max(stat.st_mtime_ns, stat.st_ctime_ns) < settled else None
            except OSError:
                return None
            checked[relative] = [digest, signature]
        return checked


def _signature(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _environment(ctx: RenderContext) -> bytes:
    """The tool's version, the config and every template (packaged and the newsletter's own)."""
    digest = hashlib.sha256(__version__.encode() + b"\0" + ctx.config.raw_bytes + b"\0")
    for root in (PACKAGE_TEMPLATES, ctx.config.templates_dir):
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if not path.is_dir():
                digest.update(path.as_posix().encode() + b"\0" + _read(path, root) + b"\0")
    return digest.digest()


def _read(path: Path, root: Path) -> bytes:
    """The file's bytes under the templates' reading rule (no link leading elsewhere, no pipe)."""
    problem = file_problem(path, root)
    if problem:
        return problem.encode()
    try:
        return path.read_bytes()
    except OSError as exc:
        return str(exc).encode()
