"""Weight clustering (weight sharing): each selected kernel keeps a few shared values.

Recipe::

    - kind: cluster
      clusters: 16               # shared values per kernel, 2..256
      init: kmeans++             # kmeans++ | linear: how the centroids start
      epochs: 1                  # fine-tuning with the shared centroids (0: cluster only)
      preserve_sparsity: null    # default: true when a prune stage came before
      layers: {exclude: [logits]}

Each selected kernel's weights are grouped into ``clusters`` clusters and every weight is
replaced by its cluster's centroid; fine-tuning then trains the centroids (the weights stay on
them). After ``prune`` the zeros stay zero: zero is a cluster of its own, on top of the
``clusters`` centroids of the non-zero weights. A later ``qat`` keeps the clusters
(cluster-preserving QAT); stages that train plain weights afterwards (``prune``, ``finetune``,
``distill``) would undo the sharing and are refused.

The int8 converter quantizes each output channel with its own scale, so what the file holds is
at most ``clusters`` distinct values (``clusters + 1`` with pruning's zero) per output channel
of each clustered kernel; the run measures it in every ``.tflite`` (``targets.clusters``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from compress.errors import RecipeError
from compress.stages.base import (FIELDS, LayerSelection, StageContext, build, kernel_arrays,
                                  training_fields)
from targets.errors import brief

INITS = ("kmeans++", "linear")
MIN_CLUSTERS, MAX_CLUSTERS = 2, 256
#: stage kinds that may follow a cluster stage (they keep the shared values)
KEEPS_CLUSTERS = ("qat",)


@dataclass(frozen=True)
class ClusterStage:
    """Weight clustering config.

    Attributes:
        clusters: shared values per kernel (non-zero values when zeros are preserved), 2..256.
        init: centroid initialization: ``kmeans++`` (k-means++ seeding refined by k-means) or
            ``linear`` (evenly spaced between the smallest and largest weight).
        epochs: fine-tuning epochs with the shared centroids (0: cluster only).
        preserve_sparsity: keep exact zeros as a cluster of their own (default: automatic,
            true after a prune stage).
        layers: which layers to cluster (name patterns and types, as in ``prune``).
    """

    kind: str = "cluster"
    clusters: int = 16
    init: str = "kmeans++"
    epochs: int = 1
    learning_rate: float | None = None
    preserve_sparsity: bool | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "clusters", "init", "epochs", "learning_rate", "preserve_sparsity", "layers")

    def __post_init__(self) -> None:
        if isinstance(self.clusters, bool) or not isinstance(self.clusters, int) \
                or not MIN_CLUSTERS <= self.clusters <= MAX_CLUSTERS:
            raise RecipeError(
                f"clusters must be an integer in [{MIN_CLUSTERS}, {MAX_CLUSTERS}]. "
                f"Received: clusters={brief(self.clusters)}",
                hint="16 shares a kernel's weights among 16 values (4-bit indices); "
                     "int8 cannot store more than 256 distinct values per channel")
        if self.init not in INITS:
            raise RecipeError(f"init must be one of {', '.join(INITS)}. "
                              f"Received: init={brief(self.init)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "ClusterStage":
        kw = training_fields(cls, data, path)
        if "clusters" in data:
            kw["clusters"] = FIELDS.number(data["clusters"], f"{path}.clusters", integer=True)
        if "init" in data:
            kw["init"] = FIELDS.choice(data["init"], INITS, f"{path}.init")
        if data.get("preserve_sparsity") is not None:
            kw["preserve_sparsity"] = FIELDS.flag(data["preserve_sparsity"],
                                                  f"{path}.preserve_sparsity")
        kw["layers"] = LayerSelection.from_dict(data.get("layers"), f"{path}.layers")
        return build(cls, kw, path)


class Cluster:
    """Clusters the selected kernels through the engine; strips and measures after training."""

    kind = "cluster"
    config_class = ClusterStage

    def __init__(self, config: ClusterStage) -> None:
        self.config = config
        self.clustered: list[str] = []
        self.skipped: list[dict[str, str]] = []
        self.preserve_sparsity = False

    @staticmethod
    def check_order(config: ClusterStage, kinds: list[str], index: int) -> None:
        if "qat" in kinds[:index]:
            raise RecipeError(
                "stages: cluster cannot follow qat (the quantized weights are not clustered "
                f"again). Received stage order: {kinds}", hint="put cluster before qat")
        undo = [k for k in kinds[index + 1:] if k not in KEEPS_CLUSTERS and k != "cluster"]
        if undo:
            raise RecipeError(
                f"stages: {undo[0]} after cluster would train the weights off their shared "
                f"values. Received stage order: {kinds}",
                hint="put prune/finetune/distill before cluster; only qat may follow it "
                     "(cluster-preserving QAT)")

    @staticmethod
    def restore(details: dict, model: Any, engine: Any) -> None:
        """On resume: mark the checkpointed model as clustered again, so a later qat keeps the
        clusters (a saved file holds the shared values, not which layers were clustered)."""
        engine.mark_clustered(model, {name: bool(details["preserve_sparsity"])
                                      for name in details["clustered_layers"]})

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        """The model with the selected kernels clustered (their weights on the centroids)."""
        cfg = self.config
        preserve = cfg.preserve_sparsity
        if preserve is None:  # after prune, zero is a cluster of its own
            preserve = "prune" in ctx.previous_kinds
        self.preserve_sparsity = bool(preserve)
        self.clustered, self.skipped = [], []

        def choose(layer: Any) -> bool:
            cls = type(layer).__name__
            if not ctx.engine.clusterable(layer):
                if layer.weights and cls != "BatchNormalization":
                    self.skipped.append({"layer": layer.name,
                                         "reason": f"{cls} is not clusterable on the "
                                                   f"{ctx.engine.name} engine"})
                return False
            if not cfg.layers.matches(layer.name, cls):
                self.skipped.append({"layer": layer.name, "reason": "not selected by layers:"})
                return False
            self.clustered.append(layer.name)
            return True

        clustered = ctx.engine.cluster(model, choose, clusters=cfg.clusters, init=cfg.init,
                                       preserve_sparsity=self.preserve_sparsity, seed=ctx.seed)
        if not self.clustered:
            raise RecipeError(
                "cluster: no layer was selected for clustering. Received layers: "
                f"{cfg.layers.to_dict()}",
                hint="Conv and Dense layers with a kernel cluster; check include/exclude/types")
        return clustered

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        """Strip the clustering; report the distinct values each clustered kernel holds."""
        stripped = ctx.engine.strip_clustering(model)
        arrays = {k: v for k, v in kernel_arrays(stripped).items()
                  if k.split("/")[0] in self.clustered}
        per_kernel = {k: int(np.unique(v).size) for k, v in arrays.items()}
        details = {
            "clusters": self.config.clusters,
            "init": self.config.init,
            "preserve_sparsity": self.preserve_sparsity,
            "clustered_layers": self.clustered,
            "skipped_layers": self.skipped,
            "distinct_values_per_kernel": per_kernel,
            "max_distinct_values": max(per_kernel.values(), default=0),
        }
        return stripped, details
