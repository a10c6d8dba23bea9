"""The cut: a smaller dense model rebuilt from the config, with the kept channels' weights.

Framework-generic: the new model is ``type(model).from_config(config)`` (Keras 3 or tf_keras,
whichever the model belongs to) with the producers' ``filters``/``units`` reduced and the input
shapes of nested models that receive cut channels narrowed; each layer's weights are sliced
along the axes its channel groups run through.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from compress.channels.graph import PRODUCERS, ChannelGraph, LayerUse
from compress.errors import UnsupportedLayerError


def cut(graph: ChannelGraph, keep: dict[int, np.ndarray], *, name: str | None = None) -> Any:
    """The model of ``graph`` with only the channels ``keep`` lists (group id -> indices).

    Groups not in ``keep`` keep every channel. Indices are sorted; order is preserved.
    """
    keep = {gid: np.sort(np.asarray(idx, dtype=int)) for gid, idx in keep.items()}
    config = copy.deepcopy(graph.config)
    _strip_build_configs(config)
    for path, use in graph.uses.items():
        if use.role == "producer":
            root = graph.root(use.output)
            if root in keep:
                entry = _entry(config, path)
                entry["config"][PRODUCERS[use.class_name]] = int(len(keep[root]))
    for path, layout in graph.inputs.items():
        if "/" not in path:
            continue  # the model's own inputs never change
        width = graph.kept_width(layout, {g: len(i) for g, i in keep.items()})
        _narrow_input(config, path, width)
    if name:
        config["name"] = name
    model_class = type(graph.model)
    try:
        new = model_class.from_config(config)
    except Exception as exc:  # a layer that does not accept its narrowed input
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UnsupportedLayerError(
            f"channel pruning could not rebuild '{graph.model.name}' with fewer channels: "
            f"{first}. Received: {len(keep)} groups cut",
            hint="exclude the layers around the one named (layers: {exclude: [...]})") from None
    for path, layer in graph.layers.items():
        if hasattr(layer, "layers") and layer.layers:
            continue  # nested models: their layers are set one by one
        weights = layer.get_weights()
        if not weights:
            continue
        target = _layer(new, path)
        use = graph.uses.get(path)
        if use is not None and use.role in ("producer", "passthrough"):
            weights = slice_weights(graph, use, weights, keep)
        target.set_weights(weights)
    return new


def slice_weights(graph: ChannelGraph, use: LayerUse, weights: list[np.ndarray],
                  keep: dict[int, np.ndarray]) -> list[np.ndarray]:
    """One layer's weights with only the kept input/output channels."""
    inp = graph.positions(use.inputs, keep) if use.inputs is not None else None
    cls = use.class_name
    if use.role == "passthrough":
        if cls.startswith("DepthwiseConv"):
            return [np.take(w, inp, axis=w.ndim - 2) if i == 0 else np.take(w, inp, axis=-1)
                    for i, w in enumerate(weights)]
        return [np.take(w, inp, axis=-1) for w in weights]  # BatchNormalization, PReLU
    root = graph.root(use.output)
    out = keep.get(root, np.arange(graph.size(root)))
    kernel, rest = weights[0], weights[1:]
    if cls.startswith("SeparableConv"):
        mult = use.multiplier
        pointwise_in = (inp[:, None] * mult + np.arange(mult)[None, :]).ravel()
        depthwise = np.take(kernel, inp, axis=kernel.ndim - 2)
        pointwise = np.take(np.take(rest[0], pointwise_in, axis=rest[0].ndim - 2), out, axis=-1)
        return [depthwise, pointwise] + [np.take(b, out, axis=-1) for b in rest[1:]]
    if "Transpose" in cls:  # kernel (..., out, in)
        kernel = np.take(np.take(kernel, out, axis=kernel.ndim - 2), inp, axis=-1)
    else:  # Conv (..., in, out), Dense (in, out)
        kernel = np.take(np.take(kernel, inp, axis=kernel.ndim - 2), out, axis=-1)
    return [kernel] + [np.take(b, out, axis=-1) for b in rest]


def _strip_build_configs(config: Any) -> None:
    """Layers rebuild from their new inputs: the recorded build shapes are the old ones."""
    if isinstance(config, dict):
        config.pop("build_config", None)
        config.pop("compile_config", None)
        for value in config.values():
            _strip_build_configs(value)
    elif isinstance(config, list):
        for value in config:
            _strip_build_configs(value)


def _entry(config: dict, path: str) -> dict:
    """The config entry of the layer at ``path`` (``outer/inner`` inside nested models)."""
    head, _, tail = path.partition("/")
    for entry in config["layers"]:
        if (entry.get("name") or entry["config"].get("name")) == head:
            return _entry(entry["config"], tail) if tail else entry
    raise UnsupportedLayerError(f"channel pruning: no layer '{path}' in the config",
                                hint="internal error: please report it with --debug")


def _narrow_input(config: dict, path: str, width: int) -> None:
    """Set the channel count of a nested model's input (InputLayer or Sequential shape)."""
    scope, _, name = path.rpartition("/")
    nested = _entry(config, scope)["config"]
    if name == "__input__":
        if nested.get("build_input_shape"):
            nested["build_input_shape"] = list(nested["build_input_shape"][:-1]) + [width]
        first = nested["layers"][0]["config"]
        for key in ("batch_shape", "batch_input_shape"):
            if first.get(key):
                first[key] = list(first[key][:-1]) + [width]
        return
    entry = _entry(nested, name)["config"]
    for key in ("batch_shape", "batch_input_shape"):
        if entry.get(key):
            entry[key] = list(entry[key][:-1]) + [width]
    if nested.get("build_input_shape"):
        nested["build_input_shape"] = list(nested["build_input_shape"][:-1]) + [width]


def _layer(model: Any, path: str) -> Any:
    head, _, tail = path.partition("/")
    layer = model.get_layer(head)
    return _layer(layer, tail) if tail else layer
