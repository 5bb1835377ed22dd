"""The architecture rules the tests enforce.

- The import-linter contracts in pyproject.toml: Qt only in workbench.ui, llama_cpp only in the
  worker process, the layers (each package imports only from its own package or the layers
  below it), and the engine client that neither resolves settings nor records in the Hub.
- No import cycles among workbench's modules, nor among its packages, counting imports inside
  functions and under ``if TYPE_CHECKING:`` too (grimp's graph, the one import-linter checks).
- No ``try: import workbench.x / except ImportError`` downgrade around the project's own modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
         " sys.argv=['lint-imports']; lint_imports_command()"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert "0 broken" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize("module", ["workbench.cli", "workbench.engine.client",
                                    "workbench.commands.run"])
def test_core_modules_import_neither_qt_nor_llama(module: str) -> None:
    code = textwrap.dedent(f"""
        import sys, importlib
        importlib.import_module({module!r})
        bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'llama_cpp'))
        print(','.join(bad))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == ""


def test_ruff_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "workbench", "tests",
                             "packaging"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the layers ---------------------------------------------------------------------------------
LAYERS = [  # top to bottom, as the common brief of issue 13 decided (docs/architecture.md)
    "__main__", "cli", "ui | commands", "server", "compare | evals | chat", "routing", "costs",
    "providers | hub", "present", "planner", "engine", "net | synth", "gguf | hardware", "store",
    "errors | paths | resources | terminal_text | cancel | lazy_exports",
]


def _contracts() -> list[dict]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_the_layers_contract_is_the_decided_order() -> None:
    [layers] = [c for c in _contracts() if c["type"] == "layers"]
    assert layers["containers"] == ["workbench"]
    assert layers["layers"] == LAYERS
    assert layers["exhaustive"] is True  # a new top-level package must be placed
    assert not layers.get("ignore_imports")  # no exceptions


# -- no cycles -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # every import statement anywhere in a module: top level, inside functions, TYPE_CHECKING
    return grimp.build_graph("workbench", cache_dir=None)


def _cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node, or a node importing itself
    (Tarjan's algorithm, iterative: the module graph is deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["a"]}) == [["a"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycles_between_modules(graph: grimp.ImportGraph) -> None:
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert len(edges) > 100  # the whole package was read
    assert _cycles(edges) == []


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])  # workbench.hub.library -> workbench.hub


def test_no_import_cycles_between_packages(graph: grimp.ImportGraph) -> None:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        imported = {_package(m) for m in graph.find_modules_directly_imported_by(module)}
        edges.setdefault(_package(module), set()).update(imported - {_package(module)})
    assert {"workbench.engine", "workbench.hub", "workbench.planner"} <= set(edges)
    assert _cycles(edges) == []


# -- no silent downgrades -------------------------------------------------------------------------
def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
               for n in names)


def _imports_workbench(body: list[ast.stmt]) -> bool:
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "workbench"
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.level or (
                node.module or "").split(".")[0] == "workbench"):
            return True
    return False


def test_no_try_except_import_error_around_our_own_modules() -> None:
    found = []
    for path in sorted((ROOT / "workbench").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Try) and _imports_workbench(node.body)
                    and any(_catches_import_error(h) for h in node.handlers)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []  # a broken import of our own code must fail, not downgrade silently
