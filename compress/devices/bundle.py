"""A self-contained folder that benchmarks a run's artifacts on one device.

``build_bundle(run_dir, "rpi4", out_dir="bundle")`` writes::

    bundle/artifacts/<artifact>.tflite   the run's artifacts whose format the device takes
    bundle/runner.py                     targets/runner.py (numpy + a TFLite interpreter only)
    bundle/samples.npz                   x, y: labelled evaluation samples from the run's data
    bundle/run.sh                        runs the runner for each artifact -> results/*.json
    bundle/README.md                     the device's install line and the command
    bundle/bundle.json                   what is inside and how it was made

Copy the folder to the device and run ``sh run.sh``; ``edgecompress bench`` does that over ssh
(``compress/remote.py``). The folder is written to a temporary sibling and moved into place.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compress.errors import DataError, OutputError, TargetError

BUNDLE_SCHEMA = "edgecompress.bundle/1"
DEFAULT_SAMPLES = 300
DEFAULT_DATA = "fashion-mnist"
#: Datasets a report names that can be loaded again by that name.
_RELOADABLE = ("fashion-mnist", "fashion-mnist-subset", "bundled")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: Exit codes of the pre-flight check (shared by run.sh and the ssh bench).
PREFLIGHT_CODES = {90: "python", 91: "numpy", 92: "interpreter"}


@dataclass(frozen=True)
class Bundle:
    """A written bundle: where it is, for which device, and the artifacts inside (by name)."""

    path: Path
    target: str
    artifacts: tuple[str, ...]
    manifest: dict = field(hash=False)


# --- reading a run ------------------------------------------------------------------------


def read_report(run_dir: str | Path) -> dict:
    """``RUN_DIR/report.json`` as a dict.

    Raises:
        OutputError: the folder is not a finished edgecompress run.
    """
    path = Path(run_dir) / "report.json"
    if not path.is_file():
        raise OutputError(f"not an edgecompress run folder (no report.json). "
                          f"Received: {str(run_dir)!r}",
                          hint="pass the --out folder of `edgecompress run` or `demo`")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"cannot read {path}: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("artifacts"), list):
        raise OutputError(f"{path} has no 'artifacts' list. Received keys: "
                          f"{sorted(report) if isinstance(report, dict) else type(report)}")
    return report


def select_artifacts(report: dict, profile: Any, names: tuple[str, ...] | list[str] = ()
                     ) -> list[dict]:
    """The run's artifacts that ``profile`` can run, best format first.

    Args:
        report: the run's report.json content.
        profile: a ``targets.spec.DeviceProfile``.
        names: artifact names (``target`` in the report) to keep; empty keeps every suitable one.

    Raises:
        TargetError: an unknown name, a named artifact the device cannot run, or none at all
            (the message lists what the run has and what the device takes).
    """
    available = [a for a in report["artifacts"] if isinstance(a, dict) and "target" in a]
    have = ", ".join(f"{a['target']} ({a.get('format', '?')})" for a in available) or "none"
    takes = ", ".join(profile.formats)
    by_name = {a["target"]: a for a in available}
    for name in names:
        if name not in by_name:
            raise TargetError(f"the run has no artifact {name!r}. Received: --artifact {name}; "
                              f"the run has: {have}")
        if by_name[name].get("format") not in profile.formats:
            raise TargetError(f"{profile.id} cannot run artifact {name!r} "
                              f"(format {by_name[name].get('format')}); it takes: {takes}")
    chosen = [by_name[n] for n in dict.fromkeys(names)] if names else \
        [a for a in available if a.get("format") in profile.formats]
    if not chosen:
        raise TargetError(f"the run has no artifact that {profile.id} can run. The run has: "
                          f"{have}; {profile.id} takes: {takes}",
                          hint=f"add a target to the recipe, e.g. `targets: [{profile.id}]` or "
                               f"`targets: [{profile.default_format}]`, and run it again")
    rank = {fmt: i for i, fmt in enumerate(profile.formats)}
    return sorted(chosen, key=lambda a: rank[a["format"]]) if not names else chosen


def resolve_data_spec(report: dict, data: str | None) -> str:
    """The dataset to draw samples from: ``data`` if given, else what the report recorded.

    ``dataset.spec`` (when the report carries it, with ``dataset.data_dir`` for an IDX
    folder) is used as is; else ``dataset.name`` when it
    can be loaded again by name (``fashion-mnist``, ``fashion-mnist-subset``,
    ``module:function``); a report without dataset information gets ``fashion-mnist``.

    Raises:
        DataError: the report names a dataset that cannot be found again by its name.
    """
    if data:
        return data
    ds = report.get("dataset") or {}
    if ds.get("spec"):
        return str(ds["spec"])
    name = ds.get("name")
    if not name:
        return DEFAULT_DATA
    if name in _RELOADABLE or _FACTORY.match(str(name)):
        return str(name)
    raise DataError(f"the run's report names its dataset {name!r} but not where it came from "
                    f"({ds.get('source', 'no source')})",
                    hint="pass the same data as the run with --data (e.g. --data data.npz)")


def draw_samples(spec: str, n: int, *, data_dir: str | None = None, seed: int = 0,
                 input_shape: list | tuple | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` seeded samples of the test split of ``spec``: ``(x, y, source)``.

    Raises:
        DataError: the data cannot be loaded or does not have the run's input shape.
    """
    from calibration import sources

    dataset = sources.load_dataset(spec, data_dir=data_dir)
    if input_shape and tuple(dataset.x_test.shape[1:]) != tuple(input_shape):
        raise DataError(f"the data does not fit the run's model input. Received: {spec!r} with "
                        f"sample shape {tuple(dataset.x_test.shape[1:])}, the run used "
                        f"{tuple(input_shape)}", hint="pass the run's data with --data")
    picked = sources.subsample(dataset, test=n, seed=seed)
    return np.asarray(picked.x_test), picked.y_test, picked.source  # decodes a streamed split


# --- the runner command (one definition for run.sh and the ssh bench) ---------------------


def runner_delegate(profile: Any) -> str | None:
    """The runner's ``--delegate`` for a profile: ``edgetpu``, or None.

    XNNPACK is the CPU interpreter's built-in backend (no flag); GPU/NNAPI delegates are
    libraries whose path only the device knows (``DELEGATE=/path/lib.so sh run.sh``).
    """
    return "edgetpu" if profile.delegate == "edgetpu" else None


def runner_argv(artifact: str, *, python: str = "python3", warmup: int | str, runs: int | str,
                threads: int | str | None, delegate: str | None, json_path: str) -> list[str]:
    """The command that benchmarks ``artifacts/<artifact>.tflite`` from inside a bundle.

    run.sh passes shell expansions (``"$RUNS"``) where the ssh bench passes numbers.
    """
    argv = [python, "runner.py", f"artifacts/{artifact}.tflite", "--data", "samples.npz",
            "--warmup", str(warmup), "--runs", str(runs)]
    if threads:
        argv += ["--threads", str(threads)]
    if delegate:
        argv += ["--delegate", delegate]
    return argv + ["--json", json_path]


def preflight_script(install: str) -> str:
    """POSIX sh checking that ``$PYTHON`` has numpy and a TFLite interpreter.

    Exits 90 (no python), 91 (no numpy) or 92 (no interpreter) with a message and the
    profile's install line on stderr. ``$PYTHON`` must be set before it.
    """
    hint = shlex.quote(f"install: {install}")
    return "\n".join([
        'if ! command -v "$PYTHON" >/dev/null 2>&1; then',
        f'  echo "$PYTHON not found" >&2; echo {hint} >&2; exit 90; fi',
        """if ! "$PYTHON" -c 'import numpy' >/dev/null 2>&1; then""",
        f'  echo "numpy is not installed for $PYTHON" >&2; echo {hint} >&2; exit 91; fi',
        """if ! "$PYTHON" -c 'import ai_edge_litert.interpreter' >/dev/null 2>&1 && """
        """! "$PYTHON" -c 'import tflite_runtime.interpreter' >/dev/null 2>&1; then""",
        '  echo "no TFLite interpreter (ai_edge_litert or tflite_runtime) for $PYTHON" >&2; '
        f'echo {hint} >&2; exit 92; fi',
    ])


# --- writing ------------------------------------------------------------------------------


def build_bundle(run_dir: str | Path, target: str, *, out_dir: str | Path,
                 overwrite: bool = False, samples: int = DEFAULT_SAMPLES,
                 artifacts: tuple[str, ...] | list[str] = (), data: str | None = None,
                 data_dir: str | None = None, warmup: int = 20, runs: int = 200,
                 threads: int | None = None) -> Bundle:
    """Write a folder that benchmarks the run's artifacts on the ``target`` device.

    Args:
        run_dir: a finished run (``report.json`` and ``artifacts/``).
        target: a device profile id or a profile ``.yaml`` path.
        out_dir: the bundle folder; refused if not empty unless ``overwrite``.
        samples: labelled evaluation samples to include (seeded draw from the test split).
        artifacts: artifact names to include; empty: every one whose format the device takes.
        data: dataset spec for the samples (default: what the report recorded).
        data_dir: Fashion-MNIST IDX folder (with ``data="fashion-mnist"``).
        warmup, runs: the defaults written into run.sh.
        threads: interpreter threads (default: the profile's ``default_threads``).

    Returns:
        The written :class:`Bundle`.

    Raises:
        TargetError: unknown profile or no suitable artifact. DataError: bad data.
        OutputError: not a run folder, a missing artifact file, or a non-empty ``out_dir``.
    """
    from compress.run.folder import check_output_dir, staged_output
    from targets import runner
    from targets.spec import get_profile

    profile = get_profile(target)
    run = Path(run_dir)
    report = read_report(run)
    chosen = select_artifacts(report, profile, tuple(artifacts))
    for art in chosen:
        if not _SAFE_NAME.fullmatch(art["target"]) or ".." in Path(art.get("path", "")).parts:
            raise OutputError(f"{run / 'report.json'}: artifact names are file names and "
                              f"paths stay in the run. Received: target={art['target']!r}, "
                              f"path={art.get('path')!r}")
        if not (run / art.get("path", "")).is_file():
            raise OutputError(f"artifact file missing: {run / art.get('path', '')}",
                              hint="the run folder is incomplete; run it again")
    check_output_dir(out_dir, overwrite=overwrite)  # before loading data
    spec = resolve_data_spec(report, data)
    if data is None and data_dir is None and spec == DEFAULT_DATA:
        data_dir = (report.get("dataset") or {}).get("data_dir")  # where the run read it
    x, y, source = draw_samples(spec, samples, data_dir=data_dir,
                                input_shape=(report.get("dataset") or {}).get("input_shape"))
    names = tuple(a["target"] for a in chosen)
    manifest = {
        "schema": BUNDLE_SCHEMA, "run": str(run.resolve()), "recipe": report.get("recipe"),
        "target": profile.id, "profile": profile.name, "runtime": dict(profile.runtime),
        "threads": threads or profile.default_threads, "delegate": runner_delegate(profile),
        "warmup": warmup, "runs": runs,
        "artifacts": [{"name": a["target"], "format": a["format"],
                       "file": f"artifacts/{a['target']}.tflite",
                       "size_bytes": a.get("size_bytes")} for a in chosen],
        "samples": {"count": int(len(x)), "data": spec, "source": source, "seed": 0},
    }
    with staged_output(out_dir, overwrite=overwrite) as tmp:
        (tmp / "artifacts").mkdir()
        for art in chosen:
            shutil.copyfile(run / art["path"], tmp / "artifacts" / f"{art['target']}.tflite")
        shutil.copyfile(runner.__file__, tmp / "runner.py")
        np.savez_compressed(tmp / "samples.npz", x=x, y=y)
        (tmp / "run.sh").write_text(render_run_sh(manifest))
        (tmp / "run.sh").chmod(0o755)
        (tmp / "README.md").write_text(render_readme(manifest, profile))
        (tmp / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Bundle(path=Path(out_dir), target=profile.id, artifacts=names, manifest=manifest)


def render_run_sh(manifest: dict) -> str:
    """run.sh: pre-flight checks, then the runner per artifact into ``results/<name>.json``."""
    install = manifest["runtime"]["install"]
    lines = [
        "#!/bin/sh",
        f"# Benchmarks this bundle's artifacts on a {manifest['profile']} "
        "(written by edgecompress bundle).",
        "# Overrides: PYTHON=python3 THREADS=N WARMUP=N RUNS=N DELEGATE=edgetpu|/path/lib.so",
        "#   SAVE_OUTPUTS=1 also writes results/<artifact>.outputs.npy (the outputs on the "
        "samples)",
        "set -eu",
        'cd "$(dirname "$0")"',
        'PYTHON="${PYTHON:-python3}"',
        f'THREADS="${{THREADS:-{manifest["threads"]}}}"',
        f'WARMUP="${{WARMUP:-{manifest["warmup"]}}}"',
        f'RUNS="${{RUNS:-{manifest["runs"]}}}"',
        f'DELEGATE="${{DELEGATE-{manifest["delegate"] or ""}}}"',
        preflight_script(install),
        "mkdir -p results",
    ]
    for art in manifest["artifacts"]:
        name = art["name"]
        argv = runner_argv(name, python='"$PYTHON"', warmup='"$WARMUP"', runs='"$RUNS"',
                           threads='"$THREADS"', delegate=None, json_path=f"results/{name}.json")
        argv.insert(argv.index("--json"), '${DELEGATE:+--delegate "$DELEGATE"}')
        argv.insert(argv.index("--json"),
                    f'${{SAVE_OUTPUTS:+--save-outputs results/{name}.outputs.npy}}')
        title = f"== {name} ({art['format']})"
        lines += [f"echo {shlex.quote(title)}", _shell_join(argv),
                  f'"$PYTHON" -c {shlex.quote(_SUMMARY)} {shlex.quote(f"results/{name}.json")}']
    return "\n".join(lines) + "\n"


def _shell_join(argv: list[str]) -> str:
    """``shlex.join`` that leaves shell expansions (``"$X"``, ``${X:+...}``) unquoted."""
    return " ".join(a if a.startswith(('"$', "${")) else shlex.quote(a) for a in argv)


_SUMMARY = ('import json, sys; r = json.load(open(sys.argv[1])); l = r["latency_ms"]; '
            'a = r["accuracy"]; print("p50 %.3f ms, p90 %.3f ms, accuracy %s" % (l["p50"], '
            'l["p90"], "n/a" if a is None else "%.2f %%" % (100 * a)))')


def render_readme(manifest: dict, profile: Any) -> str:
    """README.md: what the bundle is, the install line, the command, where results go."""
    arts = "\n".join(f"- `{a['file']}` ({a['format']})" for a in manifest["artifacts"])
    first = manifest["artifacts"][0]["name"]
    one = shlex.join(runner_argv(first, warmup=manifest["warmup"], runs=manifest["runs"],
                                 threads=manifest["threads"], delegate=manifest["delegate"],
                                 json_path=f"results/{first}.json"))
    extra = ""
    if profile.delegate == "edgetpu":
        extra = ("\nOnly a model compiled with `edgetpu_compiler` runs on the Edge TPU; any other "
                 "model runs on the CPU through the delegate.\n")
    if profile.delegate in ("gpu", "nnapi"):
        extra = (f"\nThis profile expects the {profile.delegate} delegate: pass its library "
                 "with `DELEGATE=/path/to/delegate.so sh run.sh` (without it the CPU runs).\n")
    return f"""# edgecompress bundle: {manifest['recipe'] or 'run'} on {profile.name}

Benchmarks these artifacts with the same runner edgecompress uses on the host:

{arts}

`samples.npz` holds {manifest['samples']['count']} labelled test samples
({manifest['samples']['source']}).

## On the device

Install the runtime ({profile.runtime['package']} {profile.runtime['version_range']}):

```sh
{profile.runtime['install']}
```

Then run every artifact ({manifest['threads']} threads, {manifest['warmup']} warm-up and
{manifest['runs']} timed runs; results in `results/<artifact>.json`):

```sh
sh run.sh
```

or one artifact by hand:

```sh
{one}
```
{extra}
Overrides: `PYTHON=... THREADS=... WARMUP=... RUNS=... DELEGATE=... sh run.sh`;
`SAVE_OUTPUTS=1` also writes each artifact's outputs on the samples to
`results/<artifact>.outputs.npy` (to compare two machines).
`edgecompress bench RUN_DIR --target {manifest['target']} --remote user@host` does all of this
over ssh and stores the results in the run folder.
"""
