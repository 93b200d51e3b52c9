"""Test helpers: run a traced function through the reference interpreter or the compiled CPU backend."""

from __future__ import annotations

import numpy as np

from kgraph.codegen.cpu import ProgramLayout
from kgraph.ir.builder import Sym, tracing
from kgraph.ir.graph import Graph
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.program import CompiledProgram, InterpretedProgram
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable, order_writes_after_reads


def run_traced(fn, *arrays, backend: str = "numpy", batch_size: int | None = None):
    """Traces `fn` on symbolic inputs shaped like `arrays` (axis 0 is the batch) and runs it on them.

    Outputs with a batch axis come back as arrays over all rows (run in batches of `batch_size`); outputs
    without one (a loss, a metric) come back from the last batch. Variables that `fn` assigns keep the values
    the program wrote. Returns one array or a tuple, like `fn`.
    """
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    total = arrays[0].shape[0]
    batch_size = batch_size or total
    graph = Graph()
    with tracing(graph):
        inputs = [
            Sym(graph, graph.add("input", name=f"x{i}", shape=(None, *a.shape[1:])))
            for i, a in enumerate(arrays)
        ]
        result = fn(*inputs)
        outputs = list(result) if isinstance(result, tuple | list) else [result]
        holders = {}
        for i, out in enumerate(outputs):
            if None in out.shape:
                graph.outputs[f"out{i}"] = out.id
            else:
                holders[i] = Variable(np.zeros(out.shape, np.float32), name=f"out{i}")
                holders[i].assign(out)
    order_writes_after_reads(graph)
    variables = list(graph.nx.graph.get("variable_objects", {}).values())
    store = VariableStore(variables)
    layout = ProgramLayout(
        store.layout, [f"x{i}" for i in range(len(arrays))], [name for name in graph.outputs]
    )
    planned = run_pipeline(graph, batch_size, backend=backend)
    if backend == "cuda":
        from kgraph.runtime.cuda_program import CudaProgram as program_class
    else:
        program_class = CompiledProgram if backend == "cpu" else InterpretedProgram
    program = program_class(planned, layout, "test")
    results = [
        np.zeros((total, int(np.prod(outputs[int(name[3:])].shape[1:]))), np.float32)
        for name in graph.outputs
    ]
    steps = -(-total // batch_size)
    program.run(store.array, [a.reshape(total, -1) for a in arrays], np.arange(total), 0, steps, results)
    values = []
    for i, out in enumerate(outputs):
        if i in holders:
            values.append(holders[i].numpy())
        else:
            k = list(graph.outputs).index(f"out{i}")
            values.append(results[k].reshape((total, *out.shape[1:])))
    return values[0] if len(values) == 1 else tuple(values)


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_shape: tuple,
    expected_output_shape: tuple,
    expected_num_trainable_weights: int = 0,
    expected_num_non_trainable_weights: int = 0,
    input_data=None,
    expected_output=None,
    call_kwargs: dict | None = None,
    run_training_check: bool = True,
    compiled: bool = True,
    rtol: float = 1e-5,
):
    """Checks one layer the way every kgraph layer is checked (modelled on Keras's own layer tests).

    1. config round trip; 2. explicit build and weight counts; 3. symbolic call on an `Input` (output shape);
    4. eager call on data (shape, and `expected_output` if given); 5. the same call traced and run by the
    reference interpreter and, with `compiled`, by the CPU backend, equal to the eager result;
    6. one training step of a model around the layer, which must change its trainable weights.
    """
    from kgraph.layers import Input
    from kgraph.models import Model

    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert {k: v for k, v in clone.get_config().items() if k != "name"} == {
        k: v for k, v in config.items() if k != "name"
    }, "config round trip changed the layer"

    layer.build(input_shape)
    layer.built = True
    assert len(layer.trainable_weights) == expected_num_trainable_weights, layer.trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, layer.non_trainable_weights

    symbolic = layer_cls(**init_kwargs)
    out = symbolic(Input(batch_shape=input_shape), **call_kwargs)
    assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)

    if input_data is None:
        rng = np.random.default_rng(0)
        input_data = rng.normal(size=tuple(d or 3 for d in input_shape)).astype(np.float32)
    eager = np.asarray(layer(input_data, **call_kwargs))
    expected_shape = tuple(len(input_data) if d is None else d for d in expected_output_shape)
    assert eager.shape == expected_shape, (eager.shape, expected_shape)
    if expected_output is not None:
        np.testing.assert_allclose(eager, expected_output, rtol=rtol, atol=1e-6)

    for backend in ("numpy", "cpu") if compiled else ("numpy",):
        traced = run_traced(lambda x: layer(x, **call_kwargs), input_data, backend=backend)
        np.testing.assert_allclose(traced, eager, rtol=rtol, atol=1e-6, err_msg=f"{backend} backend")

    if run_training_check and expected_num_trainable_weights:
        inputs = Input(batch_shape=input_shape)
        trained = layer_cls(**init_kwargs)
        model = Model(inputs, trained(inputs, **call_kwargs))
        model.compile(optimizer="sgd", loss="mse")
        before = [w.numpy() for w in trained.trainable_weights]
        target = np.random.default_rng(1).normal(size=expected_shape).astype(np.float32)
        model.fit(input_data, target, batch_size=len(input_data), epochs=1, verbose=0)
        after = [w.numpy() for w in trained.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True)), (
            "training changed nothing"
        )
    return layer
