"""One energy-window routine, two copies: ``targets.energy.measure_windows`` and the copy in
``targets/runner.py`` (``_measure_windows``, kept there because the runner runs alone on a
device). Both run the same real .tflite inferences against the same fake meter and must give
the same figures.

Only the meter is faked (an energy counter, or a power command that prints constant watts);
the inferences, the clock and the runner's power-command sampler are real. The clock makes
the number of inferences per window differ from run to run, so the figures compared are the
ones that do not depend on it: idle watts, mJ per inference, readings, the record layout, and
the rules every window follows (at least ``window_s`` s, ``run_once(i)`` with ``i`` from 0).
"""

from __future__ import annotations

import time

import pytest

from targets import energy, runner

WINDOW_S, WINDOWS = 0.02, 3
IDLE_W = 2.0          # the fake device's draw at rest (W)
INFERENCE_MJ = 0.5    # what one inference adds on top of it (mJ)
ROUTINES = {"energy": energy.measure_windows, "runner": runner._measure_windows}


class FakeCounter:
    """A cumulative energy counter in mJ: IDLE_W all along, plus INFERENCE_MJ per inference."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.inferences = 0

    def read(self) -> float:
        return IDLE_W * (time.perf_counter() - self.t0) * 1e3 + INFERENCE_MJ * self.inferences


def _inference(model_path, x, calls: list, counter: FakeCounter | None = None):
    """``run_once(i)``: sample ``i`` through a real interpreter, as the runner's benchmark does."""
    interp = runner._interpreter(str(model_path), None, [])
    detail = interp.get_input_details()[0]
    xq = runner.quantize_input(x[:8], detail)

    def run_once(i: int) -> None:
        calls.append(i)
        interp.set_tensor(detail["index"], xq[i % len(xq)][None])
        interp.invoke()
        if counter is not None:
            counter.inferences += 1

    return run_once


def _check_windows(idle_w: float, per_window: list[dict], calls: list[int]) -> None:
    """The rules of a window, whichever copy ran it."""
    assert len(per_window) == WINDOWS
    expected_calls = []
    for w in per_window:
        assert list(w) == ["seconds", "inferences", "readings", "active_w", "gross_mj",
                           "net_mj"]
        assert w["seconds"] >= WINDOW_S and w["inferences"] >= 1
        assert w["gross_mj"] == pytest.approx(w["active_w"] * w["seconds"] / w["inferences"]
                                              * 1e3)
        assert w["net_mj"] == pytest.approx((w["active_w"] - idle_w) * w["seconds"]
                                            / w["inferences"] * 1e3)
        expected_calls += range(w["inferences"])
    assert calls == expected_calls  # i counts each window's inferences from 0


@pytest.fixture(scope="module")
def counter_runs(tiny_models):
    """Both routines on a fresh FakeCounter each, read through energy's counter meter."""
    out = {}
    for name, routine in ROUTINES.items():
        counter, calls = FakeCounter(), []
        meter = energy._CounterMeter(counter.read, lambda a, b: b - a)
        run_once = _inference(tiny_models.int8, tiny_models.x, calls, counter)
        idle_w, per_window = routine(run_once, meter, WINDOW_S, WINDOWS)
        out[name] = (idle_w, per_window, calls)
    return out


@pytest.mark.parametrize("name", ROUTINES)
def test_counter_figures(counter_runs, name):
    idle_w, per_window, calls = counter_runs[name]
    _check_windows(idle_w, per_window, calls)
    assert idle_w == pytest.approx(IDLE_W, rel=1e-2)
    for w in per_window:
        assert w["readings"] == 2
        assert w["net_mj"] == pytest.approx(INFERENCE_MJ, rel=1e-2)
        assert w["gross_mj"] == pytest.approx(
            INFERENCE_MJ + IDLE_W * w["seconds"] / w["inferences"] * 1e3, rel=1e-2)


def test_counter_figures_agree(counter_runs):
    (idle_e, per_e, _), (idle_r, per_r, _) = counter_runs["energy"], counter_runs["runner"]
    assert idle_r == pytest.approx(idle_e, rel=1e-2)
    assert [w["net_mj"] for w in per_r] == pytest.approx([w["net_mj"] for w in per_e], rel=1e-2)
    assert [w["readings"] for w in per_r] == [w["readings"] for w in per_e]


def test_power_command_figures_agree(tiny_models):
    """The runner's own meter (a power command sampled in a thread) through both copies."""
    results = {}
    for name, routine in ROUTINES.items():
        calls = []
        sampler = runner._PowerSampler("echo 2.5")
        idle_w, per_window = routine(_inference(tiny_models.float32, tiny_models.x, calls),
                                     sampler, WINDOW_S, WINDOWS)
        _check_windows(idle_w, per_window, calls)
        results[name] = idle_w, per_window
    for idle_w, per_window in results.values():
        assert idle_w == 2.5
        for w in per_window:
            assert w["active_w"] == 2.5 and w["readings"] >= 1
            assert w["net_mj"] == 0.0  # constant power: nothing net
            assert w["gross_mj"] == pytest.approx(2.5 * w["seconds"] / w["inferences"] * 1e3)


def test_measure_rapl_runs_the_shared_routine(tmp_path, monkeypatch):
    """measure_rapl and measure_nvml go through measure_windows (one routine in energy.py)."""
    domain = tmp_path / "intel-rapl:0"
    domain.mkdir()
    (domain / "energy_uj").write_text("0\n")
    seen = []
    real = energy.measure_windows

    def spy(run_once, meter, window_s, windows):
        seen.append((window_s, windows))
        return real(run_once, meter, window_s, windows)

    monkeypatch.setattr(energy, "measure_windows", spy)
    fig = energy.measure_rapl(lambda: None, window_s=0.01, windows=2, root=tmp_path)
    assert seen == [(0.01, 2)] and fig.value == 0.0
