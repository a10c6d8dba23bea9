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
  finetune]``) fine-tune with it instead of labels alone, so ``[distill(self), prune, qat]``
  is "prune with distillation, then QAT".
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

from typing import Any, Sequence

from compress import _keras
from compress.engines.distiller import Distiller, float32_macs, load_student, scale_width
from compress.errors import CompressError
from compress.recipe import DistillStage, WidthStudent
from compress.stages.base import StageContext


class Distill:
    """Builds the student, wraps it with its teacher in a ``Distiller``; unwraps at the end."""

    def __init__(self, config: DistillStage, *, teacher: Any = None) -> None:
        if teacher is None:
            raise CompressError("the distill stage needs the original model as its teacher",
                                hint="internal error: please report it with --debug")
        self.config = config
        self.teacher = teacher
        self.scaled: dict[str, tuple[int, int]] = {}

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        cfg = self.config
        student = model
        if isinstance(cfg.student, WidthStudent):
            _keras.set_seed(ctx.seed)  # the fresh weights depend on the recipe's seed only
            student = scale_width(self.teacher, cfg.student.width)
            self.scaled = getattr(student, "_edgecompress_scaled", {})
        elif cfg.new_student:
            _keras.set_seed(ctx.seed)
            student = load_student(cfg.student)
        augment = cfg.augment.to_dict() if cfg.augment is not None else None
        return wrap(student, self.teacher, cfg, augment=augment, seed=ctx.seed)

    def callbacks(self, ctx: StageContext) -> list:
        """A new student (trained from scratch) gets a per-epoch cosine learning-rate decay."""
        if not self.config.new_student or self.config.epochs < 2:
            return []
        return [cosine_decay(self.config.epochs)]

    def hooks_ran(self, model: Any) -> bool:
        return True

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        from compress import models

        distiller = model if isinstance(model, Distiller) else None
        student = distiller.student if distiller is not None else model
        cfg = self.config
        teacher_macs = float32_macs(self.teacher)
        details = {
            "student": describe_student(cfg.student),
            "teacher_params": models.count_params(self.teacher),
            "student_params": models.count_params(student),
            "teacher_macs": teacher_macs,
            # MACs follow the shapes, which `self` shares with the teacher (zeros included).
            "student_macs": float32_macs(student) if cfg.new_student else teacher_macs,
            "later_stages": list(cfg.later_stages),
        }
        if self.scaled:
            details["scaled_layers"] = {k: list(v) for k, v in self.scaled.items()}
        if distiller is not None:
            details.update(distiller.describe())
        return student, details


def cosine_decay(epochs: int) -> Any:
    """Scales the compiled learning rate by ``0.5 * (1 + cos(pi * epoch / epochs))``."""
    import math

    keras = _keras.keras

    class CosineDecay(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.base = float(keras.backend.get_value(self.model.optimizer.learning_rate))

        def on_epoch_begin(self, epoch, logs=None):
            factor = 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))
            keras.backend.set_value(self.model.optimizer.learning_rate, self.base * factor)

        def on_train_end(self, logs=None):
            keras.backend.set_value(self.model.optimizer.learning_rate, self.base)

    return CosineDecay()


def describe_student(student: Any) -> str:
    if isinstance(student, WidthStudent):
        return f"width={student.width:g}"
    return str(student)


def wrap(student: Any, teacher: Any, cfg: DistillStage, *, augment: dict | None = None,
         seed: int = 0) -> Distiller:
    """The ``Distiller`` for ``student`` with the stage's loss settings (``augment``: the
    distill stage's own batches only; later stages that distil pass none)."""
    return Distiller(student, teacher, temperature=cfg.temperature, alpha=cfg.alpha,
                     features=[(f.teacher, f.student, f.weight) for f in cfg.features],
                     augment=augment, seed=seed)


def active_distillation(previous: Sequence[Any], kind: str) -> DistillStage | None:
    """The earlier distill stage whose loss a ``kind`` stage trains with, if any."""
    for cfg in previous:
        if cfg.kind == "distill" and kind in cfg.later_stages:
            return cfg
    return None


def unwrap(model: Any) -> Any:
    """The student inside a ``Distiller`` (or ``model`` itself)."""
    return model.student if isinstance(model, Distiller) else model
