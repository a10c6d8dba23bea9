"""The library's imports flow one way, with no cycle anywhere.

Packages: ``compress`` -> ``calibration`` -> ``targets``. Inside ``compress``, from the front
doors (CLI, ``compress_model``, callbacks, demo) down to the session, and from the session
down to stages, engines, artifacts and the report: nothing below the session imports it.
Imports inside functions count too (they are cycles all the same, only deferred).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("compress", "calibration", "targets")
#: modules above the session (they may import it); everything else in compress is below it
FRONT_DOORS = ("compress", "compress.pipeline", "compress.callbacks", "compress.demo",
               "compress.cli")


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, module: str) -> set[str]:
    """Every library module ``path`` imports, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:  # `from pkg import mod` imports the submodule pkg.mod
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_module(sub) else base)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the three packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            module = ".".join(parts)
            out[module] = _imports(path, module) - {module}
    return out


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for dep in sorted(edges.get(module, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_no_import_cycle_anywhere_in_the_library():
    cycle = find_cycle(graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package, forbidden", [("targets", ("compress", "calibration")),
                                                ("calibration", ("compress",))])
def test_imports_flow_down_the_packages(package, forbidden):
    for module, deps in graph().items():
        if module.split(".")[0] == package:
            bad = sorted(d for d in deps if d.split(".")[0] in forbidden)
            assert not bad, f"{module} imports {bad}: imports flow compress -> calibration -> targets"


def test_nothing_below_the_session_imports_it_or_a_front_door():
    above = set(FRONT_DOORS)
    for module, deps in graph().items():
        if not module.startswith("compress") or module in above or \
                module.startswith("compress.cli") or module == "compress.session":
            continue
        bad = sorted(d for d in deps if d == "compress.session" or d in above
                     or d.startswith("compress.cli"))
        assert not bad, f"{module} imports {bad}: nothing below the session calls back up"
    session = graph()["compress.session"]
    assert not {d for d in session if d in above or d.startswith("compress.cli")}


def test_only_the_tfmot_engine_and_the_keras_module_import_tfmot():
    """The engine seam: tfmot is reached through ``compress.engines.tfmot`` (and
    ``compress._keras``, which selects tf_keras before TensorFlow loads and imports it)."""
    allowed = {"compress/_keras.py", "compress/engines/tfmot.py"}
    users = set()
    for path in (ROOT / "compress").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Attribute) and node.attr == "tfmot":
                names = ["tfmot"]
            if any(n.startswith("tensorflow_model_optimization") or n.endswith("_keras.tfmot")
                   or n == "tfmot" for n in names):
                users.add(str(path.relative_to(ROOT)))
    assert users <= allowed, sorted(users - allowed)
