"""``edgecompress bundle`` and ``edgecompress bench``: bundle contents, the bundled runner, and
benchmarks on this host and over a real sshd on 127.0.0.1 (skipped without /usr/sbin/sshd;
failed instead under EDGECOMPRESS_REQUIRE_SYSDEPS=1, as in CI)."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compress.devices import bundle as bundle_mod
from compress.cli import cli, main
from compress.cli import bench_cmd, bundle_cmd
from compress.errors import DataError, TargetError
from targets.spec import get_profile
from tests.conftest import require_sysdep

SSHD = Path("/usr/sbin/sshd")
FAST = ["--runs", "5", "--warmup", "1", "--samples", "40"]


@pytest.fixture(scope="module", autouse=True)
def registered():
    """``bundle`` and ``bench`` on the real group (until the lead registers them)."""
    added = [m.command for m in (bundle_cmd, bench_cmd) if m.command.name not in cli.commands]
    for command in added:
        cli.add_command(command)
    yield
    for command in added:
        cli.commands.pop(command.name, None)


@pytest.fixture(autouse=True)
def refreshed(monkeypatch) -> list:
    """A stand-in ``compress.report.files`` (its own tests cover it): records refresh_report calls."""
    calls: list = []
    fake = types.ModuleType("compress.report.files")
    fake.refresh_report = lambda run_dir: calls.append(Path(run_dir))
    monkeypatch.setitem(sys.modules, "compress.report.files", fake)
    return calls


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, small_data) -> Path:
    """A run folder made by hand: an untrained tiny CNN as float32 and int8, a minimal report."""
    from compress import zoo
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    model = zoo.fashion_cnn(small_data.x_train.shape[1:], small_data.num_classes, width=4,
                            dense_units=16)
    root = tmp_path_factory.mktemp("run")
    (root / "artifacts").mkdir()
    artifacts = []
    for fmt in ("float32", "int8"):
        blob = export.convert(model, TargetSpec(fmt), representative=small_data.x_train[:32])
        (root / "artifacts" / f"{fmt}.tflite").write_bytes(blob)
        artifacts.append({"target": fmt, "format": fmt, "path": f"artifacts/{fmt}.tflite",
                          "size_bytes": len(blob)})
    report = {"schema": "edgecompress.report/1", "recipe": "tiny",
              "dataset": small_data.summary(), "artifacts": artifacts}
    (root / "report.json").write_text(json.dumps(report))
    return root


@pytest.fixture
def run_copy(run_dir, tmp_path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def cli_run(args, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


# --- bundle -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["bundle", "bench"])
def test_help_has_example(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_bundle_contents(run_dir, tmp_path, capsys):
    out = tmp_path / "b"
    code, stdout, err = cli_run(["bundle", run_dir, "--target", "rpi4", "-o", out,
                                 "--samples", "40"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "artifacts", "bundle.json",
                                                   "run.sh", "runner.py", "samples.npz"]
    assert [p.name for p in sorted((out / "artifacts").iterdir())] == ["float32.tflite",
                                                                      "int8.tflite"]
    from targets import runner

    assert (out / "runner.py").read_text() == Path(runner.__file__).read_text()
    with np.load(out / "samples.npz") as data:
        assert data["x"].shape == (40, 28, 28, 1) and data["x"].dtype == np.float32
        assert data["y"].shape == (40,)
    manifest = json.loads((out / "bundle.json").read_text())
    assert [a["name"] for a in manifest["artifacts"]] == ["int8", "float32"]  # rpi4's order
    assert manifest["threads"] == 4 and manifest["delegate"] is None
    install = get_profile("rpi4").runtime["install"]
    assert install in (out / "README.md").read_text()
    assert "sh run.sh" in (out / "README.md").read_text()
    assert "results/int8.json" in (out / "run.sh").read_text()
    assert os.access(out / "run.sh", os.X_OK)
    assert "rpi4" in stdout and install in stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize("target,expected", [("coral-usb", ["int8"]),
                                             ("mobile-gpu", ["float32"])])
def test_bundle_keeps_formats_the_device_takes(run_dir, tmp_path, target, expected):
    made = bundle_mod.build_bundle(run_dir, target, out_dir=tmp_path / "b", samples=8)
    assert list(made.artifacts) == expected
    if target == "coral-usb":
        assert "--delegate" in (tmp_path / "b" / "run.sh").read_text()
        assert made.manifest["delegate"] == "edgetpu"


def test_no_suitable_artifact_lists_both_sides():
    report = {"artifacts": [{"target": "float32", "format": "float32", "path": "x"}]}
    with pytest.raises(TargetError, match=r"has: float32 \(float32\); coral-usb takes: int8"):
        bundle_mod.select_artifacts(report, get_profile("coral-usb"))
    with pytest.raises(TargetError, match="no artifact 'int4'"):
        bundle_mod.select_artifacts(report, get_profile("rpi4"), ["int4"])


def test_data_spec_from_the_report():
    resolve = bundle_mod.resolve_data_spec
    assert resolve({"dataset": {"name": "fashion-mnist-subset"}}, None) == "fashion-mnist-subset"
    assert resolve({"dataset": {"spec": "/d/x.npz", "name": "x"}}, None) == "/d/x.npz"
    assert resolve({}, None) == "fashion-mnist"
    assert resolve({"dataset": {"name": "x"}}, "y.npz") == "y.npz"
    with pytest.raises(DataError, match="pass the same data"):
        resolve({"dataset": {"name": "mydata", "source": "/d/mydata.npz"}}, None)


def test_bundle_refuses_a_non_empty_folder(run_dir, tmp_path, capsys):
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep").write_text("x")
    code, _, err = cli_run(["bundle", run_dir, "-t", "rpi4", "-o", out], capsys)
    assert code == 1 and "not empty" in err
    code, _, err = cli_run(["bundle", run_dir, "-t", "rpi4", "-o", out, "--overwrite",
                            "--samples", "8"], capsys)
    assert code == 0, err
    assert not (out / "keep").exists() and (out / "runner.py").exists()


def test_unknown_target_exits_1_listing_ids(run_dir, tmp_path, capsys):
    for command in (["bundle", run_dir, "-o", tmp_path / "b"], ["bench", run_dir]):
        code, _, err = cli_run([*command, "--target", "rpi9"], capsys)
        assert code == 1
        assert "rpi9" in err and "rpi4" in err and "coral-usb" in err
    assert not (tmp_path / "b").exists()


def test_run_sh_in_the_bundle_produces_json(run_dir, tmp_path):
    out = bundle_mod.build_bundle(run_dir, "rpi4", out_dir=tmp_path / "b", samples=40).path
    env = {**os.environ, "PYTHON": sys.executable, "RUNS": "5", "WARMUP": "1", "THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(["sh", str(out / "run.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("int8", "float32"):
        result = json.loads((out / "results" / f"{name}.json").read_text())
        assert result["runs"] == 5 and result["threads"] == 1 and result["samples"] == 40
        assert set(result["latency_ms"]) >= {"p50", "p90", "p99", "mean", "std"}
        assert 0.0 <= result["accuracy"] <= 1.0
    assert "p50" in proc.stdout


def test_run_sh_says_what_to_install(run_dir, tmp_path):
    out = bundle_mod.build_bundle(run_dir, "rpi4", out_dir=tmp_path / "b", samples=8).path
    env = {**os.environ, "PYTHON": str(tmp_path / "no-such-python")}
    proc = subprocess.run(["sh", str(out / "run.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 90
    assert "not found" in proc.stderr and "pip install ai-edge-litert" in proc.stderr


# --- bench --------------------------------------------------------------------------------


def _bench(run, capsys, *extra) -> tuple[int, list, str]:
    code, stdout, err = cli_run(["bench", run, "--target", "rpi4", *FAST, "--json", *extra],
                                capsys)
    return code, (json.loads(stdout) if code == 0 else []), err


def test_bench_on_this_host(run_copy, capsys, refreshed):
    code, records, err = _bench(run_copy, capsys, "--artifact", "int8")
    assert code == 0, err
    assert refreshed == [run_copy]  # the report is refreshed with the new measurement
    stored = json.loads((run_copy / "measurements" / "rpi4" / "int8.json").read_text())
    assert stored == records[0]
    assert stored["method"] == "measured-on-host" and stored["target"] == "rpi4"
    assert stored["host"] == (os.uname().nodename or "localhost")
    assert stored["runner"]["runs"] == 5 and stored["runner"]["threads"] == 4
    assert stored["runner"]["samples"] == 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """Our own sshd on 127.0.0.1:<free port>, key auth only, killed at teardown."""
    require_sysdep(SSHD.exists(), "/usr/sbin/sshd is absent (apt-get install openssh-server; "
                                  "make sysdeps)")
    if os.geteuid() != 0:
        pytest.skip("sshd for the remote test runs as root here")
    tmp = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / key)],
                       check=True, capture_output=True)
    shutil.copy(tmp / "client_key.pub", tmp / "authorized_keys")
    sftp = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server")
                 if Path(p).exists()), None)
    config = tmp / "sshd_config"
    config.write_text("\n".join([
        f"HostKey {tmp / 'host_key'}", f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
        f"PidFile {tmp / 'sshd.pid'}", "ListenAddress 127.0.0.1", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no",
        "StrictModes no", "PermitRootLogin prohibit-password",
        *([f"Subsystem sftp {sftp}"] if sftp else [])]) + "\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege-separation folder
    port = _free_port()
    log = open(tmp / "sshd.log", "w")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited: {(tmp / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield {"port": port, "identity": tmp / "client_key", "user": getpass.getuser(), "tmp": tmp}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _ssh_args(sshd, python=sys.executable) -> list:
    return ["--remote", f"{sshd['user']}@127.0.0.1", "--port", sshd["port"], "--identity",
            sshd["identity"], "--ssh-option", "StrictHostKeyChecking=no",
            "--ssh-option", "UserKnownHostsFile=/dev/null", "--ssh-option", "LogLevel=ERROR",
            "--remote-python", python]


def _shape(value):
    """The nested key structure of a JSON value (what a consumer relies on)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__ if value is not None else None


def test_bench_over_ssh_matches_a_local_run(run_copy, sshd, capsys, tmp_path):
    code, remote, err = _bench(run_copy, capsys, *_ssh_args(sshd))
    assert code == 0, err
    assert [r["artifact"] for r in remote] == ["int8", "float32"]
    for record in remote:
        stored = json.loads((run_copy / "measurements" / "rpi4" /
                             f"{record['artifact']}.json").read_text())
        assert stored["method"] == "measured-on-device"
        assert stored["host"] == f"{sshd['user']}@127.0.0.1:{sshd['port']}"
        assert stored["runner"]["accuracy"] is not None
    local_run = Path(shutil.copytree(run_copy, tmp_path / "local"))
    shutil.rmtree(local_run / "measurements")
    code, local, err = _bench(local_run, capsys, "--artifact", "int8")
    assert code == 0, err
    assert set(remote[0]) == set(local[0])
    assert _shape(remote[0]["runner"]) == _shape(local[0]["runner"])  # same fields and types
    assert remote[0]["samples"] == local[0]["samples"]  # the same samples on both
    # a host run does not replace what was measured on the device
    code, _, err = _bench(run_copy, capsys)
    assert code == 1 and "would replace" in err
    leftovers = list(Path("/tmp").glob("edgecompress-bundle.*"))
    assert not leftovers, leftovers  # the remote folder was removed


def test_bench_over_ssh_without_numpy_names_the_install(run_copy, sshd, capsys, refreshed):
    python = sshd["tmp"] / "python-without-site"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    python.chmod(0o755)
    code, _, err = _bench(run_copy, capsys, *_ssh_args(sshd, python=python))
    assert code == 1
    assert "numpy is not installed" in err and "127.0.0.1" in err
    assert get_profile("rpi4").runtime["install"] in err
    assert not (run_copy / "measurements").exists()
    assert refreshed == []


def test_bench_ssh_failure_names_the_host_and_ssh_error(run_dir, capsys, tmp_path):
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client")
    key = tmp_path / "key"
    key.write_text("not a key")
    code, _, err = _bench(run_dir, capsys, "--remote", "nobody@127.0.0.1", "--port",
                          _free_port(), "--identity", key, "--connect-timeout", "5")
    assert code == 1
    assert "ssh to nobody@127.0.0.1" in err and "Connection refused" in err
    assert "Traceback" not in err


# --- emulated -----------------------------------------------------------------------------


def test_bench_emulated_is_labelled_and_never_replaces_a_device_measurement(run_copy, capsys,
                                                                            refreshed):
    code, records, err = _bench(run_copy, capsys, "--artifact", "int8", "--emulated")
    assert code == 0, err
    assert records[0]["method"] == "emulated"
    path = run_copy / "measurements" / "rpi4" / "int8.json"
    assert json.loads(path.read_text())["method"] == "emulated"
    device = dict(records[0], method="measured-on-device", host="pi@raspberrypi")
    path.write_text(json.dumps(device))
    code, _, err = _bench(run_copy, capsys, "--artifact", "int8", "--emulated")
    assert code == 1 and "an emulated run would replace it" in err
    assert json.loads(path.read_text()) == device


def test_runner_detected_emulation_labels_the_result():
    from compress.devices import remote

    host = remote.LocalHost()
    assert remote._method(host, {"device": {"emulated": None}}, False) == "measured-on-host"
    assert remote._method(host, {"device": {"emulated": "qemu-user: ..."}}, False) == "emulated"
    assert remote._method(host, {"device": {}}, True) == "emulated"


def test_run_sh_saves_the_outputs_when_asked(run_dir, tmp_path):
    out = bundle_mod.build_bundle(run_dir, "rpi4", out_dir=tmp_path / "b", samples=40,
                                  artifacts=["int8"]).path
    env = {**os.environ, "PYTHON": sys.executable, "RUNS": "1", "WARMUP": "0",
           "THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(["sh", str(out / "run.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "results" / "int8.outputs.npy").exists()  # only when asked
    proc = subprocess.run(["sh", str(out / "run.sh")], env={**env, "SAVE_OUTPUTS": "1"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outputs = np.load(out / "results" / "int8.outputs.npy")
    result = json.loads((out / "results" / "int8.json").read_text())
    with np.load(out / "samples.npz") as data:
        labels = data["y"]
    assert outputs.shape == (40, 10) and outputs.dtype == np.float32
    assert np.mean(outputs.argmax(axis=1) == labels) == pytest.approx(result["accuracy"])
