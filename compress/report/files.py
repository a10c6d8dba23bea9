"""The report files of a run folder: ``report.json``, ``report.md``, ``report.html``.

``write_report_files`` is the one writer (the run and ``edgecompress report``/``bench`` share it);
``load_report`` reads ``report.json`` back; ``refresh_report`` recomputes the device and energy
figures of a finished run (after ``edgecompress bench`` added measurements) and rewrites the files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from compress.errors import OutputError
from compress.report.figures import device_figures
from compress.report.markdown import render_devices_markdown, render_markdown
from compress.report.records import SCHEMA


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")  # same folder: os.replace is atomic
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report_files(run_dir: str | Path, report: dict) -> None:
    """Write ``report.json``, ``report.md`` and ``report.html``; each appears whole or not at all.

    Everything is rendered before anything is written, so a rendering error changes nothing.
    """
    from compress.report.html import render_html  # matplotlib: loaded only to write

    run = Path(run_dir)
    texts = {"report.json": json.dumps(report, indent=2) + "\n",
             "report.md": render_markdown(report).rstrip() + "\n\n" +
             render_devices_markdown(report),
             "report.html": render_html(report)}
    for name, text in texts.items():
        _atomic_write(run / name, text)


def load_report(run_dir: str | Path) -> dict:
    """``RUN_DIR/report.json``, checked to be an edgecompress report."""
    path = Path(run_dir) / "report.json"
    if not path.is_file():
        raise OutputError(f"not a run folder: {path} does not exist. Received: {str(run_dir)!r}",
                          hint="pass the --out folder of `edgecompress run` or `demo`")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise OutputError(f"{path} is not an edgecompress report. Received: schema="
                          f"{data.get('schema') if isinstance(data, dict) else None!r}",
                          hint=f"expected schema {SCHEMA}")
    return data


def refresh_report(run_dir: str | Path, *, targets: list[str] | None = None,
                   measure: bool = True) -> dict:
    """Recompute device and energy figures and rewrite the run folder's report files."""
    report = device_figures(load_report(run_dir), run_dir, targets=targets, measure=measure)
    write_report_files(run_dir, report)
    return report


