"""Tests for kgraph.optimizers: Keras 3 parity of every optimizer and option, the flat (compiled) update
against the per-variable one, traced application, constructor arguments and config."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from update_programs import update_program

import kgraph
from kgraph import optimizers
from kgraph.ir.builder import tracing
from kgraph.ir.graph import Graph
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


_rng = np.random.default_rng(7)
NAMES = ("kernel", "bias")
INIT = [_rng.normal(size=(3, 4)).astype(np.float32), _rng.normal(size=(4,)).astype(np.float32)]
STEPS = 5
GRADS = [[_rng.normal(size=a.shape).astype(np.float32) for a in INIT] for _ in range(STEPS)]

# (optimizer class, constructor kwargs, schedule as (class name, kwargs) or None, names excluded from decay)
CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1}, None, None),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}, None, None),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, None, None),
    "sgd_clipnorm": ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}, None, None),
    "sgd_clipvalue": ("SGD", {"learning_rate": 0.1, "clipvalue": 0.3}, None, None),
    "sgd_global_clipnorm": ("SGD", {"learning_rate": 0.1, "global_clipnorm": 1.0}, None, None),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}, None, None),
    "sgd_exponential": ("SGD", {"momentum": 0.5}, ("ExponentialDecay", (0.2, 2, 0.7, True)), None),
    "adam": ("Adam", {"learning_rate": 0.05}, None, None),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.05, "amsgrad": True}, None, None),
    "adam_global_clipnorm": (
        "Adam",
        {"learning_rate": 0.05, "global_clipnorm": 1.0, "epsilon": 1e-3},
        None,
        None,
    ),
    "adam_cosine": ("Adam", {}, ("CosineDecay", (0.01, 3, 0.1, "cos", 0.05, 2)), None),
    "adamw": ("AdamW", {"learning_rate": 0.05}, None, None),
    "adamw_excluded": (
        "AdamW",
        {"learning_rate": 0.05, "weight_decay": 0.1, "amsgrad": True},
        None,
        ["bias"],
    ),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}, None, None),
    "rmsprop_momentum": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "clipvalue": 0.5}, None, None),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "centered": True, "rho": 0.8}, None, None),
    "rmsprop_piecewise": (
        "RMSprop",
        {"centered": True, "momentum": 0.9},
        ("PiecewiseConstantDecay", ([1, 3], [0.02, 0.01, 0.005])),
        None,
    ),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}, None, None),
    "adagrad_options": (
        "Adagrad",
        {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-3, "clipnorm": 1.0},
        None,
        None,
    ),
}
COMPILED = ["sgd_nesterov", "adam_cosine", "adamw_excluded", "rmsprop_piecewise"]


def _make(module, case: str):
    """The optimizer of `case` from `module` (kgraph.optimizers or keras.optimizers), named "opt"."""
    cls_name, kwargs, schedule, excluded = CASES[case]
    kwargs = dict(kwargs)
    if schedule is not None:
        kwargs["learning_rate"] = getattr(module.schedules, schedule[0])(*schedule[1])
    opt = getattr(module, cls_name)(name="opt", **kwargs)
    if excluded:
        opt.exclude_from_weight_decay(var_names=excluded)
    return opt


def _state(opt, params) -> dict[str, np.ndarray]:
    """Every weight and optimizer variable by path."""
    return {v.path: np.asarray(v.numpy(), np.float32) for v in [*params, *opt.variables]}


def _params() -> list[Variable]:
    return [Variable(a.copy(), name=n) for n, a in zip(NAMES, INIT, strict=True)]


def _run_eager(case: str):
    params = _params()
    opt = _make(optimizers, case)
    for grads in GRADS:
        opt.apply_gradients(zip(grads, params, strict=True))
    return _state(opt, params)


def _run_keras(case: str):
    keras = _keras()
    params = [keras.Variable(a.copy(), name=n) for n, a in zip(NAMES, INIT, strict=True)]
    opt = _make(keras.optimizers, case)
    for grads in GRADS:
        opt.apply_gradients(zip(grads, params, strict=True))
    return _state(opt, params)


def _assert_states_close(ours: dict, theirs: dict, rtol: float = 1e-6) -> None:
    assert list(ours) == list(theirs)
    for path in ours:
        np.testing.assert_allclose(ours[path], theirs[path], rtol=rtol, atol=1e-7, err_msg=path)


@pytest.mark.keras
@pytest.mark.parametrize("case", list(CASES))
def test_matches_keras(case):
    _assert_states_close(_run_eager(case), _run_keras(case))


def _run_flat(case: str, backend: str):
    """Five steps of `flat_update` over one store (eagerly, interpreted or compiled)."""
    params = _params()
    grads = [Variable(np.zeros_like(a), name=f"{n}_grad") for n, a in zip(NAMES, INIT, strict=True)]
    opt = _make(optimizers, case)
    opt.build(params)
    slots = opt.slots
    slot_ids = {id(s) for kind in slots.values() for s in kind}
    regions = {"params": params, "grads": grads, **{f"slot/{k}": v for k, v in slots.items()}}
    variables = [*params, *grads, *(s for k in opt.slot_names for s in slots[k])]
    variables += [v for v in opt.variables if id(v) not in slot_ids]
    mask = opt.weight_decay_mask()

    def step(flat):
        flat_slots = {k: flat[f"slot/{k}"] for k in opt.slot_names}
        opt.flat_update(flat["params"], flat["grads"], flat_slots, mask)

    if backend == "eager":
        store = VariableStore(variables, regions)
        run = lambda: step(store.regions)  # noqa: E731
    else:
        run = update_program(step, variables, regions, backend)
    for step_grads in GRADS:
        for holder, g in zip(grads, opt.clip_each(step_grads), strict=True):
            holder.assign(g)
        run()
    return _state(opt, params)


@pytest.mark.parametrize("backend", ["eager", "numpy"])
@pytest.mark.parametrize("case", list(CASES))
def test_flat_update_matches_per_variable(case, backend):
    _assert_states_close(_run_flat(case, backend), _run_eager(case))


@pytest.mark.parametrize("case", COMPILED)
def test_flat_update_compiled(case):
    _assert_states_close(_run_flat(case, "cpu"), _run_eager(case))


def _run_tape(case: str, constraint=None):
    """Five steps of `apply_gradients` on a gradient tape's gradients (the compiled update of a tape)."""
    params = _params()
    params[0].constraint = constraint
    opt = _make(optimizers, case)
    for step_grads in GRADS:
        with kgraph.GradientTape() as tape:
            # d/dp sum(p * g) = g: the tape's gradients are this step's GRADS
            loss = sum(kgraph.ops.sum(p * g) for p, g in zip(params, step_grads, strict=True))
        grads = tape.gradient(loss, params)
        opt.apply_gradients(zip(grads, params, strict=True))
    return _state(opt, params)


@pytest.mark.parametrize("case", ["sgd_momentum", "sgd_clipnorm", "sgd_global_clipnorm", *COMPILED])
def test_tape_gradients_update_as_eager(case):
    """The flat one-kernel update of tape gradients (or the per-weight one, with `clipnorm`) equals the
    eager update."""
    _assert_states_close(_run_tape(case), _run_eager(case))


def test_tape_update_is_one_kernel_for_all_weights():
    params = _params()
    opt = optimizers.Adam()
    with kgraph.GradientTape() as tape:
        loss = kgraph.ops.sum(params[0]) + kgraph.ops.sum(params[1])
    opt.apply_gradients(zip(tape.gradient(loss, params), params, strict=True))
    (program,) = opt._tape_updates.values()
    kernels = [k for k in program.program.graph.fusion.kernels if k.kind != "view"]
    assert len(kernels) == 1, [k.name for k in kernels]


def test_tape_update_applies_constraints():
    from kgraph import constraints

    ours = _run_tape("adam", constraint=constraints.NonNeg())
    params = _params()
    opt = _make(optimizers, "adam")
    for grads in GRADS:
        opt.apply_gradients(zip(grads, params, strict=True))
        params[0].assign(np.maximum(params[0].numpy(), 0.0))
    _assert_states_close(ours, _state(opt, params))
    assert (ours["kernel"] >= 0).all() and (ours["kernel"] == 0).any()


@pytest.mark.parametrize("case", ["adam_global_clipnorm", "rmsprop_piecewise"])
def test_apply_traced_matches_eager(case):
    params = _params()
    grads = [Variable(np.zeros_like(a), name=f"{n}_grad") for n, a in zip(NAMES, INIT, strict=True)]
    opt = _make(optimizers, case)
    opt.build(params)
    run = update_program(lambda _: opt.apply(grads, params), [*params, *grads, *opt.variables])
    for step_grads in GRADS:
        for holder, g in zip(grads, step_grads, strict=True):
            holder.assign(g)
        run()
    _assert_states_close(_state(opt, params), _run_eager(case))


def test_compiled_step_reads_the_learning_rate_at_run_time():
    """Callbacks set `learning_rate` between steps; the compiled step must see it without recompiling."""
    params = _params()
    grads = [Variable(g.copy()) for g in GRADS[0]]
    opt = optimizers.SGD(learning_rate=0.1)
    opt.build(params)
    run = update_program(
        lambda flat: opt.flat_update(flat["p"], flat["g"], {}),
        [*params, *grads, *opt.variables],
        {"p": params, "g": grads},
        backend="cpu",
    )
    run()
    after_one = params[0].numpy()
    opt.learning_rate = 0.0
    run()
    np.testing.assert_array_equal(params[0].numpy(), after_one)
    opt.learning_rate = 1.0
    run()
    np.testing.assert_allclose(params[0].numpy(), after_one - GRADS[0][0], rtol=1e-6)
    assert float(opt.iterations.numpy()) == 3.0


def test_flat_update_is_one_kernel_for_all_weights():
    """The whole Adam step over the flat vectors fuses into few kernels, whatever the number of weights."""
    from kgraph.passes.pipeline import run_pipeline
    from kgraph.variables import order_writes_after_reads

    params = _params()
    grads = [Variable(np.zeros_like(a)) for a in INIT]
    opt = optimizers.Adam()
    opt.build(params)
    slots = opt.slots
    store = VariableStore(
        [*params, *grads, *slots["momentum"], *slots["velocity"], *opt.variables[:2]],
        {"p": params, "g": grads, "m": slots["momentum"], "v": slots["velocity"]},
    )
    graph = Graph()
    with tracing(graph):
        opt.flat_update(
            store.regions["p"],
            store.regions["g"],
            {"momentum": store.regions["m"], "velocity": store.regions["v"]},
        )
    order_writes_after_reads(graph)
    planned = run_pipeline(graph, 1)
    vector_kernels = [
        k
        for k in planned.fusion.kernels
        if k.kind != "view" and any(planned.type(n).shape == (16,) for n in k.nodes)
    ]
    assert len(vector_kernels) == 1


# --- constructor arguments ------------------------------------------------------------------------------
def test_lr_is_an_alias_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        opt = optimizers.SGD(lr=0.5)
    assert opt.learning_rate == pytest.approx(0.5)
    assert opt.get_config()["learning_rate"] == pytest.approx(0.5)


def test_decay_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="no longer supported"):
        opt = optimizers.Adam(decay=0.1)
    assert "decay" not in opt.get_config()


def test_unknown_argument_is_rejected_like_keras():
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'momentun': 0.9\}"):
        optimizers.SGD(momentun=0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"clipnorm": 1.0, "clipvalue": 1.0}, "Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"),
        ({"use_ema": True}, "use_ema"),
        ({"gradient_accumulation_steps": 2}, "gradient_accumulation_steps"),
        ({"loss_scale_factor": 128.0}, "loss_scale_factor"),
        ({"learning_rate": "fast"}, "Argument `learning_rate` should be float"),
        ({"momentum": 1.5}, "`momentum` must be a float between"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.SGD(**kwargs)


def test_adamw_needs_weight_decay():
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)


def test_learning_rate_setter_updates_the_variable_read_by_programs():
    opt = optimizers.SGD(learning_rate=0.1)
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25
    assert float(opt.current_learning_rate()) == 0.25
    assert opt.variables[1].path == f"{opt.name}/learning_rate"


def test_schedule_learning_rate_follows_iterations_and_cannot_be_set():
    opt = optimizers.SGD(learning_rate=optimizers.schedules.ExponentialDecay(1.0, 1, 0.5))
    assert [v.path for v in opt.variables] == [f"{opt.name}/iteration"]
    w = Variable(np.zeros(2, np.float32))
    opt.apply_gradients([(np.ones(2, np.float32), w)])
    opt.apply_gradients([(np.ones(2, np.float32), w)])
    assert opt.learning_rate == 0.25
    np.testing.assert_allclose(w.numpy(), [-1.5, -1.5])
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1


def test_default_names_follow_keras():
    first, second = optimizers.RMSprop(), optimizers.RMSprop()
    assert first.name.startswith("rm_sprop") and second.name != first.name
    assert optimizers.AdamW().name.startswith("adam_w")


def test_missing_gradient_is_skipped_with_a_warning():
    params = _params()
    opt = optimizers.SGD(learning_rate=0.1)
    with pytest.warns(UserWarning, match="Gradients do not exist for variables \\['bias'\\]"):
        opt.apply_gradients([(GRADS[0][0], params[0]), (None, params[1])])
    np.testing.assert_array_equal(params[1].numpy(), INIT[1])
    assert float(opt.iterations.numpy()) == 1.0


def test_empty_gradients_are_a_no_op():
    opt = optimizers.Adam()
    opt.apply([])
    assert float(opt.iterations.numpy()) == 0.0


def test_unknown_variable_is_rejected():
    params = _params()
    opt = optimizers.SGD()
    opt.build(params[:1])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(GRADS[0][1], params[1])])


def test_slots_by_name_and_variable():
    params = _params()
    opt = optimizers.RMSprop(momentum=0.5, centered=True, name="opt")
    opt.build(params)
    assert opt.slot_names == ["velocity", "momentum", "average_gradient"]
    assert opt.slot(params[1], "momentum").path == "opt/bias_momentum"
    assert opt.slots["momentum"][1] is opt.slot(params[1], "momentum")
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.slot(Variable(np.zeros(2, np.float32), name="other"), "momentum")
    assert optimizers.Adagrad().slot_initial_value("accumulator") == 0.1


def test_weight_decay_mask():
    params = _params()
    opt = optimizers.AdamW()
    assert opt.weight_decay_mask(params) is None
    opt.exclude_from_weight_decay(var_list=[params[1]])
    np.testing.assert_array_equal(opt.weight_decay_mask(params), [1.0] * 12 + [0.0] * 4)
    assert optimizers.Adam().weight_decay_mask(params) is None


def test_save_and_load_own_variables():
    params = _params()
    opt = optimizers.Adam()
    opt.apply_gradients(zip(GRADS[0], params, strict=True))
    store = {}
    opt.save_own_variables(store)
    other = optimizers.Adam()
    other.build(params)
    other.load_own_variables(store)
    for a, b in zip(opt.variables, other.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- config and lookup ----------------------------------------------------------------------------------
CONFIG_CASES = [
    ("SGD", {"momentum": 0.9, "nesterov": True, "clipnorm": 1.0}),
    ("Adam", {"amsgrad": True, "global_clipnorm": 2.0}),
    ("AdamW", {"learning_rate": 0.003}),
    ("RMSprop", {"centered": True, "clipvalue": 0.5, "weight_decay": 0.01}),
    ("Adagrad", {"initial_accumulator_value": 0.2}),
]


@pytest.mark.keras
@pytest.mark.parametrize("cls_name, kwargs", CONFIG_CASES)
def test_config_matches_keras(cls_name, kwargs):
    keras = _keras()
    ours = getattr(optimizers, cls_name)(name="opt", **kwargs)
    theirs = getattr(keras.optimizers, cls_name)(name="opt", **kwargs)
    assert optimizers.serialize(ours) == keras.optimizers.serialize(theirs)
    rebuilt = optimizers.deserialize(keras.optimizers.serialize(theirs))
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()


@pytest.mark.keras
def test_schedule_config_matches_keras():
    keras = _keras()
    ours = optimizers.Adam(
        name="opt", learning_rate=optimizers.schedules.CosineDecay(0.1, 100, warmup_target=0.2)
    )
    theirs = keras.optimizers.Adam(
        name="opt", learning_rate=keras.optimizers.schedules.CosineDecay(0.1, 100, warmup_target=0.2)
    )
    assert optimizers.serialize(ours) == keras.optimizers.serialize(theirs)
    rebuilt = optimizers.deserialize(optimizers.serialize(ours))
    assert rebuilt.get_config() == ours.get_config()
    assert isinstance(rebuilt._learning_rate, optimizers.schedules.CosineDecay)


@pytest.mark.parametrize("cls_name, kwargs", CONFIG_CASES)
def test_config_round_trip(cls_name, kwargs):
    opt = getattr(optimizers, cls_name)(**kwargs)
    assert type(opt).from_config(opt.get_config()).get_config() == opt.get_config()


def test_get():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("adamw"), optimizers.AdamW)
    assert isinstance(optimizers.get({"class_name": "SGD", "config": {"momentum": 0.5}}), optimizers.SGD)
    opt = optimizers.Adagrad()
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: nadam. kgraph does not"):
        optimizers.get("nadam")
    with pytest.raises(
        ValueError, match=r"Valid names are: \['Adagrad', 'Adam', 'AdamW', 'RMSprop', 'SGD'\]"
    ):
        optimizers.get("sgdd")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(optimizers.SGD)


def test_deserialize_custom_class():
    class MySGD(optimizers.SGD):
        pass

    config = optimizers.serialize(MySGD(momentum=0.3))
    assert config["registered_name"] == "MySGD"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rebuilt = optimizers.deserialize(config, custom_objects={"MySGD": MySGD})
    assert isinstance(rebuilt, MySGD) and rebuilt.momentum == 0.3
