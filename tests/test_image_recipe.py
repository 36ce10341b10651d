"""The image recipe (crossmodal_lib.features.image_recipe): every MedMNIST task on tiny stand-ins, its rules, and
its errors. Training is a few batches at 16 px: the tests check shapes, ranges and bookkeeping, never accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from crossmodal_lib.features.image_recipe import (
    ImageRecipe,
    acc_of,
    auc_of,
    auc_standard_error,
    choose_threshold,
    task_of,
    view,
)

TINY = {"image_size": 16, "epochs": 2, "rounds": 2, "filters": (4, 8), "feature_dim": 8, "batch_size": 16}


def tiny_split(n: int, task: str, rgb: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MedMNIST-like uint8 images with a bright square whose place depends on the class (or on each label)."""
    rng = np.random.default_rng(seed)
    shape = (n, 20, 20, 3) if rgb else (n, 20, 20)
    x = rng.integers(0, 100, size=shape, dtype=np.uint8)
    if task == "multilabel":
        y = rng.integers(0, 2, size=(n, 3))
        for j in range(3):
            x[y[:, j] == 1, 2 + 6 * j : 6 + 6 * j, 2:8] += 120
        return x, y
    classes = 2 if task == "binary" else 3
    y = np.arange(n) % classes
    for c in range(classes):
        x[y == c, 2 + 6 * c : 6 + 6 * c, 10:16] += 120
    return x, y[:, None]  # MedMNIST's (n, 1)


@pytest.mark.parametrize(("task", "rgb"), [("binary", False), ("multiclass", True), ("multilabel", False)])
def test_every_task_fits_and_predicts(task, rgb):
    x, y = tiny_split(48, task, rgb)
    xv, yv = tiny_split(24, task, rgb, seed=1)
    recipe = ImageRecipe(**TINY).fit(x, y, xv, yv)
    outputs = {"binary": 2, "multiclass": 3, "multilabel": 3}[task]
    proba = recipe.predict_proba(xv)
    assert proba.shape == (24, outputs) and np.all((proba >= 0) & (proba <= 1))
    if task != "multilabel":
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    pred = recipe.predict(xv)
    assert pred.shape == ((24, 3) if task == "multilabel" else (24,))
    scores = recipe.score(xv, yv)
    assert 0.0 <= scores["auc"] <= 1.0 and 0.0 <= scores["acc"] <= 1.0
    assert recipe.transform(xv).shape == (24, 8)
    chosen = json.loads(json.dumps(recipe.chosen))  # the run's JSON holds it as it is
    assert chosen["task"] == task and chosen["channels"] == (3 if rgb else 1) and chosen["image_size"] == 16
    assert chosen["rounds"] == 2 and len(chosen["round_val_auc"]) == 2
    assert set(chosen["views"]) <= set(chosen["view_val_auc"]) - {"plain"}
    if task == "binary":
        assert 0.0 < recipe.threshold_ < 1.0 and chosen["class_weight"] == "balanced"
        if chosen["threshold_rule"] == "choose_threshold":  # from validation alone
            assert recipe.threshold_ == pytest.approx(choose_threshold(yv[:, 0], proba[:, 1]))
        else:  # a few batches may not rank the classes yet: then 0.5, and the report says why
            assert recipe.threshold_ == 0.5 and "do not rank" in chosen["threshold_rule"]
    else:
        assert chosen["threshold"] is None and chosen["class_weight"] is None


def test_the_same_seed_gives_the_same_model():
    x, y = tiny_split(48, "binary")
    xv, yv = tiny_split(24, "binary", seed=1)
    a = ImageRecipe(**TINY).fit(x, y, xv, yv).predict_proba(xv)
    b = ImageRecipe(**TINY).fit(x, y, xv, yv).predict_proba(xv)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_the_probe_picks_a_size_and_a_length_within_the_budget():
    """Automatic choices: a side from ``sizes`` and a training length the budget affords, capped by max_epochs."""
    x, y = tiny_split(64, "binary")
    xv, yv = tiny_split(24, "binary", seed=1)
    settings = {k: v for k, v in TINY.items() if k not in ("image_size", "epochs")}
    recipe = ImageRecipe(time_budget=4.0, sizes=(24, 16), max_epochs=3, **settings).fit(x, y, xv, yv)
    chosen = recipe.chosen
    assert chosen["image_size"] in (24, 16) and chosen["probe_images_per_second"]
    assert 0 < chosen["epochs"] <= 3 and "epochs" in chosen["image_size_rule"]


def test_metrics_follow_medmnists_evaluator():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    proba = rng.dirichlet(np.ones(3), size=60)
    per_class = [roc_auc_score(y == c, proba[:, c]) for c in range(3)]
    assert auc_of("multiclass", y, proba) == pytest.approx(np.mean(per_class))
    assert acc_of("multiclass", y, proba) == pytest.approx(np.mean(proba.argmax(1) == y))
    labels = rng.integers(0, 2, size=(60, 4))
    scores = rng.uniform(size=(60, 4))
    assert acc_of("multilabel", labels, scores) == pytest.approx(np.mean((scores >= 0.5) == labels))
    assert auc_of("multilabel", labels, scores) == pytest.approx(
        np.mean([roc_auc_score(labels[:, j], scores[:, j]) for j in range(4)])
    )
    binary = np.c_[1 - scores[:, 0], scores[:, 0]]
    assert acc_of("binary", labels[:, 0], binary, 0.3) == pytest.approx(
        np.mean((scores[:, 0] >= 0.3) == labels[:, 0])
    )
    assert (
        task_of(y) == "multiclass" and task_of(labels) == "multilabel" and task_of(labels[:, 0]) == "binary"
    )


def test_auc_standard_error_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    se = []
    for n in (100, 1600):
        y = np.arange(n) % 2
        s = rng.normal(y * 1.5, 1.0)
        se.append(auc_standard_error("binary", y, np.c_[1 - s, s]))
    assert 0 < se[1] < se[0] / 3  # about 1 / sqrt(n)


def test_views_by_name():
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype(np.float32)
    assert view(x, "plain") is x
    assert view(x, "zoom 1.1").shape == x.shape and view(x, "contrast 1.2").shape == x.shape
    with pytest.raises(ValueError, match="unknown view"):
        view(x, "blur 2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x, y: (x, y[:-1]), "48 images but 47 labels"),
        (lambda x, y: (x, y.astype(np.float32)), "dtype float32"),
        (lambda x, y: (x[:, :, :, None, None], y), "shape"),
        (lambda x, y: (x, -y), "class indices >= 0"),
        (lambda x, y: (x[:0], y[:0]), "no images"),
    ],
)
def test_bad_training_data_is_named(change, message):
    x, y = change(*tiny_split(48, "binary"))
    xv, yv = tiny_split(24, "binary", seed=1)
    with pytest.raises(ValueError, match=message):
        ImageRecipe(**TINY).fit(x, y, xv, yv)


def test_validation_must_match_training():
    x, y = tiny_split(48, "binary")
    xv, yv = tiny_split(24, "multiclass", seed=1)
    with pytest.raises(ValueError, match="unseen in training"):
        ImageRecipe(**TINY).fit(x, y, xv, yv)
    with pytest.raises(ValueError, match="both classes"):
        ImageRecipe(**TINY).fit(x, y, xv, np.zeros_like(yv))
    with pytest.raises(ValueError, match="validation images have shape"):
        ImageRecipe(**TINY).fit(x, y, xv[:, :16, :16], yv % 2)


def test_unfitted_or_wrong_channels_are_refused():
    x, y = tiny_split(48, "binary")
    with pytest.raises(ValueError, match="not fitted"):
        ImageRecipe(**TINY).predict_proba(x)
    recipe = ImageRecipe(**TINY).fit(x, y, *tiny_split(24, "binary", seed=1))
    with pytest.raises(ValueError, match="channel"):
        recipe.predict_proba(np.stack([x] * 3, axis=-1))
    with pytest.raises(ValueError, match="time_budget"):
        ImageRecipe(time_budget=0).fit(x, y, *tiny_split(24, "binary", seed=1))


def test_views_are_capped_by_their_cost():
    x, y = tiny_split(48, "binary")
    timed = {**TINY, "image_size": None, "sizes": (16,)}  # the input side chosen by the timed probe
    recipe = ImageRecipe(view_share=0.0, **timed).fit(x, y, *tiny_split(24, "binary", seed=1))
    assert recipe.chosen["views_affordable"] == 0 and recipe.chosen["views"] == []


def test_settings_by_hand_make_the_views_independent_of_speed():
    # Size and epochs set by hand (the pipeline, the chapters): every view is tried, however slow the machine.
    x, y = tiny_split(48, "binary")
    recipe = ImageRecipe(view_share=0.0, **TINY).fit(x, y, *tiny_split(24, "binary", seed=1))
    names = len(recipe.zoom_views) + len(recipe.contrast_views)
    assert recipe.chosen["views_affordable"] == names
    assert set(recipe.chosen["view_val_auc"]) == {"plain", *(f"zoom {f:g}" for f in recipe.zoom_views)} | {
        f"contrast {f:g}" for f in recipe.contrast_views
    }
