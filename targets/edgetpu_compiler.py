"""Running Coral's ``edgetpu_compiler`` and reading what it reports.

``targets.edgetpu`` predicts the mapping statically and calls ``run_compiler`` when the
compiler is on PATH (it runs only on x86-64 Debian/Ubuntu); its report is authoritative.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from targets.errors import TargetError

COMPILER = "edgetpu_compiler"
COMPILER_TIMEOUT_S = 300
NOT_FOUND_NOTE = ("edgetpu_compiler not found on PATH (it runs on x86-64 Debian/Ubuntu from "
                  "Coral's apt repo); static prediction only")


def compiler_path() -> str | None:
    """Where ``edgetpu_compiler`` is, or None."""
    return shutil.which(COMPILER)


def run_compiler(model_path: str | Path, *, out_dir: str | Path | None = None,
                 timeout_s: float = COMPILER_TIMEOUT_S) -> dict[str, Any]:
    """Run ``edgetpu_compiler -s -o DIR MODEL`` and parse what it reports.

    The compiler writes into a hidden temporary folder inside ``out_dir`` (default: the
    model's folder); ``<name>_edgetpu.tflite`` and ``<name>_edgetpu.log`` are moved into
    place only when it succeeded.

    Returns:
        ``parse_compiler_log``'s fields plus ``output_path``, ``log_path`` and ``log``.

    Raises:
        TargetError: the compiler is missing, fails, times out, or writes no model.
    """
    exe = compiler_path()
    if exe is None:
        raise TargetError(NOT_FOUND_NOTE, hint="install edgetpu-compiler from Coral's apt repo")
    model = Path(model_path)
    out = Path(out_dir) if out_dir is not None else model.parent
    stem = f"{model.stem}_edgetpu"
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = tempfile.TemporaryDirectory(prefix=".edgetpu-", dir=out)
    except OSError as exc:
        raise TargetError(f"cannot write the compiler's output to {out}: "
                          f"{exc.strerror or exc}", hint="pass --compiler-out DIR") from None
    with staging as tmp:
        try:
            proc = subprocess.run([exe, "-s", "-o", tmp, str(model)], capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise TargetError(f"edgetpu_compiler did not finish within {timeout_s:g} s. "
                              f"Received: {model}",
                              hint="try again with a longer timeout, or --no-compile") from None
        except OSError as exc:
            raise TargetError(f"cannot run edgetpu_compiler ({exe}): {exc}") from None
        log = (proc.stdout or "") + (proc.stderr or "")
        produced = Path(tmp) / f"{stem}.tflite"
        if proc.returncode != 0 or not produced.is_file():
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            why = next((ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()),
                       lines[-1] if lines else "no output")
            raise TargetError(f"edgetpu_compiler failed (exit {proc.returncode}) on {model}: "
                              f"{why[:300]}",
                              hint="the static prediction runs without it: --no-compile")
        log_file = Path(tmp) / f"{stem}.log"
        file_log = log_file.read_text(errors="replace") if log_file.is_file() else ""
        info = parse_compiler_log(log if "Operator" in log or not file_log else
                                  log + "\n" + file_log)
        os.replace(produced, out / f"{stem}.tflite")
        if log_file.is_file():
            os.replace(log_file, out / f"{stem}.log")
    info["output_path"] = str(out / f"{stem}.tflite")
    info["log_path"] = str(out / f"{stem}.log") if file_log else None
    info["log"] = log
    return info


_SIZE_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3,
               "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
_SIZE = r"([0-9.]+)\s*(GiB|MiB|KiB|GB|MB|KB|B)"
_ROW = re.compile(r"^([A-Z][A-Z0-9_]*(?::\S+)?)\s+(\d+)\s+(\S.*?)\s*$")


def _size(text: str, label: str) -> int | None:
    m = re.search(re.escape(label) + r":\s*" + _SIZE, text)
    return None if m is None else int(round(float(m.group(1)) * _SIZE_UNITS[m.group(2)]))


def _count(text: str, label: str) -> int | None:
    m = re.search(re.escape(label) + r":\s*(\d+)", text)
    return None if m is None else int(m.group(1))


def parse_compiler_log(text: str) -> dict[str, Any]:
    """The figures of an ``edgetpu_compiler -s`` report (stdout or its ``.log`` file).

    Returns:
        ``{version, mapped_ops, cpu_ops, total_ops, subgraphs, on_chip_bytes,
        on_chip_remaining_bytes, off_chip_bytes, ops: [{op, count, status, mapped}]}``;
        a figure the text does not give is None. When the compiler prints no per-device
        counts (it omits them when every op is mapped), they are derived from its op table
        or its total.
    """
    version = re.search(r"Edge TPU Compiler version\s+(\S+)", text)
    ops: list[dict[str, Any]] = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"^\s*Operator\s+Count\s+Status", line):
            in_table, ops = True, []
            continue
        if in_table:
            row = _ROW.match(line.strip())
            if row:
                status = row.group(3)
                ops.append({"op": row.group(1), "count": int(row.group(2)), "status": status,
                            "mapped": status.lower().startswith("mapped to edge tpu")})
            elif line.strip():
                in_table = False
    total = _count(text, "Total number of operations")
    mapped = _count(text, "Number of operations that will run on Edge TPU")
    cpu = _count(text, "Number of operations that will run on CPU")
    if mapped is None and ops:
        mapped = sum(r["count"] for r in ops if r["mapped"])
        cpu = sum(r["count"] for r in ops if not r["mapped"]) if cpu is None else cpu
    elif mapped is None and total is not None and cpu in (None, 0):
        mapped, cpu = total, 0
    if cpu is None and mapped is not None and total is not None:
        cpu = total - mapped
    return {
        "version": version.group(1) if version else None,
        "mapped_ops": mapped, "cpu_ops": cpu, "total_ops": total,
        "subgraphs": _count(text, "Number of Edge TPU subgraphs"),
        "on_chip_bytes": _size(text, "On-chip memory used for caching model parameters"),
        "on_chip_remaining_bytes": _size(text,
                                         "On-chip memory remaining for caching model parameters"),
        "off_chip_bytes": _size(text,
                                "Off-chip memory used for streaming uncached model parameters"),
        "ops": ops,
    }


__all__ = ["COMPILER", "COMPILER_TIMEOUT_S", "NOT_FOUND_NOTE", "compiler_path", "run_compiler",
           "parse_compiler_log"]
