"""Output folders that are either complete or absent.

Everything is written into a hidden temporary sibling folder and moved into place at the
end, so a failed or interrupted run never leaves a folder that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from compress.errors import OutputError


def check_output_dir(out_dir: str | Path, *, overwrite: bool) -> Path:
    """Refuse an existing non-empty folder unless ``overwrite``; return the resolved path."""
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path exists and is not a folder. Received: {str(out_dir)!r}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"output folder is not empty. Received: {str(out_dir)!r}",
                          hint="choose another --out, or pass --overwrite to replace it")
    return out


@contextlib.contextmanager
def staged_output(out_dir: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out_dir``, on failure it is removed."""
    out = check_output_dir(out_dir, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Re-check: another process may have filled the folder while we worked.
    check_output_dir(out, overwrite=overwrite)
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, trash / out.name)
        os.replace(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out)
