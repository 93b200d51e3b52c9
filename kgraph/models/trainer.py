"""compile / fit / evaluate / predict and the *_on_batch methods, driving compiled programs.

Each call prepares the data once (float32 rows), then hands batches to a native loop `steps_per_execution`
steps at a time; callbacks and the progress bar run between those calls. Loss and metric values accumulate in
variables inside the compiled step, so logs are read from the store, not recomputed.
"""

from __future__ import annotations

import math
import time

import numpy as np

from kgraph import callbacks as callbacks_module
from kgraph import optimizers as optimizers_module
from kgraph.codegen.threads import SPLIT_MIN_BATCH
from kgraph.models import data as data_utils
from kgraph.models.compile_utils import CompiledLoss, CompiledMetrics, resolve_loss
from kgraph.models.custom_step import KerasStepAPI, custom_step_graph
from kgraph.models.programs import (
    ModelState,
    build_program,
    predict_graph,
    predict_rows,
    test_graph,
    train_graph,
)
from kgraph.runtime.store import VariableStore

_TARGET_SECONDS_PER_CALL = 0.05  # how long one native call may run before the progress bar updates


class Trainer(KerasStepAPI):
    def __init__(self):
        self.compiled = False
        self.stop_training = False
        self.optimizer = None
        self.history = None
        self._reset_compiled_programs()

    def _reset_compiled_programs(self) -> None:
        self._programs: dict = {}
        self._predict_rows: dict = {}  # the most rows each predict program runs at a time
        # The last predict call's (rows a batch, input shapes) and its program: a loop of batch-1 predicts
        # skips `_program` (~1 us of a 10 us call). Forgotten when a program is built.
        self._last_predict: tuple = ((), None)
        self._output_shapes: list[tuple] | None = None  # each output's shape after the batch axis
        self._state: ModelState | None = None
        self._predict_store: VariableStore | None = None

    # --- compile -----------------------------------------------------------------------------------
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution="auto",
        jit_compile="auto",
        auto_scale_loss=True,
    ) -> None:
        """Configures training (Keras's signature).

        `steps_per_execution` is how many batches one native call runs; 'auto' (kgraph's default) picks it so
        that each call takes about 50 ms, keeping the progress bar and callbacks responsive.
        """
        self.optimizer = optimizers_module.get(optimizer)
        for spec in (
            loss.values() if isinstance(loss, dict) else loss if isinstance(loss, list | tuple) else [loss]
        ):
            resolve_loss(spec)  # unknown names fail here, at compile time
        if steps_per_execution != "auto" and (
            not isinstance(steps_per_execution, int) or steps_per_execution < 1
        ):
            raise ValueError(
                f"`steps_per_execution` must be 'auto' or a positive integer, received "
                f"{steps_per_execution!r}."
            )
        self._compile_args = (loss, loss_weights, metrics, weighted_metrics)
        self._compiled_loss = None
        self._compiled_metrics = None
        self.steps_per_execution = steps_per_execution
        self.compiled = True
        self._reset_compiled_programs()

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before calling `{method}()`.")

    # --- state and programs ------------------------------------------------------------------------
    def _check_input_arrays(self, xs: list[np.ndarray]) -> None:
        if not self.built:
            self._build_from_data_shape(xs[0].shape)
        expected = [t.shape for t in self.inputs]
        if len(xs) != len(expected):
            raise ValueError(
                f"Model '{self.name}' expects {len(expected)} input(s), but it received {len(xs)} "
                "input arrays."
            )
        for i, (x, shape) in enumerate(zip(xs, expected, strict=True)):
            if tuple(x.shape[1:]) != tuple(shape[1:]):
                raise ValueError(
                    f"Input {i} of model '{self.name}' is incompatible: expected shape "
                    f"{(None, *shape[1:])}, but received input with shape {(None, *x.shape[1:])}."
                )

    def _loss_object(self) -> CompiledLoss:
        if self._compiled_loss is None:
            loss, loss_weights, _, _ = self._compile_args
            self._compiled_loss = CompiledLoss(loss, loss_weights, self.output_names)
        return self._compiled_loss

    def _ensure_state(self, y_shapes) -> ModelState:
        if self._state is None:
            _, _, metrics, weighted_metrics = self._compile_args
            self._loss_object()
            self._compiled_metrics = CompiledMetrics(metrics, weighted_metrics, self.output_names)
            self._compiled_metrics.build(y_shapes, [t.shape for t in self.outputs])
            self._state = ModelState(self)
            self._predict_store = None
        return self._state

    def _store_array(self) -> tuple[np.ndarray, dict]:
        if self._state is not None:
            store = self._state.store
        else:
            if self._predict_store is None:
                self._predict_store = VariableStore(list(self.weights))
            store = self._predict_store
        store.claim()  # a gradient tape may have moved the weights into its own store
        return store.array, store.layout

    def _program(self, kind: str, batch_size: int, x_shapes, y_shapes=(), weighted: bool = False):
        """The compiled program for `batch_size` rows a batch: one that runs as many or more, or a new one.
        Predicting runs a large batch a part at a time (`predict_rows`), and a few rows (latency) with a
        program of their own, not with one sized for thousands."""
        # Programs hold no row count (their arena fits `batch_size` rows): keyed by each row's shape, so
        # that inputs of other lengths share them instead of each building (and keeping) its own.
        key = (kind, tuple(tuple(s)[1:] for s in x_shapes), tuple(tuple(s)[1:] for s in y_shapes), weighted)
        if kind == "predict":
            key += (batch_size < SPLIT_MIN_BATCH,)
            batch_size = min(batch_size, self._predict_rows.get(key, batch_size))
        program = self._programs.get(key)
        if program is None or program.batch_size < batch_size:
            if kind in ("train", "test") and self._overrides(f"{kind}_step"):
                return self._custom_step_program(key, kind, batch_size, x_shapes, y_shapes, weighted)
            if kind == "train":
                graph = train_graph(self, self._state, x_shapes, y_shapes, weighted)
            elif kind == "test":
                graph = test_graph(self, self._state, x_shapes, y_shapes, weighted)
            else:
                graph = predict_graph(self, x_shapes)
                self._predict_rows[key] = predict_rows(graph)
                batch_size = min(batch_size, self._predict_rows[key])
            _, layout = self._store_array()
            program = build_program(graph, layout, batch_size, f"{self.name} {kind} step")
            self._programs[key] = program
            self._last_predict = ((), None)
        return program

    def _custom_step_program(self, key, kind: str, batch_size: int, x_shapes, y_shapes, weighted: bool):
        """The model's own train_step / test_step, traced and compiled (see `custom_step`)."""
        graph, holders = custom_step_graph(self, kind, x_shapes, y_shapes, weighted)
        self._state.adopt(list(graph.nx.graph.get("variable_objects", {}).values()))
        _, layout = self._store_array()
        program = build_program(graph, layout, batch_size, f"{self.name} custom {kind} step")
        program.log_holders = holders
        self._programs[key] = program
        return program

    # --- data --------------------------------------------------------------------------------------
    def _prepare(self, x, y=None, sample_weight=None, class_weight=None):
        xs = [
            data_utils.as_float_array(a, f"x[{i}]" if i else "x")
            for i, a in enumerate(data_utils.flatten_structure(x, self.input_names, "inputs"))
        ]
        if not xs:
            raise ValueError("Unexpected value for `x`: None. Provide the input data.")
        self._check_input_arrays(xs)
        ys = [
            data_utils.as_float_array(a, f"y[{i}]" if i else "y")
            for i, a in enumerate(data_utils.flatten_structure(y, self.output_names, "outputs"))
        ]
        if y is not None and len(ys) != len(self.outputs):
            raise ValueError(
                f"Model '{self.name}' has {len(self.outputs)} output(s) but {len(ys)} target "
                "array(s) were given."
            )
        groups = {"x": xs, "y": ys}
        total = data_utils.check_cardinality(groups)
        sws = data_utils.sample_weights(sample_weight, class_weight, ys, total) if ys else []
        if ys and self.compiled:
            self._check_targets(ys)
        return xs, ys, sws

    def _check_targets(self, ys) -> None:
        for index, (y, out) in enumerate(zip(ys, self.outputs, strict=True)):
            loss = self._loss_object().losses[index]
            name = getattr(getattr(loss, "fn", None), "__name__", "") or getattr(loss, "name", "")
            if "sparse_categorical" in name:
                classes = out.shape[-1]
                if y.size and (y.min() < 0 or y.max() >= classes or np.any(y != np.rint(y))):
                    bad = y[(y < 0) | (y >= classes) | (y != np.rint(y))][:5].tolist()
                    raise ValueError(
                        f"Received a label value outside the valid range for output "
                        f"'{self.output_names[index]}': sparse categorical labels must be integers "
                        f"in [0, {classes}), found {bad}."
                    )

    # --- running -----------------------------------------------------------------------------------
    def _run_epoch(self, program, arrays, order, steps, on_batch_begin, on_batch_end) -> None:
        """Runs `steps` batches, `steps_per_execution` at a time; callbacks between native calls."""
        store, _ = self._store_array()
        step = 0
        auto = self.steps_per_execution == "auto"
        # 'auto' starts with one step (it may compile), then sizes calls from the measured step time; the size
        # carries over to the program's next epoch.
        chunk = getattr(program, "auto_chunk", 1) if auto else self.steps_per_execution
        while step < steps and not self.stop_training:
            count = min(chunk, steps - step)
            on_batch_begin(step)
            start = time.perf_counter()
            program.run(store, arrays, order, step, count)
            elapsed = time.perf_counter() - start
            step += count
            on_batch_end(step - 1)
            if auto:
                chunk = max(1, int(_TARGET_SECONDS_PER_CALL * count / max(elapsed, 1e-9)))
                program.auto_chunk = chunk

    def _logs(self, program=None) -> dict:
        holders = getattr(program, "log_holders", None)
        if holders is not None:  # a custom step: the values it returned
            return {name: float(read()) for name, read in holders.items()}
        return self._state.logs()

    def _reset_metrics(self) -> None:
        self._state.reset_trackers()
        self._compiled_metrics.reset()
        for metric in self.metrics:  # a custom step's own trackers too, as Keras resets `model.metrics`
            metric.reset_state()

    reset_metrics = _reset_metrics

    @property
    def metrics_names(self) -> list[str]:
        if self._state is None:
            return []
        return list(self._logs())

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Trains the model for `epochs` epochs (Keras's signature); returns a `History`."""
        self._require_compiled("fit")
        if y is None:
            raise ValueError("`fit()` needs targets: pass `y` along with `x`.")
        batch_size = int(batch_size or 32)
        if validation_split and validation_data is None:
            arrays = [
                data_utils.as_float_array(a, "x")
                for a in data_utils.flatten_structure(x, self.input_names if self.built else ["x"], "inputs")
            ]
            targets = data_utils.flatten_structure(y, self.output_names if self.built else ["y"], "outputs")
            weights = [sample_weight] if sample_weight is not None else []
            (train_parts, val_parts) = data_utils.split_validation(
                arrays + list(targets) + weights, validation_split
            )
            n_x, n_y = len(arrays), len(targets)
            x, y = train_parts[:n_x], train_parts[n_x : n_x + n_y]
            validation_data = (val_parts[:n_x], val_parts[n_x : n_x + n_y], *val_parts[n_x + n_y :])
            sample_weight = train_parts[n_x + n_y] if weights else None
            x = x if len(x) > 1 else x[0]
            y = y if len(y) > 1 else y[0]
        xs, ys, sws = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_state([a.shape for a in ys])
        program = self._program("train", batch_size, [a.shape for a in xs], [a.shape for a in ys], bool(sws))
        arrays = [data_utils.rows_2d(a) for a in xs + ys + sws]
        total = len(xs[0])
        steps = steps_per_epoch or data_utils.num_batches(total, batch_size)
        verbose = 1 if verbose == "auto" else verbose
        callback_list = callbacks_module.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )
        self.stop_training = False
        callback_list.on_train_begin()
        # BackupAndRestore restores a backup in on_train_begin and says where to resume (Keras's protocol).
        initial_epoch, self._initial_epoch = getattr(self, "_initial_epoch", None) or initial_epoch, None
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            callback_list.on_epoch_begin(epoch)
            order = np.random.permutation(total) if shuffle else np.arange(total)
            self._run_epoch(
                program,
                arrays,
                order,
                steps,
                callback_list.on_train_batch_begin,
                lambda b: callback_list.on_train_batch_end(b, self._logs(program)),
            )
            logs = self._logs(program)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                val = validation_data
                val_logs = self.evaluate(
                    val[0],
                    val[1],
                    sample_weight=val[2] if len(val) > 2 else None,
                    batch_size=validation_batch_size or batch_size,
                    verbose=0,
                    return_dict=True,
                    _callbacks=callback_list,
                )
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end(logs)
        return self.history  # the History callback sets it

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
        _callbacks=None,
    ):
        """Returns the loss and metrics on the data (scalar, list, or dict with `return_dict=True`)."""
        self._require_compiled("evaluate")
        batch_size = int(batch_size or 32)
        xs, ys, sws = self._prepare(x, y, sample_weight)
        if not ys:
            raise ValueError("`evaluate()` needs targets: pass `y` along with `x`.")
        self._ensure_state([a.shape for a in ys])
        program = self._program("test", batch_size, [a.shape for a in xs], [a.shape for a in ys], bool(sws))
        total = len(xs[0])
        steps = steps or data_utils.num_batches(total, batch_size)
        verbose = 1 if verbose == "auto" else verbose
        callback_list = _callbacks or callbacks_module.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps
        )
        self._reset_metrics()
        callback_list.on_test_begin()
        arrays = [data_utils.rows_2d(a) for a in xs + ys + sws]
        self._run_epoch(
            program,
            arrays,
            np.arange(total),
            steps,
            callback_list.on_test_batch_begin,
            lambda b: callback_list.on_test_batch_end(b, self._logs(program)),
        )
        logs = self._logs(program)
        callback_list.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Returns the model's outputs on `x` as numpy arrays (one, or a list for several outputs)."""
        batch_size = int(batch_size or 32)
        verbose = 1 if verbose == "auto" else verbose
        if verbose == 0 and callbacks is None:
            fast = self._predict_quietly(x, batch_size)
            if fast is not None:
                return fast
        xs, _, _ = self._prepare(x)
        total = len(xs[0])
        steps = data_utils.num_batches(total, batch_size)
        callback_list = callbacks_module.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps
        )
        callback_list.on_predict_begin()
        outputs = self._run_predict(xs, batch_size)
        callback_list.on_predict_batch_end(steps - 1, {})
        callback_list.on_predict_end()
        return outputs

    def _run_predict(self, xs: list[np.ndarray], batch_size: int):
        total = len(xs[0])
        call = (batch_size, *(a.shape for a in xs))
        last_call, program = self._last_predict
        if call != last_call:
            program = self._program("predict", batch_size, [a.shape for a in xs])
            self._last_predict = (call, program)
        if self._output_shapes is None:
            self._output_shapes = [tuple(t.shape[1:]) for t in self.outputs]
        results = [np.empty((total, math.prod(shape)), np.float32) for shape in self._output_shapes]
        store, _ = self._store_array()
        nan_row = program.run(
            store,
            [a.reshape(total, -1) for a in xs],
            program.identity_order(total),
            0,
            data_utils.num_batches(total, program.batch_size),
            results,
        )
        if nan_row >= 0:  # the compiled loop checks the rows it copies
            raise ValueError(
                f"x contains NaN values (row {nan_row}). Clean or impute the data before predicting."
            )
        shapes = self._output_shapes
        outputs = [r if len(s) == 1 else r.reshape((total, *s)) for r, s in zip(results, shapes, strict=True)]
        return self._structured(outputs[0] if len(outputs) == 1 else outputs)

    def _predict_quietly(self, x, batch_size: int):
        """The low-latency path for one float32 array on a built model (None when `x` needs the general path).

        The NaN check `_prepare` makes happens inside the compiled loop, as it copies the rows.
        """
        if not (
            isinstance(x, np.ndarray)
            and x.dtype == np.float32
            and x.flags.c_contiguous
            and self.built
            and len(self.inputs) == 1
            and x.ndim >= 2
            and x.shape[1:] == tuple(self.inputs[0].shape[1:])
        ):
            return None
        return self._run_predict([x], batch_size)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns loss (and metrics) accumulated since the last reset."""
        self._require_compiled("train_on_batch")
        xs, ys, sws = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_state([a.shape for a in ys])
        total = len(xs[0])
        program = self._program("train", total, [a.shape for a in xs], [a.shape for a in ys], bool(sws))
        store, _ = self._store_array()
        program.run(store, [data_utils.rows_2d(a) for a in xs + ys + sws], np.arange(total), 0, 1)
        return self._flat_logs(return_dict, program)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        xs, ys, sws = self._prepare(x, y, sample_weight)
        self._ensure_state([a.shape for a in ys])
        total = len(xs[0])
        program = self._program("test", total, [a.shape for a in xs], [a.shape for a in ys], bool(sws))
        self._reset_metrics()
        store, _ = self._store_array()
        program.run(store, [data_utils.rows_2d(a) for a in xs + ys + sws], np.arange(total), 0, 1)
        return self._flat_logs(return_dict, program)

    def predict_on_batch(self, x):
        fast = self._predict_quietly(x, len(x)) if isinstance(x, np.ndarray) else None
        if fast is not None:
            return fast
        xs, _, _ = self._prepare(x)
        return self._run_predict(xs, len(xs[0]))

    def _flat_logs(self, return_dict: bool, program=None):
        logs = self._logs(program)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # --- inspection ---------------------------------------------------------------------------------
    def memory_report(self) -> str:
        """The memory plans of the programs compiled so far."""
        return "\n".join(
            f"{kind}: {p.graph.memory}"
            for (kind, *_), p in self._programs.items()
            if getattr(p.graph, "memory", None) is not None
        )

    def explain_fusion(self) -> str:
        """The kernels of each compiled program and why other fusions were not taken."""
        return "\n".join(f"{kind}: {p.graph.fusion}" for (kind, *_), p in self._programs.items())

    def profile_kernels(self, kind: str = "train", repeats: int = 10, rows: int | None = None) -> str:
        """Times each kernel of the last compiled `kind` program ('train', 'test' or 'predict') on its last
        batch, or on its first `rows` rows. Profiling a training program runs its steps: weights change."""
        from kgraph.runtime.profile import format_profile, profile_kernels

        programs = [p for (k, *_), p in self._programs.items() if k == kind and hasattr(p, "module")]
        if not programs:
            raise ValueError(f"No compiled '{kind}' program to profile: run fit, evaluate or predict first.")
        return format_profile(profile_kernels(programs[-1], self._store_array()[0], repeats, rows))
