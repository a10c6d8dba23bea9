"""Recipes: frozen, strictly validated configs (YAML/JSON/dict in, ``to_dict`` out).

A recipe is data. Loading is strict: an unknown key is an error that names its path
(``stages[1].final_sparsity``) and suggests the likely key. Cross-field rules live in
``__post_init__`` so a ``Recipe`` that exists is a valid one. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from compress.errors import RecipeError
from targets.errors import brief, check_known_keys

RECIPE_VERSION = 1

from targets.spec import FORMATS  # noqa: E402  (one vocabulary for recipes and profiles)
IO_DTYPES = ("int8", "uint8", "float32")
SCHEDULES = ("polynomial", "constant")
#: Layer types prune can select by name (the tfmot-prunable weight layers).
PRUNABLE_TYPES = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D",
                  "Conv2DTranspose", "Dense")


def _fail(path: str, message: str, *, hint: str | None = None) -> RecipeError:
    where = f"{path}: " if path else ""
    return RecipeError(f"{where}{message}", hint=hint)


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    check_known_keys(data, allowed, path, error=RecipeError)


_INT64 = 2 ** 63
#: Stage i is seeded with seed + i; numpy's global seed takes [0, 2**32).
MAX_SEED = 2 ** 31 - 1


def _number(value: Any, path: str, *, integer: bool = False) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise _fail(path, f"must be {kind}. Received: {path.rsplit('.', 1)[-1]}={brief(value)}")
    # NaN and inf pass every comparison-free check downstream; huge integers overflow
    # TensorFlow's int64 arguments: both are refused here, once for every field.
    if isinstance(value, float) and not math.isfinite(value) \
            or isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise _fail(path, f"must be a finite number within int64 range. "
                          f"Received: {path.rsplit('.', 1)[-1]}={brief(value)}")
    return value


def _choice(value: Any, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
        hint = f"did you mean '{close[0]}'?" if close else None
        raise _fail(path, f"must be one of {', '.join(choices)}. "
                          f"Received: {path.rsplit('.', 1)[-1]}={brief(value)}", hint=hint)
    return value


def _str_list(value: Any, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"must be a list of strings. Received: {brief(value)}")
    return tuple(value)


def _positive_epochs(value: Any, path: str) -> int:
    _number(value, path, integer=True)
    if value < 0:
        raise _fail(path, f"must be >= 0. Received: epochs={value}")
    return value


def _optional_lr(value: Any, path: str) -> float | None:
    if value is None:
        return None
    _number(value, path)
    if not value > 0:
        raise _fail(path, f"must be > 0. Received: learning_rate={value}")
    return float(value)


@dataclass(frozen=True)
class LayerSelection:
    """Which layers a stage applies to: name patterns (``fnmatch``/regex) and layer types.

    A layer is selected when it matches ``include`` (default: all) and ``types`` (default:
    all prunable types) and does not match ``exclude``.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "LayerSelection":
        if data is None:
            return cls()
        _check_keys(data, ("include", "exclude", "types"), path)
        return cls(
            include=_str_list(data.get("include", []), f"{path}.include"),
            exclude=_str_list(data.get("exclude", []), f"{path}.exclude"),
            types=_str_list(data.get("types", []), f"{path}.types"),
        )

    def matches(self, name: str, class_name: str) -> bool:
        """True if a layer with this name and class is selected."""
        if self.types and class_name not in self.types:
            return False
        if self.include and not any(_name_match(p, name) for p in self.include):
            return False
        return not any(_name_match(p, name) for p in self.exclude)

    def to_dict(self) -> dict:
        return {"include": list(self.include), "exclude": list(self.exclude),
                "types": list(self.types)}


def _name_match(pattern: str, name: str) -> bool:
    import fnmatch

    if fnmatch.fnmatchcase(name, pattern):
        return True
    try:
        return re.fullmatch(pattern, name) is not None
    except re.error:
        return False


@dataclass(frozen=True)
class PruneStage:
    """Magnitude pruning (tfmot), unstructured or m:n structured.

    Attributes:
        final_sparsity: fraction of weights set to zero at the end, in [0, 1).
        schedule: ``polynomial`` (ramp from ``initial_sparsity``) or ``constant``.
        epochs: fine-tuning epochs while pruning.
        structure: ``"m:n"`` such as ``"2:4"`` for structured sparsity (m zeros... see tfmot:
            m non-zero values in every block of n); then ``final_sparsity`` is implied.
    """

    kind: str = "prune"
    final_sparsity: float = 0.5
    initial_sparsity: float = 0.0
    schedule: str = "polynomial"
    epochs: int = 2
    frequency: int = 100
    end_fraction: float = 0.8
    structure: str | None = None
    learning_rate: float | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "final_sparsity", "initial_sparsity", "schedule", "epochs", "frequency",
            "end_fraction", "structure", "learning_rate", "layers")

    def __post_init__(self) -> None:
        if self.structure is not None:
            m, n = self.block
            object.__setattr__(self, "final_sparsity", 1.0 - m / n)
        if not 0.0 <= self.final_sparsity < 1.0:
            raise RecipeError(f"final_sparsity must be in [0, 1). "
                              f"Received: final_sparsity={self.final_sparsity}")
        if not 0.0 <= self.initial_sparsity <= self.final_sparsity:
            raise RecipeError(
                "initial_sparsity must be in [0, final_sparsity]. Received: "
                f"initial_sparsity={self.initial_sparsity}, final_sparsity={self.final_sparsity}")
        if self.frequency < 1:
            raise RecipeError(f"frequency must be >= 1 step. Received: frequency={self.frequency}")
        if not 0.0 < self.end_fraction <= 1.0:
            raise RecipeError(f"end_fraction must be in (0, 1]. "
                              f"Received: end_fraction={self.end_fraction}")
        if self.epochs < 1:
            raise RecipeError(f"a prune stage needs epochs >= 1 to apply its schedule. "
                              f"Received: epochs={self.epochs}")

    @property
    def block(self) -> tuple[int, int]:
        """(m, n) of an ``m:n`` structure: m non-zero weights in each block of n."""
        if self.structure is None:
            raise ValueError("unstructured pruning has no block")
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(self.structure))
        if not match or not 0 < int(match.group(1)) < int(match.group(2)):
            raise RecipeError(
                f"structure must be 'm:n' with 0 < m < n, e.g. '2:4'. "
                f"Received: structure={brief(self.structure)}")
        return int(match.group(1)), int(match.group(2))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "PruneStage":
        _check_keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        for key in ("final_sparsity", "initial_sparsity", "end_fraction"):
            if key in data:
                kw[key] = float(_number(data[key], f"{path}.{key}"))
        if "schedule" in data:
            kw["schedule"] = _choice(data["schedule"], SCHEDULES, f"{path}.schedule")
        if "epochs" in data:
            kw["epochs"] = _positive_epochs(data["epochs"], f"{path}.epochs")
        if "frequency" in data:
            kw["frequency"] = int(_number(data["frequency"], f"{path}.frequency", integer=True))
        if data.get("structure") is not None:
            kw["structure"] = _structure(data["structure"], f"{path}.structure")
        kw["learning_rate"] = _optional_lr(data.get("learning_rate"), f"{path}.learning_rate")
        kw["layers"] = LayerSelection.from_dict(data.get("layers"), f"{path}.layers")
        for t in kw["layers"].types:
            if t not in PRUNABLE_TYPES:
                raise _fail(f"{path}.layers.types", f"'{t}' is not a prunable layer type",
                            hint=f"prunable types: {', '.join(PRUNABLE_TYPES)}")
        return _build(cls, kw, path)


def _structure(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    # YAML 1.1 reads an unquoted 2:4 as the base-60 integer 124.
    hint = "quote it: structure: '2:4'" if isinstance(value, int) else None
    raise _fail(path, f"must be a string 'm:n' such as '2:4'. Received: structure={brief(value)}",
                hint=hint)


def _text(value: Any, path: str) -> str:
    """A name-like field: a string (a number is taken as its text)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(path, f"must be a string. Received: {path.rsplit('.', 1)[-1]}={brief(value)}")
    return str(value)


@dataclass(frozen=True)
class QatStage:
    """Quantization-aware training with tfmot's default 8-bit scheme.

    ``preserve_sparsity`` (default: automatic) keeps the zeros of an earlier ``prune``
    stage through QAT (tfmot's prune-preserving scheme).
    """

    kind: str = "qat"
    epochs: int = 1
    learning_rate: float | None = None
    preserve_sparsity: bool | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "epochs", "learning_rate", "preserve_sparsity", "layers")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "QatStage":
        _check_keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        if "epochs" in data:
            kw["epochs"] = _positive_epochs(data["epochs"], f"{path}.epochs")
        kw["learning_rate"] = _optional_lr(data.get("learning_rate"), f"{path}.learning_rate")
        if data.get("preserve_sparsity") is not None:
            if not isinstance(data["preserve_sparsity"], bool):
                raise _fail(f"{path}.preserve_sparsity",
                            f"must be true or false. Received: {brief(data['preserve_sparsity'])}")
            kw["preserve_sparsity"] = data["preserve_sparsity"]
        kw["layers"] = LayerSelection.from_dict(data.get("layers"), f"{path}.layers")
        return _build(cls, kw, path)


@dataclass(frozen=True)
class FinetuneStage:
    """Plain training of the current model (e.g. after a surgery or to recover accuracy)."""

    kind: str = "finetune"
    epochs: int = 1
    learning_rate: float | None = None

    KEYS = ("kind", "epochs", "learning_rate")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "FinetuneStage":
        _check_keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        if "epochs" in data:
            kw["epochs"] = _positive_epochs(data["epochs"], f"{path}.epochs")
        kw["learning_rate"] = _optional_lr(data.get("learning_rate"), f"{path}.learning_rate")
        return _build(cls, kw, path)


#: Stage kinds that can train with a preceding distill stage's loss (``later_stages``).
DISTILLED_KINDS = ("prune", "qat", "finetune")
#: ``{key: (default for student: self, default for a new student)}`` of a distill stage.
DISTILL_DEFAULTS = {"temperature": (2.0, 4.0), "alpha": (0.5, 0.1)}
#: Default learning rate of a distill stage that trains a new student from fresh weights.
NEW_STUDENT_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class WidthStudent:
    """A student derived from the teacher: every Conv/Dense layer's channels times ``width``."""

    width: float

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) \
                or not 0.0 < self.width <= 1.0:
            raise RecipeError(f"student width must be in (0, 1]. "
                              f"Received: width={brief(self.width)}")

    def to_dict(self) -> dict:
        return {"width": self.width}


@dataclass(frozen=True)
class FeaturePair:
    """Intermediate-layer distillation: MSE between a teacher and a student layer's outputs."""

    teacher: str
    student: str
    weight: float = 1.0

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "FeaturePair":
        _check_keys(data, ("teacher", "student", "weight"), path)
        for key in ("teacher", "student"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise _fail(f"{path}.{key}", f"must be a layer name. "
                                             f"Received: {key}={brief(data.get(key))}")
        weight = float(_number(data.get("weight", 1.0), f"{path}.weight"))
        if weight < 0:
            raise _fail(f"{path}.weight", f"must be >= 0. Received: weight={weight}")
        return cls(teacher=data["teacher"], student=data["student"], weight=weight)

    def to_dict(self) -> dict:
        return {"teacher": self.teacher, "student": self.student, "weight": self.weight}


@dataclass(frozen=True)
class Augment:
    """Augmentation of a distill stage's training batches, applied inside the training step
    to the inputs both teacher and student see (Beyer et al. 2022, "consistent teaching").

    Attributes:
        shift: random translation by up to ``shift`` pixels in each direction (reflect-pad,
            then a random crop back to the input size), 0 = off.
        flip: random horizontal flip (half the images).
        mixup: Beta(mixup, mixup) concentration of a per-image mixup with a shuffled copy of
            the batch (labels mixed the same way), 0 = off.
    """

    shift: int = 0
    flip: bool = False
    mixup: float = 0.0

    KEYS = ("shift", "flip", "mixup")

    @property
    def active(self) -> bool:
        return bool(self.shift or self.flip or self.mixup)

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "Augment":
        if not isinstance(data, Mapping):
            raise _fail(path, "must be a mapping {shift, flip, mixup}. "
                              f"Received: augment={brief(data)}")
        _check_keys(data, cls.KEYS, path)
        shift = _number(data.get("shift", 0), f"{path}.shift", integer=True)
        if not 0 <= shift <= 64:
            raise _fail(f"{path}.shift", f"must be in [0, 64] pixels. Received: shift={shift}")
        flip = data.get("flip", False)
        if not isinstance(flip, bool):
            raise _fail(f"{path}.flip", f"must be true or false. Received: flip={brief(flip)}")
        mixup = float(_number(data.get("mixup", 0.0), f"{path}.mixup"))
        if mixup < 0:
            raise _fail(f"{path}.mixup", f"must be >= 0 (0 = off). Received: mixup={mixup:g}")
        return cls(shift=int(shift), flip=flip, mixup=mixup)

    def to_dict(self) -> dict:
        return {"shift": self.shift, "flip": self.flip, "mixup": self.mixup}


@dataclass(frozen=True)
class DistillStage:
    """Knowledge distillation from the original model (the teacher) into a student.

    Attributes:
        student: ``"self"`` (the model being compressed), ``WidthStudent`` (``{width: 0.5}``)
            or a model path / ``module:function``.
        temperature: softmax temperature T of the distillation term, > 0 (default 2 for
            ``self``, 4 for a new student).
        alpha: weight of the label loss: ``alpha * CE + (1 - alpha) * T^2 * KL`` (default 0.5
            for ``self``, 0.1 for a new student). A new student learns most from the teacher's
            soft targets; a ``self`` student is already trained and mostly needs to keep its
            accuracy while pruning (both measured: ``benchmarks/results/distill*.md``).
        epochs: training epochs of this stage (default 0 for ``self``, 5 for a new student).
        later_stages: the kinds of later stages that also train with the distillation loss
            (default prune and finetune; ``true``: prune, qat and finetune; ``false``: none).
            qat is opt-in: measured on Fashion-MNIST, distilling during tfmot's QAT (activation
            ranges start at [-6, 6] and adapt slowly) cost accuracy where prune gained.
        features: intermediate-layer pairs (MSE, with a learned 1x1 projection when the
            channel counts differ).
        augment: optional ``Augment`` (``{shift: 2, flip: true, mixup: 0.2}``) of the stage's
            own training batches, the same augmented view for teacher and student; default
            none. Later stages that distil train without it.
    """

    kind: str = "distill"
    student: str | WidthStudent = "self"
    temperature: float | None = None
    alpha: float | None = None
    epochs: int | None = None
    learning_rate: float | None = None
    later_stages: tuple[str, ...] = ("prune", "finetune")
    features: tuple[FeaturePair, ...] = ()
    augment: Augment | None = None

    KEYS = ("kind", "student", "temperature", "alpha", "epochs", "learning_rate",
            "later_stages", "features", "augment")

    @property
    def new_student(self) -> bool:
        """True when the stage replaces the model with another one (not ``self``)."""
        return self.student != "self"

    def __post_init__(self) -> None:
        for key, (own, new) in DISTILL_DEFAULTS.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, new if self.new_student else own)
        if not self.temperature > 0:
            raise RecipeError(f"temperature must be > 0. Received: temperature={self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise RecipeError(f"alpha must be in [0, 1]. Received: alpha={self.alpha}")
        if self.epochs is None:
            object.__setattr__(self, "epochs", 5 if self.new_student else 0)
        if self.new_student and self.epochs < 1:
            raise RecipeError(f"a distill stage with a new student needs epochs >= 1 to train it. "
                              f"Received: epochs={self.epochs}")
        if self.new_student and self.learning_rate is None:
            # Fresh weights: the fine-tuning rate (training.learning_rate) is too small.
            object.__setattr__(self, "learning_rate", NEW_STUDENT_LEARNING_RATE)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "DistillStage":
        _check_keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        student = data.get("student", "self")
        if isinstance(student, Mapping):
            _check_keys(student, ("width",), f"{path}.student")
            if "width" not in student:
                raise _fail(f"{path}.student", f"a derived student needs 'width'. "
                                               f"Received: student={brief(dict(student))}")
            width = _number(student["width"], f"{path}.student.width")
            try:
                student = WidthStudent(width=float(width))
            except RecipeError as exc:
                raise _fail(f"{path}.student", exc.message) from None
        elif not isinstance(student, str) or not student.strip():
            raise _fail(f"{path}.student", "must be 'self', {width: w}, a model path or "
                                           f"module:function. Received: student={brief(student)}")
        kw["student"] = student
        for key in ("temperature", "alpha"):
            if key in data:
                kw[key] = float(_number(data[key], f"{path}.{key}"))
        if data.get("epochs") is not None:
            kw["epochs"] = _positive_epochs(data["epochs"], f"{path}.epochs")
        kw["learning_rate"] = _optional_lr(data.get("learning_rate"), f"{path}.learning_rate")
        if "later_stages" in data:
            later = data["later_stages"]
            if isinstance(later, bool):
                later = DISTILLED_KINDS if later else ()
            elif isinstance(later, list):
                later = tuple(_choice(k, DISTILLED_KINDS, f"{path}.later_stages[{i}]")
                              for i, k in enumerate(later))
            else:
                raise _fail(f"{path}.later_stages", "must be true, false or a list of stage "
                                                    f"kinds. Received: later_stages={brief(later)}")
            kw["later_stages"] = later
        raw = data.get("features") or []
        if not isinstance(raw, list):
            raise _fail(f"{path}.features", f"must be a list of {{teacher, student, weight}}. "
                                            f"Received: features={brief(raw)}")
        kw["features"] = tuple(FeaturePair.from_dict(f, f"{path}.features[{i}]")
                               for i, f in enumerate(raw))
        if data.get("augment") is not None:
            augment = Augment.from_dict(data["augment"], f"{path}.augment")
            kw["augment"] = augment if augment.active else None
        return _build(cls, kw, path)


StageConfig = PruneStage | QatStage | FinetuneStage | DistillStage
STAGE_CONFIGS: dict[str, type] = {"prune": PruneStage, "qat": QatStage,
                                  "finetune": FinetuneStage, "distill": DistillStage}


@dataclass(frozen=True)
class TargetSpec:
    """One artifact to export: a TFLite format or a device profile's conversion scheme.

    Attributes:
        format: TFLite format (``float32``, ``float16``, ``dynamic``, ``int8``, ``int16x8``).
        io_dtype: input/output dtype for ``int8`` (``int8`` default, ``uint8``).
        name: artifact name (``artifacts/<name>.tflite``); the format or the device id.
        device: the device profile id this artifact is for, if any.
        static_batch: convert with a fixed batch of 1 (Edge TPU needs static shapes).
    """

    format: str
    io_dtype: str | None = None
    name: str = ""
    device: str | None = None
    static_batch: bool = False

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
        if not self.name:
            name = self.device or self.format
            if not self.device and self.io_dtype not in (None, "int8"):
                name = f"{self.format}-{self.io_dtype}io"
            object.__setattr__(self, "name", name)

    @property
    def effective_io_dtype(self) -> str:
        if self.format == "int8":
            return self.io_dtype or "int8"
        return "float32"

    @classmethod
    def for_device(cls, device: str, *, format: str | None = None) -> "TargetSpec":
        """The artifact a device profile needs (its preferred format unless ``format``)."""
        from targets.spec import get_profile

        profile = get_profile(device)
        fmt = format or profile.default_format
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
            _check_keys(data, ("format", "io_dtype", "name", "device"), path)
            name = _text(data["name"], f"{path}.name") if data.get("name") else ""
            if "device" in data:
                fmt = data.get("format")
                if fmt is not None and not isinstance(fmt, str):
                    raise _fail(f"{path}.format", f"must be a format name. Received: "
                                                  f"format={brief(fmt)}")
                spec = cls.for_device(_text(data["device"], f"{path}.device"), format=fmt)
                return dataclasses.replace(spec, name=name) if name else spec
            if "format" not in data:
                raise _fail(path, "a target needs 'format' or 'device'",
                            hint=f"formats: {', '.join(FORMATS)}; devices: edgecompress targets")
            return cls(format=data["format"], io_dtype=data.get("io_dtype"), name=name)
        except (RecipeError, TargetError) as exc:
            if exc.message.startswith(path):
                raise
            raise _fail(path, exc.message, hint=exc.hint) from None

    def to_dict(self) -> dict | str:
        if self.device:
            return self.device if self.name == self.device else {
                "device": self.device, "format": self.format, "name": self.name}
        if self.io_dtype is None and self.name == self.format:
            return self.format
        return {"format": self.format, "io_dtype": self.io_dtype, "name": self.name}


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
        _check_keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        if "batch_size" in data:
            kw["batch_size"] = int(_number(data["batch_size"], f"{path}.batch_size", integer=True))
            if kw["batch_size"] < 1:
                raise _fail(f"{path}.batch_size", f"must be >= 1. Received: {kw['batch_size']}")
        if "learning_rate" in data:
            kw["learning_rate"] = _optional_lr(data["learning_rate"], f"{path}.learning_rate")
        if "validation_fraction" in data:
            v = float(_number(data["validation_fraction"], f"{path}.validation_fraction"))
            if not 0.0 <= v < 1.0:
                raise _fail(f"{path}.validation_fraction", f"must be in [0, 1). Received: {v}")
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
        _check_keys(data, ("samples",), path)
        n = int(_number(data.get("samples", 200), f"{path}.samples", integer=True))
        if n < 1:
            raise _fail(f"{path}.samples", f"must be >= 1. Received: samples={n}")
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
        _check_keys(data, ("warmup", "runs", "threads"), path)
        kw: dict[str, Any] = {}
        for key in ("warmup", "runs", "threads"):
            if data.get(key) is not None:
                kw[key] = int(_number(data[key], f"{path}.{key}", integer=True))
                if kw[key] < (0 if key == "warmup" else 1):
                    raise _fail(f"{path}.{key}", f"must be positive. Received: {key}={kw[key]}")
        return cls(**kw)


@dataclass(frozen=True)
class Recipe:
    """A whole compression recipe: ordered stages, export targets and run settings."""

    name: str
    stages: tuple[StageConfig, ...] = ()
    targets: tuple[TargetSpec, ...] = (TargetSpec("float32"), TargetSpec("int8"))
    version: int = RECIPE_VERSION
    seed: int = 0
    training: TrainingConfig = field(default_factory=TrainingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    KEYS = ("version", "name", "stages", "targets", "seed", "training", "calibration",
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
        if kinds.count("qat") > 1:
            raise RecipeError("stages: at most one qat stage. Received: "
                              f"{kinds.count('qat')} qat stages")
        if kinds.count("distill") > 1:
            raise RecipeError("stages: at most one distill stage. Received: "
                              f"{kinds.count('distill')} distill stages")
        if "distill" in kinds:
            distill = self.stages[kinds.index("distill")]
            before = kinds[:kinds.index("distill")]
            if distill.new_student and any(k in ("prune", "qat") for k in before):
                raise RecipeError(
                    "stages: a distill stage with a new student replaces the model, so it must "
                    f"come before prune and qat. Received stage order: {kinds}",
                    hint="put the distill stage first; use student: self to distil during "
                         "prune/qat")
        if "qat" in kinds:
            after = kinds[kinds.index("qat") + 1:]
            if any(k == "prune" for k in after):
                raise RecipeError(
                    "stages: prune cannot follow qat (quantized weights cannot be re-pruned). "
                    f"Received stage order: {kinds}", hint="put prune before qat")

    @property
    def has_prune(self) -> bool:
        return any(s.kind == "prune" for s in self.stages)

    @classmethod
    def from_dict(cls, data: Any) -> "Recipe":
        """Build a recipe from a parsed YAML/JSON mapping, strictly."""
        if not isinstance(data, Mapping):
            raise RecipeError(f"a recipe must be a mapping at the top level. "
                              f"Received: {type(data).__name__}")
        _check_keys(data, cls.KEYS, "")
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
        _number(seed, "seed", integer=True)
        if not 0 <= seed <= MAX_SEED:
            raise RecipeError(f"seed: must be in [0, {MAX_SEED}]. Received: seed={seed}",
                              hint="numpy and TensorFlow take 32-bit non-negative seeds")
        return cls(
            name=name,
            stages=stages,
            targets=targets,
            version=version,
            seed=int(seed),
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
            "stages": [_stage_to_dict(s) for s in self.stages],
            "targets": [t.to_dict() for t in self.targets],
            "training": dataclasses.asdict(self.training),
            "calibration": dataclasses.asdict(self.calibration),
            "benchmark": dataclasses.asdict(self.benchmark),
        }

    def replace(self, **changes: Any) -> "Recipe":
        return dataclasses.replace(self, **changes)


def _build(cls: type, kw: dict, path: str):
    try:
        return cls(**kw)
    except RecipeError as exc:
        raise _fail(path, exc.message, hint=exc.hint) from None


def _parse_stage(data: Any, path: str) -> StageConfig:
    if not isinstance(data, Mapping):
        raise _fail(path, f"a stage must be a mapping with a 'kind'. Received: {brief(data)}")
    kind = data.get("kind")
    if kind is None:
        raise _fail(path, "a stage needs 'kind'", hint=f"one of {', '.join(STAGE_CONFIGS)}")
    kind = _choice(kind, tuple(STAGE_CONFIGS), f"{path}.kind")
    return STAGE_CONFIGS[kind].from_dict(data, path)


def _stage_to_dict(stage: StageConfig) -> dict:
    out: dict[str, Any] = {}
    for f in fields(stage):
        value = getattr(stage, f.name)
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
        out[f.name] = value
    return out


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
