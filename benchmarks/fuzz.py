"""The long property-based (fuzz) run, written down: `make fuzz` with its statistics.

Runs the tests marked ``fuzz`` (``python -m pytest -q -m fuzz --hypothesis-show-statistics
-p no:cacheprovider``) under a hypothesis profile, ``--runs`` times, in the checkout whose
library is imported (run it from a clean worktree of a commit to pin the code: the results
file records the commit and whether the library folders had uncommitted edits), and writes
per run: the pytest outcome and wall time, and per property test the passing / failing /
invalid examples, its generate-phase time, why it stopped and its outcome events.

``--profile long`` (default) is `make fuzz`'s profile (tests/conftest.py: 5000 examples, not
derandomized). ``--examples N`` runs the same settings with ``max_examples=N`` instead (a
profile ``bench`` registered by this script's pytest plugin before tests/conftest.py loads
it); the results file says which.

Usage (from the checkout to test; the script path may be elsewhere):
    .venv/bin/python benchmarks/fuzz.py [--runs 1] [--profile long | --examples N]
        [-k EXPR] [--out benchmarks/results/fuzz]

Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
PLUGIN = "_fuzz_profile"  # benchmarks/_plugins/_fuzz_profile.py: the "bench" profile
PLUGINS = HERE / "_plugins"

TEST_ID = re.compile(r"^(\S+\.py::\S+):\s*$")
PHASE = re.compile(r"^\s*- during (\w+) phase \(([\d.]+) seconds\):")
# "- 10 passing, 0 failing, and 1 invalid test cases" (older: "10 passing examples, ...")
COUNTS = re.compile(r"^\s*- (\d+) passing(?: examples?)?, (\d+) failing(?: examples?)?, "
                    r"(?:and )?(\d+) invalid")
EVENT = re.compile(r"^\s*\* ([\d.]+)%, (.+)$")
STOPPED = re.compile(r"^\s*- Stopped because (.+)$")
SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error).*?) in ([\d.]+)s")


def parse_statistics(text: str) -> dict[str, dict]:
    """Hypothesis's ``--hypothesis-show-statistics`` blocks, per test id."""
    tests: dict[str, dict] = {}
    current = None
    phase = None
    for line in text.splitlines():
        m = TEST_ID.match(line)
        if m:
            current = tests.setdefault(m.group(1), {"phases": {}, "events": {},
                                                    "stopped_because": None})
            phase = None
            continue
        if current is None:
            continue
        if m := PHASE.match(line):
            phase = current["phases"].setdefault(m.group(1), {"seconds": float(m.group(2))})
        elif (m := COUNTS.match(line)) and phase is not None:
            phase.update(passing=int(m.group(1)), failing=int(m.group(2)),
                         invalid=int(m.group(3)))
        elif (m := EVENT.match(line)) and phase is not None:
            current["events"][m.group(2).strip()] = float(m.group(1))
        elif m := STOPPED.match(line):
            current["stopped_because"] = m.group(1).strip()
    for t in tests.values():
        for key in ("passing", "failing", "invalid"):
            t[key] = sum(p.get(key, 0) for p in t["phases"].values())
        t["generate_seconds"] = t["phases"].get("generate", {}).get("seconds")
    return tests


def one_run(args, root: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(root), str(PLUGINS)]
                                         + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    argv = [sys.executable, "-m", "pytest", "-q", "-m", "fuzz", "--hypothesis-show-statistics",
            "-p", "no:cacheprovider", "-p", PLUGIN]
    if args.k:
        argv += ["-k", args.k]
    if args.examples:
        env["HYPOTHESIS_PROFILE"] = "bench"
        env["EDGECOMPRESS_FUZZ_EXAMPLES"] = str(args.examples)
    else:
        env["HYPOTHESIS_PROFILE"] = args.profile
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    summary = next((m.group(1) for line in reversed(out.splitlines())
                    if (m := SUMMARY.search(line))), None)
    return {"exit_code": proc.returncode, "wall_s": wall, "pytest_summary": summary,
            "tests": parse_statistics(out), "output_tail": out[-4000:] if proc.returncode else ""}


def _short(event: str, limit: int = 48) -> str:
    """An event name for the table (hypothesis's retry events quote whole strategies)."""
    event = event.replace("|", "\\|")
    return event if len(event) <= limit else event[:limit - 3] + "..."


def render(data: dict) -> str:
    s = data["settings"]
    runs = data["runs"]
    failed = [i + 1 for i, r in enumerate(runs) if r["exit_code"] != 0]
    props = sorted({t for r in runs for t in r["tests"]})
    total = sum(r["tests"][t]["passing"] for r in runs for t in r["tests"])
    failing = sum(r["tests"][t]["failing"] for r in runs for t in r["tests"])
    lines = [
        "# Property-based (fuzz) run",
        "",
        describe(data["conditions"], load_after=data["load_after"]),
        "",
        f"Command: `{data['command']}` in the checkout at `{data['conditions']['code']['root']}`"
        f" ({len(runs)} run{'s' if len(runs) > 1 else ''}). Profile: {s['description']}.",
        "",
        f"**Result: {'no failure' if not failed and not failing else 'FAILURES'}; "
        f"{len(props)} property tests, {total:,} passing examples in all, {failing} failing.** "
        "pytest: " + "; ".join(f"run {i + 1}: {r['pytest_summary']} ({r['wall_s']:.0f} s wall)"
                               for i, r in enumerate(runs)) + ".",
        "",
        "Examples: passing examples (hypothesis's count over its phases). Invalid: test cases "
        "hypothesis discarded itself (over its data budget, filters), not failures. Events: "
        "how examples ended, as hypothesis's share of all test cases (invalid included; long "
        "names cut, in full in the .json).",
        "",
        "| test | run | passing | failing | invalid | generate phase | stopped because | events |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for t in props:
        for i, r in enumerate(runs):
            st = r["tests"].get(t)
            if st is None:
                continue
            events = ", ".join(f"{_short(k)} {v:g} %" for k, v in st["events"].items())
            gen = st["generate_seconds"]
            lines.append(f"| `{t.split('/')[-1]}` | {i + 1} | {st['passing']} | "
                         f"{st['failing']} | {st['invalid']} | "
                         f"{'' if gen is None else f'{gen:.1f} s'} | "
                         f"{st['stopped_because'] or ''} | {events} |")
    if data.get("notes"):
        lines += ["", "Notes (given on the command line):", ""] + [f"- {n}" for n in data["notes"]]
    for i in failed:
        lines += ["", f"Run {i} output (tail):", "", "```", runs[i - 1]["output_tail"], "```"]
    opt = f"--examples {s['examples']}" if s["examples"] else f"--profile {s['profile']}"
    lines += ["", f"Reproduce: `.venv/bin/python benchmarks/fuzz.py --runs {len(runs)} {opt}`"
                  + (f" -k '{s['k']}'" if s["k"] else "") + " (from a clean checkout)", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", default="long", help="a profile of tests/conftest.py")
    parser.add_argument("--examples", type=int, default=None,
                        help="max_examples per property instead of the profile's")
    parser.add_argument("-k", default=None, help="pytest -k expression (a subset)")
    parser.add_argument("--note", action="append", default=[],
                        help="a line for the results file, e.g. why this example count")
    parser.add_argument("--out", default=str(HERE / "results" / "fuzz"))
    args = parser.parse_args()
    root = Path.cwd()
    if not (root / "tests" / "conftest.py").exists():
        parser.error("run from the checkout to test (its tests/conftest.py)")
    cond = conditions(root=root)
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args, root))
        print(f"run {i + 1}/{args.runs}: {runs[-1]['pytest_summary']} "
              f"({runs[-1]['wall_s']:.0f} s)", flush=True)
    if args.examples:
        description = (f"`bench`: the `long` profile's settings (no deadline, not derandomized) "
                       f"with max_examples={args.examples} instead of 5000")
    elif args.profile == "long":
        description = "`long` (tests/conftest.py: max_examples=5000, no deadline, not derandomized)"
    else:
        description = f"`{args.profile}` (tests/conftest.py)"
    command = ("python -m pytest -q -m fuzz --hypothesis-show-statistics -p no:cacheprovider "
               + (f"-k '{args.k}' " if args.k else "")
               + f"with HYPOTHESIS_PROFILE={'bench' if args.examples else args.profile}")
    data = {"conditions": cond, "command": command,
            "settings": {"profile": args.profile, "examples": args.examples, "k": args.k,
                         "description": description},
            "notes": args.note, "runs": runs, "load_after": round(os.getloadavg()[0], 2)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(data))
    print(render(data))
    return 0 if all(r["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
