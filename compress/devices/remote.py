"""Benchmark a run's artifacts with the on-device runner: on a device over ssh, or on this host.

Both paths build the same bundle (``compress/bundle.py``) and run the same command inside it
(``python3 runner.py artifacts/<a>.tflite --data samples.npz ... --json -``), so host and
device numbers come from the same code. Only how the command is run differs:

- ``SshHost``: the system ``ssh``/``scp`` (BatchMode, a ConnectTimeout, keep-alives), a
  pre-flight check for python, numpy and an interpreter, a remote ``mktemp -d`` folder that
  is removed at the end. Results are labelled ``measured-on-device``.
- ``LocalHost``: this Python, in the bundle folder. Results are ``measured-on-host``.

A result is labelled ``emulated`` instead when the runner found itself under emulation (qemu:
``device.emulated`` in its JSON) or ``emulated=True`` says so: the report keeps such timings
apart from the device's latency and never uses them for energy.

Each result is stored as ``RUN_DIR/measurements/<target>/<artifact>.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Protocol

from compress.devices.bundle import PREFLIGHT_CODES, build_bundle, preflight_script, runner_argv
from compress.errors import BenchmarkError, OutputError

MEASUREMENT_SCHEMA = "edgecompress.measurement/1"
MEASUREMENTS_DIR = "measurements"
ON_DEVICE = "measured-on-device"
ON_HOST = "measured-on-host"
EMULATED = "emulated"
SSH_FAILED = 255  # ssh's own exit status for connection and authentication failures


class Host(Protocol):
    """Where the runner runs: ``open`` a bundle there, ``run`` commands in it, ``close``."""

    label: str
    method: str
    python: str

    def open(self, bundle: Path) -> None: ...

    def run(self, argv: list[str]) -> subprocess.CompletedProcess: ...

    def close(self) -> None: ...


class LocalHost:
    """This machine, with this Python (which has numpy and ai-edge-litert)."""

    method = ON_HOST

    def __init__(self) -> None:
        self.label = platform.node() or "localhost"
        self.python = sys.executable
        self._cwd: Path | None = None

    def open(self, bundle: Path) -> None:
        self._cwd = bundle

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        return subprocess.run(argv, cwd=self._cwd, capture_output=True, text=True, env=env)

    def close(self) -> None:
        self._cwd = None


class SshHost:
    """A device reached with the system ssh/scp, never asking for a password (BatchMode).

    Args:
        destination: ``user@host`` or ``host`` (an ssh config alias works too).
        port: ssh port (None: ssh's default or the ssh config).
        identity: private key file (``ssh -i``).
        options: extra ``-o`` options, e.g. ``StrictHostKeyChecking=accept-new``.
        connect_timeout: seconds before a connection attempt gives up.
        python: the Python on the device that has numpy and a TFLite interpreter.
        install: the profile's install line, for the hint when something is missing.
    """

    method = ON_DEVICE

    def __init__(self, destination: str, *, port: int | None = None, identity: str | None = None,
                 options: tuple[str, ...] | list[str] = (), connect_timeout: int = 10,
                 python: str = "python3", install: str = "pip install ai-edge-litert numpy"
                 ) -> None:
        if not destination or destination.startswith("-") or any(c.isspace() for c in destination):
            raise BenchmarkError(f"--remote must be user@host or host. Received: {destination!r}")
        if identity is not None and not Path(identity).expanduser().is_file():
            raise BenchmarkError(f"identity file not found. Received: {identity!r}")
        self.destination = destination
        self.label = destination if port is None else f"{destination}:{port}"
        self.python = python
        self.install = install
        self._workdir: str | None = None
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        if port is not None:
            opts += ["-o", f"Port={port}"]
        if identity is not None:
            opts += ["-i", str(Path(identity).expanduser()), "-o", "IdentitiesOnly=yes"]
        for opt in options:
            opts += ["-o", opt]
        self._opts = opts

    def _ssh(self, script: str, *, timeout: float | None = None) -> subprocess.CompletedProcess:
        argv = ["ssh", *self._opts, self.destination, script]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise BenchmarkError("the ssh client is not installed on this machine",
                                 hint="sudo apt-get install openssh-client") from None
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"ssh to {self.label} did not finish in {timeout:.0f} s") from None
        if proc.returncode == SSH_FAILED:
            raise BenchmarkError(f"ssh to {self.label} failed: {_last_line(proc.stderr)}",
                                 hint="check the host, --port, --identity and that `ssh "
                                      f"{self.destination}` works without a password")
        return proc

    def open(self, bundle: Path) -> None:
        """Check python/numpy/interpreter, make a remote temp folder, copy the bundle into it."""
        script = "\n".join([f"PYTHON={shlex.quote(self.python)}", preflight_script(self.install),
                            'mktemp -d "${TMPDIR:-/tmp}/edgecompress-bundle.XXXXXX"'])
        proc = self._ssh(script, timeout=120)
        if proc.returncode in PREFLIGHT_CODES:
            missing = PREFLIGHT_CODES[proc.returncode]
            what = {"python": f"{self.python} was not found",
                    "numpy": f"numpy is not installed for {self.python}",
                    "interpreter": f"no TFLite interpreter (ai_edge_litert or tflite_runtime) "
                                   f"is installed for {self.python}"}[missing]
            hint = f"on the device: {self.install}"
            if missing == "python":
                hint = f"install Python 3 or pass --remote-python PATH; then {hint}"
            raise BenchmarkError(f"{self.label}: {what}", hint=hint)
        workdir = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if proc.returncode != 0 or not (workdir.startswith("/")
                                        and "edgecompress-bundle." in workdir):
            raise BenchmarkError(f"{self.label}: cannot make a temporary folder: "
                                 f"{_last_line(proc.stderr or proc.stdout)}")
        self._workdir = workdir
        files = sorted(str(p) for p in bundle.iterdir())
        argv = ["scp", "-q", "-r", *self._opts, *files, f"{_scp_host(self.destination)}:{workdir}/"]
        copy = subprocess.run(argv, capture_output=True, text=True)
        if copy.returncode != 0:
            raise BenchmarkError(f"copying the bundle to {self.label} failed: "
                                 f"{_last_line(copy.stderr)}",
                                 hint="the device needs scp/sftp (an OpenSSH server) and space "
                                      "in $TMPDIR or /tmp")

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        return self._ssh(f"cd {shlex.quote(self._workdir or '.')} && {shlex.join(argv)}")

    def close(self) -> None:
        if self._workdir:
            try:  # best effort: a dropped connection must not hide the real error
                self._ssh(f"rm -rf {shlex.quote(self._workdir)}", timeout=60)
            except BenchmarkError:
                pass
            self._workdir = None


def _scp_host(destination: str) -> str:
    user, at, host = destination.rpartition("@")
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    return f"{user}{at}{host}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no error message"


def _parse_result(proc: subprocess.CompletedProcess, artifact: str, host: Host) -> dict:
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
        detail = errors[-1][len("Error:"):].strip() if errors else _last_line(proc.stderr)
        raise BenchmarkError(f"the runner failed on {host.label} for {artifact} "
                             f"(exit code {proc.returncode}): {detail}")
    text = proc.stdout
    try:
        return json.loads(text[text.index("{"):])  # anything a runtime printed before it
    except ValueError:
        raise BenchmarkError(f"the runner on {host.label} printed no JSON for {artifact}: "
                             f"{_last_line(text)!r}") from None


def measurement_path(run_dir: str | Path, target: str, artifact: str) -> Path:
    """``RUN_DIR/measurements/<target>/<artifact>.json``."""
    return Path(run_dir) / MEASUREMENTS_DIR / target / f"{artifact}.json"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _check_no_downgrade(run_dir: Path, target: str, names: tuple[str, ...], method: str) -> None:
    """A host or emulated measurement never replaces one made on the device."""
    if method == ON_DEVICE:
        return
    for name in names:
        path = measurement_path(run_dir, target, name)
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(old, dict) and old.get("method") == ON_DEVICE:
            what = "an emulated run" if method == EMULATED else "a host run"
            raise OutputError(f"{path} holds a measurement from {old.get('host')}; {what} "
                              f"would replace it",
                              hint="pass --remote to measure on the device, or move the file away")


def bench(run_dir: str | Path, target: str, *, remote: str | None = None,
          port: int | None = None, identity: str | None = None,
          ssh_options: tuple[str, ...] | list[str] = (), remote_python: str = "python3",
          connect_timeout: int = 10, warmup: int = 20, runs: int = 200,
          threads: int | None = None, artifacts: tuple[str, ...] | list[str] = (),
          samples: int = 300, data: str | None = None, data_dir: str | None = None,
          emulated: bool = False, progress: Any = None) -> list[dict]:
    """Benchmark a run's artifacts for ``target`` on a device over ssh, or on this host.

    Args:
        run_dir: a finished run folder.
        target: device profile id (or ``.yaml``): picks the artifacts, threads and delegate.
        remote: ``user@host``; None runs on this host (``measured-on-host``).
        port, identity, ssh_options, connect_timeout: how to reach ``remote``.
        remote_python: the device's Python with numpy and a TFLite interpreter.
        warmup, runs: untimed and timed invokes per artifact.
        threads: interpreter threads (default: the profile's).
        artifacts, samples, data, data_dir: as for ``compress.devices.bundle.build_bundle``.
        emulated: the device is emulated (e.g. qemu): label every result ``emulated``, as
            the runner does by itself where it detects emulation.
        progress: a ``compress.progress.Progress``.

    Returns:
        The stored measurement records, one per artifact.

    Raises:
        TargetError, DataError, OutputError: as for ``build_bundle``.
        BenchmarkError: ssh/scp failed (the message names the host and has ssh's last
            error line), something is missing on the device, or the runner failed.
    """
    from compress.progress import Progress
    from targets.spec import get_profile

    progress = progress or Progress(enabled=False)
    profile = get_profile(target)
    run = Path(run_dir)
    host: Host = LocalHost() if remote is None else SshHost(
        remote, port=port, identity=identity, options=ssh_options,
        connect_timeout=connect_timeout, python=remote_python, install=profile.runtime["install"])
    records = []
    with tempfile.TemporaryDirectory(prefix="edgecompress-bench-") as tmp:
        bundle = build_bundle(run, target, out_dir=Path(tmp) / "bundle", samples=samples,
                              artifacts=artifacts, data=data, data_dir=data_dir, warmup=warmup,
                              runs=runs, threads=threads)
        _check_no_downgrade(run, profile.id, bundle.artifacts,
                            EMULATED if emulated else host.method)
        formats = {a["name"]: a["format"] for a in bundle.manifest["artifacts"]}
        progress.info(f"{host.label}: copying the bundle ({', '.join(bundle.artifacts)})"
                      if remote else f"{host.label}: benchmarking on this host")
        try:
            host.open(bundle.path)
            for name in bundle.artifacts:
                argv = runner_argv(name, python=host.python, warmup=warmup, runs=runs,
                                   threads=bundle.manifest["threads"],
                                   delegate=bundle.manifest["delegate"], json_path="-")
                progress.info(f"{name}: {runs} runs on {host.label}")
                result = _parse_result(host.run(argv), name, host)
                method = _method(host, result, emulated)
                if method == EMULATED and host.method != EMULATED:
                    _check_no_downgrade(run, profile.id, (name,), EMULATED)
                record = {"schema": MEASUREMENT_SCHEMA, "method": method,
                          "host": host.label, "target": profile.id, "artifact": name,
                          "format": formats[name],
                          "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(
                              timespec="seconds"),
                          "command": shlex.join(argv), "samples": bundle.manifest["samples"],
                          "runner": result}
                _write_json(measurement_path(run, profile.id, name), record)
                records.append(record)
        finally:
            host.close()
    from compress.report.files import refresh_report

    refresh_report(run)  # folds the new measurements into the run's report files
    return records


def _method(host: Host, result: dict, emulated: bool) -> str:
    """``emulated`` when declared or when the runner detected emulation, else the host's."""
    device = result.get("device") if isinstance(result.get("device"), dict) else {}
    return EMULATED if emulated or device.get("emulated") else host.method


def render_table(records: list[dict], run_dir: str | Path) -> str:
    """A plain table of the stored measurements."""
    rows = [("artifact", "method", "host", "p50 ms", "p90 ms", "mean ms", "accuracy")]
    for r in records:
        lat, acc = r["runner"]["latency_ms"], r["runner"].get("accuracy")
        rows.append((r["artifact"], r["method"], r["host"], f"{lat['p50']:.3f}",
                     f"{lat['p90']:.3f}", f"{lat['mean']:.3f}",
                     "n/a" if acc is None else f"{100 * acc:.2f} %"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths))) for row in rows]
    if records:
        where = measurement_path(run_dir, records[0]["target"], "*")
        lines.append(f"stored in {where}")
    return "\n".join(lines)
