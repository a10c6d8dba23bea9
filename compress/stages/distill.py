"""Knowledge distillation from the original model (the teacher) into a student.

Recipe::

    stages:
      - kind: distill
        student: {width: 0.5}      # or: self | path/to/student.keras | module:function
        temperature: 4             # T > 0; default 4 for a new student, 2 for self
        alpha: 0.1                 # alpha * CE + (1 - alpha) * T^2 * KL; default 0.1 / 0.5
        epochs: 5                  # default: 5 for a new student, 0 for self
        features: [{teacher: conv2, student: conv2, weight: 1.0}]   # optional, MSE
        augment: {shift: 2, flip: true, mixup: 0.2}   # optional, this stage's batches only
      - kind: prune
        final_sparsity: 0.75
      - kind: qat

The teacher is always the model the session started from (before any stage), run with
``training=False``. What the stage does depends on the student:

* ``self``: the stage's own ``epochs`` (default 0) fine-tune the current model with the
  distillation loss, and the later stages named in ``later_stages`` (default ``[prune,
  finetune, prune_channels]``) fine-tune with it instead of labels alone, so
  ``[distill(self), prune, qat]`` is "prune with distillation, then QAT", and
  ``[distill(self), prune_channels, qat]`` recovers from the channel cut against the teacher.
* ``{width: w}``: a new student with the teacher's topology, every Conv/Dense layer's
  channels times ``w`` (multiples of 8, min 8; classifier and depthwise layers kept), fresh
  weights, trained for ``epochs`` (learning rate 1e-3 unless ``learning_rate``, cosine-decayed
  per epoch). It replaces the model: later stages prune / quantize / export the student,
  distilling in the stages named in ``later_stages``.
* a path or ``module:function``: the same with the user's own student.

``later_stages: true`` adds ``qat``. Measured on Fashion-MNIST (``benchmarks/results/
distill.md``), distilling during one epoch of tfmot QAT cost 0.2-0.7 pp against plain QAT
while distilling during pruning gained, hence the default. When a QAT student distils, the
teacher's logits are clipped to the student's output-quantizer range (what its int8 output
can represent).

``augment`` (default none) augments each of the stage's own training batches inside the
training step, and teacher and student see the same view ("consistent teaching", Beyer et
al. 2022): random shifts of up to ``shift`` pixels, horizontal flips, per-image mixup with
Beta(``mixup``, ``mixup``) weights (labels mixed alike). Draws are seeded by the stage's seed
and the step count. With ``alpha: 1`` it is plain augmented label training: the fair control
arm of a distillation comparison.

The stage report records the student, teacher and student parameters and MACs (of a float32
TFLite conversion), the scaled layers and the loss curve (``history``: ``loss``,
``student_loss``, ``distillation_loss``, ``accuracy``). Later stages that distil record the
setting under ``distillation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from compress.errors import CompressError, RecipeError
from compress.stages.base import FIELDS, StageContext, build, training_fields
from targets.errors import brief

#: Stage kinds that can train with a preceding distill stage's loss (``later_stages``).
DISTILLED_KINDS = ("prune", "qat", "finetune", "prune_channels")
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
        FIELDS.keys(data, ("teacher", "student", "weight"), path)
        for key in ("teacher", "student"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise FIELDS.fail(f"{path}.{key}", f"must be a layer name. "
                                             f"Received: {key}={brief(data.get(key))}")
        weight = float(FIELDS.number(data.get("weight", 1.0), f"{path}.weight"))
        if weight < 0:
            raise FIELDS.fail(f"{path}.weight", f"must be >= 0. Received: weight={weight}")
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
            raise FIELDS.fail(path, "must be a mapping {shift, flip, mixup}. "
                              f"Received: augment={brief(data)}")
        FIELDS.keys(data, cls.KEYS, path)
        shift = FIELDS.number(data.get("shift", 0), f"{path}.shift", integer=True)
        if not 0 <= shift <= 64:
            raise FIELDS.fail(f"{path}.shift", f"must be in [0, 64] pixels. Received: shift={shift}")
        flip = data.get("flip", False)
        if not isinstance(flip, bool):
            raise FIELDS.fail(f"{path}.flip", f"must be true or false. Received: flip={brief(flip)}")
        mixup = float(FIELDS.number(data.get("mixup", 0.0), f"{path}.mixup"))
        if mixup < 0:
            raise FIELDS.fail(f"{path}.mixup", f"must be >= 0 (0 = off). Received: mixup={mixup:g}")
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
            (default prune, finetune and prune_channels; ``true``: those and qat; ``false``:
            none).
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
    later_stages: tuple[str, ...] = ("prune", "finetune", "prune_channels")
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
        kw = training_fields(cls, data, path, null_epochs=True)
        student = data.get("student", "self")
        if isinstance(student, Mapping):
            FIELDS.keys(student, ("width",), f"{path}.student")
            if "width" not in student:
                raise FIELDS.fail(f"{path}.student", f"a derived student needs 'width'. "
                                               f"Received: student={brief(dict(student))}")
            width = FIELDS.number(student["width"], f"{path}.student.width")
            try:
                student = WidthStudent(width=float(width))
            except RecipeError as exc:
                raise FIELDS.fail(f"{path}.student", exc.message) from None
        elif not isinstance(student, str) or not student.strip():
            raise FIELDS.fail(f"{path}.student", "must be 'self', {width: w}, a model path or "
                                           f"module:function. Received: student={brief(student)}")
        kw["student"] = student
        for key in ("temperature", "alpha"):
            if key in data:
                kw[key] = float(FIELDS.number(data[key], f"{path}.{key}"))
        if "later_stages" in data:
            later = data["later_stages"]
            if isinstance(later, bool):
                later = DISTILLED_KINDS if later else ()
            elif isinstance(later, list):
                later = tuple(FIELDS.choice(k, DISTILLED_KINDS, f"{path}.later_stages[{i}]")
                              for i, k in enumerate(later))
            else:
                raise FIELDS.fail(f"{path}.later_stages", "must be true, false or a list of stage "
                                                    f"kinds. Received: later_stages={brief(later)}")
            kw["later_stages"] = later
        raw = data.get("features") or []
        if not isinstance(raw, list):
            raise FIELDS.fail(f"{path}.features", f"must be a list of {{teacher, student, weight}}. "
                                            f"Received: features={brief(raw)}")
        kw["features"] = tuple(FeaturePair.from_dict(f, f"{path}.features[{i}]")
                               for i, f in enumerate(raw))
        if data.get("augment") is not None:
            augment = Augment.from_dict(data["augment"], f"{path}.augment")
            kw["augment"] = augment if augment.active else None
        return build(cls, kw, path)



class Distill:
    """Builds the student, wraps it with its teacher in a ``Distiller``; unwraps at the end."""

    kind = "distill"
    config_class = DistillStage

    def __init__(self, config: DistillStage) -> None:
        self.config = config
        self.teacher: Any = None
        self.scaled: dict[str, tuple[int, int]] = {}

    @staticmethod
    def check_order(config: DistillStage, kinds: list[str], index: int) -> None:
        if kinds.count("distill") > 1:
            raise RecipeError("stages: at most one distill stage. Received: "
                              f"{kinds.count('distill')} distill stages")
        if config.new_student and any(k in ("prune", "qat") for k in kinds[:index]):
            raise RecipeError(
                "stages: a distill stage with a new student replaces the model, so it must "
                f"come before prune and qat. Received stage order: {kinds}",
                hint="put the distill stage first; use student: self to distil during "
                     "prune/qat")

    @staticmethod
    def wrap_later(config: DistillStage, kind: str, ctx: StageContext) -> Any:
        """For a later stage named in ``later_stages``: a function wrapping its model with
        the teacher (so it trains with the distillation loss); None for other stages."""
        if kind not in config.later_stages:
            return None
        teacher = ctx.teacher()
        return lambda model: wrap(model, teacher, config, engine=ctx.engine)

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        cfg, engine = self.config, ctx.engine
        if ctx.teacher is None:
            raise CompressError("the distill stage needs the original model as its teacher",
                                hint="internal error: please report it with --debug")
        self.teacher = ctx.teacher()
        student = model
        if isinstance(cfg.student, WidthStudent):
            engine.set_seed(ctx.seed)  # the fresh weights depend on the recipe's seed only
            student, self.scaled = engine.width_student(self.teacher, cfg.student.width)
        elif cfg.new_student:
            engine.set_seed(ctx.seed)
            student = engine.load_student(cfg.student)
        augment = cfg.augment.to_dict() if cfg.augment is not None else None
        return wrap(student, self.teacher, cfg, engine=engine, augment=augment, seed=ctx.seed)

    def callbacks(self, ctx: StageContext) -> list:
        """A new student (trained from scratch) gets a per-epoch cosine learning-rate decay."""
        if not self.config.new_student or self.config.epochs < 2:
            return []
        return [ctx.engine.cosine_decay(self.config.epochs)]

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        from compress import models

        engine = ctx.engine
        student, distiller = engine.unwrap_distiller(model)
        cfg = self.config
        teacher_macs = engine.float32_macs(self.teacher)
        details = {
            "student": describe_student(cfg.student),
            "teacher_params": models.count_params(self.teacher),
            "student_params": models.count_params(student),
            "teacher_macs": teacher_macs,
            # MACs follow the shapes, which `self` shares with the teacher (zeros included).
            "student_macs": engine.float32_macs(student) if cfg.new_student else teacher_macs,
            "later_stages": list(cfg.later_stages),
        }
        if self.scaled:
            details["scaled_layers"] = {k: list(v) for k, v in self.scaled.items()}
        if distiller is not None:
            details.update(distiller.describe())
        return student, details


def describe_student(student: Any) -> str:
    if isinstance(student, WidthStudent):
        return f"width={student.width:g}"
    return str(student)


def wrap(student: Any, teacher: Any, cfg: DistillStage, *, engine: Any,
         augment: dict | None = None, seed: int = 0) -> Any:
    """The engine's ``Distiller`` for ``student`` with the stage's loss settings (``augment``:
    the distill stage's own batches only; later stages that distil pass none)."""
    return engine.distiller(student, teacher, temperature=cfg.temperature, alpha=cfg.alpha,
                            features=[(f.teacher, f.student, f.weight) for f in cfg.features],
                            augment=augment, seed=seed)
