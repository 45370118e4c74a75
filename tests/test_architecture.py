"""The package's shape: stages that import only downwards, no cycles, a visible top level,
every stage saying what it takes and gives, and one exception tree."""

import ast
import importlib.util
import re
import sys

import pytest
from conftest import REPO

PIPELINE = REPO / "pipeline"


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


graph_tool = _import_graph()


def test_every_import_points_down_the_stages_and_none_makes_a_cycle():
    edges = graph_tool.graph()
    assert graph_tool.unplaced(edges) == []
    assert graph_tool.upward(edges) == []
    assert graph_tool.cycles(edges) == []


def test_a_new_module_at_the_top_is_reported_with_where_it_belongs(tmp_path):
    """Only the named shared leaves live beside the stages: a module dropped there is not taken
    for a leaf, and a leaf that imports a stage points up."""
    package = tmp_path / "pipeline"
    (package / "render").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "render" / "__init__.py").write_text('"""Render."""\n')
    (package / "helpers.py").write_text("")
    (package / "model.py").write_text("from pipeline.render import x\n")
    (package / "render" / "x.py").write_text("from pipeline import helpers, model\n")
    edges = graph_tool.graph(package)
    assert [line.split(":")[0] for line in graph_tool.unplaced(edges)] == ["pipeline.helpers"]
    assert "move it into the one of its stage" in graph_tool.unplaced(edges)[0]
    assert graph_tool.upward(edges) == ["pipeline.model (leaves) imports pipeline.render.x (render)"]
    assert graph_tool.cycles(edges) == [["pipeline.model", "pipeline.render.x"]]


def test_the_check_sees_function_level_imports_and_cycles(tmp_path):
    """The check is worth something only if it catches what it looks for."""
    package = tmp_path / "pipeline"
    (package / "render").mkdir(parents=True)
    (package / "cli").mkdir()
    (package / "__init__.py").write_text("")
    (package / "render" / "__init__.py").write_text('"""Render."""\n')
    (package / "render" / "a.py").write_text("def f():\n    from pipeline.cli import main\n")
    (package / "render" / "b.py").write_text("from pipeline.render import c\n")
    (package / "render" / "c.py").write_text("from . import b\n")
    (package / "cli" / "__init__.py").write_text("main = None\n")
    edges = graph_tool.graph(package)
    assert graph_tool.upward(edges) == ["pipeline.render.a (render) imports pipeline.cli (cli)"]
    assert graph_tool.cycles(edges) == [["pipeline.render.b", "pipeline.render.c"]]


def test_the_check_sees_modules_imported_by_name(tmp_path):
    """A registry that imports on first use names its module in a string: that is an import too
    (a logger named after its own package is not)."""
    package = tmp_path / "pipeline"
    for stage in ("render", "build"):
        (package / stage).mkdir(parents=True)
        (package / stage / "__init__.py").write_text(f'"""{stage}."""\n')
    (package / "__init__.py").write_text("")
    (package / "render" / "web.py").write_text('OUTPUTS = {"x": "pipeline.build.lazy:render"}\n')
    (package / "render" / "log.py").write_text('NAME = "pipeline.render"\n')
    (package / "build" / "lazy.py").write_text("")
    edges = graph_tool.graph(package)
    assert graph_tool.upward(edges) == ["pipeline.render.web (render) imports pipeline.build.lazy (build)"]
    assert edges["pipeline.render.log"] == set()


def test_every_module_belongs_to_a_known_stage():
    stages = {graph_tool.stage_of(name) for name in graph_tool.modules()}
    assert stages == set(graph_tool.STAGES)


def test_the_top_level_holds_the_stages_and_the_named_shared_leaves():
    loose = sorted(p.stem for p in PIPELINE.glob("*.py"))
    named = sorted(name.split(".")[-1] for name in graph_tool.LEAVES if name != "pipeline")
    assert loose == sorted(["__init__", "__main__", *named])
    architecture = (REPO / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    leaves_row = next(line for line in architecture.splitlines() if line.startswith("| shared leaves"))
    assert all(f"`{name}.py`" in leaves_row for name in named)
    folders = sorted(p.name for p in PIPELINE.iterdir() if (p / "__init__.py").exists())
    assert folders == sorted(s for s in graph_tool.STAGES if s != "leaves")


@pytest.mark.parametrize("stage", [s for s in graph_tool.STAGES if s != "leaves"])
def test_each_stage_opens_with_what_it_takes_and_gives(stage):
    doc = ast.get_docstring(ast.parse((PIPELINE / stage / "__init__.py").read_text("utf-8")))
    assert doc and len(doc) > 80, stage


@pytest.mark.parametrize("stage", [s for s in graph_tool.STAGES if s != "leaves"])
def test_each_stage_names_every_module_it_holds(stage):
    """The package's opening docstring is the map a maintainer reads first: no module missing."""
    doc = ast.get_docstring(ast.parse((PIPELINE / stage / "__init__.py").read_text("utf-8")))
    missing = [p.stem for p in sorted((PIPELINE / stage).glob("*.py")) if p.stem != "__init__" and p.stem not in doc]
    assert missing == [], f"pipeline/{stage}/__init__.py does not mention {missing}"


def test_every_module_is_in_the_architecture_document():
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    modules = [p for p in sorted(PIPELINE.rglob("*.py")) if p.name not in ("__init__.py", "__main__.py")]
    missing = [str(p.relative_to(PIPELINE)) for p in modules if f"`{p.name}`" not in text]
    assert missing == [], f"docs/ARCHITECTURE.md does not name {missing}"


# Calls that change files: pathlib's and atomic's by name, os's by module.
WRITES = {"write_atomic", "write_bytes", "write_text", "mkdir", "unlink", "rmdir", "touch", "Staging"}
OS_WRITES = {"replace", "rename", "remove", "unlink", "rmdir", "makedirs", "link", "symlink"}  # os.…
SHUTIL_WRITES = {"copy", "copy2", "copyfile", "copytree", "move", "rmtree"}


def test_renderers_write_no_file():
    """A renderer returns bytes; the build writes them (and keeps what renderers may reuse)."""
    found = []
    for path in sorted((PIPELINE / "render").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = node.func
            name = getattr(called, "attr", None) or getattr(called, "id", None)
            module = getattr(called.value, "id", None) if isinstance(called, ast.Attribute) else None
            if (
                name in WRITES
                or (module == "os" and name in OS_WRITES)
                or (module == "shutil" and name in SHUTIL_WRITES)
            ):
                found.append(f"{path.name}:{node.lineno} {name}")
            if name == "open" and any(
                isinstance(a, ast.Constant) and set(str(a.value)) & set("wax+") for a in node.args[1:]
            ):
                found.append(f"{path.name}:{node.lineno} open for writing")
    assert found == []


def test_channel_types_are_named_only_in_the_channels_and_the_config_table():
    """Adding a channel touches channels/ and config/fields.py: nothing else branches on a type."""
    kinds = re.compile(r"""\.type\s*[!=]=\s*["'](feed|email|wechat|webhook)["']""")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in PIPELINE.rglob("*.py")
        if "channels" not in path.parts
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if kinds.search(line)
    ]
    assert offenders == []


def _exception_classes() -> dict[str, type]:
    """Every exception class the package defines, found by importing each of its modules."""
    import importlib
    import inspect

    found = {}
    for name in graph_tool.modules():
        if name.endswith("__main__"):
            continue  # running it would start the CLI
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[value.__name__] = value
    return found


def _drawn_tree(doc: str) -> dict[str, str]:
    """Class → parent as the docstring draws it (a child's name starts 4 columns right of its parent's)."""
    parents: dict[str, str] = {}
    at_column: dict[int, str] = {}
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*(?:[├└]── )?)([A-Z]\w+)", line)
        if not match or not re.search(r"[├└]── |^\s*Exception\s*$", line):
            continue
        column, name = len(match.group(1)), match.group(2)
        at_column[column] = name
        if column - 4 in at_column and "── " in match.group(1):
            parents[name] = at_column[column - 4]
    return parents


def test_the_exception_tree_in_errors_draws_every_exception_under_its_real_base():
    import pipeline.errors

    classes = _exception_classes()
    assert {"PublishError", "WechatError", "ArxivError", "Unreachable"} <= set(classes)  # the scan finds them
    drawn = _drawn_tree(pipeline.errors.__doc__)
    assert sorted(set(classes) - set(drawn)) == []  # every one is drawn
    for name, parent in drawn.items():
        base = Exception if parent == "Exception" else classes[parent]
        assert classes[name].__bases__ == (base,), (name, parent)


def test_every_folder_of_tests_is_collected(pytestconfig):
    """pytest skips folders matching ``norecursedirs`` (by default ``build``, which once left
    tests/build/ out of every full run without a word)."""
    from fnmatch import fnmatch

    skipped = pytestconfig.getini("norecursedirs")
    folders = {path.parent for path in (REPO / "tests").rglob("test_*.py")}
    assert folders, "no test folders found"
    for folder in folders:
        for part in folder.relative_to(REPO).parts:
            assert not any(fnmatch(part, pattern) for pattern in skipped), f"{folder} is never collected"


# Import name → the distribution pyproject.toml must declare for it (where the two differ).
DISTRIBUTIONS = {
    "PIL": "pillow",
    "dkim": "dkimpy",
    "yaml": "pyyaml",
    "markdown_it": "markdown-it-py",
    "mjml": "mjml-python",
    "css_inline": "css-inline",
}
OPTIONAL = {"nacl"}  # dkimpy's ed25519 signing, imported only when a key of that kind is used


def test_every_library_the_package_imports_is_a_declared_dependency():
    """Not one that arrives with another's install: removing that one would break a fresh
    `pip install .` while every test still passed in an older environment."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = {
        re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower()
        for spec in tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    }
    imported = set()
    for path in PIPELINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"pipeline"} - OPTIONAL
    missing = sorted(name for name in third_party if DISTRIBUTIONS.get(name, name).lower() not in declared)
    assert missing == [], f"imported but not in pyproject.toml's dependencies: {missing}"
