"""Options shared by several commands (one definition, many commands)."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

FORMAT_CHOICES = ("float32", "float16", "dynamic", "int8", "int16x8", "int4")


def data_options(func: Callable) -> Callable:
    """``--data``, ``--data-dir``, ``--train-samples``, ``--test-samples``."""
    func = click.option("--test-samples", type=click.IntRange(min=1), default=None,
                        help="Use a seeded subset of N test samples.")(func)
    func = click.option("--train-samples", type=click.IntRange(min=1), default=None,
                        help="Use a seeded subset of N training samples (quick runs).")(func)
    func = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Folder with Fashion-MNIST IDX files (for --data fashion-mnist).")(func)
    func = click.option("--data", "data", default="fashion-mnist", show_default=True,
                        help="Dataset: fashion-mnist, fashion-mnist-subset, FILE.npz, an IDX "
                             "folder, an image folder, or module:function.")(func)
    return func


def trust_option(func: Callable) -> Callable:
    return click.option("--trust-model-code", is_flag=True,
                        help="Allow model files that run stored code when loaded (Lambda "
                             "layers, custom classes). Only for files you trust.")(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON on stdout.")(func)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def make_progress(as_json: bool, quiet: bool = False) -> Any:
    from compress.progress import Progress

    return Progress(enabled=not (as_json or quiet))


def emit_result(result: Any, *, as_json: bool, verbose: bool) -> None:
    """What ``run`` and ``demo`` print: the report as JSON, the full report.md (``--verbose``),
    or the short summary with the path of report.html."""
    if as_json:
        emit_json(result.report)
    elif verbose:
        click.echo((result.out_dir / "report.md").read_text())
    else:
        from compress.report.markdown import render_summary

        click.echo(render_summary(result.report, result.out_dir))
