"""Device profiles: versioned YAML data loaded into frozen, strictly validated records.

A profile (``targets/profiles/<id>.yaml``) says how to convert a model for one kind of device
(formats in order of preference, I/O dtypes, op set, batch size), which interpreter runs it
there and how to install it, and what we know about the device's power and speed. Every
number about the device carries its ``source`` and its ``kind``: ``measured`` (by us, with a
meter), ``published`` (by a vendor or a benchmark we cite) or ``estimated`` (our reasoning).

Loading is strict, like ``compress/recipe.py``: an unknown key is an error that names its path
inside the file (``power_w.idle.sorce``) and suggests the likely key. Nothing is loaded at
import time, and this module imports no ML framework (``targets`` sits below ``compress``).

Users add profiles as ``<id>.yaml`` files in the folders of ``$EDGECOMPRESS_PROFILES``
(``os.pathsep``-separated) or in ``~/.config/edgecompress/profiles``.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from targets.errors import TargetError, brief
from targets.validate import IO_DTYPES, Fields

PROFILE_SCHEMA = "edgecompress.profile/1"

#: TFLite flavours a profile can ask for (the same vocabulary as recipe targets). ``int4``:
#: int4 weights with int8 activations (LiteRT quantizer); ``mixed``: int4/int8/float16 per layer
#: under an accuracy budget (``compress.artifacts.mixed``).
FORMATS = ("float32", "float16", "dynamic", "int8", "int16x8", "int4", "mixed")
#: Converter op sets (``tf.lite.OpsSet``): TFLITE_BUILTINS, TFLITE_BUILTINS_INT8, the int16x8
#: experimental set and SELECT_TF_OPS.
OP_SETS = ("builtins", "builtins_int8", "builtins_int16x8", "select_tf_ops")
PACKAGES = ("ai-edge-litert", "tflite-runtime")
DELEGATES = ("xnnpack", "gpu", "edgetpu", "nnapi")
ARCHES = ("aarch64", "armv7l", "x86_64")
KINDS = ("measured", "published", "estimated")
CONFIDENCES = ("low", "medium", "high")
ENV_VAR = "EDGECOMPRESS_PROFILES"

_TOP_KEYS = ("schema", "id", "name", "description", "formats", "input_dtype", "output_dtype",
             "op_set", "batch_size", "static_shapes", "runtime", "arch", "default_threads",
             "power_w", "anchors", "confidence", "edgetpu")
_REQUIRED_TOP = tuple(k for k in _TOP_KEYS if k != "edgetpu")
_RUNTIME_KEYS = ("package", "version_range", "install", "delegate")
_POWER_KEYS = ("idle", "active")
_FIGURE_KEYS = ("low", "high", "source", "kind")
_ANCHOR_KEYS = ("model", "format", "latency_ms", "macs", "source", "kind")
_EDGETPU_KEYS = ("tops", "tops_per_watt", "cache_bytes", "source", "kind")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_F = Fields(TargetError)
_SPEC_RE = re.compile(r"\s*(==|!=|<=|>=|~=|<|>)\s*[0-9][0-9A-Za-z.*+!-]*\s*"
                      r"(,\s*(==|!=|<=|>=|~=|<|>)\s*[0-9][0-9A-Za-z.*+!-]*\s*)*")


def _check_provenance(record: Any, what: str) -> None:
    """Every number in a profile says how it is known (``kind``) and where from (``source``)."""
    _F.choice(record.kind, KINDS, "kind")
    if not isinstance(record.source, str) or not record.source.strip():
        raise TargetError(f"source: every {what} needs a source. "
                          f"Received: {brief(record.source)}")


@dataclass(frozen=True)
class PowerFigure:
    """A power range in watts, with where it comes from.

    Attributes:
        low: lower bound in W.
        high: upper bound in W (``low <= high``; equal for a single published value).
        source: document title and where in it (or how it was estimated).
        kind: ``measured``, ``published`` or ``estimated``.
    """

    low: float
    high: float
    source: str
    kind: str

    def __post_init__(self) -> None:
        _check_provenance(self, "figure")
        if not 0 <= self.low <= self.high:
            raise TargetError(f"power must satisfy 0 <= low <= high (W). "
                              f"Received: low={self.low}, high={self.high}")

    @property
    def mid(self) -> float:
        """The middle of the range in W (what an estimate uses when it needs one number)."""
        return (self.low + self.high) / 2

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "source": self.source, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "PowerFigure":
        _F.keys(data, _FIGURE_KEYS, path, required=_FIGURE_KEYS)
        low = _F.number(data["low"], f"{path}.low", minimum=0)
        high = _F.number(data["high"], f"{path}.high", minimum=0)
        if low > high:
            raise _F.fail(path, f"low must be <= high (W). Received: low={low}, high={high}")
        kind = _F.choice(data["kind"], KINDS, f"{path}.kind")
        return cls(low, high, _F.text(data["source"], f"{path}.source"), kind)


@dataclass(frozen=True)
class LatencyAnchor:
    """A known latency of a reference model on the device, used to calibrate estimates.

    Attributes:
        model: reference model name, e.g. ``mobilenet_v2_1.0_224``.
        format: the TFLite format it ran as (one of ``FORMATS``).
        latency_ms: time per inference (batch 1) in ms.
        macs: multiply-accumulates of one inference of the model.
        source: document title and where in it.
        kind: ``measured``, ``published`` or ``estimated``.
    """

    model: str
    format: str
    latency_ms: float
    macs: int
    source: str
    kind: str

    def __post_init__(self) -> None:
        _F.choice(self.format, FORMATS, "format")
        _check_provenance(self, "anchor")
        if not self.latency_ms > 0 or not self.macs > 0:
            raise TargetError(f"latency_ms and macs must be > 0. "
                              f"Received: latency_ms={self.latency_ms}, macs={self.macs}")

    @property
    def macs_per_ms(self) -> float:
        """Effective throughput of the device on this model (MACs per ms)."""
        return self.macs / self.latency_ms

    def to_dict(self) -> dict:
        return {"model": self.model, "format": self.format, "latency_ms": self.latency_ms,
                "macs": self.macs, "source": self.source, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "LatencyAnchor":
        _F.keys(data, _ANCHOR_KEYS, path, required=_ANCHOR_KEYS)
        return cls(model=_F.text(data["model"], f"{path}.model"),
                   format=_F.choice(data["format"], FORMATS, f"{path}.format"),
                   latency_ms=_F.number(data["latency_ms"], f"{path}.latency_ms", positive=True),
                   macs=_F.number(data["macs"], f"{path}.macs", integer=True, positive=True),
                   source=_F.text(data["source"], f"{path}.source"),
                   kind=_F.choice(data["kind"], KINDS, f"{path}.kind"))


@dataclass(frozen=True, kw_only=True)
class DeviceProfile:
    """Everything edgecompress knows about one kind of device.

    ``runtime`` holds ``package`` (ai-edge-litert | tflite-runtime), ``version_range`` (a pip
    specifier), ``install`` (the command to run on the device) and ``delegate`` (or None).
    ``edgetpu`` (Edge TPU devices only) holds ``tops``, ``tops_per_watt``, ``cache_bytes``,
    ``source`` and ``kind``. ``path`` is the file the profile was read from.
    """

    id: str
    name: str
    description: str
    formats: tuple[str, ...]
    input_dtype: str
    output_dtype: str
    op_set: str
    batch_size: int
    static_shapes: bool
    runtime: dict = field(hash=False)
    arch: str
    default_threads: int
    power_idle: PowerFigure
    power_active: PowerFigure
    anchors: tuple[LatencyAnchor, ...]
    confidence: str
    edgetpu: dict | None = field(default=None, hash=False)
    path: str = ""

    def __post_init__(self) -> None:
        if not self.formats:
            raise TargetError("formats: a profile needs at least one format. Received: []",
                              hint=f"formats in order of preference, from {', '.join(FORMATS)}")
        for i, fmt in enumerate(self.formats):
            _F.choice(fmt, FORMATS, f"formats[{i}]")
        dupes = sorted({f for f in self.formats if self.formats.count(f) > 1})
        if dupes:
            raise TargetError(f"formats: each format at most once. Received duplicates: {dupes}")
        allowed = {"builtins_int8": {"int8"}, "builtins_int16x8": {"int16x8"}}.get(self.op_set)
        if allowed is not None and not set(self.formats) <= allowed:
            raise TargetError(f"formats: op_set {self.op_set} runs only {sorted(allowed)}. "
                              f"Received: formats={list(self.formats)}")
        delegate = self.runtime.get("delegate")
        if (delegate == "edgetpu") != (self.edgetpu is not None):
            raise TargetError("edgetpu: an Edge TPU profile needs runtime.delegate: edgetpu "
                              "and an edgetpu block, and only it has one. Received: "
                              f"delegate={brief(delegate)}, "
                              f"edgetpu={'set' if self.edgetpu else None}")
        if delegate == "edgetpu":
            problems = []
            if self.formats != ("int8",) or self.op_set != "builtins_int8":
                problems.append(f"formats={list(self.formats)}, op_set={brief(self.op_set)} "
                                "(need [int8], builtins_int8)")
            if self.batch_size != 1 or not self.static_shapes:
                problems.append(f"batch_size={self.batch_size}, static_shapes="
                                f"{self.static_shapes} (need 1, true)")
            if "float32" in (self.input_dtype, self.output_dtype):
                problems.append(f"input_dtype={brief(self.input_dtype)}, output_dtype="
                                f"{brief(self.output_dtype)} (need int8 or uint8)")
            if problems:
                raise TargetError("the Edge TPU runs fully integer, fixed-shape, batch-1 models "
                                  "only. Received: " + "; ".join(problems))

    @property
    def default_format(self) -> str:
        """The preferred format: the first of ``formats``."""
        return self.formats[0]

    @property
    def delegate(self) -> str | None:
        return self.runtime.get("delegate")

    def to_dict(self) -> dict:
        """A JSON-able mapping in the file's layout, plus ``default_format`` and ``path``."""
        return {
            "schema": PROFILE_SCHEMA,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "formats": list(self.formats),
            "default_format": self.default_format,
            "input_dtype": self.input_dtype,
            "output_dtype": self.output_dtype,
            "op_set": self.op_set,
            "batch_size": self.batch_size,
            "static_shapes": self.static_shapes,
            "runtime": dict(self.runtime),
            "arch": self.arch,
            "default_threads": self.default_threads,
            "power_w": {"idle": self.power_idle.to_dict(), "active": self.power_active.to_dict()},
            "anchors": [a.to_dict() for a in self.anchors],
            "confidence": self.confidence,
            "edgetpu": dict(self.edgetpu) if self.edgetpu is not None else None,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "") -> "DeviceProfile":
        """Build a profile from a parsed YAML/JSON mapping, strictly.

        ``to_dict()`` without its derived ``default_format`` and ``path`` reads back to an
        equal profile.
        """
        if not isinstance(data, Mapping):
            raise TargetError(f"a profile must be a mapping at the top level. "
                              f"Received: {type(data).__name__}")
        schema = data.get("schema")
        if "schema" in data and schema != PROFILE_SCHEMA:  # before the keys: they may differ
            raise TargetError(f"schema: unsupported profile schema. "
                              f"Received: schema={brief(schema)}",
                              hint=f"this edgecompress reads 'schema: {PROFILE_SCHEMA}'")
        _F.keys(data, _TOP_KEYS, "", required=_REQUIRED_TOP)
        pid = _F.text(data["id"], "id")
        if not _ID_RE.fullmatch(pid):
            raise TargetError(f"id: use lower-case letters, digits, '.', '_' and '-'. "
                              f"Received: id={brief(pid)}")
        formats = data["formats"]
        if isinstance(formats, str):
            formats = [formats]
        if not isinstance(formats, list):
            raise TargetError(f"formats: must be a list. Received: {brief(formats)}")
        for i, fmt in enumerate(formats):
            _F.choice(fmt, FORMATS, f"formats[{i}]")
        runtime = _parse_runtime(data["runtime"], "runtime")
        power = _F.keys(data["power_w"], _POWER_KEYS, "power_w", required=_POWER_KEYS)
        anchors = data["anchors"]
        if not isinstance(anchors, list):
            raise TargetError(f"anchors: must be a list (may be empty). Received: {brief(anchors)}")
        edgetpu = data.get("edgetpu")
        return cls(
            id=pid,
            name=_F.text(data["name"], "name"),
            description=_F.text(data["description"], "description"),
            formats=tuple(formats),
            input_dtype=_F.choice(data["input_dtype"], IO_DTYPES, "input_dtype"),
            output_dtype=_F.choice(data["output_dtype"], IO_DTYPES, "output_dtype"),
            op_set=_F.choice(data["op_set"], OP_SETS, "op_set"),
            batch_size=_F.number(data["batch_size"], "batch_size", integer=True, minimum=1),
            static_shapes=_F.flag(data["static_shapes"], "static_shapes"),
            runtime=runtime,
            arch=_F.choice(data["arch"], ARCHES, "arch"),
            default_threads=_F.number(data["default_threads"], "default_threads",
                                    integer=True, minimum=1),
            power_idle=PowerFigure.from_dict(power["idle"], "power_w.idle"),
            power_active=PowerFigure.from_dict(power["active"], "power_w.active"),
            anchors=tuple(LatencyAnchor.from_dict(a, f"anchors[{i}]")
                          for i, a in enumerate(anchors)),
            confidence=_F.choice(data["confidence"], CONFIDENCES, "confidence"),
            edgetpu=None if edgetpu is None else _parse_edgetpu(edgetpu, "edgetpu"),
            path=path,
        )


def _parse_runtime(data: Any, path: str) -> dict:
    _F.keys(data, _RUNTIME_KEYS, path, required=_RUNTIME_KEYS)
    spec = _F.text(data["version_range"], f"{path}.version_range")
    if not _SPEC_RE.fullmatch(spec):
        raise _F.fail(f"{path}.version_range", f"must be a pip version specifier such as "
                    f"'>=2.3,<3'. Received: version_range={brief(spec)}")
    delegate = data["delegate"]
    if delegate is not None:
        _F.choice(delegate, DELEGATES, f"{path}.delegate")
    return {"package": _F.choice(data["package"], PACKAGES, f"{path}.package"),
            "version_range": spec,
            "install": _F.text(data["install"], f"{path}.install"),
            "delegate": delegate}


def _parse_edgetpu(data: Any, path: str) -> dict:
    _F.keys(data, _EDGETPU_KEYS, path, required=_EDGETPU_KEYS)
    return {"tops": _F.number(data["tops"], f"{path}.tops", positive=True),
            "tops_per_watt": _F.number(data["tops_per_watt"], f"{path}.tops_per_watt",
                                     positive=True),
            "cache_bytes": _F.number(data["cache_bytes"], f"{path}.cache_bytes", integer=True,
                                   positive=True),
            "source": _F.text(data["source"], f"{path}.source"),
            "kind": _F.choice(data["kind"], KINDS, f"{path}.kind")}


def load_profile(path: str | Path) -> DeviceProfile:
    """Read one profile file (YAML, or JSON, which YAML reads too), strictly.

    Raises:
        TargetError: the file is missing or unreadable, or the profile is invalid; the
            message starts with the file and the path of the bad value inside it.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise TargetError(f"profile file not found. Received: {str(path)!r}",
                          hint="pass an id from `edgecompress targets` or a .yaml profile path")
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TargetError(f"{file}: cannot read profile: {exc}") from None
    try:
        return DeviceProfile.from_dict(data, path=str(file))
    except TargetError as exc:
        raise TargetError(f"{file}: {exc.message}", hint=exc.hint) from None


def builtin_dir() -> Path:
    """The folder of the profiles that ship with edgecompress."""
    return Path(__file__).resolve().parent / "profiles"


def user_profile_dirs() -> list[Path]:
    """Folders searched for user profiles, in order.

    The folders named in ``$EDGECOMPRESS_PROFILES`` (``os.pathsep``-separated; each must
    exist), then ``~/.config/edgecompress/profiles`` (``$XDG_CONFIG_HOME`` honoured) if it exists.
    """
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep)
            if p.strip()]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    default = config.expanduser() / "edgecompress" / "profiles"
    if default.is_dir() and default not in dirs:
        dirs.append(default)
    return dirs


@functools.lru_cache(maxsize=32)
def _load_dir(directory: str) -> tuple[DeviceProfile, ...]:
    folder = Path(directory)
    if not folder.is_dir():
        raise TargetError(f"profile folder not found. Received: {directory!r}",
                          hint=f"fix ${ENV_VAR} (folders separated by '{os.pathsep}')")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    profiles = []
    for file in files:
        profile = load_profile(file)
        if profile.id != file.stem:
            raise TargetError(f"{file}: id must match the file name. Received: "
                              f"id={brief(profile.id)} in {file.name}",
                              hint=f"rename the file to {profile.id}.yaml or set id: {file.stem}")
        profiles.append(profile)
    return tuple(profiles)


def _merge(groups: list[tuple[DeviceProfile, ...]]) -> dict[str, DeviceProfile]:
    out: dict[str, DeviceProfile] = {}
    for group in groups:
        for profile in group:
            if profile.id in out:
                raise TargetError(
                    f"two profiles have id '{profile.id}': {out[profile.id].path} and "
                    f"{profile.path}",
                    hint="give the user profile a new id (and file name); built-in ids "
                         "cannot be overridden")
            out[profile.id] = profile
    return out


def builtin_profiles() -> dict[str, DeviceProfile]:
    """The profiles that ship in ``targets/profiles``, by id."""
    return _merge([_load_dir(str(builtin_dir()))])


def all_profiles() -> dict[str, DeviceProfile]:
    """Built-in profiles plus user profiles, by id (a duplicate id is an error naming both files).

    Loaded files are cached per folder; call ``clear_cache()`` after editing a profile.
    """
    dirs = [str(builtin_dir())] + [str(d) for d in user_profile_dirs()]
    return _merge([_load_dir(d) for d in dict.fromkeys(dirs)])


def clear_cache() -> None:
    """Forget loaded profiles (the next call re-reads the folders)."""
    _load_dir.cache_clear()


def get_profile(id_or_path: str | Path) -> DeviceProfile:
    """A profile by id (built-in or user), or from a ``.yaml``/``.yml``/``.json`` file path.

    Raises:
        TargetError: unknown id (the message lists the valid ids), or an invalid file.
    """
    text = str(id_or_path)
    if isinstance(id_or_path, Path) or text.lower().endswith((".yaml", ".yml", ".json")) \
            or "/" in text or os.sep in text:
        return load_profile(text)
    profiles = all_profiles()
    if text in profiles:
        return profiles[text]
    close = difflib.get_close_matches(text, list(profiles), n=1)
    raise TargetError(f"unknown target profile. Received: {brief(text)}. "
                      f"Valid ids: {', '.join(sorted(profiles))}",
                      hint=(f"did you mean '{close[0]}'? " if close else "")
                      + f"`edgecompress targets` lists them; add your own in ${ENV_VAR}")


def render_table(profiles: list[DeviceProfile]) -> str:
    """A plain-text table: id, name, formats, runtime, threads, confidence."""
    rows = [("id", "name", "formats", "runtime", "threads", "confidence")]
    for p in profiles:
        runtime = p.runtime["package"] + (f" +{p.delegate}" if p.delegate else "")
        rows.append((p.id, p.name, ",".join(p.formats), runtime, str(p.default_threads),
                     p.confidence))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _wrap(text: str, indent: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False) or [indent]


def _w(value: float) -> str:
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def render_profile(profile: DeviceProfile) -> str:
    """Every field of one profile, each figure with its kind and source."""
    p, rt = profile, profile.runtime
    src = " " * 11
    lines = [f"{p.id}: {p.name}", *_wrap(p.description, "  "), "",
             f"  formats        {' > '.join(p.formats)} (default {p.default_format})",
             f"  integer I/O    input {p.input_dtype}, output {p.output_dtype}",
             f"  op set         {p.op_set}; batch {p.batch_size}; "
             f"static shapes {'yes' if p.static_shapes else 'no'}",
             f"  runtime        {rt['package']} {rt['version_range']}; "
             f"delegate {rt['delegate'] or 'none'}",
             f"  install        {rt['install']}",
             f"  arch           {p.arch}; default threads {p.default_threads}",
             f"  confidence     {p.confidence}", "", "  power (W)"]
    for label, fig in (("idle", p.power_idle), ("active", p.power_active)):
        lines += [f"    {label:<7}{_w(fig.low)}-{_w(fig.high)} W  [{fig.kind}]",
                  *_wrap(f"source: {fig.source}", src)]
    lines += ["", "  latency anchors (batch 1)"]
    for a in p.anchors:
        lines += [f"    {a.model} {a.format}: {a.latency_ms:g} ms, {a.macs / 1e6:g}M MACs  "
                  f"[{a.kind}]", *_wrap(f"source: {a.source}", src)]
    if not p.anchors:
        lines.append("    none")
    if p.edgetpu:
        e = p.edgetpu
        lines += ["", f"  edge tpu       {e['tops']:g} TOPS, {e['tops_per_watt']:g} TOPS/W, "
                      f"cache {e['cache_bytes']} bytes  [{e['kind']}]",
                  *_wrap(f"source: {e['source']}", src)]
    lines += ["", f"  file           {p.path}"]
    return "\n".join(lines)


__all__ = [
    "PROFILE_SCHEMA", "FORMATS", "IO_DTYPES", "OP_SETS", "PACKAGES", "DELEGATES", "ARCHES",
    "KINDS", "CONFIDENCES", "ENV_VAR", "PowerFigure", "LatencyAnchor", "DeviceProfile",
    "load_profile", "builtin_dir", "builtin_profiles", "user_profile_dirs", "all_profiles",
    "clear_cache", "get_profile", "render_table", "render_profile",
]
