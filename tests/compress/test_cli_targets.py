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
