"""Recipes: frozen, strictly validated configs (YAML/JSON/dict in, ``to_dict`` out).

A recipe is data. Loading is strict: an unknown key is an error that names its path
(``stages[1].final_sparsity``) and suggests the likely key. Cross-field rules live in
``__post_init__`` so a ``Recipe`` that exists is a valid one; the rules about a stage's place
in the recipe are declared by its stage class (``compress.stages``). No TensorFlow here.

Each stage's config lives with its technique (``compress.stages.<kind>``); the names below
are re-exported so ``compress.recipe.PruneStage`` and friends keep working.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from compress.engines import ENGINES, runs_stages
from compress.errors import RecipeError
from compress.stages import STAGES
from compress.stages.base import (FIELDS, LayerSelection,  # noqa: F401
                                  config_to_dict, learning_rate_field)
from compress.stages.distill import (DISTILL_DEFAULTS, DISTILLED_KINDS,  # noqa: F401
                                     NEW_STUDENT_LEARNING_RATE, Augment, DistillStage,
                                     FeaturePair, WidthStudent)
from compress.stages.finetune import FinetuneStage  # noqa: F401
from compress.stages.prune import PRUNABLE_TYPES, SCHEDULES, PruneStage  # noqa: F401
from compress.stages.qat import QatStage  # noqa: F401
from targets.errors import brief
from targets.spec import FORMATS  # one vocabulary for recipes and profiles
from targets.validate import IO_DTYPES

RECIPE_VERSION = 1
ENGINE_CHOICES = ("auto", *ENGINES)
#: Stage i is seeded with seed + i; numpy's global seed takes [0, 2**32).
MAX_SEED = 2 ** 31 - 1
#: Any stage config (the union of ``STAGES[kind].config_class``).
StageConfig = Any


#: ``mixed`` target options: what it minimises, and training-split samples held out to
#: measure its candidates (``compress.artifacts.mixed``); max_accuracy_drop is in pp
MIXED_OBJECTIVES = ("size", "energy")
MIXED_DEFAULTS = {"max_accuracy_drop": 0.3, "objective": "size", "holdout_samples": 5000}
_TARGET_KEYS = ("format", "io_dtype", "name", "device", *MIXED_DEFAULTS)


def _text(value: Any, path: str) -> str:
    """A name-like field: a string (a number is taken as its text)."""
    return FIELDS.text(value, path, numbers=True)


@dataclass(frozen=True)
class TargetSpec:
    """One artifact to export: a TFLite format or a device profile's conversion scheme.

    Attributes:
        format: TFLite format (``float32``, ``float16``, ``dynamic``, ``int8``, ``int16x8``).
        io_dtype: input/output dtype for ``int8`` (``int8`` default, ``uint8``).
        name: artifact name (``artifacts/<name>.tflite``); the format or the device id.
        device: the device profile id this artifact is for, if any.
        static_batch: convert with a fixed batch of 1 (Edge TPU needs static shapes).
        max_accuracy_drop: ``mixed`` only: the accuracy budget in pp (default 0.3).
        objective: ``mixed`` only: ``size`` (default) or ``energy``.
        holdout_samples: ``mixed`` only: training-split samples held out to measure layer
            choices (default 5000, at most half the split).
    """

    format: str
    io_dtype: str | None = None
    name: str = ""
    device: str | None = None
    static_batch: bool = False
    max_accuracy_drop: float | None = None
    objective: str | None = None
    holdout_samples: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.format, str) or self.format not in FORMATS:
            close = difflib.get_close_matches(self.format, FORMATS, n=1) \
                if isinstance(self.format, str) else []
            raise RecipeError(
                f"unknown target format. Received: {brief(self.format)}",
                hint=(f"did you mean '{close[0]}'? " if close else "")
                + f"valid formats: {', '.join(FORMATS)}; or a device profile id "
                  "(edgecompress targets)")
        if self.io_dtype is not None:
            if self.format != "int8":
                raise RecipeError(f"io_dtype applies to the int8 format only. Received: "
                                  f"format={brief(self.format)}, io_dtype={brief(self.io_dtype)}")
            if self.io_dtype not in IO_DTYPES:
                raise RecipeError(f"io_dtype must be one of {', '.join(IO_DTYPES)}. "
                                  f"Received: io_dtype={brief(self.io_dtype)}")
        self._check_mixed()
        if not self.name:
            name = self.device or self.format
            if not self.device and self.io_dtype not in (None, "int8"):
                name = f"{self.format}-{self.io_dtype}io"
            object.__setattr__(self, "name", name)

    def _check_mixed(self) -> None:
        """``mixed`` options: only on ``mixed``, where unset ones take ``MIXED_DEFAULTS``."""
        given = {k: getattr(self, k) for k in MIXED_DEFAULTS if getattr(self, k) is not None}
        if self.format != "mixed":
            if given:
                raise RecipeError(f"{', '.join(given)} apply to the mixed format only. "
                                  f"Received: format={brief(self.format)}, "
                                  + ", ".join(f"{k}={brief(v)}" for k, v in given.items()),
                                  hint="use format: mixed, or drop them")
            return
        for key, default in MIXED_DEFAULTS.items():
            if key not in given:
                object.__setattr__(self, key, default)
        drop = self.max_accuracy_drop
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) \
                or not 0 <= drop <= 100:
            raise RecipeError(f"max_accuracy_drop must be a number of percentage points in "
                              f"[0, 100]. Received: max_accuracy_drop={brief(drop)}",
                              hint="e.g. max_accuracy_drop: 0.3 (at most 0.3 pp below float32)")
        object.__setattr__(self, "max_accuracy_drop", float(drop))
        FIELDS.choice(self.objective, MIXED_OBJECTIVES, "objective")
        n = self.holdout_samples
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise RecipeError(f"holdout_samples must be a positive integer. "
                              f"Received: holdout_samples={brief(n)}")

    def _mixed_dict(self) -> dict:
        return {k: getattr(self, k) for k in MIXED_DEFAULTS} if self.format == "mixed" else {}

    @property
    def effective_io_dtype(self) -> str:
        if self.format == "int8":
            return self.io_dtype or "int8"
        if self.format in ("int4", "mixed"):  # the LiteRT quantizer's files take int8 I/O
            return "int8"
        return "float32"

    @classmethod
    def for_device(cls, device: str, *, format: str | None = None) -> "TargetSpec":
        """The artifact a device profile needs (its preferred format unless ``format``)."""
        from targets.spec import get_profile

        profile = get_profile(device)
        fmt = format or profile.default_format
        if profile.delegate == "edgetpu" and fmt in ("int4", "mixed"):
            from targets.edgetpu import SUB8BIT_REFUSAL

            raise RecipeError(f"device {profile.id} does not run format {fmt}: "
                              f"{SUB8BIT_REFUSAL}. Received: format={brief(fmt)}",
                              hint=f"use format int8 for {profile.id}; int4 and mixed are for "
                                   "CPU targets")
        if fmt not in profile.formats:
            raise RecipeError(f"device {profile.id} does not run format {fmt}. Received: "
                              f"format={brief(fmt)}", hint=f"{profile.id} takes: "
                                                      f"{', '.join(profile.formats)}")
        io = profile.input_dtype if fmt == "int8" and profile.input_dtype in IO_DTYPES else None
        static = bool(profile.static_shapes) and profile.batch_size == 1
        return cls(format=fmt, io_dtype=io, name=profile.id if format is None else
                   f"{profile.id}-{fmt}", device=profile.id, static_batch=static)

    @classmethod
    def parse(cls, data: Any, path: str) -> "TargetSpec":
        from compress.errors import TargetError

        try:
            if isinstance(data, str):
                if data in FORMATS:
                    return cls(format=data)
                return cls.for_device(data)
            FIELDS.keys(data, _TARGET_KEYS, path)
            name = _text(data["name"], f"{path}.name") if data.get("name") else ""
            mixed = {k: data[k] for k in MIXED_DEFAULTS if k in data}
            if "device" in data:
                fmt = data.get("format")
                if fmt is not None and not isinstance(fmt, str):
                    raise FIELDS.fail(f"{path}.format", f"must be a format name. Received: "
                                                  f"format={brief(fmt)}")
                spec = cls.for_device(_text(data["device"], f"{path}.device"), format=fmt)
                return dataclasses.replace(spec, **({"name": name} if name else {}), **mixed)
            if "format" not in data:
                raise FIELDS.fail(path, "a target needs 'format' or 'device'",
                            hint=f"formats: {', '.join(FORMATS)}; devices: edgecompress targets")
            return cls(format=data["format"], io_dtype=data.get("io_dtype"), name=name, **mixed)
        except (RecipeError, TargetError) as exc:
            if exc.message.startswith(path):
                raise
            raise FIELDS.fail(path, exc.message, hint=exc.hint) from None

    def to_dict(self) -> dict | str:
        extra = self._mixed_dict()  # mixed: its options, defaults filled in
        if self.device:
            return self.device if self.name == self.device and not extra else {
                "device": self.device, "format": self.format, "name": self.name, **extra}
        if self.io_dtype is None and self.name == self.format and not extra:
            return self.format
        return {"format": self.format, "io_dtype": self.io_dtype, "name": self.name, **extra}


@dataclass(frozen=True)
class TrainingConfig:
    """How training stages run in our own loop (the callback API uses the user's fit)."""

    batch_size: int = 128
    learning_rate: float = 1e-4
    validation_fraction: float = 0.0

    KEYS = ("batch_size", "learning_rate", "validation_fraction")

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "TrainingConfig":
        if data is None:
            return cls()
        FIELDS.keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        if "batch_size" in data:
            kw["batch_size"] = int(FIELDS.number(data["batch_size"], f"{path}.batch_size", integer=True))
            if kw["batch_size"] < 1:
                raise FIELDS.fail(f"{path}.batch_size", f"must be >= 1. Received: {kw['batch_size']}")
        if "learning_rate" in data:
            kw["learning_rate"] = learning_rate_field(data["learning_rate"], f"{path}.learning_rate")
        if "validation_fraction" in data:
            v = float(FIELDS.number(data["validation_fraction"], f"{path}.validation_fraction"))
            if not 0.0 <= v < 1.0:
                raise FIELDS.fail(f"{path}.validation_fraction", f"must be in [0, 1). Received: {v}")
            kw["validation_fraction"] = v
        return cls(**kw)


@dataclass(frozen=True)
class CalibrationConfig:
    """Representative samples for full-integer conversion, drawn once per run."""

    samples: int = 200

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "CalibrationConfig":
        if data is None:
            return cls()
        FIELDS.keys(data, ("samples",), path)
        n = int(FIELDS.number(data.get("samples", 200), f"{path}.samples", integer=True))
        if n < 1:
            raise FIELDS.fail(f"{path}.samples", f"must be >= 1. Received: samples={n}")
        return cls(samples=n)


@dataclass(frozen=True)
class BenchmarkConfig:
    """Host latency measurement with the LiteRT interpreter."""

    warmup: int = 10
    runs: int = 100
    threads: int | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "BenchmarkConfig":
        if data is None:
            return cls()
        FIELDS.keys(data, ("warmup", "runs", "threads"), path)
        kw: dict[str, Any] = {}
        for key in ("warmup", "runs", "threads"):
            if data.get(key) is not None:
                kw[key] = int(FIELDS.number(data[key], f"{path}.{key}", integer=True))
                if kw[key] < (0 if key == "warmup" else 1):
                    raise FIELDS.fail(f"{path}.{key}", f"must be positive. Received: {key}={kw[key]}")
        return cls(**kw)


@dataclass(frozen=True)
class Recipe:
    """A whole compression recipe: ordered stages, export targets and run settings."""

    name: str
    stages: tuple[Any, ...] = ()
    targets: tuple[TargetSpec, ...] = (TargetSpec("float32"), TargetSpec("int8"))
    version: int = RECIPE_VERSION
    seed: int = 0
    #: ``auto`` (keras3 for a Keras 3 model when it runs every stage, else tfmot), ``keras3``
    #: or ``tfmot`` (``compress.engines``)
    engine: str = "auto"
    training: TrainingConfig = field(default_factory=TrainingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    KEYS = ("version", "name", "stages", "targets", "seed", "engine", "training", "calibration",
            "benchmark")

    def __post_init__(self) -> None:
        if not self.targets:
            raise RecipeError("targets: a recipe needs at least one target. Received: []",
                              hint=f"e.g. targets: [float32, int8]; formats: {', '.join(FORMATS)}")
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RecipeError(f"targets: duplicate target names. Received: {dupes}",
                              hint="give each target a distinct 'name'")
        kinds = [s.kind for s in self.stages]
        if self.engine != "auto" and not runs_stages(self.engine, kinds):
            missing = sorted({k for k in kinds if not runs_stages(self.engine, [k])})
            raise RecipeError(
                f"engine: the {self.engine} engine does not run stage kind(s) "
                f"{', '.join(missing)} yet. Received: engine={self.engine}, stages {kinds}",
                hint="use engine: auto (it picks an engine that runs every stage) or tfmot")
        for index, stage in enumerate(self.stages):
            check = getattr(STAGES[stage.kind], "check_order", None)
            if check is not None:
                check(stage, kinds, index)

    @property
    def has_prune(self) -> bool:
        return any(s.kind == "prune" for s in self.stages)

    @classmethod
    def from_dict(cls, data: Any) -> "Recipe":
        """Build a recipe from a parsed YAML/JSON mapping, strictly."""
        if not isinstance(data, Mapping):
            raise RecipeError(f"a recipe must be a mapping at the top level. "
                              f"Received: {type(data).__name__}")
        FIELDS.keys(data, cls.KEYS, "")
        version = data.get("version", RECIPE_VERSION)
        if version != RECIPE_VERSION:
            raise RecipeError(f"version: unsupported recipe version. "
                              f"Received: version={brief(version)}",
                              hint=f"this edgecompress reads version {RECIPE_VERSION}")
        name = data.get("name", "recipe")
        if not isinstance(name, str) or not name.strip():
            raise RecipeError(f"name: must be a non-empty string. Received: name={brief(name)}")
        raw_stages = data.get("stages") or []
        if not isinstance(raw_stages, list):
            raise RecipeError(f"stages: must be a list. Received: {brief(raw_stages)}")
        stages = tuple(_parse_stage(s, f"stages[{i}]") for i, s in enumerate(raw_stages))
        raw_targets = data.get("targets", ["float32", "int8"])
        if isinstance(raw_targets, str):
            raw_targets = [raw_targets]
        if not isinstance(raw_targets, list):
            raise RecipeError(f"targets: must be a list. Received: {brief(raw_targets)}")
        targets = tuple(TargetSpec.parse(t, f"targets[{i}]") for i, t in enumerate(raw_targets))
        seed = data.get("seed", 0)
        FIELDS.number(seed, "seed", integer=True)
        if not 0 <= seed <= MAX_SEED:
            raise RecipeError(f"seed: must be in [0, {MAX_SEED}]. Received: seed={seed}",
                              hint="numpy and TensorFlow take 32-bit non-negative seeds")
        return cls(
            name=name,
            stages=stages,
            targets=targets,
            version=version,
            seed=int(seed),
            engine=FIELDS.choice(data.get("engine", "auto"), ENGINE_CHOICES, "engine"),
            training=TrainingConfig.from_dict(data.get("training"), "training"),
            calibration=CalibrationConfig.from_dict(data.get("calibration"), "calibration"),
            benchmark=BenchmarkConfig.from_dict(data.get("benchmark"), "benchmark"),
        )

    def to_dict(self) -> dict:
        """A plain mapping that ``from_dict`` reads back to an equal recipe."""
        return {
            "version": self.version,
            "name": self.name,
            "seed": self.seed,
            "engine": self.engine,
            "stages": [config_to_dict(s) for s in self.stages],
            "targets": [t.to_dict() for t in self.targets],
            "training": dataclasses.asdict(self.training),
            "calibration": dataclasses.asdict(self.calibration),
            "benchmark": dataclasses.asdict(self.benchmark),
        }

    def replace(self, **changes: Any) -> "Recipe":
        return dataclasses.replace(self, **changes)


def _parse_stage(data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise FIELDS.fail(path, f"a stage must be a mapping with a 'kind'. Received: {brief(data)}")
    kind = data.get("kind")
    if kind is None:
        raise FIELDS.fail(path, "a stage needs 'kind'", hint=f"one of {', '.join(STAGES)}")
    kind = FIELDS.choice(kind, tuple(STAGES), f"{path}.kind")
    return STAGES[kind].config_class.from_dict(data, path)


def load_recipe(source: str | Path | Mapping[str, Any] | Recipe) -> Recipe:
    """Load a recipe from a YAML/JSON file, a mapping, or pass a ``Recipe`` through.

    Raises:
        RecipeError: the file is missing or unreadable, or the recipe is invalid.
    """
    if isinstance(source, Recipe):
        return source
    if isinstance(source, Mapping):
        return Recipe.from_dict(source)
    path = Path(source)
    if not path.is_file():
        raise RecipeError(f"recipe file not found. Received: {str(path)!r}",
                          hint="pass the path of a YAML or JSON recipe")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError: both user errors
        raise RecipeError(f"cannot parse recipe {path}: {exc}") from None
    return Recipe.from_dict(data)


def dump_recipe(recipe: Recipe) -> str:
    """YAML text of a recipe with every default filled in (``recipe.resolved.yaml``)."""
    import yaml

    return yaml.safe_dump(recipe.to_dict(), sort_keys=False)


BUILTIN_RECIPES: dict[str, dict] = {
    "prune50-qat-int8": {
        "version": 1, "name": "prune50-qat-int8",
        "stages": [{"kind": "prune", "final_sparsity": 0.5, "schedule": "polynomial", "epochs": 2},
                   {"kind": "qat", "epochs": 1}],
        "targets": ["float32", "int8"],
    },
}
