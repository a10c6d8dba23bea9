import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_calibration_never_imports_tensorflow():
    code = ("import sys, calibration, calibration.sources, calibration.idx, calibration.images\n"
            "calibration.load_dataset('bundled')\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tf_keras', 'compress'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as dotted names."""
    import ast

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
            # `from pkg import mod` imports the submodule pkg.mod when there is one
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (ROOT / sub.replace(".", "/")).with_suffix(".py").is_file() \
                    or (ROOT / sub.replace(".", "/") / "__init__.py").is_file()
                found.add(sub if is_module else base)
    return found


def _graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    graph = {}
    for package in packages:
        for path in sorted((ROOT / package).glob("*.py")):
            module = package if path.name == "__init__.py" else f"{package}.{path.stem}"
            graph[module] = _imports(path, module)
    return graph


def test_calibration_and_targets_imports_have_no_cycle():
    """Imports flow one way (compress -> calibration -> targets) with no cycle inside a
    package either, counting the imports inside functions too."""
    graph = _graph(("calibration", "targets"))
    edges = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(edges[module]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    for module, deps in graph.items():
        upward = ("compress",) if module.startswith("calibration") else ("compress", "calibration")
        bad = sorted(d for d in deps if d.split(".")[0] in upward)
        assert not bad, f"{module} imports {bad}: imports flow compress -> calibration -> targets"


def test_stream_names_stay_importable():
    from calibration import images, stream

    assert stream.LazyImages is images.LazyImages
    assert callable(stream.is_streamed) and not stream.is_streamed(images.np.zeros(2))
