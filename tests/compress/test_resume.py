"""Per-stage checkpoints and --resume: an interrupted run continues to the same artifacts."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compress.run.checkpoint import Checkpoints, check_work_dir, work_dir_for
from compress.errors import OutputError

RECIPE = {"version": 1, "name": "resume", "seed": 7,
          "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 1},
                     {"kind": "qat", "epochs": 2}],
          "targets": ["float32", "int8"], "benchmark": {"warmup": 1, "runs": 3}}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _figures(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    return {"baseline": report["baseline"]["accuracy"],
            "artifacts": {a["target"]: (a["accuracy"], a["size_bytes"], a["gzip_bytes"],
                                        a["sparsity"], a["nonzero_params"], _sha(out / a["path"]))
                          for a in report["artifacts"]},
            "stages": [(s["kind"], s.get("history")) for s in report["stages"]]}


def _tf_log_line(line: str) -> bool:
    """A line TensorFlow/absl print from C++ before and after InitializeLog."""
    return bool(re.match(r"[IWEF]\d{4} |WARNING: All log messages before absl|"
                         r"To enable the following instructions", line))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "compress.cli", "run", *args]


def test_sigint_in_second_stage_then_resume_gives_the_same_artifacts(tmp_path, tiny_model_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps(RECIPE))
    common = [str(recipe), "--model", str(tiny_model_path), "--data", "fashion-mnist-subset",
              "--train-samples", "768", "--test-samples", "200", "--calibration-samples", "16",
              "--quiet"]
    straight = subprocess.run(_cli(*common, "--out", str(tmp_path / "a")), capture_output=True,
                              text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr
    assert not work_dir_for(tmp_path / "a").exists()  # removed once the run completed

    out = tmp_path / "b"
    work = work_dir_for(out)
    proc = subprocess.Popen(_cli(*common, "--out", str(out)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    def stage_one_recorded() -> bool:  # the state file lists it (the folder comes first)
        try:
            return bool(json.loads((work / "state.json").read_text())["finished"])
        except (OSError, ValueError, KeyError):
            return False

    while not stage_one_recorded() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # stage 1 (prune) is checkpointed: stage 2 (qat) runs
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"1 finished stage kept in {work}; rerun with --resume" in err
    # one line of ours; TensorFlow's own C++ log lines may precede it where the environment
    # sets TF_CPP_MIN_LOG_LEVEL lower (CI's does)
    ours = [line for line in err.splitlines() if line and not _tf_log_line(line)]
    assert ours == [err.strip().splitlines()[-1]], err
    assert not out.exists() and not list(tmp_path.glob(".b.tmp-*"))
    state = json.loads((work / "state.json").read_text())
    assert [s["kind"] for s in state["finished"]] == ["prune"]

    again = subprocess.run(_cli(*common, "--out", str(out)), capture_output=True, text=True,
                           timeout=300)  # without --resume: refused, nothing lost
    assert again.returncode == 1 and "pass --resume to continue it" in again.stderr
    assert (work / "stage-1" / "float.keras").exists()

    resumed = subprocess.run(_cli(*common, "--out", str(out), "--resume"), capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert not work.exists()
    assert _figures(out) == _figures(tmp_path / "a")  # bit-identical .tflite files included
    notes = json.loads((out / "report.json").read_text())["notes"]
    assert any(n.startswith("resumed: the first 1 stage(s)") for n in notes)


def test_finished_training_is_not_repeated_and_qat_model_is_rebuilt(tmp_path, tiny_model_path,
                                                                   small_data):
    from compress import models
    from compress.session import Session

    model, _ = models.load_model(str(tiny_model_path))
    x, y = small_data.x_train[:256], small_data.y_train[:256]
    fingerprint = {"recipe": "r", "model": "m", "data": "d"}
    ck = Checkpoints.open(tmp_path / "out", fingerprint, resume=False, overwrite=False)
    first = Session(RECIPE).train(model, x, y, checkpoints=ck)
    assert [s["kind"] for s in ck.finished] == ["prune", "qat"]

    ck2 = Checkpoints.open(tmp_path / "out", fingerprint, resume=True, overwrite=False)
    began = time.perf_counter()
    again = Session(RECIPE).train(model, x, y, checkpoints=ck2)
    assert time.perf_counter() - began < 30  # nothing trained: restored only
    assert again.resumed_after == 2
    assert [s.kind for s in again.stages] == ["prune", "qat"]
    assert again.stages[0].history == first.stages[0].history
    for a, b in zip(first.quant_model.get_weights(), again.quant_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    sample = small_data.x_test[:8]
    np.testing.assert_array_equal(first.quant_model.predict(sample, verbose=0),
                                  again.quant_model.predict(sample, verbose=0))
    np.testing.assert_array_equal(first.float_model.predict(sample, verbose=0),
                                  again.float_model.predict(sample, verbose=0))


def test_resume_of_a_different_run_is_refused_and_names_what_changed(tmp_path):
    out = tmp_path / "out"
    ck = Checkpoints.open(out, {"recipe": "r1", "model": "m", "data": "d"}, resume=False,
                          overwrite=False)
    ck.finished.append({"index": 0, "kind": "prune"})
    ck._write_state()
    with pytest.raises(OutputError, match="different recipe") as info:
        Checkpoints.open(out, {"recipe": "r2", "model": "m", "data": "d"}, resume=True,
                         overwrite=False)
    assert "--overwrite" in info.value.hint
    with pytest.raises(OutputError, match="holds 1 finished stage"):
        check_work_dir(out, resume=False, overwrite=False)
    # --overwrite (without --resume) discards it and starts over
    fresh = Checkpoints.open(out, {"recipe": "r2", "model": "m", "data": "d"}, resume=False,
                             overwrite=True)
    assert fresh.finished == [] and not (work_dir_for(out) / "stage-1").exists()


def test_unreadable_state_and_nothing_to_resume(tmp_path):
    from compress.progress import Progress

    messages = []

    class Recorder(Progress):
        def info(self, text):
            messages.append(text)

    out = tmp_path / "out"
    ck = Checkpoints.open(out, {"recipe": "r"}, resume=True, overwrite=False,
                          progress=Recorder(enabled=False))
    assert ck.finished == [] and "nothing to resume" in messages[0]
    (ck.work / "state.json").write_text("{not json")
    with pytest.raises(OutputError, match="state.json is missing or unreadable"):
        Checkpoints.open(out, {"recipe": "r"}, resume=True, overwrite=False)
    # interrupted during its first stage: nothing worth keeping, a new run just replaces it
    check_work_dir(out, resume=False, overwrite=False)
