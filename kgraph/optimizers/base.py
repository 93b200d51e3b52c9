"""The optimizer base class: Keras 3's constructor, state and update order around a pure per-element rule.

Every optimizer states its math once, as `update_rule(param, grad, slots, lr, step)`, a pure function of
tensors. The same rule then serves two callers:

- `apply_gradients` / `apply`: one variable at a time, eagerly on numpy arrays, or traced when a program is
  being built (the ops then add nodes instead of computing);
- `flat_update`: the compiled training step, where the variable store lays out all trainable weights as one
  flat vector, all gradients as another and each slot kind as a third, so a single fused kernel updates every
  weight at once.

Both follow Keras's order: clip the gradients, decay the weights (`p - p * wd * lr`), apply the rule with the
learning rate of the current iteration and `step = iterations + 1`, then count the iteration.
"""

from __future__ import annotations

import collections
import numbers
import re
import warnings

import numpy as np

from kgraph import ops
from kgraph.ir.builder import origin
from kgraph.optimizers import clipping
from kgraph.optimizers.schedules import LearningRateSchedule
from kgraph.tape_update import apply_compiled
from kgraph.variables import Variable

_name_counts: collections.Counter = collections.Counter()


def _auto_name(class_name: str) -> str:
    """Keras's default object name: snake case, then `_1`, `_2`... for later objects of the same name."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    count = _name_counts[name]
    _name_counts[name] += 1
    return f"{name}_{count}" if count else name


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Optimizer:
    """Base class of optimizers.

    Subclasses set `slot_groups` (the per-weight state they keep) and implement `update_rule`.

    Args:
        learning_rate: a float, or a `keras.optimizers.schedules.LearningRateSchedule` evaluated at every step
            from `iterations`.
        weight_decay: if set, weights are decayed by `p * weight_decay * learning_rate` before each update.
        clipnorm: if set, each weight's gradient is scaled so that its norm is at most this value.
        clipvalue: if set, gradient entries are clipped to `[-clipvalue, clipvalue]`.
        global_clipnorm: if set, all gradients are scaled together so that their global norm is at most this.
        use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps:
            Keras's arguments; only their defaults are supported.
        name: the optimizer's name, the prefix of its variables' paths.
        **kwargs: `lr` (Keras 2's name of `learning_rate`, accepted with a DeprecationWarning) and `decay`
            (ignored with a warning, as in Keras 3).

    Raises:
        ValueError: for an unknown argument, more than one clipping argument, a learning rate that is
            neither a number nor a schedule, or an unsupported feature (EMA, loss scaling, gradient
            accumulation).
    """

    #: Names of per-weight state, in groups: Keras creates the names of a group interleaved per weight,
    #: and the groups one after the other, which fixes the order of `variables`.
    slot_groups: tuple[tuple[str, ...], ...] = ()

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        if "lr" in kwargs:
            # Keras 3 rejects `lr`, tf.keras 2.11+ silently ignored it; a true alias surprises the least.
            warnings.warn(
                "The `lr` argument is deprecated, use `learning_rate` instead.",
                DeprecationWarning,
                stacklevel=3,
            )
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=3)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        unsupported = {
            "use_ema": (use_ema, False),
            "loss_scale_factor": (loss_scale_factor, None),
            "gradient_accumulation_steps": (gradient_accumulation_steps, None),
        }
        for arg, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(f"kgraph optimizers do not support `{arg}` yet. Received: {arg}={value!r}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.name = name or _auto_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.built = False
        self._trainable_variables: list[Variable] = []
        self._indices: dict[int, int] = {}
        self._slots: dict[str, list[Variable]] = {}
        self._exclude_ids: set[int] = set()
        self._exclude_pattern: re.Pattern | None = None
        # Keras counts iterations in an int variable; kgraph's store is float32, exact up to 2**24 steps.
        self._iterations = self._new_variable(0.0, "iteration")
        self._variables = [self._iterations]
        self._learning_rate = None
        self.learning_rate = learning_rate

    # --- state ---------------------------------------------------------------------------------------
    def _new_variable(self, value, name: str) -> Variable:
        variable = Variable(value, name=name, trainable=False)
        variable.path = f"{self.name}/{name}"
        return variable

    @property
    def iterations(self) -> Variable:
        """The number of steps applied so far (a float32 scalar variable)."""
        return self._iterations

    @property
    def variables(self) -> list[Variable]:
        """The variables in Keras's order: iterations, learning rate (unless a schedule), slots."""
        return self._variables[:]

    @property
    def slot_names(self) -> list[str]:
        """The kinds of per-weight state this optimizer keeps, with its current options."""
        return [name for group in self.slot_groups for name in group]

    @property
    def slots(self) -> dict[str, list[Variable]]:
        """Per-weight state by kind: `slots[name][i]` belongs to the i-th variable of `build`."""
        return {name: variables[:] for name, variables in self._slots.items()}

    def slot(self, variable: Variable, slot_name: str) -> Variable:
        """The `slot_name` state of one weight the optimizer was built on (e.g. Adam's "momentum")."""
        if id(variable) not in self._indices:
            raise ValueError(f"Unknown variable: {variable.path}. The optimizer was not built on it.")
        return self._slots[slot_name][self._indices[id(variable)]]

    def slot_initial_value(self, slot_name: str) -> float:
        """The value every entry of a slot starts from (zero unless the optimizer says otherwise)."""
        return 0.0

    def build(self, var_list: list[Variable]) -> None:
        """Creates the slot variables for `var_list` (each shaped like its weight), once."""
        if self.built:
            return
        var_list = list(var_list)
        self._trainable_variables = var_list
        self._indices = {id(v): i for i, v in enumerate(var_list)}
        self._slots = {name: [] for name in self.slot_names}
        for group in self.slot_groups:
            for variable in var_list:
                for slot_name in group:
                    slot = self._new_variable(
                        np.full(variable.shape, self.slot_initial_value(slot_name), np.float32),
                        f"{variable.path.replace('/', '_')}_{slot_name}",
                    )
                    self._slots[slot_name].append(slot)
                    self._variables.append(slot)
        self.built = True

    # --- learning rate -------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate of the current iteration, as a float.

        Setting a float writes it into a variable that compiled programs read at every step, so callbacks can
        change it without recompiling. A schedule's rate cannot be set (TypeError, as in Keras).
        """
        return float(self.current_learning_rate_value())

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, LearningRateSchedule):
            if isinstance(self._learning_rate, Variable):
                self._variables.remove(self._learning_rate)
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not settable. If "
                "you need the learning rate to be settable, you should instantiate the optimizer "
                "with a float `learning_rate` argument."
            )
        value = self._check_learning_rate(value)
        if self._learning_rate is None:
            self._learning_rate = self._new_variable(value, "learning_rate")
            self._variables.insert(1, self._learning_rate)
        else:
            self._learning_rate.assign(value)

    @staticmethod
    def _check_learning_rate(value) -> float:
        if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
            value = value.item()
        if not _is_number(value):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance of LearningRateSchedule. "
                f"Received instead: learning_rate={value}"
            )
        return float(value)

    def current_learning_rate(self):
        """The learning rate of the current iteration as a tensor: read at run time when traced."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return self._learning_rate(self._iterations)
        return self._learning_rate._read()

    def current_learning_rate_value(self) -> np.ndarray:
        """The learning rate of the current iteration, computed eagerly (also while a program is traced)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return np.asarray(self._learning_rate(self._iterations.numpy()), np.float32)
        return self._learning_rate.numpy()

    # --- the per-element math ------------------------------------------------------------------------
    def update_rule(self, param, grad, slots: dict, lr, step) -> tuple:
        """The optimizer's update of one tensor of weights: `(new_param, {slot name: new slot value})`.

        Args:
            param: the weights, already weight-decayed.
            grad: their gradient, already clipped.
            slots: the current value of each slot, by name.
            lr: the learning rate of this step (a scalar tensor).
            step: `iterations + 1` (a float scalar tensor).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `update_rule`.")

    def clip_gradients(self, grads: list) -> list:
        """Clips gradients by `clipnorm`, `global_clipnorm` or `clipvalue`, whichever is set."""
        if self.clipnorm and self.clipnorm > 0:
            return self.clip_each(grads)
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clipping.clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [None if g is None else ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return list(grads)

    def clip_each(self, grads: list) -> list:
        """Applies `clipnorm` to each gradient on its own (identity without `clipnorm`).

        The compiled step calls this on each gradient before storing it, since a norm per weight cannot be
        taken over the flat gradient vector.
        """
        if not (self.clipnorm and self.clipnorm > 0):
            return list(grads)
        return [None if g is None else clipping.clip_by_norm(g, self.clipnorm) for g in grads]

    def apply_weight_decay(self, param, lr, mask=None):
        """`param - param * weight_decay * lr` (times `mask`: 1.0 where weights decay, 0.0 where not)."""
        if self.weight_decay is None:
            return param
        decay = ops.multiply(ops.multiply(param, self.weight_decay), lr)
        if mask is not None:
            decay = ops.multiply(decay, mask)
        return ops.subtract(param, decay)

    # --- weight decay exclusions ---------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Exempts variables from weight decay.

        Args:
            var_list: variables to exempt.
            var_names: substrings (regular expressions); a variable whose name contains one is exempt.
        """
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable: Variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        return self._exclude_pattern is None or self._exclude_pattern.search(variable.name) is None

    def weight_decay_mask(self, var_list: list[Variable] | None = None) -> np.ndarray | None:
        """The flat 1.0/0.0 decay mask over `var_list` (default: the built variables) for `flat_update`.

        None when nothing is excluded (or there is no weight decay): the compiled step needs no mask.
        """
        var_list = self._trainable_variables if var_list is None else var_list
        flags = [self._use_weight_decay(v) for v in var_list]
        if self.weight_decay is None or all(flags):
            return None
        return np.concatenate(
            [
                np.full(int(np.prod(v.shape)), float(f), np.float32)
                for v, f in zip(var_list, flags, strict=True)
            ]
        )

    # --- applying gradients --------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars) -> Variable:
        """Applies `(gradient, variable)` pairs; returns `iterations`."""
        pairs = list(grads_and_vars)
        if apply_compiled(self, pairs):  # a gradient tape's gradients: one compiled update
            return self._iterations
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._iterations

    def apply(self, grads: list, trainable_variables: list[Variable] | None = None) -> None:
        """Updates the variables from their gradients, eagerly, or by adding ops to the program being traced.

        Args:
            grads: one gradient (or None, skipped with a warning) per variable.
            trainable_variables: the variables; optional once the optimizer is built (the first call builds).
        """
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be built "
                    "on a list of variables. Call `optimizer.build(trainable_variables)` first."
                )
            if len(grads) != len(self._trainable_variables):
                raise ValueError(
                    f"When passing `grads` as a list of gradient tensors, the gradients must match "
                    f"`optimizer.variables` one-to-one. Received a list of {len(grads)} gradients, "
                    f"but the optimizer is tracking {len(self._trainable_variables)} trainable "
                    "variables."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            self.build(trainable_variables)
            for v in trainable_variables:
                if id(v) not in self._indices:
                    raise ValueError(
                        f"Unknown variable: {v}. This optimizer can only be called for the variables "
                        "it was originally built with. When working with a new set of variables, "
                        "you should recreate a new optimizer instance."
                    )
        pairs = [(g, v) for g, v in zip(grads, trainable_variables, strict=True) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        missing = [v.path for g, v in zip(grads, trainable_variables, strict=True) if g is None]
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss. If using "
                "`model.compile()`, did you forget to provide a `loss` argument?",
                stacklevel=2,
            )
        grads = self.clip_gradients([g for g, _ in pairs])
        lr = self.current_learning_rate()
        step = ops.add(self._iterations, 1.0)
        for grad, variable in zip(grads, [v for _, v in pairs], strict=True):
            index = self._indices[id(variable)]
            param = variable._read()
            if self._use_weight_decay(variable):
                param = self.apply_weight_decay(param, lr)
            slot_vars = {name: variables[index] for name, variables in self._slots.items()}
            new_param, new_slots = self.update_rule(
                param, grad, {k: s._read() for k, s in slot_vars.items()}, lr, step
            )
            for slot_name, value in new_slots.items():
                slot_vars[slot_name].assign(value)
            variable.assign(new_param)
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                variable.assign(constraint(variable._read()))
        self._iterations.assign_add(1.0)

    def flat_update(
        self,
        params_flat: Variable,
        grads_flat: Variable,
        slots_flat: dict,
        decay_mask_flat: np.ndarray | None = None,
        variables: list[Variable] = (),
    ) -> None:
        """Updates every trainable weight at once from flat views of the variable store.

        Emits (or, outside a trace, computes) the whole step: `global_clipnorm` or `clipvalue` over the flat
        gradient, weight decay under `decay_mask_flat`, the update rule, the writes, and the iteration count.
        `clipnorm` is per weight, so it is not applied here: the caller applies `clip_each` before storing the
        gradients.

        Args:
            params_flat: a flat variable over all trainable weights.
            grads_flat: a flat variable over their gradients, in the same order (or the flat gradient
                itself, a tensor of the program being traced).
            slots_flat: one flat variable per slot name, in the same order.
            decay_mask_flat: 1.0 where weights decay and 0.0 where they are excluded, or None for all.
            variables: the weights `params_flat` covers, in order: their constraints project the updated
                values, as Keras applies them after each update.
        """
        missing = set(self.slot_names) - set(slots_flat)
        if missing:
            raise ValueError(f"{type(self).__name__}.flat_update needs flat slots {sorted(missing)}.")
        grad = grads_flat._read() if isinstance(grads_flat, Variable) else grads_flat
        if self.global_clipnorm and self.global_clipnorm > 0:
            (grad,) = clipping.scale_by_norm([grad], ops.norm(grad), self.global_clipnorm)
        elif self.clipvalue and self.clipvalue > 0:
            grad = ops.clip(grad, -self.clipvalue, self.clipvalue)
        lr = self.current_learning_rate()
        step = ops.add(self._iterations, 1.0)
        param = self.apply_weight_decay(params_flat._read(), lr, decay_mask_flat)
        new_param, new_slots = self.update_rule(
            param, grad, {k: slots_flat[k]._read() for k in self.slot_names}, lr, step
        )
        for slot_name, value in new_slots.items():
            slots_flat[slot_name].assign(value)
        params_flat.assign(new_param)
        self._constrain(params_flat, variables)
        self._iterations.assign_add(1.0)

    @staticmethod
    def _constrain(params_flat: Variable, variables: list[Variable]) -> None:
        if not any(getattr(v, "constraint", None) for v in variables):
            return
        updated = params_flat._read()
        offset = 0
        for v in variables:
            size = int(np.prod(v.shape, dtype=np.int64))
            if getattr(v, "constraint", None) is not None:
                with origin(f"{v.path}/constraint"):
                    v.assign(v.constraint(ops.reshape(updated[offset : offset + size], v.shape)))
            offset += size

    # --- saving --------------------------------------------------------------------------------------
    def set_weights(self, weights: list) -> None:
        """Sets the optimizer's variables (in `variables` order) from arrays."""
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been built. Please "
                "call `optimizer.build(trainable_variables)` to create the optimizer weights before "
                "calling `set_weights()`."
            )
        for variable, weight in zip(self._variables, weights, strict=False):
            if variable.shape != np.shape(weight):
                raise ValueError(
                    f"Optimizer variable {variable.path} has shape {variable.shape} not compatible "
                    f"with provided weight shape {np.shape(weight)}."
                )
            variable.assign(weight)

    def save_own_variables(self, store: dict) -> None:
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store: dict) -> None:
        if len(store.keys()) != len(self._variables):
            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(self._variables)} variables whereas the saved optimizer has {len(store.keys())} "
                "variables.",
                stacklevel=2,
            )
            return
        for i, variable in enumerate(self._variables):
            variable.assign(np.asarray(store[str(i)], np.float32))

    # --- config --------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments (the learning rate as a float, or a serialized schedule)."""
        from kgraph.optimizers import schedules

        if isinstance(self._learning_rate, LearningRateSchedule):
            learning_rate = schedules.serialize(self._learning_rate)
        else:
            learning_rate = float(self._learning_rate.numpy())
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Optimizer:
        from kgraph.optimizers import schedules

        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, learning_rate={self.learning_rate:g}>"
