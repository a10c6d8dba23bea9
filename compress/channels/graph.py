"""The channel graph of a Keras model: which output channels are coupled and must be cut together.

Read from the model's own config (``get_config``: the same for Keras 3 and tf_keras, apart
from how a node lists its inputs) and the live layers (weights, tensor shapes). Every tensor's
last axis is a *layout*: a sequence of channel *spaces* (one per ``Concatenate`` input), repeated
``repeat`` times after a ``Flatten`` (channel fastest). Spaces are merged with a union-find:

* a Conv/Dense/SeparableConv/Conv-transpose layer starts a new space (its filters);
* BatchNormalization, a depthwise convolution with ``depth_multiplier: 1``, element-wise
  activations, dropout, padding, cropping, upsampling and (global) pooling pass the space on;
* ``Add``/``Subtract``/``Multiply``/``Average``/``Maximum``/``Minimum`` merge their inputs'
  spaces (every member of a residual group keeps the same channels);
* ``Concatenate`` on the channel axis joins its inputs' layouts; ``Flatten`` repeats one;
* nested models are walked as part of the graph (their layers are named ``outer/inner``).

A space is *fixed* (never cut) when it reaches a model input or output, a layer this module
does not know, a channels-first layer, grouped convolutions, or a depthwise multiplier > 1;
the first reason is kept for the report. What is left are the *groups*: the prunable spaces,
each with the layers that produce it (their filters) and the layers that consume it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from compress.errors import UnsupportedLayerError

#: layers whose output channels are a new space: config key of their channel count
PRODUCERS = {"Conv1D": "filters", "Conv2D": "filters", "Conv3D": "filters",
             "SeparableConv1D": "filters", "SeparableConv2D": "filters",
             "Conv1DTranspose": "filters", "Conv2DTranspose": "filters",
             "Conv3DTranspose": "filters", "Dense": "units"}
#: layers with per-channel weights that pass the space on
PASSTHROUGH_WEIGHTED = ("BatchNormalization", "DepthwiseConv1D", "DepthwiseConv2D", "PReLU")
#: weight-free layers that act on each channel alone
PASSTHROUGH = ("ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout", "SpatialDropout1D",
               "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
               "AlphaDropout", "ActivityRegularization", "Identity", "MaxPooling1D",
               "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
               "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
               "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
               "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
               "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
               "UpSampling3D", "Activation", "Rescaling")
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
#: merges and pools the TFLite MAC count includes (``targets.tflite_graph``)
_COUNTED_ELEMENTWISE = ("Add", "Subtract", "Multiply")
_COUNTED_POOLS = ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
#: activations that mix channels (a zero channel still changes the others)
_MIXING_ACTIVATIONS = ("softmax", "log_softmax")


@dataclass(frozen=True)
class Layout:
    """The channel axis of a tensor: ``segments`` (space ids) concatenated, ``repeat`` times."""

    segments: tuple[int, ...]
    repeat: int = 1


@dataclass
class LayerUse:
    """What the cut must do to one layer.

    Attributes:
        path: the layer's path (``outer/inner`` inside nested models).
        class_name: its class.
        role: ``producer`` (new output space), ``passthrough`` (per-channel weights),
            ``other`` (weights copied unchanged).
        inputs: the layout of its (first) input.
        output: its output space (producers and pass-through layers).
        mac_coef: MACs per (input channel x output channel) for producers, per channel for
            pass-through and counted element-wise layers, summed over its calls.
        depthwise_coef: MACs per input channel of a SeparableConv's depthwise half.
        multiplier: a SeparableConv's depth multiplier.
        fixed_macs: MACs of a layer whose channels never change.
    """

    path: str
    class_name: str
    role: str
    inputs: Layout | None = None
    output: int | None = None
    mac_coef: float = 0.0
    depthwise_coef: float = 0.0
    multiplier: int = 1
    fixed_macs: float = 0.0


@dataclass
class Group:
    """A prunable set of coupled channels: cut together in every member."""

    id: int
    size: int
    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    passthrough: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Named by its first producer (``+N`` when a residual group has more)."""
        more = f" +{len(self.producers) - 1}" if len(self.producers) > 1 else ""
        return f"{self.producers[0]}{more}"


class ChannelGraph:
    """Spaces, their groups, and each layer's use, for one model (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._parent: list[int] = []
        self._size: list[int] = []
        self._fixed: dict[int, str] = {}
        self._space_of: dict[str, int] = {}  # layer path -> its output space
        self.uses: dict[str, LayerUse] = {}
        self.layers: dict[str, Any] = {}  # path -> live layer
        self.configs: dict[str, dict] = {}  # path -> the layer's entry in the (copied) config
        self.config: dict = {}
        #: input layer path (``scope/name``; ``scope/__input__`` for a Sequential) -> layout
        self.inputs: dict[str, Layout] = {}
        self.groups: list[Group] = []

    # -- union-find ----------------------------------------------------------------------
    def new_space(self, size: int, fixed: str | None = None) -> int:
        self._parent.append(len(self._parent))
        self._size.append(int(size))
        sid = len(self._parent) - 1
        if fixed:
            self._fixed[sid] = fixed
        return sid

    def root(self, sid: int) -> int:
        while self._parent[sid] != sid:
            self._parent[sid] = self._parent[self._parent[sid]]
            sid = self._parent[sid]
        return sid

    def union(self, a: int, b: int, where: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return
        if self._size[ra] != self._size[rb]:
            self.fix_space(ra, f"{where} joins {self._size[ra]} and {self._size[rb]} channels")
            self.fix_space(rb, f"{where} joins {self._size[ra]} and {self._size[rb]} channels")
        reason = self._fixed.get(ra) or self._fixed.get(rb)
        self._parent[rb] = ra
        if reason:
            self._fixed[ra] = reason

    def fix_space(self, sid: int, reason: str) -> None:
        r = self.root(sid)
        self._fixed.setdefault(r, reason)

    def fix(self, layout: Layout, reason: str) -> None:
        for s in layout.segments:
            self.fix_space(s, reason)

    def size(self, sid: int) -> int:
        return self._size[self.root(sid)]

    def fixed_reason(self, sid: int) -> str | None:
        return self._fixed.get(self.root(sid))

    # -- positions -----------------------------------------------------------------------
    def positions(self, layout: Layout, keep: dict[int, np.ndarray]) -> np.ndarray:
        """Indices along a tensor's channel axis that survive ``keep`` (root -> kept indices)."""
        per: list[np.ndarray] = []
        offset = 0
        for s in layout.segments:
            r = self.root(s)
            kept = keep.get(r)
            idx = np.arange(self._size[r]) if kept is None else np.asarray(kept)
            per.append(idx + offset)
            offset += self._size[r]
        block = np.concatenate(per) if per else np.zeros(0, dtype=int)
        return np.concatenate([block + r * offset for r in range(layout.repeat)]).astype(int)

    def kept_width(self, layout: Layout, counts: dict[int, int]) -> int:
        return sum(counts.get(self.root(s), self._size[self.root(s)])
                   for s in layout.segments) * layout.repeat

    # -- groups ------------------------------------------------------------------------
    def fixed_spaces(self) -> dict[str, str]:
        """``{producer path: why its filters cannot be cut}`` for producers of fixed spaces."""
        out = {}
        for path, use in self.uses.items():
            if use.role == "producer" and self.fixed_reason(use.output):
                out[path] = self.fixed_reason(use.output)
        return out

    def _collect_groups(self) -> None:
        by_root: dict[int, Group] = {}
        for path, use in self.uses.items():
            if use.role == "producer":
                r = self.root(use.output)
                if r in self._fixed:
                    continue
                group = by_root.setdefault(r, Group(id=r, size=self._size[r]))
                group.producers.append(path)
        for path, use in self.uses.items():
            if use.role == "producer" and use.inputs is not None:
                for s in use.inputs.segments:
                    if self.root(s) in by_root and path not in by_root[self.root(s)].consumers:
                        by_root[self.root(s)].consumers.append(path)
            elif use.role == "passthrough":
                for s in use.inputs.segments:
                    if self.root(s) in by_root and path not in by_root[self.root(s)].passthrough:
                        by_root[self.root(s)].passthrough.append(path)
        self.groups = sorted(by_root.values(), key=lambda g: list(self.uses).index(g.producers[0]))


# -- building -------------------------------------------------------------------------------

def analyze(model: Any) -> ChannelGraph:
    """The channel graph of a Functional or Sequential model (nested models included).

    Raises:
        UnsupportedLayerError: a subclassed model (its graph is code, not config).
    """
    import copy

    if not _is_graph_model(model):
        raise UnsupportedLayerError(
            f"channel pruning needs the model's layer graph, and {type(model).__module__}."
            f"{type(model).__name__} '{model.name}' is a subclassed model (its graph is in "
            "its call method). Received: a subclassed model",
            hint="rebuild it with the Functional or Sequential API (same layers, same "
                 "weights), or use kind: prune (magnitude pruning works on any model)")
    try:
        model_inputs = _model_inputs(model)
    except (AttributeError, ValueError):
        model_inputs = []
    if not model_inputs:
        raise UnsupportedLayerError(
            f"channel pruning needs a built model with known inputs. Received: "
            f"{type(model).__name__} '{model.name}' without an input shape",
            hint="give the model its input (keras.Input(shape)) or call it once on data")
    graph = ChannelGraph(model)
    graph.config = copy.deepcopy(model.get_config())
    inputs = [graph.new_space(_last_dim(t), fixed="model input") for t in model_inputs]
    outs = _walk(graph, model, graph.config, "", [Layout((s,)) for s in inputs])
    for layout in outs:
        graph.fix(layout, "model output")
    graph._collect_groups()
    return graph


def _is_graph_model(model: Any) -> bool:
    if type(model).__name__ == "Sequential":
        return True
    return bool(getattr(model, "_is_graph_network", False)) or \
        type(model).__name__ == "Functional"


def _model_inputs(model: Any) -> list:
    inputs = model.inputs
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _last_dim(tensor: Any) -> int:
    shape = tuple(tensor.shape)
    return int(shape[-1]) if shape and shape[-1] is not None else 0


def _entries(model: Any, config: dict) -> Iterator[tuple[str, dict, list[list[tuple]]]]:
    """``(name, entry, calls)`` for each layer of a model config; ``calls``: per call, the
    ``(layer, node, tensor)`` of each input. Sequential configs are chained."""
    layers = config["layers"]
    if "input_layers" in config or any("inbound_nodes" in e for e in layers):
        for entry in layers:
            yield _entry_name(entry), entry, [_node_inputs(n) for n in entry.get("inbound_nodes", [])]
        return
    previous = ("__input__", 0, 0)  # Sequential: a chain
    for entry in layers:
        name = _entry_name(entry)
        if entry["class_name"] == "InputLayer":
            previous = (name, 0, 0)
            yield name, entry, []
            continue
        yield name, entry, [[previous]]
        previous = (name, 0, 0)


def _entry_name(entry: dict) -> str:
    return entry.get("name") or entry["config"]["name"]


def _node_inputs(node: Any) -> list[tuple]:
    """The input tensors of one serialized node (Keras 3 dict or tf_keras list form)."""
    found: list[tuple] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") \
                if value.get("class_name") == "__keras_tensor__" else None
            if history is not None:
                found.append(tuple(history[:3]))
                return
            for v in value.values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) \
                    and isinstance(value[2], int):
                found.append((value[0], value[1], value[2]))
                return
            for v in value:
                visit(v)

    if isinstance(node, dict):
        visit(node.get("args", []))
    else:
        visit(node)
    return found


def _refs(value: Any) -> list[tuple]:
    """``input_layers``/``output_layers``: one ``[name, node, tensor]`` or a list of them."""
    if value and isinstance(value[0], str):
        return [tuple(value[:3])]
    return [tuple(v[:3]) for v in value]


def _walk(graph: ChannelGraph, model: Any, config: dict, scope: str,
          inputs: list[Layout]) -> list[Layout]:
    """Visit a model config's layers; returns the layouts of its outputs."""
    tensors: dict[tuple, Layout] = {}
    entries = list(_entries(model, config))
    if "input_layers" in config:
        for ref, layout in zip(_refs(config["input_layers"]), inputs):
            tensors[ref] = layout
            graph.inputs[f"{scope}{ref[0]}"] = layout
    else:  # Sequential
        tensors[("__input__", 0, 0)] = inputs[0]
        graph.inputs[f"{scope}__input__"] = inputs[0]
        for name, entry, _ in entries:
            if entry["class_name"] == "InputLayer":
                tensors[(name, 0, 0)] = inputs[0]
                graph.inputs[f"{scope}{name}"] = inputs[0]
    live = {layer.name: layer for layer in model.layers}
    # tf_keras keeps a nested model's own node in the numbering: a call's node index is the
    # one its consumers use (in call order), not its position in ``inbound_nodes``
    used: dict[str, set[int]] = {}
    refs_out = _refs(config["output_layers"]) if "output_layers" in config else []
    for ref in [r for _, _, calls in entries for refs in calls for r in refs] + refs_out:
        used.setdefault(ref[0], set()).add(ref[1])
    node_ids = {name: sorted(used.get(name, ())) for name, _, _ in entries}
    node_ids = {name: ids if len(ids) == len(calls) else list(range(len(calls)))
                for (name, _, calls), ids in zip(entries, node_ids.values())}
    pending = [(name, entry, k, refs) for name, entry, calls in entries
               for k, refs in enumerate(calls)]
    while pending:
        progress = []
        for item in pending:
            name, entry, k, refs = item
            if not all(r in tensors for r in refs):
                continue
            layer = live.get(name)
            if layer is None:
                raise UnsupportedLayerError(
                    f"channel pruning: layer '{scope}{name}' of the config is not in the model",
                    hint="internal error: please report it with --debug")
            node = node_ids[name][k]
            outs = _visit(graph, layer, entry, f"{scope}{name}", node, [tensors[r] for r in refs])
            for t, layout in enumerate(outs):
                tensors[(name, node, t)] = layout
            progress.append(item)
        if not progress:
            missing = sorted({r[0] for _, _, _, refs in pending for r in refs if r not in tensors})
            raise UnsupportedLayerError(
                f"channel pruning could not order the layers of '{model.name}': inputs "
                f"{missing} are never produced",
                hint="internal error: please report it with --debug")
        pending = [p for p in pending if p not in progress]
    if "output_layers" in config:
        return [tensors[r] for r in _refs(config["output_layers"])]
    last = [name for name, entry, _ in entries][-1]
    return [tensors[(last, 0, 0)]]


def _shapes(layer: Any, k: int, what: str) -> list[tuple]:
    """Shapes of a layer call's input or output tensors (``what``: input_tensors|output_tensors)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    node = nodes[k] if k < len(nodes) else (nodes[-1] if nodes else None)
    if node is None:
        return []
    tensors = getattr(node, what)
    tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
    return [tuple(d if d is None else int(d) for d in t.shape) for t in tensors]


def _prod(values: Any) -> int:
    return int(np.prod([v for v in values if v is not None] or [1]))


def _visit(graph: ChannelGraph, layer: Any, entry: dict, path: str, k: int,
           ins: list[Layout]) -> list[Layout]:
    cls, cfg = entry["class_name"], entry.get("config", {})
    graph.layers[path] = layer
    graph.configs[path] = entry
    if "layers" in cfg and hasattr(layer, "layers"):  # a nested model
        return _walk(graph, layer, cfg, f"{path}/", ins)
    out_shapes = _shapes(layer, k, "output_tensors")
    first = ins[0] if ins else None
    channels_first = cfg.get("data_format") == "channels_first"

    def fixed_outputs(reason: str) -> list[Layout]:
        for layout in ins:
            graph.fix(layout, reason)
        use = graph.uses.setdefault(path, LayerUse(path, cls, "other"))
        use.fixed_macs += _fixed_macs(layer, cls, cfg, k)
        return [Layout((graph.new_space(s[-1] if s and s[-1] else 0, fixed=reason),))
                for s in (out_shapes or [()])]

    if channels_first:
        return fixed_outputs(f"{cls} '{path}' is channels_first")
    if cls in PRODUCERS and first is not None:
        if cfg.get("groups", 1) != 1:
            return fixed_outputs(f"{cls} '{path}' is a grouped convolution")
        use = graph.uses.get(path)
        if use is None:
            size = cfg.get(PRODUCERS[cls])
            use = graph.uses[path] = LayerUse(path, cls, "producer", inputs=first,
                                              output=graph.new_space(size),
                                              multiplier=int(cfg.get("depth_multiplier", 1)))
        else:  # a shared layer: every call sees the same channels
            _union_layouts(graph, use.inputs, first, path)
        coef, dw = _producer_coefs(layer, cls, cfg, k)
        use.mac_coef += coef
        use.depthwise_coef += dw
        return [Layout((use.output,))]
    if cls in PASSTHROUGH_WEIGHTED and first is not None:
        if first.repeat != 1:
            return fixed_outputs(f"{cls} '{path}' acts on flattened channels")
        if cls.startswith("DepthwiseConv") and int(cfg.get("depth_multiplier", 1)) != 1:
            return fixed_outputs(f"{cls} '{path}' has depth_multiplier "
                                 f"{cfg.get('depth_multiplier')}")
        if cls == "BatchNormalization" and cfg.get("axis") not in (-1, [-1], len(out_shapes[0]) - 1,
                                                                  [len(out_shapes[0]) - 1]):
            return fixed_outputs(f"BatchNormalization '{path}' normalizes axis {cfg.get('axis')}")
        if cls == "PReLU" and not _prelu_per_channel(layer):
            return fixed_outputs(f"PReLU '{path}' has per-position slopes")
        use = graph.uses.get(path)
        if use is None:
            use = graph.uses[path] = LayerUse(path, cls, "passthrough", inputs=first)
        else:
            _union_layouts(graph, use.inputs, first, path)
        if cls.startswith("DepthwiseConv"):
            use.mac_coef += _prod(out_shapes[0][1:-1]) * _prod(_tuple(cfg.get("kernel_size")))
        return [first]
    if cls in PASSTHROUGH and first is not None:
        if cls == "Activation" and str(cfg.get("activation")) in _MIXING_ACTIVATIONS:
            return fixed_outputs(f"Activation '{path}' ({cfg.get('activation')}) mixes channels")
        if cls == "Rescaling" and not (np.isscalar(cfg.get("scale", 1.0))
                                       and np.isscalar(cfg.get("offset", 0.0))):
            return fixed_outputs(f"Rescaling '{path}' scales per channel")
        if cls.startswith("Global") and first.repeat != 1:
            return fixed_outputs(f"{cls} '{path}' follows a Flatten")
        if cls in _COUNTED_POOLS:
            area = _prod(_tuple(cfg.get("pool_size")))
            _counted(graph, path, cls, first, _prod(out_shapes[0][1:-1]) * area)
        return [first]
    if cls in MERGES and ins:
        for other in ins[1:]:
            _union_layouts(graph, first, other, f"{cls} '{path}'")
        if cls in _COUNTED_ELEMENTWISE:
            _counted(graph, path, cls, first, _prod(out_shapes[0][1:-1]))
        return [first]
    if cls == "Concatenate" and ins and cfg.get("axis", -1) in (-1, len(out_shapes[0]) - 1):
        if any(layout.repeat != 1 for layout in ins):
            return fixed_outputs(f"Concatenate '{path}' joins flattened tensors")
        return [Layout(tuple(s for layout in ins for s in layout.segments))]
    if cls == "Flatten" and first is not None and first.repeat == 1:
        in_shapes = _shapes(layer, k, "input_tensors")
        spatial = in_shapes[0][1:-1] if in_shapes else ()
        if any(d is None for d in spatial):
            return fixed_outputs(f"Flatten '{path}' has an unknown input size")
        return [Layout(first.segments, repeat=_prod(spatial))]
    if cls == "InputLayer":
        return ins or [Layout((graph.new_space(out_shapes[0][-1], fixed="model input"),))]
    return fixed_outputs(f"{cls} '{path}' is not known to channel pruning")


def _tuple(value: Any) -> tuple:
    if value is None:
        return (1,)
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _union_layouts(graph: ChannelGraph, a: Layout, b: Layout, where: str) -> None:
    if a.repeat != b.repeat or len(a.segments) != len(b.segments):
        graph.fix(a, f"{where} joins differently shaped channels")
        graph.fix(b, f"{where} joins differently shaped channels")
        return
    for x, y in zip(a.segments, b.segments):
        graph.union(x, y, where)


def _counted(graph: ChannelGraph, path: str, cls: str, layout: Layout, coef: float) -> None:
    """An element-wise or pooling layer whose MACs scale with its channels."""
    use = graph.uses.setdefault(path, LayerUse(path, cls, "counted", inputs=layout))
    use.mac_coef += coef


def _prelu_per_channel(layer: Any) -> bool:
    weights = layer.get_weights()
    return bool(weights) and all(d == 1 for d in weights[0].shape[:-1])


def _producer_coefs(layer: Any, cls: str, cfg: dict, k: int) -> tuple[float, float]:
    """(MACs per in x out channel, MACs per in channel of a separable conv's depthwise half)."""
    out = _shapes(layer, k, "output_tensors")[0]
    kernel = _prod(_tuple(cfg.get("kernel_size")))
    if cls == "Dense":
        return float(_prod(out[1:-1])), 0.0
    if "Transpose" in cls:
        inp = _shapes(layer, k, "input_tensors")[0]
        return float(_prod(inp[1:-1]) * kernel), 0.0
    if cls.startswith("SeparableConv"):
        mult = int(cfg.get("depth_multiplier", 1))
        return float(_prod(out[1:-1]) * mult), float(_prod(out[1:-1]) * kernel * mult)
    return float(_prod(out[1:-1]) * kernel), 0.0


def _fixed_macs(layer: Any, cls: str, cfg: dict, k: int) -> float:
    """MACs of a layer whose channels do not change (its inputs are fixed)."""
    try:
        out = _shapes(layer, k, "output_tensors")[0]
        inp = _shapes(layer, k, "input_tensors")
    except (IndexError, AttributeError):
        return 0.0
    kernel = _prod(_tuple(cfg.get("kernel_size")))
    if cls in PRODUCERS and inp:
        cin = inp[0][-1] or 0
        if cls == "Dense":
            return float(_prod(out[1:-1]) * cin * out[-1])
        if "Transpose" in cls:
            return float(_prod(inp[0][1:-1]) * kernel * cin * out[-1])
        return float(_prod(out[1:-1]) * kernel * cin * out[-1] / max(1, cfg.get("groups", 1)))
    if cls.startswith("DepthwiseConv"):
        return float(_prod(out[1:]) * kernel)
    if cls in _COUNTED_ELEMENTWISE:
        return float(_prod(out[1:]))
    if cls in _COUNTED_POOLS:
        return float(_prod(out[1:]) * _prod(_tuple(cfg.get("pool_size"))))
    return 0.0
