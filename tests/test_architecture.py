"""The layout rules of README's "Architecture" section, checked on the source:

* no module imports another module's private (underscore) names;
* the import graph between harness modules has no cycle (imports inside
  functions count too: a lazy import still couples two modules);
* analysers and stages are each listed in one literal tuple, never found by
  string ``getattr``;
* the README's architecture section names every module of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def harness_target(module: str, name: str) -> str | None:
    """The harness module an import refers to (``from harness.x import y`` may import module x.y)."""
    if f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module if module in MODULES else None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_cross_modules(module):
    for imported, names in imports_of(MODULES[module]):
        if not imported.startswith("harness"):
            continue
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{module} imports private {private} from {imported}"


def test_import_graph_has_no_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for imported, names in imports_of(path):
            for name in names or [""]:
                target = harness_target(imported, name) if name else harness_target(imported, "")
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    # a package's __init__ importing its own submodules is not a cycle of modules
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_string_getattr_dispatch():
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2:
                assert not isinstance(node.args[1], ast.JoinedStr), f"{module}: getattr with an f-string"


def test_analysers_and_stages_are_literal_tuples():
    from harness.analysis.suite import ANALYSERS
    from harness.stages import STAGES

    for path, name in ((PACKAGE / "analysis" / "suite.py", "ANALYSERS"), (PACKAGE / "stages.py", "STAGES")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        values = [
            n.value
            for n in tree.body
            if isinstance(n, (ast.Assign, ast.AnnAssign))
            and any(getattr(t, "id", None) == name for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))
        ]
        assert len(values) == 1 and isinstance(values[0], ast.Tuple), f"{name} must be one literal tuple"
    assert len(ANALYSERS) == len({a.name for a in ANALYSERS}) and len(STAGES) == len({s.name for s in STAGES})


def test_readme_architecture_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    missing = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and p.name not in section
    ]
    assert not missing, f"README architecture section does not mention: {missing}"
