"""The conditions a benchmark ran under, recorded in its results file.

``conditions()`` returns the date, the machine (CPU, cores, memory, load average), the
Python and package versions and the library code that was imported (its folder, git commit
and whether that checkout had uncommitted edits in the library folders). ``describe()``
renders it as one Markdown paragraph. No TensorFlow import: versions come from package
metadata.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert",
            "numpy", "hypothesis", "pytest")
LIBRARY_DIRS = ("compress", "calibration", "targets")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _git(folder: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def code(root: Path | None = None) -> dict:
    """Where ``compress`` is imported from (or ``root``), and that checkout's commit and state."""
    import importlib.util

    if root is None:
        spec = importlib.util.find_spec("compress")
        root = Path(spec.origin).resolve().parent.parent if spec and spec.origin else None
    if root is None:
        return {"root": None, "commit": None, "library_dirty": None}
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--", *LIBRARY_DIRS)
    return {"root": str(root), "commit": commit,
            "library_dirty": None if status is None else bool(status)}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def conditions(*, root: Path | None = None, **extra) -> dict:
    """Date, machine, versions and code; ``extra`` (seeds, sample counts, runs...) kept as is.

    ``root``: the checkout whose library runs (default: where ``compress`` is imported from).
    """
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": {"cpu": _cpu(), "cpus": os.cpu_count(), "arch": platform.machine(),
                    "memory_gib": round(os.sysconf("SC_PHYS_PAGES")
                                        * os.sysconf("SC_PAGE_SIZE") / 2 ** 30, 1),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "shared": True, "gpu": False},
        "versions": versions(),
        "code": code(root),
        **extra,
    }


def describe(cond: dict, *, load_after: float | None = None) -> str:
    """One paragraph: machine, load, versions, code."""
    m, v, c = cond["machine"], cond["versions"], cond["code"]
    load = f"load average {m['load_average_1min']} at start"
    if load_after is not None:
        load += f", {load_after} at end"
    pkgs = ", ".join(f"{k} {val}" for k, val in v.items() if k != "python")
    commit = (c.get("commit") or "?")[:7]
    dirty = {True: " with uncommitted library edits", False: "", None: ""}[c.get("library_dirty")]
    return (f"Ran {cond['date_utc']} UTC on {m['cpu']}, {m['cpus']} cores shared with other "
            f"work, {m['memory_gib']} GiB RAM, {m['arch']}, no GPU ({load}); Python "
            f"{v['python']}, {pkgs}; library code at commit {commit}{dirty}.")
