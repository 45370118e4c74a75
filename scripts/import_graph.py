"""The import graph of ``pipeline``, checked against the stage order.

Reads every module's imports (module level and inside functions, from the source, without
importing anything; a module named in a string, as registries import on first use, counts too) and reports each import that points up the stage order or sideways into
a cycle. ``python scripts/import_graph.py`` prints the layers, the edges between packages and
the violations (exit 1 when there are any); ``tests/test_architecture.py`` runs the same check.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "pipeline"

# Bottom to top: a module may import its own stage and the stages below it, never above.
STAGES = (
    "leaves",  # the top-level modules of LEAVES, shared by every stage
    "config",
    "load",
    "audience",
    "mail",
    "render",
    "build",
    "channels",
    "publish",
    "authoring",
    "web",
    "cli",
)


# The only modules outside a stage's package (docs/ARCHITECTURE.md, "shared leaves"). Any other
# top-level module is "unplaced": the check fails and names the package it belongs in.
LEAVES = (
    "pipeline",
    "pipeline.atomic",
    "pipeline.errors",
    "pipeline.ledger",
    "pipeline.markdown",
    "pipeline.model",
    "pipeline.yamlio",
)
UNPLACED = "unplaced"
ORDER = (UNPLACED, *STAGES)  # as the report lists them


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def stage_of(module: str) -> str:
    """``pipeline.load.issues`` → ``load``; ``__main__`` is the CLI's; a top-level module is a leaf
    when :data:`LEAVES` names it, else :data:`UNPLACED`."""
    parts = module.split(".")
    if module in LEAVES:
        return "leaves"
    if len(parts) == 2 and parts[1] == "__main__":
        return "cli"
    return parts[1] if parts[1] in STAGES else UNPLACED


def unplaced(edges: dict[str, set[str]]) -> list[str]:
    """Each module outside the stages' packages that :data:`LEAVES` does not name."""
    return [
        f"{name}: not in a stage's package; move it into the one of its stage (docs/ARCHITECTURE.md) "
        "or, if every stage shares it, name it in LEAVES and in the architecture document"
        for name in sorted(edges)
        if stage_of(name) == UNPLACED
    ]


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("pipeline."):
            # "pipeline.channels.feed:FeedChannel", "pipeline.render.web": imported by name later.
            # Its own package's name is a logger's ("pipeline.web"), not an import.
            named = node.value.split(":")[0]
            targets = [named] if named in known and not module.startswith(named + ".") else []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != module:
                found.add(target)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Each import of a stage above the importer's own."""
    rank = {stage: index for index, stage in enumerate(STAGES)}
    rank[UNPLACED] = -1  # reported by unplaced(), not here
    return [
        f"{source} ({stage_of(source)}) imports {target} ({stage_of(target)})"
        for source, targets in sorted(edges.items())
        for target in sorted(targets)
        if rank[stage_of(target)] > rank[stage_of(source)]
    ]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def depth(edges: dict[str, set[str]]) -> int:
    """The longest chain of imports (levels), on the acyclic graph."""
    memo: dict[str, int] = {}

    def level(node: str) -> int:
        if node not in memo:
            memo[node] = 1 + max((level(target) for target in edges[node]), default=0)
        return memo[node]

    return max(level(node) for node in edges)


def main() -> int:
    edges = graph()
    by_stage: dict[str, list[str]] = defaultdict(list)
    for name in edges:
        by_stage[stage_of(name)].append(name)
    for stage in ORDER:
        print(
            f"{stage:<10} {len(by_stage[stage]):>2} modules: {' '.join(sorted(m.split('.')[-1] for m in by_stage[stage]))}"
        )
    between: dict[tuple[str, str], int] = defaultdict(int)
    for source, targets in edges.items():
        for target in targets:
            if stage_of(source) != stage_of(target):
                between[stage_of(source), stage_of(target)] += 1
    print("\nimports between stages (importer → imported: count)")
    for (source, target), count in sorted(
        between.items(), key=lambda item: (ORDER.index(item[0][0]), ORDER.index(item[0][1]))
    ):
        print(f"  {source} → {target}: {count}")
    problems = unplaced(edges) + [f"cycle: {' ↔ '.join(c)}" for c in cycles(edges)] + upward(edges)
    if not problems:
        print(f"\n{len(edges)} modules, {depth(edges)} levels of imports, no cycle, no upward import, none unplaced")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
