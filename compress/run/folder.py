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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """One run per output folder: ``.<name>.lock`` beside it holds the owner's pid.

    A lock left by a process that no longer exists is stale and is taken over.
    """
    lock = out.parent / f".{out.name}.lock"
    out.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _pid_alive(pid):
                raise OutputError(
                    f"another edgecompress run (pid {pid}) is writing this output folder. "
                    f"Received: {str(out)!r}",
                    hint=f"wait for it, choose another --out, or remove {lock} if that "
                         "process is not edgecompress") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_output(out_dir: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out_dir``, on failure it is removed.

    The output folder is locked for the duration (see ``output_lock``).
    """
    out = check_output_dir(out_dir, overwrite=overwrite)
    with output_lock(out):
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _move_into_place(tmp, out, overwrite=overwrite)


def _move_into_place(tmp: Path, out: Path, *, overwrite: bool) -> None:
    # Re-check: the folder may have been filled while we worked.
    try:
        check_output_dir(out, overwrite=overwrite)
    except OutputError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, trash / out.name)
        os.replace(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out)
