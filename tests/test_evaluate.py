"""Unit tests of crossmodal_lib.evaluate (chapter 05): sklearn metrics, bootstrap CIs, ablation, plots."""

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score  # noqa: E402

from crossmodal_lib import evaluate  # noqa: E402

CLASSES = ("a", "b", "c", "d")


def _data(n=120, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    logits = noise * rng.normal(size=(n, 4))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def test_metrics_are_sklearns():
    y, p = _data()
    m = evaluate.classification_metrics(y, p)
    assert tuple(m) == evaluate.METRICS
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert m["f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert all(0 <= v <= 1 for k, v in m.items() if k != "brier")


def test_perfect_predictions_score_one():
    y = np.arange(20) % 4
    p = np.eye(4)[y]
    m = evaluate.classification_metrics(y, p)
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"):
        assert m[key] == pytest.approx(1.0)
    assert m["brier"] == pytest.approx(0.0)


def test_bad_predictions_are_refused():
    y, p = _data()
    with pytest.raises(ValueError, match="y_true has 120 rows but proba has 119"):
        evaluate.classification_metrics(y, p[:119])
    q = p.copy()
    q[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        evaluate.classification_metrics(y, q)
    with pytest.raises(ValueError, match="proba must be 2-D"):
        evaluate.classification_metrics(y, p[:, 0])
    with pytest.raises(ValueError, match="labels outside 0..3"):
        evaluate.classification_metrics(y + 1, p)
    with pytest.raises(ValueError, match="probabilities in"):
        evaluate.classification_metrics(y, p * 2)
    with pytest.raises(ValueError, match="classes \\[3\\] are absent"):
        evaluate.macro_roc_auc(y[y < 3], p[y < 3])


def test_per_class_table():
    y, p = _data()
    table = evaluate.per_class_metrics(y, p, CLASSES)
    assert list(table.index) == list(CLASSES)
    assert list(table.columns) == ["precision", "recall", "f1", "roc_auc", "pr_auc", "support"]
    assert table["support"].sum() == len(y)
    assert table["roc_auc"].mean() == pytest.approx(evaluate.macro_roc_auc(y, p))
    with pytest.raises(ValueError, match="3 class names for 4"):
        evaluate.per_class_metrics(y, p, CLASSES[:3])


def test_confusion_and_calibration():
    y, p = _data()
    cm = evaluate.confusion(y, p)
    assert cm.shape == (4, 4) and cm.sum() == len(y)
    assert np.allclose(evaluate.confusion(y, p, normalize="true").sum(axis=1), 1.0)
    cal = evaluate.calibration_table(y, p, CLASSES, n_bins=4)
    assert list(cal.columns) == ["class", "mean_predicted", "observed"]
    assert set(cal["class"]) == set(CLASSES)
    assert cal[["mean_predicted", "observed"]].apply(lambda c: c.between(0, 1)).all().all()


def test_bootstrap_is_seeded_and_brackets_the_point():
    y, p = _data()
    a = evaluate.bootstrap_ci(y, p, n_resamples=100, seed=1)
    b = evaluate.bootstrap_ci(y, p, n_resamples=100, seed=1)
    c = evaluate.bootstrap_ci(y, p, n_resamples=100, seed=2)
    assert a == b and a != c
    assert a["low"] < a["point"] < a["high"]
    assert a["point"] == pytest.approx(evaluate.macro_roc_auc(y, p))
    groups = np.repeat(np.arange(40), 3)
    g = evaluate.bootstrap_ci(y, p, n_resamples=100, seed=1, groups=groups)
    assert g["low"] < g["point"] < g["high"]
    with pytest.raises(ValueError, match="groups has shape"):
        evaluate.bootstrap_ci(y, p, groups=groups[:-1])
    with pytest.raises(ValueError, match="n_resamples must be at least 10"):
        evaluate.bootstrap_ci(y, p, n_resamples=5)


def test_bootstrap_skips_resamples_without_a_class():
    y, p = _data(n=24)
    ci = evaluate.bootstrap_ci(y[:9], p[:9], n_resamples=50, seed=0)  # 2 rows of class 3: often absent
    assert ci["n_skipped"] > 0 and ci["low"] <= ci["high"]
    rare = evaluate.bootstrap_ci(y[:5], p[:5], n_resamples=50, seed=0)  # 1 row of classes 1-3: mostly absent
    assert rare["n_skipped"] > 25 and np.isnan(rare["low"]) and np.isnan(rare["high"])


def test_metrics_table_for_several_models():
    y, good = _data(noise=0.5)
    _, bad = _data(noise=3.0, seed=1)
    table = evaluate.metrics_table({"good": good, "bad": bad}, y, n_resamples=50)
    assert list(table.index) == ["good", "bad"]
    assert [*evaluate.METRICS, "roc_auc_low", "roc_auc_high"] == list(table.columns)
    assert table.at["good", "roc_auc"] > table.at["bad", "roc_auc"]
    assert (table["roc_auc_low"] <= table["roc_auc"]).all() and (
        table["roc_auc"] <= table["roc_auc_high"]
    ).all()
    with pytest.raises(ValueError, match="predictions is empty"):
        evaluate.metrics_table({}, y)
    with pytest.raises(ValueError, match="predictions\\['bad'\\] has 119"):
        evaluate.metrics_table({"good": good, "bad": bad[:119]}, y)


def test_modality_ablation_measures_reliance_over_named_modalities():
    rng = np.random.default_rng(0)
    y = np.arange(80) % 4
    blocks = {
        "image": np.eye(4)[y] * 3 + rng.normal(size=(80, 4)) * 0.3,
        "text": rng.normal(size=(80, 3)),
        "ecg": rng.normal(size=(80, 2)),
    }

    def image_model(inputs):  # uses the image only
        a = inputs["image"]
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    table = evaluate.modality_ablation(image_model, blocks, y, reference=blocks)
    assert list(table.index) == ["all", "image removed", "text removed", "ecg removed"]
    assert table.at["text removed", "drop"] == pytest.approx(0.0)
    assert table.at["ecg removed", "drop"] == pytest.approx(0.0)
    assert table.at["image removed", "drop"] > 0.3
    zero = evaluate.modality_ablation(image_model, blocks, y, strategy="zero")
    assert zero.at["all", "metric"] == table.at["all", "metric"]
    with pytest.raises(ValueError, match="needs reference"):
        evaluate.modality_ablation(image_model, blocks, y)
    with pytest.raises(ValueError, match=r"reference has no training features for \['ecg'\]"):
        evaluate.modality_ablation(
            image_model, blocks, y, reference={"image": blocks["image"], "text": blocks["text"]}
        )
    with pytest.raises(ValueError, match="image has 80 rows but text has 79"):
        evaluate.modality_ablation(image_model, {**blocks, "text": blocks["text"][:79]}, y, strategy="zero")
    with pytest.raises(ValueError, match="strategy must be"):
        evaluate.modality_ablation(image_model, blocks, y, strategy="median")
    with pytest.raises(TypeError, match="blocks must map modality names"):
        evaluate.modality_ablation(image_model, [blocks["image"]], y, strategy="zero")


def test_plots_return_axes():
    y, p = _data()
    ax = evaluate.plot_roc_curves(y, p, CLASSES)
    assert len(ax.get_lines()) >= 5  # four classes and the chance line
    ax = evaluate.plot_confusion_matrix(y, p, CLASSES)
    assert ax.get_title().startswith("confusion matrix")
    ax = evaluate.plot_calibration(y, p, CLASSES)
    assert len(ax.get_lines()) >= 5
    table = evaluate.metrics_table({"m": p}, y, n_resamples=20)
    ax = evaluate.plot_metric_ci(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m"]
    with pytest.raises(ValueError, match="no column 'f1_low'"):
        evaluate.plot_metric_ci(table, "f1")
    plt.close("all")


def test_evaluate_does_not_import_fusion():
    source = Path(evaluate.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    assert not [m for m in imported if m.startswith("crossmodal_lib") and "fusion" in m.split(".")]


def test_macro_roc_auc_is_scikit_learns():
    """The Mann-Whitney form on ranks gives roc_auc_score's number, ties (counted one half) included."""
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import label_binarize

    rng = np.random.default_rng(5)
    for trial in range(60):
        n, k = int(rng.integers(10, 300)), int(rng.integers(2, 6))
        y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
        p = rng.dirichlet(np.ones(k), n)
        if trial % 2:  # coarse scores: many ties
            p = np.round(p, 1) + 1e-3
            p /= p.sum(axis=1, keepdims=True)
        onehot = label_binarize(y, classes=np.arange(k)) if k > 2 else np.eye(2, dtype=int)[y]
        assert evaluate.macro_roc_auc(y, p) == pytest.approx(
            roc_auc_score(onehot, p, average="macro"), abs=1e-12
        )


def test_linear_probe_finds_what_the_features_encode_and_only_that():
    """A finding written into one feature column is read back (AUC near 1); one the features lack is at chance."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 600
    truth = pd.DataFrame({"encoded": rng.integers(0, 2, n), "absent": rng.integers(0, 2, n)})
    features = rng.normal(size=(n, 5))
    features[:, 2] += 3.0 * truth["encoded"].to_numpy()
    table = evaluate.linear_probe(features[:400], truth[:400], features[400:], truth[400:])
    assert list(table.index) == ["encoded", "absent"]
    assert table.loc["encoded", "roc_auc"] > 0.95
    assert abs(table.loc["absent", "roc_auc"] - 0.5) < 0.1
    assert table["n_test"].tolist() == [200, 200]


def test_linear_probe_refuses_bad_input():
    import pandas as pd

    truth = pd.DataFrame({"f": [0, 1] * 10})
    x = np.zeros((20, 3))
    with pytest.raises(ValueError, match="20 feature rows but 10 rows"):
        evaluate.linear_probe(x, truth[:10], x, truth)
    with pytest.raises(ValueError, match="finding 'f': the train rows need both 0 and 1"):
        evaluate.linear_probe(x, truth.assign(f=0), x, truth)
    with pytest.raises(ValueError, match="NaN"):
        evaluate.linear_probe(np.full((20, 3), np.nan), truth, x, truth)
    with pytest.raises(ValueError, match="same finding columns"):
        evaluate.linear_probe(x, truth, x, truth.rename(columns={"f": "g"}))
