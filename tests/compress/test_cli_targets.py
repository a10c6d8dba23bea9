"""``edgecompress targets``: the table, the JSON contract, ``show``, errors, no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from compress.cli import cli, main
from compress.cli.targets_cmd import command
from targets import spec
from targets.errors import TargetError

BUILTIN_IDS = ["coral-devboard", "coral-usb", "mobile-cpu", "mobile-gpu", "rpi-32bit", "rpi4",
               "rpi5"]


@pytest.fixture(autouse=True)
def isolated_profiles(tmp_path, monkeypatch):
    monkeypatch.delenv(spec.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    spec.clear_cache()
    yield
    spec.clear_cache()


@pytest.fixture
def registered():
    """``targets`` on the real ``edgecompress`` group (added here until the lead registers it)."""
    added = "targets" not in cli.commands
    if added:
        cli.add_command(command)
    yield
    if added:
        cli.commands.pop("targets", None)


def invoke(*args: str):
    return CliRunner().invoke(command, list(args))


@pytest.mark.parametrize("args", [["--help"], ["show", "--help"]])
def test_help_has_example(args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_table_lists_every_builtin():
    result = invoke()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "name", "formats", "runtime", "threads", "confidence"]
    ids = [line.split()[0] for line in lines[2:]]
    assert ids == BUILTIN_IDS
    assert "tflite-runtime +edgetpu" in result.output


def test_json_contract():
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, list) and [d["id"] for d in data] == BUILTIN_IDS
    for item in data:
        assert {"id", "name", "formats", "default_format", "runtime", "arch", "default_threads",
                "power_w", "anchors", "confidence", "edgetpu", "path"} <= set(item)
        assert set(item["runtime"]) == {"package", "version_range", "install", "delegate"}
        assert item["default_format"] == item["formats"][0]
        for fig in (item["power_w"]["idle"], item["power_w"]["active"], *item["anchors"]):
            assert fig["source"] and fig["kind"] in ("measured", "published", "estimated")


def test_show_human():
    result = invoke("show", "coral-usb")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("coral-usb: Coral USB Accelerator")
    assert "[published]" in out and "[estimated]" in out
    assert out.count("source:") == 5  # 2 power figures, 2 anchors, the Edge TPU block
    assert "4 TOPS, 2 TOPS/W, cache 8388608 bytes" in out


def test_show_json_has_every_field():
    result = invoke("show", "rpi4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == json.loads(json.dumps(spec.get_profile("rpi4").to_dict()))
    assert data["power_w"]["idle"]["source"].startswith("Raspberry Pi 4 power measurements")


def test_show_a_profile_file(tmp_path):
    data = spec.get_profile("rpi5").to_dict()
    del data["default_format"], data["path"]
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(data))
    result = invoke("show", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["path"] == str(path)


def test_user_profiles_are_listed(tmp_path, monkeypatch):
    data = spec.get_profile("rpi4").to_dict()
    del data["default_format"], data["path"]
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "lab-pi.yaml").write_text(yaml.safe_dump(dict(data, id="lab-pi")))
    monkeypatch.setenv(spec.ENV_VAR, str(folder))
    ids = [d["id"] for d in json.loads(invoke("--json").output)]
    assert "lab-pi" in ids and set(BUILTIN_IDS) <= set(ids)


def test_unknown_id_raises_target_error():
    result = invoke("show", "rpi-4")
    assert result.exit_code == 1
    assert isinstance(result.exception, TargetError)
    assert "Valid ids: coral-devboard" in str(result.exception)


def test_unknown_id_through_the_error_boundary(registered, capsys):
    with pytest.raises(SystemExit) as info:
        main(["targets", "show", "rpi-4"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Error: unknown target profile. Received: 'rpi-4'. Valid ids:" in err
    assert "did you mean 'rpi4'?" in err
    assert "Traceback" not in err


def test_registered_group_lists(registered):
    result = CliRunner().invoke(cli, ["targets", "--json"])
    assert result.exit_code == 0, result.output
    assert [d["id"] for d in json.loads(result.output)] == BUILTIN_IDS


def test_targets_does_not_import_tensorflow():
    code = ("import sys\n"
            "from compress.cli.targets_cmd import command\n"
            "for args in (['--json'], ['show', 'coral-usb']):\n"
            "    command.main(args, prog_name='targets', standalone_mode=False)\n"
            "print('tensorflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != spec.ENV_VAR}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "False"


# --- convert --target ----------------------------------------------------------------------


def _convert(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["convert", *[str(a) for a in args]])
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def _io(path) -> tuple[list, list, list]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    ins, outs = interp.get_input_details(), interp.get_output_details()
    return ([d["dtype"].__name__ for d in ins], [d["dtype"].__name__ for d in outs],
            [list(d["shape_signature"]) for d in ins])


def test_convert_help_shows_the_target_example():
    result = CliRunner().invoke(cli, ["convert", "--help"])
    assert result.exit_code == 0, result.output
    assert "--target" in result.output and "convert model.keras --target coral-usb" in \
        result.output


@pytest.mark.parametrize("device,fmt,io,batch", [("coral-usb", "int8", "uint8", 1),
                                                 ("rpi4", "int8", "float32", -1)])
def test_convert_target_gives_the_recipes_artifact(tiny_model_path, small_data, tmp_path,
                                                    capsys, device, fmt, io, batch):
    """`convert --target ID` writes the bytes a recipe's `targets: [ID]` exports."""
    from calibration import sources
    from compress import models
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    out = tmp_path / f"{device}.tflite"
    code, stdout, err = _convert(capsys, tiny_model_path, "--target", device, "--data",
                                 "fashion-mnist-subset", "--calibration-samples", 16, "-o", out,
                                 "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert (info["format"], info["io_dtype"], info["target"]) == (fmt, io, device)
    ins, outs, shapes = _io(out)
    assert ins == [io] and outs == [io] and shapes[0][0] == batch
    recipe_spec = TargetSpec.parse(device, "targets[0]")  # what a recipe's targets: [ID] gives
    loaded, _ = models.load_model(str(tiny_model_path))
    ds = sources.load_dataset("fashion-mnist-subset")
    blob = export.convert(loaded, recipe_spec,
                          representative=sources.representative_samples(ds, 16, seed=0))
    assert out.read_bytes() == blob


def test_convert_target_with_another_format_the_device_takes(tiny_model_path, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    code, stdout, err = _convert(capsys, tiny_model_path, "--target", "rpi4", "--format",
                                 "float16", "-o", out)
    assert code == 0, err
    assert "float16 for rpi4" in stdout and out.is_file()


@pytest.mark.parametrize("args,expected", [
    (["--target", "coral-usb", "--format", "float16"],
     "--format float16 conflicts with --target coral-usb, which runs int8"),
    (["--target", "coral-usb", "--io-dtype", "int8"],
     "--io-dtype int8 conflicts with --target coral-usb, whose int8 artifact has uint8"),
    (["--target", "mobile-gpu", "--format", "int8"],
     "conflicts with --target mobile-gpu, which runs float16, float32"),
    (["--target", "rpi-4"], "unknown target profile. Received: 'rpi-4'. Valid ids: "
                            "coral-devboard, coral-usb, mobile-cpu"),
])
def test_convert_target_conflicts_and_unknown_ids_exit_1(tmp_path, capsys, args, expected):
    out = tmp_path / "m.tflite"
    code, _, err = _convert(capsys, tmp_path / "never-loaded.keras", *args, "-o", out)
    assert code == 1
    assert expected in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
