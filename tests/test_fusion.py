"""Unit tests of crossmodal_lib.fusion (chapter 04) on tiny synthetic feature matrices and images."""

import numpy as np
import pytest

from crossmodal_lib import fusion
from crossmodal_lib.evaluate import macro_roc_auc


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


def _tiny(n=120, seed=0):
    """Four classes; F_x separates {0,1} from {2,3}, F_y separates {0,2} from {1,3}: only both give the class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    F_x = rng.normal(size=(n, 6)).astype(np.float32)
    F_y = rng.normal(size=(n, 5)).astype(np.float32)
    F_x[:, 0] += 2.5 * (y >= 2)
    F_y[:, 0] += 2.5 * (y % 2)
    return F_x, F_y, y


FAST = {"epochs": 40, "batch_size": 16, "hidden": 16}


# ---------------------------------------------------------------------------------------------------- input checks
def test_mismatched_rows_name_both_arrays():
    F_x, F_y, _ = _tiny()
    with pytest.raises(ValueError, match="F_x has 120 rows but F_y has 119"):
        fusion.concatenate_features(F_x, F_y[:119])


def test_nan_features_are_refused_with_the_row():
    F_x, F_y, _ = _tiny()
    F_y[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"F_y has 1 NaN or infinite values \(first at row 7\)"):
        fusion.concatenate_features(F_x, F_y)


def test_wrong_ndim_and_empty_are_refused():
    F_x, F_y, _ = _tiny()
    with pytest.raises(ValueError, match=r"F_x must have 2 dimensions, got shape \(120,\)"):
        fusion.concatenate_features(F_x[:, 0], F_y)
    with pytest.raises(ValueError, match="F_x has no rows"):
        fusion.concatenate_features(F_x[:0], F_y[:0])
    with pytest.raises(ValueError, match="F_y is None"):
        fusion.concatenate_features(F_x, None)


def test_labels_are_checked():
    with pytest.raises(ValueError, match="the features have 3 rows but y has 2"):
        fusion.check_labels([0, 1], 3, 4)
    with pytest.raises(ValueError, match="outside 0..3"):
        fusion.check_labels([0, 4, 1], 3, 4)
    with pytest.raises(ValueError, match="integer class indices"):
        fusion.check_labels([0.0, 1.0], 2, 4)


def test_concatenate_features_is_the_row_wise_join():
    F_x, F_y, _ = _tiny()
    both = fusion.concatenate_features(F_x, F_y)
    assert both.shape == (120, 11) and both.dtype == np.float32
    assert np.array_equal(both[:, :6], F_x) and np.array_equal(both[:, 6:], F_y)


# ---------------------------------------------------------------------------------------------------- Keras models
def test_early_fusion_shapes_determinism_and_signal():
    F_x, F_y, y = _tiny()
    a = fusion.EarlyFusion(**FAST).fit(F_x, F_y, y, validation_data=(F_x, F_y, y))
    b = fusion.EarlyFusion(**FAST).fit(F_x, F_y, y, validation_data=(F_x, F_y, y))
    pa, pb = a.predict_proba(F_x, F_y), b.predict_proba(F_x, F_y)
    assert pa.shape == (120, 4)
    assert np.allclose(pa.sum(axis=1), 1.0)
    assert np.array_equal(pa, pb), "same seed, same data: same probabilities"
    assert macro_roc_auc(y, pa) > 0.85
    assert a.predict(F_x, F_y).shape == (120,)


def test_fusion_beats_one_modality_on_the_and_task():
    F_x, F_y, y = _tiny(n=200)
    single = fusion.SingleModality(**FAST).fit(F_x, y)
    early = fusion.EarlyFusion(**FAST).fit(F_x, F_y, y)
    assert macro_roc_auc(y, early.predict_proba(F_x, F_y)) > macro_roc_auc(y, single.predict_proba(F_x)) + 0.1


def test_predict_before_fit_and_wrong_width_are_refused():
    F_x, F_y, y = _tiny()
    with pytest.raises(ValueError, match="not fitted yet"):
        fusion.EarlyFusion().predict_proba(F_x, F_y)
    model = fusion.SingleModality(epochs=1).fit(F_x, y)
    with pytest.raises(ValueError, match=r"F has shape \(5,\) per row but the model was fit on \(6,\)"):
        model.predict_proba(F_y)


def test_fit_checks_validation_data():
    F_x, F_y, y = _tiny()
    with pytest.raises(ValueError, match="F_x_val has 120 rows but F_y_val has 60"):
        fusion.EarlyFusion(epochs=1).fit(F_x, F_y, y, validation_data=(F_x, F_y[:60], y))
    with pytest.raises(ValueError, match="F_x has 120 rows but F_y has 119"):
        fusion.GatedFusion(epochs=1).fit(F_x, F_y[:119], y)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        fusion.EarlyFusion(epochs=0)


def test_gated_fusion_gates_and_safe_save(tmp_path):
    import keras

    F_x, F_y, y = _tiny()
    gated = fusion.GatedFusion(**FAST).fit(F_x, F_y, y)
    gates = gated.gates(F_x, F_y)
    assert gates.shape == (120, 16)
    assert ((gates >= 0) & (gates <= 1)).all()
    # Built-in layers only (no Lambda): the model loads in Keras' safe mode and predicts the same.
    path = tmp_path / "gated.keras"
    gated.model_.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert np.allclose(loaded.predict((F_x, F_y), verbose=0), gated.predict_proba(F_x, F_y), atol=1e-5)


def test_joint_fusion_two_inputs_and_image_model():
    from crossmodal_lib.features.image import build_cnn

    rng = np.random.default_rng(1)
    _, F_y, y = _tiny(n=48)
    images = rng.random((48, 16, 16, 1), dtype=np.float32) * 0.3
    images[y >= 2, 2:8, 2:8, 0] += 0.6
    joint = fusion.JointFusion(epochs=2, hidden=8, feature_dim=8).fit(images, F_y, y)
    p = joint.predict_proba(images, F_y)
    assert p.shape == (48, 4) and np.allclose(p.sum(axis=1), 1.0)
    assert [tuple(t.shape[1:]) for t in joint.model_.inputs] == [(16, 16, 1), (5,)]
    # Starting from a trained CNN: the CNN passed in is copied, not changed.
    cnn = build_cnn((16, 16, 1), n_classes=4, feature_dim=8)
    before = [w.copy() for w in cnn.get_weights()]
    fusion.JointFusion(epochs=1, hidden=8, feature_dim=8, image_model=cnn, augment=False).fit(images, F_y, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, cnn.get_weights(), strict=True))
    with pytest.raises(ValueError, match="image_model expects images of shape"):
        fusion.JointFusion(epochs=1, image_model=build_cnn((32, 32, 1))).fit(images, F_y, y)
    with pytest.raises(ValueError, match="images has 48 rows but F_y has 47"):
        joint.predict_proba(images, F_y[:47])
    with pytest.raises(ValueError, match=r"images must have 4 dimensions, got shape \(48, 16, 16\)"):
        joint.predict_proba(images[..., 0], F_y)


# ---------------------------------------------------------------------------------------------------- late fusion
def _probas(y, noise, seed):
    rng = np.random.default_rng(seed)
    logits = noise * rng.normal(size=(len(y), 4))
    logits[np.arange(len(y)), y] += 2.0
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def test_late_fusion_picks_the_better_model_on_validation():
    y = np.arange(200) % 4
    good, useless = _probas(y, 0.5, 0), np.full((200, 4), 0.25)
    late = fusion.LateFusion().fit([useless, good], y)
    assert late.weights_[1] >= 0.8
    assert np.isclose(late.weights_.sum(), 1.0)
    p = late.predict_proba([useless, good])
    assert p.shape == (200, 4) and np.allclose(p.sum(axis=1), 1.0)


def test_late_fusion_fixed_weights_and_errors():
    y = np.arange(40) % 4
    a, b = _probas(y, 1.0, 1), _probas(y, 1.0, 2)
    late = fusion.LateFusion(weights=[1, 3])
    assert np.allclose(late.weights_, [0.25, 0.75])
    assert np.allclose(late.predict_proba([a, b]), 0.25 * a + 0.75 * b)
    equal = fusion.LateFusion()
    assert np.allclose(equal.predict_proba([a, b]), (a + b) / 2)
    with pytest.raises(ValueError, match="non-negative"):
        fusion.LateFusion(weights=[-1, 2])
    with pytest.raises(ValueError, match="at least two"):
        fusion.LateFusion().fit([a], y)
    with pytest.raises(ValueError, match="has 4 classes but probas_val\\[1\\] has 3"):
        fusion.LateFusion().fit([a, b[:, :3]], y)
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        fusion.LateFusion().predict_proba([a, b * 3])
    with pytest.raises(ValueError, match="2 weights but got 3 predictions"):
        late.predict_proba([a, b, a])
