"""What `compile(loss=..., metrics=...)` resolves to, per model output, with Keras's naming rules."""

from __future__ import annotations

from kgraph import losses as losses_module
from kgraph import metrics as metrics_module


def per_output(spec, output_names: list[str], what: str) -> list:
    """A loss/metrics spec (single, list, or dict by output name) as one entry per output."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(output_names))
        if unknown:
            raise ValueError(
                f"In the dict argument `{what}`, keys {unknown} do not correspond to any model output. "
                f"Received: {what}={spec}. Model output names: {output_names}"
            )
        return [spec.get(name) for name in output_names]
    if isinstance(spec, list | tuple) and len(output_names) > 1 and what != "metrics":
        if len(spec) != len(output_names):
            raise ValueError(
                f"`{what}` should have {len(output_names)} entries (one per output), received {len(spec)}."
            )
        return list(spec)
    if (
        what == "metrics"
        and isinstance(spec, list | tuple)
        and len(output_names) > 1
        and spec
        and all(isinstance(s, list | tuple | dict) or s is None for s in spec)
    ):
        return list(spec)
    return [spec] * len(output_names)


def resolve_loss(identifier):
    if identifier is None:
        return None
    loss = losses_module.get(identifier)
    if not isinstance(loss, losses_module.Loss):
        loss = losses_module.LossFunctionWrapper(loss, name=getattr(loss, "__name__", "loss"))
    return loss


class CompiledLoss:
    """The total loss: the weighted sum of the outputs' losses (regularization is added by the caller)."""

    def __init__(self, loss, loss_weights, output_names: list[str]):
        self.output_names = output_names
        self.losses = [resolve_loss(spec) for spec in per_output(loss, output_names, "loss")]
        if all(loss is None for loss in self.losses):
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        weights = (
            per_output(loss_weights, output_names, "loss_weights")
            if loss_weights is not None
            else [1.0] * len(output_names)
        )
        self.weights = [1.0 if w is None else float(w) for w in weights]

    def __call__(self, y_trues, y_preds, sample_weights):
        """Returns (total, [per-output loss or None])."""
        total, parts = 0.0, []
        for loss, weight, yt, yp, sw in zip(
            self.losses, self.weights, y_trues, y_preds, sample_weights, strict=True
        ):
            if loss is None:
                parts.append(None)
                continue
            value = loss(yt, yp, sample_weight=sw)
            parts.append(value)
            total = total + (value * weight if weight != 1.0 else value)
        return total, parts


def _accuracy_for(identifier: str, y_true_shape, y_pred_shape):
    """Keras's choice behind 'accuracy'/'acc': binary, sparse categorical or categorical."""
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    if is_binary:
        return metrics_module.BinaryAccuracy(name=identifier)
    if is_sparse:
        return metrics_module.SparseCategoricalAccuracy(name=identifier)
    return metrics_module.CategoricalAccuracy(name=identifier)


def resolve_metric(identifier, y_true_shape, y_pred_shape):
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return _accuracy_for(identifier, y_true_shape, y_pred_shape)
    metric = metrics_module.get(identifier)
    if not isinstance(metric, metrics_module.Metric):
        name = identifier if isinstance(identifier, str) else getattr(metric, "__name__", "metric")
        metric = metrics_module.MeanMetricWrapper(metric, name=name)
    elif isinstance(identifier, str):
        metric.name = identifier
    return metric


class CompiledMetrics:
    """Metric objects per output; their names are prefixed by the output's name when there are several."""

    def __init__(self, metrics, weighted_metrics, output_names: list[str]):
        self.specs = per_output(metrics, output_names, "metrics") if metrics else [None] * len(output_names)
        self.weighted_specs = (
            per_output(weighted_metrics, output_names, "metrics")
            if weighted_metrics
            else [None] * len(output_names)
        )
        self.output_names = output_names
        self.metrics: list[tuple[int, object, bool]] = []  # (output index, metric, weighted)
        self.built = False

    def build(self, y_true_shapes, y_pred_shapes) -> None:
        if self.built:
            return
        prefix = len(self.output_names) > 1
        for weighted, specs in ((False, self.specs), (True, self.weighted_specs)):
            for index, spec in enumerate(specs):
                if spec is None:
                    continue
                for identifier in spec if isinstance(spec, list | tuple) else [spec]:
                    metric = resolve_metric(identifier, y_true_shapes[index], y_pred_shapes[index])
                    if prefix:
                        metric.name = f"{self.output_names[index]}_{metric.name}"
                    self.metrics.append((index, metric, weighted))
        self.built = True

    def update(self, y_trues, y_preds, sample_weights) -> None:
        for index, metric, weighted in self.metrics:
            metric.update_state(
                y_trues[index], y_preds[index], sample_weight=sample_weights[index] if weighted else None
            )

    @property
    def variables(self) -> list:
        return [v for _, metric, _ in self.metrics for v in metric.variables]

    def results(self) -> dict[str, float]:
        return {metric.name: _as_float(metric.result()) for _, metric, _ in self.metrics}

    def reset(self) -> None:
        for _, metric, _ in self.metrics:
            metric.reset_state()


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
