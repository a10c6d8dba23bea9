"""Model surgery: flatten nested Sequential/Functional sub-models into one Functional graph.

tfmot's ``clone_model``-based wrappers see a nested model (e.g. a ``MobileNetV2`` base
inside a transfer-learning model) as one opaque layer: QAT then fails and pruning skips it.
Flattening replays every inner layer on the outer graph's tensors, so each layer is reached.
Layers are reused (weights are shared with the input model): callers flatten a copy.
"""

from __future__ import annotations

from typing import Any

from compress.errors import UnsupportedLayerError


def has_nested_models(model: Any) -> bool:
    from compress._keras import keras

    return any(isinstance(layer, keras.Model) for layer in model.layers)


def flatten_nested(model: Any) -> Any:
    """A Functional model with the same layers and no nested models (or ``model`` itself)."""
    from compress._keras import keras

    if not has_nested_models(model):
        return model
    if not getattr(model, "_is_graph_network", False):
        raise UnsupportedLayerError(
            f"cannot flatten {type(model).__name__} '{model.name}': it is a subclassed model",
            hint="rebuild it with the Sequential or Functional API")
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=_input_name(t, i))
              for i, t in enumerate(model.inputs)]
    outputs = _replay(model, inputs)
    flat = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    names = [layer.name for layer in flat.layers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UnsupportedLayerError(
            f"cannot flatten '{model.name}': layer names repeat across nested models: {dupes}",
            hint="give the layers of the nested models unique names")
    return flat


def _input_name(tensor: Any, index: int) -> str:
    name = getattr(getattr(tensor, "node", None), "layer", None)
    return getattr(name, "name", f"input_{index}")


def _replay(model: Any, inputs: list) -> list:
    """Call ``model``'s layers on ``inputs`` in graph order, descending into nested models."""
    from compress._keras import keras, tf

    if isinstance(model, keras.Sequential) and not getattr(model, "_is_graph_network", False):
        raise UnsupportedLayerError(
            f"cannot flatten Sequential '{model.name}' without a defined input shape",
            hint="give its first layer an input shape (keras.Input) before nesting it")
    values: dict[str, Any] = {str(id(t)): v for t, v in zip(model.inputs, inputs)}
    depth_keys = sorted(model._nodes_by_depth.keys(), reverse=True)
    for depth in depth_keys:
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            layer = node.layer
            if any(t_id not in values for t_id in node.flat_input_ids):
                continue
            args, kwargs = _map_arguments(node, values)
            if isinstance(layer, keras.Model):
                if not getattr(layer, "_is_graph_network", False):
                    raise UnsupportedLayerError(
                        f"cannot flatten nested model '{layer.name}' "
                        f"({type(layer).__name__}): it is subclassed",
                        hint="rebuild it with the Functional API")
                flat_in = tf.nest.flatten(args)
                outs = _replay(layer, flat_in)
                outputs = outs if len(outs) > 1 else outs[0]
            else:
                outputs = layer(*args, **kwargs)
            for t_id, value in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                values[t_id] = value
    return [values[str(id(t))] for t in model.outputs]


def _map_arguments(node: Any, values: dict) -> tuple:
    """Like tf_keras' ``Node.map_arguments``, without consuming the tensor map."""
    from compress._keras import tf

    if node._single_positional_tensor_passed:
        kt_id, _ = node._keras_inputs_ids_and_indices[0]
        return (values[kt_id],), {}
    flat = list(node._flat_arguments)
    for kt_id, kt_index in node._keras_inputs_ids_and_indices:
        flat[kt_index] = values[kt_id]
    return tf.nest.pack_sequence_as((node.call_args, node.call_kwargs), flat)
