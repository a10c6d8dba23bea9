"""CLI: help for every command, exit codes, and --help without TensorFlow."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from compress.cli import cli, main

COMMANDS = ["demo", "run", "convert", "eval", "inspect", "targets", "bundle", "bench",
            "report", "compare"]


def test_help_does_not_import_tensorflow():
    code = ("import sys; from compress.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s*Examples?:$", result.output, re.M), result.output


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2


def test_recipe_error_exits_1_without_traceback(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nstages:\n  - kind: prune\n    final_sparsty: 0.5\n")
    with pytest.raises(SystemExit) as info:
        main(["run", str(recipe), "--model", "m.keras", "--out", str(tmp_path / "out")])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Error: stages[0].final_sparsty: unknown key" in err
    assert "did you mean 'final_sparsity'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_debug_shows_traceback(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nbogus: 1\n")
    from compress.errors import RecipeError

    with pytest.raises(RecipeError):
        main(["--debug", "run", str(recipe), "--model", "m.keras", "--out", str(tmp_path / "o")])


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "edgecompress" in result.output


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signals_stop_cleanly_without_output(tmp_path, sig, code):
    import signal
    import time

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nstages: [{kind: finetune, epochs: 50}]\ntargets: [float32]\n")
    model = tmp_path / "m.keras"
    subprocess.run([sys.executable, "-c", (
        "from compress import zoo; zoo.fashion_cnn(width=8, dense_units=16)"
        f".save({str(model)!r})")], check=True, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "compress.cli", "run", str(recipe), "--model", str(model),
         "--data", "fashion-mnist-subset", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.time() + 300
    for line in proc.stderr:  # wait until training is under way (an epoch finished)
        seen.append(line)
        if "epoch 1/50" in line or time.time() > deadline:
            break
    assert list(tmp_path.glob(".out.tmp-*")), "".join(seen)
    proc.send_signal(getattr(signal, sig))
    _, rest = proc.communicate(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == code, err
    assert "the output folder was not written" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))
