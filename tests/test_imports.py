"""The project's import graph, built from the source with ``ast``: no cycles, and the layers hold.

Layers: ``engine`` (NumPy) <- ``ui`` (Streamlit drawing) <- ``pages`` and ``streamlit_app.py``.
``serve`` (runtime) and ``classroom`` (class store) import neither ``ui`` nor page code. Streamlit
is imported by the drawing layers only; ``serve.client`` speaks Streamlit's wire protocol and so
imports its message classes (``streamlit.proto``), never Streamlit itself.

Every import counts, also one inside a function: a deferred import hides a cycle, it does not
remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folders that are not the app's modules.
NOT_MODULES = {"tests", "benchmarks", "scripts", "docs", "deploy", "build", "dist"}


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module: top-level scripts, packages, and pages/."""
    modules = {}
    for path in sorted(root.glob("*.py")):
        modules[path.stem] = path
    for init in sorted(root.glob("*/__init__.py")):
        if init.parent.name in NOT_MODULES or init.parent.name.startswith("."):
            continue
        for path in sorted(init.parent.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted((root / "pages").glob("*.py")):  # a folder of scripts, not a package
        modules[f"pages.{path.stem}"] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path] | None = None) -> list[tuple[str, int]]:
    """What module ``name`` imports, with line numbers, relative imports made absolute.

    ``from pkg import x`` names ``pkg.x`` when that is one of ``modules`` (a submodule), else ``pkg``.
    """
    modules = modules or {}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in modules else base, node.lineno))
    return out


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module ``target`` names: itself, or its longest prefix that is one."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in modules:
            return ".".join(parts[:i])
    return None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (third-party modules left out)."""
    modules = project_modules(root)
    graph = {}
    for name, path in modules.items():
        targets = (_resolve(t, modules) for t, _ in imports_of(name, path, modules))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


# ---------------------------------------------------------------- the project


def test_the_project_has_no_import_cycle():
    graph = import_graph()
    assert {"engine", "ui.controls", "serve.warm", "serve.compute", "streamlit_app"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def _layer(module: str) -> str:
    return module.split(".")[0]


def _violations(allowed: dict[str, set[str]]) -> list[str]:
    graph = import_graph()
    return [
        f"{m} imports {t}"
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if _layer(m) in allowed and _layer(t) != _layer(m) and _layer(t) not in allowed[_layer(m)]
    ]


def test_the_layers_point_down():
    assert (
        _violations(
            {
                "engine": set(),  # imports no project package
                "serve": {"engine"},
                "classroom": {"engine"},
                "ui": {"engine", "serve", "classroom"},  # never pages
            }
        )
        == []
    )


def test_only_the_drawing_layers_import_streamlit_or_altair():
    bad = []
    for name, path in project_modules().items():
        if _layer(name) not in ("engine", "serve", "classroom"):
            continue
        for target, line in imports_of(name, path):
            top = target.split(".")[0]
            if top == "altair" or (top == "streamlit" and not (name == "serve.client" and _is_proto(target))):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert sorted(set(bad)) == []


def _is_proto(target: str) -> bool:
    return target.startswith("streamlit.proto.") or target == "streamlit.proto"


# ---------------------------------------------------------------- the checker itself


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_cycle_is_found_even_through_a_deferred_import(tmp_path):
    root = _tree(
        tmp_path,
        {
            "app.py": "from kit import controls\n",
            "kit/__init__.py": "",
            "kit/controls.py": "def setup():\n    from kit import warm  # deferred\n    warm.go()\n",
            "kit/warm.py": "from kit.controls import PAGES\n",
        },
    )
    graph = import_graph(root)
    assert graph["kit.controls"] == {"kit.warm"} and graph["kit.warm"] == {"kit.controls"}
    assert find_cycle(graph) == ["kit.controls", "kit.warm", "kit.controls"]


def test_relative_imports_and_packages_importing_their_modules_resolve(tmp_path):
    root = _tree(
        tmp_path,
        {
            "kit/__init__.py": "from .a import X\n",
            "kit/a.py": "from . import b\nimport numpy\n",
            "kit/b.py": "from ..other import y\n",  # outside the project: ignored
            "lib/__init__.py": "import kit.a\n",
        },
    )
    graph = import_graph(root)
    assert graph == {"kit": {"kit.a"}, "kit.a": {"kit.b"}, "kit.b": set(), "lib": {"kit.a"}}
    assert find_cycle(graph) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("module", ["engine", "serve", "classroom"])
def test_the_streamlit_rule_catches_an_import(tmp_path, module):
    root = _tree(tmp_path, {f"{module}/__init__.py": "import streamlit as st\n"})
    ((name, path),) = project_modules(root).items()
    assert [t for t, _ in imports_of(name, path)] == ["streamlit"]
