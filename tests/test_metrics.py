"""Metrics: stateful accumulation against numpy formulas and Keras 3, traced updates, reset, config, get."""

import inspect
import os

import numpy as np
import pytest

from kgraph import losses, metrics
from kgraph.testing import run_traced

RTOL, ATOL = 1e-5, 1e-6
N, C, BATCH = 24, 5, 8
EPS = 1e-7


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, N)
    probs = rng.random((N, C)).astype(np.float32) + 0.01
    probs[np.arange(8), labels[:8]] += 1.0  # some right answers, so accuracies are not all near chance
    probs /= probs.sum(1, keepdims=True)
    return {
        "binary": ((rng.random((N, 1)) > 0.5).astype(np.float32), rng.random((N, 1)).astype(np.float32)),
        "categorical": (np.eye(C, dtype=np.float32)[labels], probs),
        "sparse": (labels.astype(np.float32), probs),
        "sparse_column": (labels[:, None].astype(np.float32), probs),
        "multilabel": ((rng.random((N, C)) > 0.6).astype(np.float32), rng.random((N, C)).astype(np.float32)),
        "regression": (
            rng.normal(size=(N, C)).astype(np.float32),
            rng.normal(size=(N, C)).astype(np.float32),
        ),
        "positive": (
            (rng.random((N, C)) + 0.5).astype(np.float32),
            (rng.random((N, C)) + 0.2).astype(np.float32),
        ),
        "logits": ((rng.random((N, 1)) > 0.5).astype(np.float32), rng.normal(size=(N, 1)).astype(np.float32)),
    }


DATA = _data()
WEIGHTS = np.random.default_rng(1).random(N).astype(np.float32)

# (id, class name, constructor kwargs, data kind)
CASES = [
    ("accuracy", "Accuracy", {}, "binary_rounded"),
    ("binary_accuracy", "BinaryAccuracy", {}, "binary"),
    ("binary_accuracy_threshold", "BinaryAccuracy", {"threshold": 0.7}, "binary"),
    ("categorical_accuracy", "CategoricalAccuracy", {}, "categorical"),
    ("sparse_categorical_accuracy", "SparseCategoricalAccuracy", {}, "sparse"),
    ("sparse_categorical_accuracy_column", "SparseCategoricalAccuracy", {}, "sparse_column"),
    ("top_k", "TopKCategoricalAccuracy", {"k": 2}, "categorical"),
    ("sparse_top_k", "SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("sparse_top_k_column", "SparseTopKCategoricalAccuracy", {"k": 2}, "sparse_column"),
    ("mse", "MeanSquaredError", {}, "regression"),
    ("mae", "MeanAbsoluteError", {}, "regression"),
    ("mape", "MeanAbsolutePercentageError", {}, "regression"),
    ("msle", "MeanSquaredLogarithmicError", {}, "positive"),
    ("rmse", "RootMeanSquaredError", {}, "regression"),
    ("cosine", "CosineSimilarity", {}, "regression"),
    ("logcosh", "LogCoshError", {}, "regression"),
    ("kld", "KLDivergence", {}, "categorical"),
    ("poisson", "Poisson", {}, "positive"),
    ("bce", "BinaryCrossentropy", {}, "binary"),
    ("bce_logits", "BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    ("cce", "CategoricalCrossentropy", {"label_smoothing": 0.1}, "categorical"),
    ("scce", "SparseCategoricalCrossentropy", {}, "sparse"),
    ("scce_ignore", "SparseCategoricalCrossentropy", {"ignore_class": 0}, "sparse"),
    ("hinge", "Hinge", {}, "binary"),
    ("squared_hinge", "SquaredHinge", {}, "binary"),
    ("categorical_hinge", "CategoricalHinge", {}, "categorical"),
    ("true_positives", "TruePositives", {}, "binary"),
    ("false_positives", "FalsePositives", {"thresholds": [0.3, 0.6]}, "binary"),
    ("true_negatives", "TrueNegatives", {}, "multilabel"),
    ("false_negatives", "FalseNegatives", {"thresholds": 0.4}, "binary"),
    ("precision", "Precision", {}, "binary"),
    ("precision_thresholds", "Precision", {"thresholds": [0.2, 0.5, 0.8]}, "multilabel"),
    ("precision_even_thresholds", "Precision", {"thresholds": [0.0, 0.5, 1.0]}, "multilabel"),
    ("precision_top_k", "Precision", {"top_k": 2}, "multilabel"),
    ("precision_class", "Precision", {"class_id": 1, "thresholds": [0.1, 0.3]}, "multilabel"),
    ("recall", "Recall", {}, "binary"),
    ("recall_top_k_class", "Recall", {"top_k": 3, "class_id": 2}, "multilabel"),
    ("auc", "AUC", {}, "binary"),
    ("auc_multi", "AUC", {"num_thresholds": 50}, "multilabel"),
    ("auc_pr", "AUC", {"curve": "PR"}, "binary"),
    ("auc_pr_majoring", "AUC", {"curve": "PR", "summation_method": "majoring"}, "multilabel"),
    ("auc_minoring", "AUC", {"summation_method": "minoring"}, "multilabel"),
    ("auc_prgain", "AUC", {"curve": "PRGAIN"}, "multilabel"),
    ("auc_thresholds", "AUC", {"thresholds": [0.1, 0.35, 0.8]}, "multilabel"),
    ("auc_multi_label", "AUC", {"multi_label": True}, "multilabel"),
    (
        "auc_multi_label_pr",
        "AUC",
        {"multi_label": True, "curve": "PR", "label_weights": [1, 2, 0, 1, 3]},
        "multilabel",
    ),
    ("auc_label_weights", "AUC", {"num_thresholds": 20, "label_weights": [1, 2, 0, 1, 3]}, "multilabel"),
    ("auc_logits", "AUC", {"from_logits": True}, "logits"),
    ("sensitivity_at_specificity", "SensitivityAtSpecificity", {"specificity": 0.6}, "binary"),
    (
        "specificity_at_sensitivity",
        "SpecificityAtSensitivity",
        {"sensitivity": 0.6, "num_thresholds": 1},
        "binary",
    ),
    ("precision_at_recall", "PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 30}, "multilabel"),
    ("recall_at_precision", "RecallAtPrecision", {"precision": 0.4, "class_id": 3}, "multilabel"),
]
CASE_IDS = [case[0] for case in CASES]


def _inputs(kind):
    if kind == "binary_rounded":
        y_true, y_pred = DATA["binary"]
        return y_true, np.round(y_pred)
    return DATA[kind]


def _case(case_id):
    _, class_name, kwargs, kind = CASES[CASE_IDS.index(case_id)]
    return class_name, kwargs, *_inputs(kind)


def _feed(metric, y_true, y_pred, weights=None):
    """Updates `metric` batch by batch."""
    for start in range(0, N, BATCH):
        rows = slice(start, start + BATCH)
        metric.update_state(
            y_true[rows], y_pred[rows], sample_weight=None if weights is None else weights[rows]
        )
    return metric.result()


# --- independent formulas -------------------------------------------------------------------------
def _weighted_mean(values, weights):
    weights = np.ones(len(values)) if weights is None else weights
    return np.sum(values * weights) / np.sum(weights)


def _matches(case_id, y_true, y_pred):
    """Per-sample 0/1 matches of the accuracy metrics."""
    if case_id == "accuracy":
        return (y_true == y_pred)[:, 0]
    if case_id.startswith("binary_accuracy"):
        threshold = 0.7 if case_id.endswith("threshold") else 0.5
        return (y_true == (y_pred > threshold))[:, 0]
    labels = y_true.argmax(-1) if y_true.shape[-1] == C else y_true.reshape(-1)
    if "top" not in case_id:
        return labels == y_pred.argmax(-1)
    k = _case(case_id)[1]["k"]
    at_label = y_pred[np.arange(N), labels.astype(int)]
    return (y_pred > at_label[:, None]).sum(-1) < k


def _confusion(y_true, y_pred, thresholds, weights=None):
    """Counts (tp, fp, tn, fn) per threshold over every entry, by direct comparison."""
    w = np.ones(y_pred.shape) if weights is None else weights.reshape(-1, *[1] * (y_pred.ndim - 1))
    positive = (y_true != 0)[..., None]
    passes = y_pred[..., None] > np.asarray(thresholds, np.float32)
    w = w[..., None]
    axes = tuple(range(y_pred.ndim))
    return tuple(
        np.sum(w * cond, axis=axes)
        for cond in (positive & passes, ~positive & passes, ~positive & ~passes, positive & ~passes)
    )


def _roc_auc(y_true, y_pred, num_thresholds=200, weights=None):
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    tp, fp, tn, fn = _confusion(y_true, y_pred, [-EPS, *inner, 1 + EPS], weights)
    recall, fp_rate = tp / (tp + fn), fp / (fp + tn)
    return np.sum((fp_rate[:-1] - fp_rate[1:]) * (recall[:-1] + recall[1:]) / 2)


def _numpy_result(case_id, y_true, y_pred, weights):
    """The expected result for the cases with a direct formula (None for the others)."""
    if case_id in (
        "accuracy",
        "binary_accuracy",
        "binary_accuracy_threshold",
        "categorical_accuracy",
        "top_k",
    ) or (case_id.startswith("sparse_")):
        return _weighted_mean(_matches(case_id, y_true, y_pred), weights)
    if case_id in ("mse", "rmse"):
        value = _weighted_mean(((y_true - y_pred) ** 2).mean(-1), weights)
        return np.sqrt(value) if case_id == "rmse" else value
    if case_id == "mae":
        return _weighted_mean(np.abs(y_true - y_pred).mean(-1), weights)
    if case_id == "cosine":
        unit_t = y_true / np.linalg.norm(y_true, axis=-1, keepdims=True)
        unit_p = y_pred / np.linalg.norm(y_pred, axis=-1, keepdims=True)
        return _weighted_mean((unit_t * unit_p).sum(-1), weights)
    if case_id in ("precision", "recall", "true_positives", "false_positives", "false_negatives"):
        thresholds = _case(case_id)[1].get("thresholds", 0.5)
        tp, fp, tn, fn = _confusion(y_true, y_pred, np.atleast_1d(thresholds), weights)
        value = {
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "true_positives": tp,
            "false_positives": fp,
            "false_negatives": fn,
        }[case_id]
        return value[0] if value.shape == (1,) else value
    if case_id == "precision_thresholds":
        tp, fp, _, _ = _confusion(y_true, y_pred, [0.2, 0.5, 0.8], weights)
        return tp / (tp + fp)
    if case_id == "auc":
        return _roc_auc(y_true, y_pred, weights=weights)
    if case_id == "auc_multi":
        return _roc_auc(y_true, y_pred, 50, weights)
    if case_id == "auc_multi_label":
        return np.mean([_roc_auc(y_true[:, j], y_pred[:, j], weights=weights) for j in range(C)])
    return None


WITH_FORMULA = [
    c for c in CASE_IDS if _numpy_result(c, *_inputs(CASES[CASE_IDS.index(c)][3]), None) is not None
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case_id", WITH_FORMULA)
def test_accumulates_like_the_formula(case_id, weighted):
    class_name, kwargs, y_true, y_pred = _case(case_id)
    weights = WEIGHTS if weighted else None
    result = _feed(getattr(metrics, class_name)(**kwargs), y_true, y_pred, weights)
    expected = _numpy_result(case_id, y_true.astype(np.float64), y_pred.astype(np.float64), weights)
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.keras
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_accumulates_like_keras(case_id, weighted, keras):
    class_name, kwargs, y_true, y_pred = _case(case_id)
    weights = WEIGHTS if weighted else None
    ours = _feed(getattr(metrics, class_name)(**kwargs), y_true, y_pred, weights)
    theirs = np.asarray(_feed(getattr(keras.metrics, class_name)(**kwargs), y_true, y_pred, weights))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def _traced_result(metric, y_true, y_pred, weights, backend):
    """Runs `update_state` traced, over all rows in batches of BATCH inside one program."""

    def update(t, p, w):
        metric.update_state(t, p, sample_weight=w)
        return p * 2.0  # a program needs an output (not its input unchanged: see the CPU test note)

    run_traced(update, y_true, y_pred, weights, backend=backend, batch_size=BATCH)
    return metric.result()


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_interpreted_update_matches_eager(case_id):
    class_name, kwargs, y_true, y_pred = _case(case_id)
    expected = _feed(getattr(metrics, class_name)(**kwargs), y_true, y_pred, WEIGHTS)
    traced = _traced_result(getattr(metrics, class_name)(**kwargs), y_true, y_pred, WEIGHTS, "numpy")
    np.testing.assert_allclose(traced, expected, rtol=RTOL, atol=ATOL)


COMPILED = {
    "binary": ["binary_accuracy", "bce", "precision", "recall", "auc", "auc_pr"],
    "categorical": ["categorical_accuracy", "top_k", "cce"],
    "multilabel": ["precision_top_k", "auc_multi_label", "precision_class", "auc_thresholds"],
    "sparse": ["sparse_categorical_accuracy", "sparse_top_k", "scce_ignore"],
    "regression": ["mse", "rmse"],
}


@pytest.mark.parametrize("kind", list(COMPILED))
def test_compiled_update_matches_eager(kind):
    # A few metrics per program: compiles cost seconds each.
    y_true, y_pred = _inputs(kind)
    cases = [_case(case_id) for case_id in COMPILED[kind]]
    eager = [_feed(getattr(metrics, name)(**kwargs), y_true, y_pred, WEIGHTS) for name, kwargs, _, _ in cases]
    traced = [getattr(metrics, name)(**kwargs) for name, kwargs, _, _ in cases]

    def update(t, p, w):
        for metric in traced:
            metric.update_state(t, p, sample_weight=w)
        return p * 2.0

    run_traced(update, y_true, y_pred, WEIGHTS, backend="cpu", batch_size=BATCH)
    for case_id, metric, expected in zip(COMPILED[kind], traced, eager, strict=True):
        np.testing.assert_allclose(metric.result(), expected, rtol=RTOL, atol=ATOL, err_msg=case_id)


# --- state ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_reset_state(case_id):
    class_name, kwargs, y_true, y_pred = _case(case_id)
    metric = getattr(metrics, class_name)(**kwargs)
    fresh = getattr(metrics, class_name)(**kwargs)
    _feed(metric, y_true[::-1], y_pred, WEIGHTS)
    metric.reset_state()
    assert all(np.all(v.numpy() == 0) for v in metric.variables)
    np.testing.assert_allclose(_feed(metric, y_true, y_pred), _feed(fresh, y_true, y_pred), rtol=RTOL)


def test_call_updates_and_returns_result():
    metric = metrics.Mean()
    assert metric([1.0, 3.0]) == 2.0
    assert metric([5.0], sample_weight=[2.0]) == pytest.approx(14.0 / 4.0)


def test_mean_and_sum_weighting():
    mean, total = metrics.Mean(), metrics.Sum()
    values = np.arange(12.0).reshape(4, 3)
    weights = np.array([1.0, 0.0, 2.0, 1.0])
    for metric in (mean, total):
        metric.update_state(values, sample_weight=weights)
        metric.update_state(np.array([10.0, 20.0]))
    # Mean reduces each row to its mean, weights rows, and counts the weights (plus 2 unweighted values).
    row_means = values.mean(1)
    assert mean.result() == pytest.approx((np.sum(row_means * weights) + 30.0) / (weights.sum() + 2))
    assert total.result() == pytest.approx(np.sum(values.sum(1) * weights) + 30.0)
    assert mean.count.numpy() == pytest.approx(weights.sum() + 2)


@pytest.mark.keras
def test_mean_and_sum_match_keras(keras):
    batches = [
        (np.arange(6.0).reshape(2, 3), None),
        (np.ones((3, 2)), np.array([1.0, 2.0, 3.0])),
        (np.ones((3, 2)), np.array([[1.0, 2.0]] * 3)),
        (np.full((2, 2, 2), 3.0), np.array([0.5, 1.0])),
        (np.array(7.0), None),
    ]
    for ours, theirs in ((metrics.Mean(), keras.metrics.Mean()), (metrics.Sum(), keras.metrics.Sum())):
        for values, weights in batches:
            ours.update_state(values, sample_weight=weights)
            theirs.update_state(values, sample_weight=weights)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=RTOL)


def test_variables():
    auc = metrics.AUC(num_thresholds=10)
    assert [v.name for v in auc.variables] == [
        "true_positives",
        "false_positives",
        "true_negatives",
        "false_negatives",
    ]
    assert all(v.shape == (10,) and not v.trainable for v in auc.variables)
    assert auc.variables[0].path == f"{auc.name}/true_positives"
    mean = metrics.Mean(name="m")
    assert [v.path for v in mean.variables] == ["m/total", "m/count"]
    multi = metrics.AUC(multi_label=True)
    assert multi.variables == []  # built on the first batch, from the number of labels
    multi.update_state(*DATA["multilabel"])
    assert multi.variables[0].shape == (200, C)


def test_metric_subclass_with_a_sub_metric():
    class MeanOfSquares(metrics.Metric):
        def __init__(self, name="mean_of_squares"):
            super().__init__(name=name)
            self.inner = metrics.Mean()

        def update_state(self, values):
            self.inner.update_state(np.square(values))

        def result(self):
            return self.inner.result()

    metric = MeanOfSquares()
    assert metric([1.0, 3.0]) == 5.0
    assert len(metric.variables) == 2
    metric.reset_state()
    assert metric.result() == 0.0


# --- names, directions, configs -------------------------------------------------------------------
@pytest.mark.keras
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_direction_and_config_match_keras(case_id, keras):
    class_name, kwargs, _, _ = _case(case_id)
    ours, theirs = getattr(metrics, class_name)(**kwargs), getattr(keras.metrics, class_name)(**kwargs)
    assert getattr(ours, "_direction", None) == getattr(theirs, "_direction", None)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    ours_config.pop("name"), theirs_config.pop("name")  # auto-numbered differently per session
    extra = {"axis"} if class_name == "CosineSimilarity" else set()  # Keras drops the axis; kgraph keeps it
    assert set(ours_config) - set(theirs_config) == extra
    theirs_config = {
        k: np.asarray(v).tolist() if hasattr(v, "shape") else v for k, v in theirs_config.items()
    }
    assert {k: ours_config[k] for k in theirs_config} == theirs_config


@pytest.mark.keras
def test_wrapper_directions_match_keras(keras):
    for fn in (losses.mean_squared_error, metrics.binary_accuracy):
        ours = getattr(metrics.MeanMetricWrapper(fn), "_direction", None)
        theirs = getattr(
            keras.metrics.MeanMetricWrapper(getattr(keras.metrics, fn.__name__)), "_direction", None
        )
        assert ours == theirs
    assert not hasattr(metrics.Mean(), "_direction") and not hasattr(keras.metrics.Mean(), "_direction")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_config_round_trip(case_id):
    class_name, kwargs, y_true, y_pred = _case(case_id)
    metric = getattr(metrics, class_name)(name="custom", **kwargs)
    config = metric.get_config()
    assert config["name"] == "custom" and config["dtype"] == "float32"
    clone = type(metric).from_config(config)
    assert clone.get_config() == config
    rebuilt = metrics.deserialize(metrics.serialize(metric))
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == config
    np.testing.assert_allclose(_feed(rebuilt, y_true, y_pred), _feed(metric, y_true, y_pred), rtol=RTOL)


def test_wrapper_round_trip():
    metric = metrics.MeanMetricWrapper(metrics.binary_accuracy, name="acc", threshold=0.3)
    config = metric.get_config()
    assert config["fn"]["config"] == "binary_accuracy" and config["threshold"] == 0.3
    clone = metrics.deserialize(metrics.serialize(metric))
    y_true, y_pred = DATA["binary"]
    np.testing.assert_allclose(_feed(clone, y_true, y_pred), np.mean(y_true == (y_pred > 0.3)), rtol=RTOL)
    assert metrics.MeanMetricWrapper(losses.mean_squared_error).name.startswith("mean_metric_wrapper")


def test_default_names():
    for metric, name in [
        (metrics.Mean(), "mean"),
        (metrics.BinaryAccuracy(), "binary_accuracy"),
        (metrics.RootMeanSquaredError(), "root_mean_squared_error"),
        (metrics.LogCoshError(), "logcosh"),
        (metrics.SparseTopKCategoricalAccuracy(), "sparse_top_k_categorical_accuracy"),
    ]:
        assert metric.name == name
    # Metrics without a default name are numbered within the session, as Keras numbers them.
    first, second = metrics.AUC(), metrics.AUC()
    assert first.name.startswith("auc") and second.name != first.name
    assert metrics.Precision().name.startswith("precision")


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("mse", metrics.MeanSquaredError),
        ("MSE", metrics.MeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("mape", metrics.MeanAbsolutePercentageError),
        ("msle", metrics.MeanSquaredLogarithmicError),
        ("bce", metrics.BinaryCrossentropy),
        ("auc", metrics.AUC),
        ("AUC", metrics.AUC),
        ("precision", metrics.Precision),
        ("recall", metrics.Recall),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("categorical_crossentropy", metrics.CategoricalCrossentropy),
        ("root_mean_squared_error", metrics.RootMeanSquaredError),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("kl_divergence", metrics.KLDivergence),
    ],
)
def test_get_names(identifier, cls):
    assert type(metrics.get(identifier)) is cls


def test_get_other_identifiers():
    assert metrics.get(None) is None
    assert metrics.get(losses.mean_squared_error) is losses.mean_squared_error
    assert isinstance(metrics.get(metrics.AUC), metrics.AUC)
    instance = metrics.Recall(thresholds=0.3)
    assert metrics.get(instance) is instance
    auc = metrics.get({"class_name": "AUC", "config": {"num_thresholds": 7, "curve": "PR"}})
    assert auc.num_thresholds == 7 and auc.curve == "PR"


@pytest.mark.parametrize("identifier", ["nope", "huber", "Auc"])
def test_get_unknown_lists_valid_names(identifier):
    with pytest.raises(ValueError, match="Could not interpret metric identifier") as info:
        metrics.get(identifier)
    assert "'auc'" in str(info.value) and "'mse'" in str(info.value)


@pytest.mark.keras
def test_get_names_match_keras(keras):
    from keras.src.metrics import ALL_OBJECTS_DICT

    ours = set(metrics.ALL_OBJECTS)
    unsupported = {n for n in ALL_OBJECTS_DICT if n not in ours}
    assert ours <= set(ALL_OBJECTS_DICT)
    expected_missing = {
        "F1Score",
        "FBetaScore",
        "IoU",
        "BinaryIoU",
        "MeanIoU",
        "OneHotIoU",
        "OneHotMeanIoU",
        "R2Score",
        "PearsonCorrelation",
        "ConcordanceCorrelation",
    }
    from kgraph.losses.loss import snake_case

    assert unsupported == expected_missing | {snake_case(n) for n in expected_missing}


@pytest.mark.keras
def test_signatures_match_keras(keras):
    def arguments(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in metrics.__all__:
        if hasattr(keras.metrics, name) and name not in ("get", "serialize", "deserialize"):
            assert arguments(getattr(metrics, name)) == arguments(getattr(keras.metrics, name)), name


# --- errors ---------------------------------------------------------------------------------------
def test_argument_errors():
    with pytest.raises(ValueError, match="Invalid AUC curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="Invalid AUC summation method"):
        metrics.AUC(summation_method="simpson")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="`num_labels` is needed only when `multi_label` is True"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="must be in the range"):
        metrics.SensitivityAtSpecificity(1.2)
    with pytest.raises(ValueError, match="class_id"):
        metrics.Recall(class_id=0).update_state(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="float32 only"):
        metrics.Mean(dtype="float16")
