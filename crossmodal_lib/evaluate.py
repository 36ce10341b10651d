"""Chapter 05: evaluating the models on the held-out test split.

Every metric is scikit-learn's (no hand-written ROC): the article's accuracy, precision and recall, plus F1,
ROC-AUC and PR-AUC per class and macro-averaged, the confusion matrix, calibration curves, bootstrap confidence
intervals, and a modality ablation. One exception, for speed: the macro ROC-AUC that the bootstrap recomputes
thousands of times is its Mann-Whitney form on SciPy's ranks, the same number as scikit-learn's
``roc_auc_score`` (tested) in a tenth of the time. The plot helpers return matplotlib Axes.

Everything here works on predicted probabilities ``proba`` of shape (n, n_classes) and integer labels ``y`` of
shape (n,), whatever model made them; this module never imports ``fusion``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "calibration_table",
    "check_predictions",
    "classification_metrics",
    "confusion",
    "linear_probe",
    "macro_pr_auc",
    "macro_roc_auc",
    "metrics_table",
    "modality_ablation",
    "per_class_metrics",
    "plot_calibration",
    "plot_confusion_matrix",
    "plot_metric_ci",
    "plot_roc_curves",
]

#: The columns of :func:`classification_metrics` (and of :func:`metrics_table`), in order.
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier")


def check_predictions(y_true: object, proba: object, name: str = "proba") -> tuple[np.ndarray, np.ndarray]:
    """Return (y, proba) as arrays after checking shapes, labels and values (chapter 05)."""
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    if p.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, classes), got shape {p.shape}")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} rows but {name} has {p.shape[0]}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} has {int((~np.isfinite(p)).sum())} NaN or infinite values")
    if p.min() < 0 or p.max() > 1 + 1e-6:
        raise ValueError(
            f"{name} must hold probabilities in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]"
        )
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"y_true has labels outside 0..{p.shape[1] - 1}")
    return y.astype(np.int64), p


def _onehot(y: np.ndarray, n_classes: int) -> np.ndarray:
    from sklearn.preprocessing import label_binarize

    return label_binarize(y, classes=np.arange(n_classes)) if n_classes > 2 else np.eye(2, dtype=int)[y]


def macro_roc_auc(y_true: object, proba: object) -> float:
    """Macro-averaged one-vs-rest ROC-AUC; every class must occur in y_true (chapter 05).

    The ROC-AUC of class c is the probability that a random row of class c scores higher than a random row of
    another class (ties count one half): the Mann-Whitney U statistic over n_c (n - n_c), computed from the ranks
    of the scores. It equals ``sklearn.metrics.roc_auc_score`` (tests/test_evaluate.py checks it) without that
    function's per-call input checks, which dominate a bootstrap of thousands of calls.
    """
    from scipy.stats import rankdata

    y, p = check_predictions(y_true, proba)
    k = p.shape[1]
    n_pos = np.bincount(y, minlength=k)
    missing = np.flatnonzero(n_pos == 0).tolist()
    if missing:
        raise ValueError(f"ROC-AUC needs every class in y_true; classes {missing} are absent")
    ranks = rankdata(p, axis=0)  # ties get their average rank
    # the sum, over the rows of class c, of their rank on column c (the scores for class c)
    pos_rank_sum = np.bincount(y, weights=ranks[np.arange(len(y)), y], minlength=k)
    auc = (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos))
    return float(auc.mean())


def macro_pr_auc(y_true: object, proba: object) -> float:
    """Macro-averaged one-vs-rest PR-AUC (``sklearn.metrics.average_precision_score``)."""
    from sklearn.metrics import average_precision_score

    y, p = check_predictions(y_true, proba)
    return float(average_precision_score(_onehot(y, p.shape[1]), p, average="macro"))


def classification_metrics(y_true: object, proba: object) -> dict[str, float]:
    """The headline metrics of one model, all from scikit-learn (chapter 05).

    accuracy, precision, recall, f1 (macro averages over classes of the arg-max prediction), roc_auc and
    pr_auc (macro one-vs-rest on the probabilities), brier (multiclass Brier score, lower is better).
    """
    from sklearn.metrics import accuracy_score, brier_score_loss, precision_recall_fscore_support

    y, p = check_predictions(y_true, proba)
    labels = np.arange(p.shape[1])
    y_pred = p.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": macro_roc_auc(y, p),
        "pr_auc": macro_pr_auc(y, p),
        "brier": float(brier_score_loss(y, p, labels=labels)),
    }


def per_class_metrics(y_true: object, proba: object, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1, ROC-AUC, PR-AUC and support per class, one row each (chapter 05)."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    y, p = check_predictions(y_true, proba)
    n_classes = p.shape[1]
    classes = list(classes) if classes is not None else [str(k) for k in range(n_classes)]
    if len(classes) != n_classes:
        raise ValueError(f"{len(classes)} class names for {n_classes} probability columns")
    precision, recall, f1, support = precision_recall_fscore_support(
        y, p.argmax(axis=1), labels=np.arange(n_classes), zero_division=0
    )
    onehot = _onehot(y, n_classes)
    present = onehot.sum(axis=0) > 0
    roc = np.full(n_classes, np.nan)
    roc[present] = roc_auc_score(onehot[:, present], p[:, present], average=None)
    pr = np.full(n_classes, np.nan)
    pr[present] = average_precision_score(onehot[:, present], p[:, present], average=None)
    return pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "roc_auc": roc,
            "pr_auc": pr,
            "support": support,
        },
        index=pd.Index(classes, name="class"),
    )


def confusion(y_true: object, proba: object, normalize: str | None = None) -> np.ndarray:
    """``sklearn.metrics.confusion_matrix`` of the arg-max prediction; rows = true class, columns = predicted."""
    from sklearn.metrics import confusion_matrix

    y, p = check_predictions(y_true, proba)
    return confusion_matrix(y, p.argmax(axis=1), labels=np.arange(p.shape[1]), normalize=normalize)


def calibration_table(
    y_true: object,
    proba: object,
    classes: Sequence[str] | None = None,
    n_bins: int = 5,
    strategy: str = "quantile",
) -> pd.DataFrame:
    """One-vs-rest calibration curves (``sklearn.calibration.calibration_curve``) as a long table.

    Columns: class, mean_predicted (the bin's mean probability), observed (the bin's fraction of positives).
    A calibrated model has observed ≈ mean_predicted.
    """
    from sklearn.calibration import calibration_curve

    y, p = check_predictions(y_true, proba)
    classes = list(classes) if classes is not None else [str(k) for k in range(p.shape[1])]
    rows = []
    for k, name in enumerate(classes):
        observed, predicted = calibration_curve(y == k, p[:, k], n_bins=n_bins, strategy=strategy)
        rows += [
            {"class": name, "mean_predicted": a, "observed": b}
            for a, b in zip(predicted, observed, strict=True)
        ]
    return pd.DataFrame(rows)


def _resample_indices(rng: np.random.Generator, n: int, groups: np.ndarray | None) -> np.ndarray:
    if groups is None:
        return rng.integers(0, n, size=n)
    unique, inverse = np.unique(groups, return_inverse=True)
    # each group's rows in increasing order, found in one sort rather than one scan per group
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    chosen = rng.integers(0, len(unique), size=len(unique))
    return np.concatenate([members[g] for g in chosen])


def bootstrap_ci(
    y_true: object,
    proba: object,
    metric: Callable[[np.ndarray, np.ndarray], float] = macro_roc_auc,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: object | None = None,
) -> dict[str, float]:
    """A percentile bootstrap confidence interval for ``metric(y, proba)`` (chapter 05).

    Resamples the rows with replacement ``n_resamples`` times (seeded, so the interval is reproducible); with
    ``groups`` (for example patient ids) it resamples whole groups instead, which respects repeated visits.
    Resamples in which the metric is undefined (a class absent for ROC-AUC) are skipped and counted; when more
    than half are skipped (a test set with very few rows of some class) ``low`` and ``high`` are NaN.
    Returns ``{"point", "low", "high", "n_resamples", "n_skipped"}``.
    """
    y, p = check_predictions(y_true, proba)
    if n_resamples < 10:
        raise ValueError(f"n_resamples must be at least 10, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != (len(y),):
            raise ValueError(f"groups has shape {g.shape} but y_true has {len(y)} rows")
    rng = np.random.default_rng(seed)
    values, skipped = [], 0
    for _ in range(n_resamples):
        idx = _resample_indices(rng, len(y), g)
        try:
            values.append(metric(y[idx], p[idx]))
        except ValueError:
            skipped += 1
    if len(values) < n_resamples / 2:
        # Too few rows of some class: most resamples lack it, and an interval over the rest would be biased.
        low = high = float("nan")
    else:
        alpha = (1 - confidence) / 2
        low, high = np.quantile(values, [alpha, 1 - alpha])
    return {
        "point": float(metric(y, p)),
        "low": float(low),
        "high": float(high),
        "n_resamples": n_resamples,
        "n_skipped": skipped,
    }


def metrics_table(
    predictions: Mapping[str, object],
    y_true: object,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: object | None = None,
) -> pd.DataFrame:
    """One row per model: the :data:`METRICS` and a bootstrap CI of the macro ROC-AUC (chapter 05).

    ``predictions`` maps a model's name to its test probabilities. Columns: accuracy, precision, recall, f1,
    roc_auc, pr_auc, brier, roc_auc_low, roc_auc_high. Every model is bootstrapped with the same seed, so all
    models are scored on the same resamples.
    """
    if not predictions:
        raise ValueError("predictions is empty; pass {model name: probabilities}")
    rows = {}
    for name, proba in predictions.items():
        y, p = check_predictions(y_true, proba, name=f"predictions[{name!r}]")
        row = classification_metrics(y, p)
        ci = bootstrap_ci(y, p, macro_roc_auc, n_resamples, confidence, seed, groups)
        row["roc_auc_low"], row["roc_auc_high"] = ci["low"], ci["high"]
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def linear_probe(
    train_features: object,
    train_truth: pd.DataFrame,
    test_features: object,
    test_truth: pd.DataFrame,
    seed: int = 0,
) -> pd.DataFrame:
    """What a feature block knows: one logistic regression per hidden finding, test ROC-AUC (chapters 02, 03).

    ``train_truth`` / ``test_truth`` hold one 0/1 column per finding (for example ``findings.csv``'s opacity,
    cardiomegaly ... for F_x, its infection, congestion, constitutional for F_y), one row per feature row. The
    probe is linear on purpose: it measures what the features make *easy* to read, the way the fusion MLP's first
    layer would. Features are standardised on the training rows; the test rows are only scored. Returns a table
    indexed by finding: ``roc_auc``, ``prevalence`` (in the test rows), ``n_test``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parts = {}
    for name, features, truth in (
        ("train", train_features, train_truth),
        ("test", test_features, test_truth),
    ):
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2:
            raise ValueError(f"{name} features have shape {features.shape}; expected (n, n_features)")
        if len(features) != len(truth):
            raise ValueError(f"{name}: {len(features)} feature rows but {len(truth)} rows of findings")
        if not np.all(np.isfinite(features)):
            raise ValueError(f"{name} features contain NaN or infinite values")
        parts[name] = (features, truth)
    if list(train_truth.columns) != list(test_truth.columns):
        raise ValueError("train_truth and test_truth must have the same finding columns")
    rows = {}
    for finding in train_truth.columns:
        y_train = np.asarray(train_truth[finding])
        y_test = np.asarray(test_truth[finding])
        for name, y in (("train", y_train), ("test", y_test)):
            if set(np.unique(y)) != {0, 1}:
                raise ValueError(
                    f"finding {finding!r}: the {name} rows need both 0 and 1, got {np.unique(y)}"
                )
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
        probe.fit(parts["train"][0], y_train)
        score = probe.predict_proba(parts["test"][0])[:, 1]
        rows[finding] = {
            "roc_auc": float(roc_auc_score(y_test, score)),
            "prevalence": float(y_test.mean()),
            "n_test": len(y_test),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "finding"
    return table


def modality_ablation(
    predict_proba: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    blocks: Mapping[str, object],
    y_true: object,
    reference: Mapping[str, object] | None = None,
    strategy: str = "mean",
    metric: Callable[[np.ndarray, np.ndarray], float] = macro_roc_auc,
) -> pd.DataFrame:
    """How much does a fused model lose when one modality is blanked out at test time? (chapter 05)

    ``predict_proba({modality: features})`` is any fitted multimodal model; ``blocks`` its test features, e.g.
    ``{"image": F_x, "text": F_y}``. Each modality in turn is replaced by the column means of ``reference`` (the
    training features, the same names; ``strategy="mean"``) or by zeros (``"zero"``), and the metric is
    recomputed. Returns a table with rows "all" and "<modality> removed" and columns ``metric`` and ``drop``
    (metric with all modalities minus metric without this one).
    """
    if strategy not in {"mean", "zero"}:
        raise ValueError(f"strategy must be 'mean' or 'zero', got {strategy!r}")
    if not isinstance(blocks, Mapping) or not blocks:
        raise TypeError("blocks must map modality names to feature arrays, e.g. {'image': F_x, 'text': F_y}")
    arrays = {name: np.asarray(block, dtype=np.float32) for name, block in blocks.items()}
    first = next(iter(arrays))
    for name, arr in arrays.items():
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D (rows, features), got shape {arr.shape}")
        if arr.shape[0] != arrays[first].shape[0]:
            raise ValueError(f"{first} has {arrays[first].shape[0]} rows but {name} has {arr.shape[0]}")
    if strategy == "mean":
        if reference is None:
            raise ValueError(
                "strategy='mean' needs reference={modality: training features} to take the means from"
            )
        missing = [name for name in arrays if name not in reference]
        if missing:
            raise ValueError(f"reference has no training features for {missing}")
        fill = {name: np.asarray(reference[name], dtype=np.float32).mean(axis=0) for name in arrays}
        for name, arr in arrays.items():
            if fill[name].shape != arr.shape[1:]:
                raise ValueError(f"reference[{name!r}] must have {arr.shape[1]} columns like {name}")
    else:
        fill = {name: np.zeros(arr.shape[1], dtype=np.float32) for name, arr in arrays.items()}
    variants = {"all": arrays}
    for name, arr in arrays.items():
        variants[f"{name} removed"] = {**arrays, name: np.broadcast_to(fill[name], arr.shape).copy()}
    scores = {row: float(metric(y_true, predict_proba(inputs))) for row, inputs in variants.items()}
    table = pd.DataFrame({"metric": scores})
    table["drop"] = scores["all"] - table["metric"]
    table.index.name = "test features"
    return table


# ----------------------------------------------------------------------------------------------------------------
# Plots (each returns the Axes it drew on; pass ax= to draw into your own figure)
# ----------------------------------------------------------------------------------------------------------------
def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def plot_roc_curves(
    y_true: object, proba: object, classes: Sequence[str] | None = None, ax=None, title: str = ""
):
    """One-vs-rest ROC curve per class (``sklearn.metrics.RocCurveDisplay``), with the chance line."""
    from sklearn.metrics import RocCurveDisplay

    y, p = check_predictions(y_true, proba)
    classes = list(classes) if classes is not None else [str(k) for k in range(p.shape[1])]
    ax = _axes(ax)
    for k, name in enumerate(classes):
        RocCurveDisplay.from_predictions(
            y == k, p[:, k], name=name, ax=ax, plot_chance_level=(k == len(classes) - 1)
        )
    ax.set_title(title or "ROC curves, one class vs rest")
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_confusion_matrix(
    y_true: object,
    proba: object,
    classes: Sequence[str] | None = None,
    normalize: str | None = "true",
    ax=None,
    title: str = "",
):
    """The confusion matrix (``sklearn.metrics.ConfusionMatrixDisplay``); ``normalize="true"`` shows recall per row."""
    from sklearn.metrics import ConfusionMatrixDisplay

    y, p = check_predictions(y_true, proba)
    classes = list(classes) if classes is not None else [str(k) for k in range(p.shape[1])]
    ax = _axes(ax)
    ConfusionMatrixDisplay.from_predictions(
        y,
        p.argmax(axis=1),
        labels=np.arange(p.shape[1]),
        display_labels=classes,
        normalize=normalize,
        values_format=".2f" if normalize else "d",
        colorbar=False,
        xticks_rotation=30,
        ax=ax,
    )
    ax.set_title(title or "confusion matrix" + (" (rows sum to 1)" if normalize == "true" else ""))
    return ax


def plot_calibration(
    y_true: object,
    proba: object,
    classes: Sequence[str] | None = None,
    n_bins: int = 5,
    ax=None,
    title: str = "",
):
    """One-vs-rest reliability diagram per class (``sklearn.calibration.CalibrationDisplay``)."""
    from sklearn.calibration import CalibrationDisplay

    y, p = check_predictions(y_true, proba)
    classes = list(classes) if classes is not None else [str(k) for k in range(p.shape[1])]
    ax = _axes(ax)
    for k, name in enumerate(classes):
        CalibrationDisplay.from_predictions(
            y == k, p[:, k], n_bins=n_bins, strategy="quantile", name=name, ax=ax, ref_line=(k == 0)
        )
    ax.set_title(title or "calibration, one class vs rest")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed fraction of positives")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_metric_ci(table: pd.DataFrame, metric: str = "roc_auc", ax=None, title: str = ""):
    """A forest plot of one metric per model with its bootstrap CI (``{metric}_low``/``{metric}_high`` columns)."""
    for col in (metric, f"{metric}_low", f"{metric}_high"):
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}; make it with metrics_table")
    ax = _axes(ax)
    pos = np.arange(len(table))[::-1]
    err = np.vstack([table[metric] - table[f"{metric}_low"], table[f"{metric}_high"] - table[metric]])
    ax.errorbar(table[metric], pos, xerr=err, fmt="o", capsize=3)
    ax.set_yticks(pos, [str(i) for i in table.index])
    ax.set_xlabel(f"{metric} (bootstrap CI)")
    ax.set_title(title or f"test-set {metric} with bootstrap confidence intervals")
    ax.grid(axis="x", alpha=0.3)
    return ax


def bootstrap_difference(
    y_true: object,
    proba_a: object,
    proba_b: object,
    metric: Callable[[np.ndarray, np.ndarray], float] = macro_roc_auc,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: object | None = None,
) -> dict[str, float]:
    """A paired bootstrap CI for ``metric(y, proba_a) - metric(y, proba_b)``: is model A better than B? (chapter 09)

    Both models are scored on the same resamples (of rows, or of whole groups such as patients with ``groups``),
    and the interval is the percentile interval of the per-resample differences. Pairing removes what the two
    models share (which visits happen to be drawn), so the difference's interval is narrower than the two models'
    own intervals suggest: two overlapping intervals do not mean "no difference". With the same ``seed`` and
    ``n_resamples`` the resamples are those of :func:`bootstrap_ci` and :func:`metrics_table`. Resamples in which
    the metric is undefined are skipped and counted, as in :func:`bootstrap_ci`.
    Returns ``{"point", "low", "high", "n_resamples", "n_skipped"}``; ``point`` is the difference on all rows.
    """
    y, a = check_predictions(y_true, proba_a, name="proba_a")
    _, b = check_predictions(y_true, proba_b, name="proba_b")
    if a.shape != b.shape:
        raise ValueError(
            f"proba_a has shape {a.shape} but proba_b has {b.shape}; score the same rows and classes"
        )
    k = a.shape[1]

    def difference(y_part: np.ndarray, both: np.ndarray) -> float:
        return metric(y_part, both[:, :k]) - metric(y_part, both[:, k:])

    # One resample draws the same rows for both models: bootstrap_ci on the two side by side.
    return bootstrap_ci(y, np.hstack([a, b]), difference, n_resamples, confidence, seed, groups)
