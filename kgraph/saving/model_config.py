"""Model configs in Keras 3's format, both ways: Sequential (a list of layers) and functional models (layers
with the calls that connect them).

A functional config lists layers in Keras's order: by depth from the outputs (deepest, the inputs, first),
ties broken by when a depth-first walk from the outputs first meets the layer. That order also names the
groups of the weights file (`layers/dense`, `layers/dense_1`...), so it must match Keras's exactly. Each layer
carries its `inbound_nodes`: one `{"args", "kwargs"}` per call, where a tensor is
`["layer name", node index, tensor index]` inside a `__keras_tensor__` record.
"""

from __future__ import annotations

from kgraph.layers.keras_tensor import CallNode, KerasTensor
from kgraph.layers.layer import Layer, call_takes_mask
from kgraph.saving import serialization
from kgraph.saving.builtins import builtin_objects, resolve_class
from kgraph.saving.layer_config import FLOAT32_POLICY


# --- writing -----------------------------------------------------------------------------------------------
def model_config(model) -> dict:
    """`model.get_config()` in Keras 3's format."""
    from kgraph.models.sequential import Sequential

    if isinstance(model, Sequential):
        return _sequential_config(model)
    if getattr(model, "_subclassed", False):
        # Keras's default for subclassed models: the base arguments; richer configs override get_config.
        return {"name": model.name, "trainable": model.trainable, "dtype": dict(FLOAT32_POLICY)}
    return _functional_config(model)


def _layer_entry(layer: Layer, own: set[int]) -> dict:
    entry = serialization.serialize_keras_object(layer)
    entry["config"].pop("batch_input_shape", None)  # the model's InputLayer holds the input shape
    build = _build_config(layer, own)
    if build is not None:
        entry["build_config"] = build
    return entry


def _sequential_config(model) -> dict:
    layers = ([model._input_layer] if model._input_layer is not None else []) + list(model.layers)
    own = _model_nodes(model)
    config = {
        "name": model.name,
        "trainable": model.trainable,
        "dtype": dict(FLOAT32_POLICY),
        "layers": [_layer_entry(layer, own) for layer in layers],
    }
    if model._input_layer is not None:
        config["build_input_shape"] = list(model._input_layer.batch_shape)
    return config


def _model_nodes(model) -> set[int]:
    return {id(node) for node in getattr(model, "_nodes", [])}


def _node_index(node: CallNode, own: set[int]) -> int:
    """A node's position among its layer's calls that belong to the model."""
    calls = [n for n in node.layer._inbound_nodes if id(n) in own]
    return next(i for i, n in enumerate(calls) if n is node)


def _tensor_record(tensor: KerasTensor, own: set[int]) -> dict:
    node = tensor.node
    tensor_index = next(i for i, t in enumerate(node.outputs) if t is tensor)
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(tensor.shape),
            "dtype": tensor.dtype,
            "keras_history": [node.layer.name, _node_index(node, own), tensor_index],
        },
    }


def _build_config(layer: Layer, own: set[int]) -> dict | None:
    """The input shape of the layer's first call, for layers that Keras builds from a shape."""
    from kgraph.layers.merging.merge import Merge

    first = next((n for n in layer._inbound_nodes if id(n) in own and n.inputs), None)
    # Keras records the shape only for layers with their own `build` (its merge layers have one).
    builds = type(layer).build is not Layer.build or isinstance(layer, Merge)
    if first is None or not builds:
        return None
    shapes = [list(t.shape) for t in first.inputs]
    if hasattr(layer, "keras_build_config"):  # a build taking one shape per input (MultiHeadAttention's)
        return layer.keras_build_config(shapes)
    return {"input_shape": shapes if first.as_list else shapes[0]}


def _functional_config(model) -> dict:
    own = _model_nodes(model)
    masked = _calls_given_masks(model)
    layers = []
    for layer in model.layers:  # Keras's order (see `models.layer_order`)
        entry = _layer_entry(layer, own)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            _node_record(node, own, id(node) in masked)
            for node in layer._inbound_nodes
            if id(node) in own and node.inputs
        ]
        layers.append(entry)

    def tensor_path(tensor: KerasTensor) -> list:
        return _tensor_record(tensor, own)["config"]["keras_history"]

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": _structure(model.inputs, model._input_dict_keys, model._inputs_as_list, tensor_path),
        "output_layers": _structure(
            model.outputs, model._output_dict_keys, model._outputs_as_list, tensor_path
        ),
    }


def _calls_given_masks(model) -> set[int]:
    """The model's calls that receive an implicit mask (Embedding(mask_zero=True), Masking): found when the
    model is traced, so a model never traced yet is traced once here."""
    if "_masked_calls" not in model.__dict__:
        shapes = [tuple(t.shape) for t in model.inputs]
        Layer.compute_output_shape(model, shapes if len(shapes) > 1 else shapes[0])
    return model.__dict__.get("_masked_calls", set())


def _node_record(node: CallNode, own: set[int], given_mask: bool = False) -> dict:
    tensors = [_tensor_record(t, own) for t in node.inputs]
    kwargs = dict(node.kwargs)
    if node.training is not None:
        kwargs["training"] = node.training
    if (
        "mask" not in kwargs
        and len(node.inputs) == 1
        and call_takes_mask(type(node.layer))
        and not given_mask
    ):
        # Keras records the implicit mask argument of such calls: None without a mask. With one it records
        # the tensor of its mask operations; leaving it out lets Keras take the mask from the input again.
        kwargs["mask"] = None
    # A list of inputs is one argument, except for layers Keras calls with one argument per input.
    one_argument = node.as_list and not getattr(node.layer, "inputs_as_arguments", False)
    return {
        "args": [tensors] if one_argument else tensors,
        "kwargs": serialization.serialize_keras_object(kwargs),
    }


def _structure(tensors, dict_keys, as_list: bool, fn):
    if dict_keys:
        return {key: fn(t) for key, t in zip(dict_keys, tensors, strict=True)}
    if as_list:
        return [fn(t) for t in tensors]
    return fn(tensors[0])


# --- reading -----------------------------------------------------------------------------------------------
def deserialize_layer(layer_data: dict, custom_objects: dict) -> Layer:
    """A layer from its entry in a model config (Keras 3, or the legacy form without `module`)."""
    if not isinstance(layer_data, dict) or "class_name" not in layer_data:
        raise ValueError(f"Invalid layer entry in a model config: {layer_data!r}")
    custom_objects = serialization.all_custom_objects(custom_objects)
    if "module" in layer_data:
        layer = serialization.deserialize_keras_object(
            {k: v for k, v in layer_data.items() if k not in ("name", "inbound_nodes", "build_config")},
            custom_objects,
        )
    else:
        layer = _legacy_layer(layer_data, custom_objects)
    if not isinstance(layer, Layer):
        raise ValueError(f"Expected a layer in the model config, got {type(layer).__name__}: {layer_data!r}")
    return layer


def _legacy_layer(layer_data: dict, custom_objects: dict) -> Layer:
    """Keras 2 / legacy-h5 entries: `{"class_name", "config"}` with the class looked up among layers."""
    class_name = layer_data["class_name"]
    config = dict(layer_data.get("config") or {})
    if class_name == "InputLayer" and "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    builtins = builtin_objects()
    cls = custom_objects.get(class_name) or builtins["keras.layers"].get(class_name)
    cls = cls or builtins["keras"].get(class_name)
    if cls is None:
        cls = resolve_class(class_name, None, "keras.layers", custom_objects)
    return serialization.instantiate(cls, {"class_name": class_name, "config": config}, custom_objects)


def sequential_from_config(cls, config: dict, custom_objects: dict | None = None):
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(
            "A Sequential model configuration must be a dictionary containing the 'name' and 'layers' keys. "
            f"Received: config={config}"
        )
    layers = [deserialize_layer(entry, custom_objects or {}) for entry in config["layers"]]
    model = cls(layers=layers, name=config.get("name"), trainable=config.get("trainable", True))
    build_shape = config.get("build_input_shape")
    if not model.built and isinstance(build_shape, list | tuple):
        model.build(tuple(build_shape))
    return model


class _Pending(Exception):
    """A call whose inputs are not computed yet."""


def functional_from_config(cls, config: dict, custom_objects: dict | None = None):
    for key in ("layers", "input_layers", "output_layers"):
        if key not in config:
            raise ValueError(f"A functional model configuration needs the key '{key}'. Received: {config}")
    created: dict[str, Layer] = {}
    pending: dict[str, list] = {}
    for entry in _without_mask_operations(config):
        layer = deserialize_layer(entry, custom_objects or {})
        name = entry.get("name", layer.name)
        created[name] = layer
        pending[name] = list(entry.get("inbound_nodes") or [])
    while any(pending.values()):
        progressed = False
        for name, nodes in pending.items():
            while nodes:
                try:
                    args, kwargs = _call_arguments(nodes[0], created)
                except _Pending:
                    break
                created[name](*args, **kwargs)
                nodes.pop(0)
                progressed = True
        if not progressed:
            stuck = {name: nodes for name, nodes in pending.items() if nodes}
            raise ValueError(
                "Invalid Functional model configuration. The graph of the Functional model either has loops "
                f"or disconnected nodes. The following nodes failed to be resolved: {stuck}"
            )

    def tensor(path) -> KerasTensor:
        return _tensor_at(path, created, strict=True)

    inputs = _map_paths(config["input_layers"], tensor)
    outputs = _map_paths(config["output_layers"], tensor)
    return cls(
        inputs=inputs, outputs=outputs, name=config.get("name"), trainable=config.get("trainable", True)
    )


# The operations Keras computes implicit masks with (Embedding, Masking, and merges of masks), as legacy
# configs (no `module`) name them.
_LEGACY_MASK_OPERATIONS = {"NotEqual", "Any", "All", "LogicalOr", "LogicalAnd"}


def _is_operation(entry: dict) -> bool:
    """Whether a config entry is a Keras operation (`keras.ops.not_equal`...) rather than a layer."""
    if "module" not in entry:
        return entry.get("class_name") in _LEGACY_MASK_OPERATIONS
    return str(entry["module"]).startswith("keras.src.ops.")


def _without_mask_operations(config: dict) -> list[dict]:
    """The layer entries, with the masks Keras recorded as operations taken out.

    Keras 3 records the implicit mask of a functional model (Embedding(mask_zero=True), Masking) as `mask`
    keyword arguments computed by operation nodes (`NotEqual`, `Any`). kgraph models propagate these masks
    themselves from the layers that make them, so such `mask` arguments are dropped, and so are the operations
    nothing else uses. An operation that feeds anything else stays and fails to load, naming its class.
    """
    operations = {entry.get("name") for entry in config["layers"] if _is_operation(entry)}
    if not operations:
        return config["layers"]
    entries = []
    for entry in config["layers"]:
        nodes = []
        for node in entry.get("inbound_nodes") or []:
            kwargs = node.get("kwargs") if isinstance(node, dict) else None
            if kwargs and operations & _referenced_layers(kwargs.get("mask")):
                node = {**node, "kwargs": {k: v for k, v in kwargs.items() if k != "mask"}}
            nodes.append(node)
        entries.append({**entry, "inbound_nodes": nodes} if "inbound_nodes" in entry else entry)
    used = _referenced_layers([config["input_layers"], config["output_layers"]])
    for entry in entries:
        if not _is_operation(entry):
            used |= _referenced_layers(entry.get("inbound_nodes"))
    while True:  # operations feeding only operations that are dropped are dropped too
        kept = [e for e in entries if not _is_operation(e) or e.get("name") in used]
        more = used | _referenced_layers([e.get("inbound_nodes") for e in kept if _is_operation(e)])
        if more == used:
            return kept
        used = more


def _referenced_layers(value) -> set[str]:
    """The names of the layers whose tensors appear in a recorded call or structure of tensor paths."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return {value["config"]["keras_history"][0]}
        return set().union(*(_referenced_layers(v) for v in value.values()))
    if isinstance(value, list | tuple):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            return {value[0]}
        return set().union(*(_referenced_layers(v) for v in value))
    return set()


def _tensor_at(path, created: dict, strict: bool = False) -> KerasTensor:
    name, node_index, tensor_index = path[0], int(path[1]), int(path[2])
    layer = created.get(name)
    if layer is None:
        raise ValueError(f"The model config refers to an unknown layer '{name}'.")
    from kgraph.models.model import Model

    if isinstance(layer, Model):
        node_index -= 1  # Keras counts a nested model's own graph as its first node
    if node_index >= len(layer._inbound_nodes):
        if strict:
            raise ValueError(
                f"The model config refers to call #{node_index} of layer '{name}', which is missing."
            )
        raise _Pending
    return layer._inbound_nodes[node_index].outputs[tensor_index]


def _map_paths(structure, fn):
    if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
        return fn(structure)
    if isinstance(structure, dict):
        return {key: _map_paths(value, fn) for key, value in structure.items()}
    return [_map_paths(value, fn) for value in structure]


def _call_arguments(node_data, created: dict) -> tuple[list, dict]:
    """The positional and keyword arguments of one recorded call, with its tensors looked up."""
    if isinstance(node_data, dict):
        args = [_resolve_tensors(a, created) for a in node_data.get("args", [])]
        kwargs = {k: _resolve_tensors(v, created) for k, v in (node_data.get("kwargs") or {}).items()}
    else:  # legacy: a list of [layer name, node index, tensor index, kwargs]
        tensors = [_tensor_at(entry[:3], created) for entry in node_data]
        kwargs = dict(node_data[0][3]) if node_data and len(node_data[0]) > 3 else {}
        args = [tensors if len(tensors) > 1 else tensors[0]]
    if kwargs.get("mask") is None:
        kwargs.pop("mask", None)
    return args, kwargs


def _resolve_tensors(value, created: dict):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return _tensor_at(value["config"]["keras_history"], created)
    if isinstance(value, list | tuple):
        return [_resolve_tensors(v, created) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_tensors(v, created) for k, v in value.items()}
    return value


def subclassed_from_config(cls, config: dict, custom_objects: dict | None = None):
    """`cls(**config)`, as Keras revives a model whose config is not a functional graph."""
    from kgraph.saving.layer_config import layer_kwargs

    try:
        return cls(**layer_kwargs(cls, config, serialization.all_custom_objects(custom_objects)))
    except TypeError as error:
        raise TypeError(
            "Unable to revive model from config. When overriding the `get_config()` method, make sure that "
            f"the returned config contains all items used as arguments in the constructor to {cls}, which is "
            "the default behavior. You can override this default behavior by defining a "
            "`from_config(cls, config)` class method to specify how to create an instance of "
            f"{cls.__name__} from its config.\n\nReceived config={config}\n\nError encountered during "
            f"deserialization: {error}"
        ) from error
