"""Weight clustering on the keras3 engine: Keras 3 models as they are, no wrappers, no tfmot.

Like the engine's pruning masks, clustering lives on the kernel variables: each clustered
kernel gets a fixed assignment of its weights to clusters (an int32 variable) and a constraint
the Keras 3 optimizer applies after every update, which moves each weight to its cluster's
mean. So the weights stay on shared values while fine-tuning trains those values: each
centroid moves by the mean of its weights' updates (tfmot's average gradient aggregation,
Deep Compression's fixed assignment). With ``preserve_sparsity`` the exact zeros form a
cluster of their own that stays at zero.

Centroids start from k-means++ seeding refined by Lloyd's k-means (``kmeans++``) or evenly
spaced between the smallest and largest weight (``linear``), per kernel, over its non-zero
weights when zeros are preserved.

Cluster-preserving QAT: ``keep_clusters`` puts the same constraint on the QAT copy of a
clustered model (its assignment read back from the shared values), so the float weights under
the fake quantizer stay clustered; ``release`` removes it when QAT is finalized. The int8
grid of one output channel then holds at most one value per cluster.

The functions taking ``engine`` first are bound as ``Keras3Engine`` methods.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from compress.stages.base import KERNEL_ATTRS

_PLAN = "_edgecompress_clustering"      # on a model being clustered (the stage's training)
_CLUSTERED = "_edgecompress_clustered"  # on a stripped clustered model: {layer: preserve zeros}
_KEPT = "_edgecompress_qat_clusters"    # on a QAT model whose clusters are kept
#: k-means++ seeds on at most this many weights of a kernel (Lloyd's refinement uses all)
SEED_SAMPLE = 20_000
LLOYD_ITERATIONS = 30


# -- engine methods ----------------------------------------------------------------------------

def clusterable(engine: Any, layer: Any) -> bool:
    """Any layer that owns a trainable kernel (built-in or custom), not a model of its own."""
    return not isinstance(layer, keras.Model) and bool(kernels(layer))


def cluster(engine: Any, model: Any, choose: Callable[[Any], bool], *, clusters: int,
            init: str, preserve_sparsity: bool, seed: int) -> Any:
    """Cluster the kernels of the layers ``choose`` accepts; the model itself is kept."""
    rng = np.random.default_rng(seed)
    plan = _Clusters()
    for layer in engine.layers(model):
        if not choose(layer):
            continue
        for var in kernels(layer):
            w = np.asarray(var.numpy())
            ids, n = assign(w, clusters, init=init, preserve_zeros=preserve_sparsity, rng=rng)
            plan.add(var, ids, n, zero_cluster=preserve_sparsity, layer=layer.name)
    object.__setattr__(model, _PLAN, plan)
    return model


def strip_clustering(engine: Any, model: Any) -> Any:
    """Weights on their centroids a last time, the constraints removed; the model remembers
    which layers were clustered (so a later QAT keeps them)."""
    plan = getattr(model, _PLAN, None)
    if plan is not None:
        plan.finish()
        object.__delattr__(model, _PLAN)
        mark_clustered(engine, model, plan.layers)
    return model


def mark_clustered(engine: Any, model: Any, layers: dict[str, bool]) -> None:
    """Remember which layers of ``model`` hold clustered kernels (layer name -> zeros
    preserved), so a later QAT keeps them (``keep_clusters``)."""
    object.__setattr__(model, _CLUSTERED, dict(layers))


def keep_clusters(source: Any, quantized: Any, layers: list) -> None:
    """Cluster-preserving QAT: the QAT copy ``quantized`` of a clustered ``source`` keeps each
    clustered kernel on its shared values (no-op for a model that was not clustered).

    ``layers``: the copy's leaf layers. The assignment is read back from the kernel's values
    (a clustered kernel holds exactly its centroids).
    """
    clustered = getattr(source, _CLUSTERED, None)
    if not clustered:
        return
    plan = _Clusters()
    for layer in layers:
        if layer.name not in clustered:
            continue
        for var in kernels(layer):
            values, ids = np.unique(np.asarray(var.numpy()), return_inverse=True)
            zero = clustered[layer.name] and bool(np.any(values == 0))
            if zero:  # the zero cluster goes last, fixed at zero
                order = np.concatenate([np.flatnonzero(values != 0), np.flatnonzero(values == 0)])
                ids = np.argsort(order)[ids]
            plan.add(var, ids.reshape(var.shape).astype("int32"), len(values) - int(zero),
                     zero_cluster=zero, layer=layer.name)
    object.__setattr__(quantized, _KEPT, plan)
    object.__setattr__(quantized, _CLUSTERED, clustered)


def release(quantized: Any) -> None:
    """Remove the cluster-preserving constraints of a QAT model (``keep_clusters``)."""
    plan = getattr(quantized, _KEPT, None)
    if plan is not None:
        plan.finish()
        object.__delattr__(quantized, _KEPT)


# -- the assignment ----------------------------------------------------------------------------

def assign(w: np.ndarray, clusters: int, *, init: str, preserve_zeros: bool,
           rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Each weight's cluster index (int32, ``w``'s shape) and the number of value clusters.

    With ``preserve_zeros`` exact zeros get index ``n`` (the zero cluster after the ``n``
    value clusters). A kernel with at most ``clusters`` distinct values keeps them.
    """
    flat = w.ravel().astype("float64")
    live = flat != 0 if preserve_zeros else np.ones(flat.shape, dtype=bool)
    values = flat[live]
    unique = np.unique(values)
    if unique.size <= clusters:
        centroids = unique
    elif init == "linear":
        centroids = np.linspace(values.min(), values.max(), clusters)
    else:
        centroids = _kmeans(values, _kmeans_pp(values, clusters, rng))
    ids = np.full(flat.shape, len(centroids), dtype="int32")
    if values.size:
        ids[live] = _nearest(values, centroids)
    # empty clusters are dropped (and the indices renumbered)
    used = np.unique(ids[live])
    remap = np.full(len(centroids) + 1, len(used), dtype="int32")
    remap[used] = np.arange(len(used), dtype="int32")
    return remap[ids].reshape(w.shape), len(used)


def _nearest(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    order = np.argsort(centroids)
    sorted_c = centroids[order]
    edges = (sorted_c[1:] + sorted_c[:-1]) / 2
    return order[np.searchsorted(edges, values)].astype("int32")


def _kmeans_pp(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (D^2 sampling) on a sample of the values."""
    sample = values if values.size <= SEED_SAMPLE else rng.choice(values, SEED_SAMPLE,
                                                                 replace=False)
    centroids = [sample[rng.integers(sample.size)]]
    d2 = (sample - centroids[0]) ** 2
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.integers(sample.size) if total <= 0 else rng.choice(sample.size,
                                                                        p=d2 / total)
        centroids.append(sample[pick])
        d2 = np.minimum(d2, (sample - sample[pick]) ** 2)
    return np.asarray(centroids)


def _kmeans(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Lloyd's iterations in one dimension (an empty cluster keeps its centroid)."""
    for _ in range(LLOYD_ITERATIONS):
        ids = _nearest(values, centroids)
        counts = np.bincount(ids, minlength=len(centroids))
        sums = np.bincount(ids, weights=values, minlength=len(centroids))
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(new, centroids, rtol=0, atol=1e-9):
            return new
        centroids = new
    return centroids


# -- constraints -------------------------------------------------------------------------------

class _ClusterConstraint(keras.constraints.Constraint):
    """Each weight becomes the mean of its cluster (the zero cluster: zero); applied by the
    optimizer after each update, after any earlier constraint."""

    def __init__(self, ids: Any, counts: np.ndarray, keep: np.ndarray, previous: Any) -> None:
        self.ids = ids
        self.counts = counts
        self.keep = keep
        self.previous = previous

    def __call__(self, w: Any) -> Any:
        if self.previous is not None:
            w = self.previous(w)
        ops = keras.ops
        flat = ops.reshape(w, (-1,))
        sums = ops.segment_sum(flat, self.ids, num_segments=len(self.counts))
        means = sums / ops.convert_to_tensor(self.counts, dtype=w.dtype) \
            * ops.convert_to_tensor(self.keep, dtype=w.dtype)
        return ops.reshape(ops.take(means, self.ids), ops.shape(w))


class _Clusters:
    """The cluster assignments of one model's kernels and the constraints that keep them."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, _ClusterConstraint, Any]] = []  # (kernel, ours, previous)
        self.layers: dict[str, bool] = {}  # clustered layer -> zeros preserved

    def add(self, var: Any, ids: np.ndarray, n: int, *, zero_cluster: bool, layer: str) -> None:
        """Constrain ``var`` to ``n`` value clusters (+ the zero cluster, index ``n``)."""
        flat = ids.reshape(-1).astype("int32")
        counts = np.bincount(flat, minlength=n + 1).astype("float32")
        keep = np.ones(n + 1, dtype="float32")
        if zero_cluster:
            keep[n] = 0.0
        ids_var = keras.Variable(flat, trainable=False, dtype="int32",
                                 name=f"{layer}_cluster_ids")
        ours = _ClusterConstraint(ids_var, np.maximum(counts, 1.0), keep, var.constraint)
        self.entries.append((var, ours, var.constraint))
        var.constraint = ours
        var.assign(ours(var.value))  # on the centroids from the start
        self.layers[layer] = self.layers.get(layer, False) or zero_cluster

    def finish(self) -> None:
        for var, ours, previous in self.entries:
            var.assign(ours(var.value))
            var.constraint = previous


def kernels(layer: Any) -> list:
    """The layer's trainable kernels, found by variable name (a QAT-swapped class's ``kernel``
    property returns a tensor, not the variable)."""
    return [v for v in layer.trainable_variables if v.name in KERNEL_ATTRS]
