"""An issue's email and WeChat files (:data:`pipeline.build.outputs.SEND_OUTPUTS`): rendered
where the issue is, or by a forked child while the build goes on.

A rebuild after an edit renders the edited issue in the build's own process. Its email and
WeChat files took ~60 ms of it, with imports only they need (MJML, CSS inlining, the WeChat
writers), and nothing else the build renders reads them: on two CPUs a child renders them
while the build renders the issue's page and the site outputs. The child stages its files
for the build (see :class:`pipeline.atomic.Staging`), and the build takes them over before it
commits (:meth:`Pending.settle`). When the child fails or dies, the build renders them
itself, so that an error is raised, and reported, in the build's own process.
"""

from __future__ import annotations

import contextlib
import pickle
from functools import partial

from pipeline.atomic import Staging
from pipeline.build.outputs import ISSUE_OUTPUTS
from pipeline.build.processes import Forked
from pipeline.model import Issue
from pipeline.render.context import RenderContext


def render(issue: Issue, ctx: RenderContext, staging: Staging, names: list[str]) -> list[str]:
    """Render the outputs ``names`` of the issue into ``staging``; the paths of their files."""
    files = []
    for name in names:
        for relative, data in ISSUE_OUTPUTS[name](issue, ctx).items():
            staging.add(relative, data)
            files.append(relative)
    return files


class Pending:
    """The outputs ``names`` of an issue, being rendered by a forked child."""

    def __init__(self, issue: Issue, ctx: RenderContext, names: list[str], process: Forked) -> None:
        self.issue, self.ctx, self.names, self.process = issue, ctx, names, process
        self._data: bytes | None = None  # what the child wrote, once it was waited for

    @classmethod
    def start(cls, issue: Issue, ctx: RenderContext, staging: Staging, names: list[str]) -> Pending | None:
        """The child, forked; None when the system refuses a process (render them here)."""
        process = Forked.start(partial(_payload, issue, ctx, staging, names))
        return cls(issue, ctx, names, process) if process is not None else None

    def settle(self, staging: Staging) -> list[str]:
        """Wait for the child and take its files over; rendered here when it delivered none."""
        result = self._result()
        if result is None:
            staging.remove_left_by(self.process.pid)  # what it staged before it died
            return render(self.issue, self.ctx, staging, self.names)
        staged, files = result
        staging.adopt(staged)
        return files

    def abandon(self, staging: Staging) -> None:
        """Wait for the child and take its files over, for the build that stops to discard
        (again after :meth:`settle` has, as when rendering them here failed: no harm)."""
        result = self._result()
        if result is not None:
            staging.adopt(result[0])
        else:
            staging.remove_left_by(self.process.pid)

    def _result(self) -> tuple[list, list[str]] | None:
        if self._data is None:
            self._data = self.process.join()
        try:
            return pickle.loads(self._data) if self._data else None
        except (pickle.UnpicklingError, EOFError, ValueError):  # cut short: killed while writing
            return None


def _payload(issue: Issue, ctx: RenderContext, staging: Staging, names: list[str]) -> bytes:
    """In the child: the pickled staged files and paths; empty when rendering failed."""
    own = staging.branch()  # reads the build's staged files, never drops or hands them over
    try:
        files = render(issue, ctx, own, names)
        return pickle.dumps((own.take(), files), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        with contextlib.suppress(BaseException):
            own.discard()
        return b""  # nothing delivered: the build renders them itself
