"""Per-stage checkpoints, so an interrupted run continues where it stopped (``--resume``).

Every finished training stage is saved in a work folder next to the output folder
(``run1`` -> ``run1.work``)::

    run1.work/
      state.json          fingerprint of the run + the finished stages' records
      baseline.json       the original model's measurements (reused on resume)
      stage-1/float.keras the float model after stage 1
      stage-2/quant.npz   after a qat stage: the QAT model's weights (its structure is rebuilt
                          by re-applying QAT to the float model, then these weights are loaded)

``state.json`` is replaced atomically after each stage, so it always names a stage whose
files are complete. On success the work folder is removed; on failure or interruption it is
kept and ``edgecompress run ... --resume`` (``compress_model(..., resume=True)``) continues
after the last finished stage. Each stage starts from ``seed + stage index``, so a resumed
run trains exactly as the uninterrupted one would have.

A resume is refused when the recipe, the model or the data differ from the interrupted run
(the fingerprint says which); an existing work folder without ``--resume`` is refused too
(``--overwrite`` discards it), so finished work is never thrown away silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from compress.errors import OutputError
from compress.report import StageReport

STATE_SCHEMA = "edgecompress.checkpoint/1"

#: The work folder of the run being executed in this process (for the interrupt message).
_active: "Checkpoints | None" = None


def work_dir_for(out_dir: str | Path) -> Path:
    """``run1`` -> ``run1.work`` (a sibling of the output folder)."""
    out = Path(out_dir).expanduser().resolve()
    return out.parent / f"{out.name}.work"


def interrupted_message() -> str | None:
    """For the CLI's interrupt line: where the finished stages are kept, if any."""
    ck = _active
    if ck is None or not ck.finished:
        return None
    n = len(ck.finished)
    return (f"{n} finished stage{'s' if n != 1 else ''} kept in {ck.work}; rerun with --resume "
            "to continue")


def check_work_dir(out_dir: str | Path, *, resume: bool, overwrite: bool) -> None:
    """Fail early (before slow work) when finished stages exist and neither flag says why.

    A work folder without finished stages (interrupted during the first stage) holds nothing
    worth keeping and is replaced.
    """
    work = work_dir_for(out_dir)
    if work.exists() and not resume and not overwrite:
        state = _read_state(work)
        stages = len(state.get("finished", [])) if state else 0
        if not stages:
            return
        raise OutputError(
            f"{work} holds {stages} finished stage(s) of an interrupted run into "
            f"{str(out_dir)!r}",
            hint="pass --resume to continue it, or --overwrite to discard it and start over")


def model_fingerprint(model: Any) -> str:
    """sha256 of the model's architecture (JSON) and weights: what a resume must match."""
    h = hashlib.sha256()
    try:
        h.update(model.to_json().encode())
    except Exception:  # a subclassed model: weights and class only
        h.update(type(model).__name__.encode())
    for w in model.get_weights():
        arr = np.ascontiguousarray(w)
        h.update(str((arr.dtype.str, arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class Checkpoints:
    """The work folder of one run: finished stages, their models and the baseline."""

    def __init__(self, work: Path, fingerprint: dict, state: dict | None = None) -> None:
        self.work = work
        self.fingerprint = fingerprint
        self.finished: list[dict] = list((state or {}).get("finished", []))
        self.resumed_from = len(self.finished)

    @classmethod
    def open(cls, out_dir: str | Path, fingerprint: dict, *, resume: bool, overwrite: bool,
             progress: Any = None) -> "Checkpoints":
        """Open (resume) or create the work folder of the run into ``out_dir``.

        Raises:
            OutputError: a work folder exists and neither ``resume`` nor ``overwrite``; or
                ``resume`` but the folder belongs to a different recipe / model / data.
        """
        global _active
        work = work_dir_for(out_dir)
        state = None
        if work.exists():
            check_work_dir(out_dir, resume=resume, overwrite=overwrite)
            if resume:
                state = _read_state(work)
                if state is None:
                    raise OutputError(f"cannot resume: {work}/state.json is missing or "
                                      "unreadable", hint="pass --overwrite to start over")
                differ = [k for k in sorted(set(fingerprint) | set(state["fingerprint"]))
                          if fingerprint.get(k) != state["fingerprint"].get(k)]
                if differ:
                    raise OutputError(
                        f"cannot resume: {work} was made by a run with a different "
                        f"{', '.join(differ)}. Received: a changed {differ[0]}",
                        hint="rerun with the interrupted run's recipe, model and data, or pass "
                             "--overwrite (without --resume) to start over")
            else:
                shutil.rmtree(work)
        elif resume and progress is not None:
            progress.info(f"nothing to resume ({work} does not exist): starting from the "
                          "first stage")
        work.mkdir(parents=True, exist_ok=True)
        ck = cls(work, fingerprint, state)
        if state is None:
            ck._write_state()
        _active = ck
        return ck

    # -- baseline ------------------------------------------------------------------------
    def baseline(self) -> dict | None:
        path = self.work / "baseline.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save_baseline(self, baseline: dict) -> None:
        _write_atomic(self.work / "baseline.json", json.dumps(baseline, indent=2, default=_jsonable))

    # -- stages --------------------------------------------------------------------------
    def save_stage(self, index: int, trained: Any, quant_from: int | None) -> None:
        """Checkpoint the models after stage ``index`` (0-based) and record its report."""
        from compress import models

        folder = self.work / f"stage-{index + 1}"
        tmp = self.work / f".stage-{index + 1}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        model_file = models.save_model(trained.float_model, tmp)
        model_file.rename(tmp / "float.keras")
        if trained.quant_model is not None:
            np.savez(tmp / "quant.npz", *trained.quant_model.get_weights())
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        record = asdict(trained.stages[-1])
        record["index"] = index
        record["quant_from"] = quant_from
        # the state file is the record of what is kept: it is written (atomically) before
        # the list the interrupt message counts, so an interrupt between them loses the stage
        # from both, never from one only
        finished = self.finished + [record]
        self._write_state(finished)
        self.finished = finished

    def stage_reports(self) -> list[StageReport]:
        return [StageReport(kind=r["kind"], seconds=r["seconds"], epochs=r["epochs"],
                            details=r["details"], history=r["history"])
                for r in self.finished]

    def last_models(self, *, trust_model_code: bool, native_keras3: bool = False
                    ) -> tuple[Any, np.lib.npyio.NpzFile | None, int | None]:
        """The float model and QAT weights saved after the last finished stage."""
        from compress.errors import ModelLoadError
        from compress.models import load_model

        last = self.finished[-1]
        folder = self.work / f"stage-{last['index'] + 1}"
        try:
            model, _ = load_model(str(folder / "float.keras"), trust_model_code=trust_model_code,
                                  native_keras3=native_keras3)
        except ModelLoadError as exc:
            code = "untrusted" in exc.message and not trust_model_code
            raise OutputError(f"cannot resume: the checkpoint of stage {last['index'] + 1} "
                              f"could not be loaded: {exc.message}",
                              hint="the checkpoint holds the model's own custom layers: resume "
                                   "with --trust-model-code (trust_model_code=True) if you "
                                   "trust them, or pass --overwrite (without --resume) to "
                                   "start over" if code else
                                   "pass --overwrite (without --resume) to start over") from None
        quant = folder / "quant.npz"
        weights = np.load(quant) if quant.exists() else None
        return model, weights, last["quant_from"]

    def done(self) -> None:
        """The run completed: the work folder is no longer needed."""
        global _active
        shutil.rmtree(self.work, ignore_errors=True)
        if _active is self:
            _active = None

    def _write_state(self, finished: list | None = None) -> None:
        state = {"schema": STATE_SCHEMA, "fingerprint": self.fingerprint,
                 "finished": self.finished if finished is None else finished}
        _write_atomic(self.work / "state.json", json.dumps(state, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _read_state(work: Path) -> dict | None:
    try:
        state = json.loads((work / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
        return None
    return state


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
