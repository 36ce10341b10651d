"""Unit tests of crossmodal_lib.fusion (chapter 04) on tiny synthetic feature matrices and images."""

import numpy as np
import pytest
from synthetic_blocks import xor_blocks

from crossmodal_lib import fusion
from crossmodal_lib.evaluate import macro_roc_auc


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


def _tiny(n=120, seed=0):
    blocks, y = xor_blocks(n, seed=seed)
    return blocks["image"], blocks["text"], y


FAST = {"epochs": 40, "batch_size": 16, "hidden": 16}


# ---------------------------------------------------------------------------------------------------- input checks
def _blocks(F_x, F_y):
    return {"image": F_x, "text": F_y}


def test_mismatched_rows_name_both_modalities():
    F_x, F_y, _ = _tiny()
    with pytest.raises(ValueError, match="image has 120 rows but text has 119"):
        fusion.concatenate_features(_blocks(F_x, F_y[:119]))


def test_nan_features_are_refused_with_the_row():
    F_x, F_y, _ = _tiny()
    F_y[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"text has 1 NaN or infinite values \(first at row 7\)"):
        fusion.concatenate_features(_blocks(F_x, F_y))


def test_wrong_ndim_empty_and_not_a_mapping_are_refused():
    F_x, F_y, _ = _tiny()
    with pytest.raises(ValueError, match=r"image must have 2 dimensions, got shape \(120,\)"):
        fusion.concatenate_features(_blocks(F_x[:, 0], F_y))
    with pytest.raises(ValueError, match="image has no rows"):
        fusion.concatenate_features(_blocks(F_x[:0], F_y[:0]))
    with pytest.raises(ValueError, match="text is None"):
        fusion.concatenate_features(_blocks(F_x, None))
    with pytest.raises(TypeError, match="mapping from name to array"):
        fusion.concatenate_features([F_x, F_y])
    with pytest.raises(ValueError, match="no modality given"):
        fusion.concatenate_features({})
    with pytest.raises(ValueError, match="modality name 'F x' must be a word"):
        fusion.concatenate_features({"F x": F_x})


def test_labels_are_checked():
    with pytest.raises(ValueError, match="the features have 3 rows but y has 2"):
        fusion.check_labels([0, 1], 3, 4)
    with pytest.raises(ValueError, match="outside 0..3"):
        fusion.check_labels([0, 4, 1], 3, 4)
    with pytest.raises(ValueError, match="integer class indices"):
        fusion.check_labels([0.0, 1.0], 2, 4)


def test_concatenate_features_is_the_row_wise_join_in_the_mapping_order():
    F_x, F_y, _ = _tiny()
    both = fusion.concatenate_features(_blocks(F_x, F_y))
    assert both.shape == (120, 11) and both.dtype == np.float32
    assert np.array_equal(both[:, :6], F_x) and np.array_equal(both[:, 6:], F_y)
    assert np.array_equal(fusion.concatenate_features({"text": F_y, "image": F_x})[:, :5], F_y)


# ---------------------------------------------------------------------------------------------------- Keras models
def test_early_fusion_shapes_determinism_and_signal():
    F_x, F_y, y = _tiny()
    b = _blocks(F_x, F_y)
    first = fusion.EarlyFusion(**FAST).fit(b, y, validation_data=(b, y))
    second = fusion.EarlyFusion(**FAST).fit(b, y, validation_data=(b, y))
    pa, pb = first.predict_proba(b), second.predict_proba(b)
    assert pa.shape == (120, 4)
    assert np.allclose(pa.sum(axis=1), 1.0)
    assert np.array_equal(pa, pb), "same seed, same data: same probabilities"
    assert macro_roc_auc(y, pa) > 0.85
    assert first.predict(b).shape == (120,)
    assert first.modalities_ == ("image", "text")


def test_fusion_beats_one_modality_on_the_and_task():
    F_x, F_y, y = _tiny(n=200)
    single = fusion.SingleModality(**FAST).fit({"image": F_x}, y)
    early = fusion.EarlyFusion(**FAST).fit(_blocks(F_x, F_y), y)
    gain = macro_roc_auc(y, early.predict_proba(_blocks(F_x, F_y))) - macro_roc_auc(
        y, single.predict_proba({"image": F_x})
    )
    assert gain > 0.1


def _three(n=240, seed=0):
    """Eight classes = three binary findings, one in each modality: only all three together give the class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 8
    blocks = {name: rng.normal(size=(n, 4)).astype(np.float32) for name in ("image", "text", "ecg")}
    for bit, name in enumerate(blocks):
        blocks[name][:, 0] += 3.0 * ((y >> bit) & 1)
    return blocks, y


def test_three_modalities_fuse_better_than_any_two():
    blocks, y = _three()
    settings = {**FAST, "n_classes": 8, "epochs": 60}
    all_three = macro_roc_auc(y, fusion.EarlyFusion(**settings).fit(blocks, y).predict_proba(blocks))
    for left_out in blocks:
        pair = {name: block for name, block in blocks.items() if name != left_out}
        # Measured: all three 0.983, each pair 0.93 (a pair cannot tell apart the two classes the third bit splits).
        pair_auc = macro_roc_auc(y, fusion.EarlyFusion(**settings).fit(pair, y).predict_proba(pair))
        assert all_three > pair_auc + 0.03
    gated = fusion.GatedFusion(**settings).fit(blocks, y)
    assert macro_roc_auc(y, gated.predict_proba(blocks)) > 0.85
    gates = gated.gates(blocks)
    assert list(gates) == ["image", "text", "ecg"] and gates["ecg"].shape == (240, 16)
    assert np.allclose(sum(gates.values()), 1.0), "the gates of one unit sum to 1 over the modalities"


def test_predict_before_fit_wrong_width_and_missing_modality_are_refused():
    F_x, F_y, y = _tiny()
    with pytest.raises(ValueError, match="not fitted yet"):
        fusion.EarlyFusion().predict_proba(_blocks(F_x, F_y))
    model = fusion.SingleModality(epochs=1).fit({"image": F_x}, y)
    with pytest.raises(ValueError, match=r"image has shape \(5,\) per row but the model was fit on \(6,\)"):
        model.predict_proba({"image": F_y})
    with pytest.raises(ValueError, match=r"missing modality \['image'\]: the model was fit on \['image'\]"):
        model.predict_proba({"text": F_y})
    early = fusion.EarlyFusion(epochs=1).fit(_blocks(F_x, F_y), y)
    with pytest.raises(ValueError, match=r"missing modality \['text'\]"):
        early.predict_proba({"image": F_x})
    with pytest.raises(ValueError, match=r"unknown modality \['ecg'\]"):
        early.predict_proba({**_blocks(F_x, F_y), "ecg": F_x})
    with pytest.raises(ValueError, match="exactly one modality"):
        fusion.SingleModality(epochs=1).fit(_blocks(F_x, F_y), y)
    with pytest.raises(ValueError, match="at least two modalities"):
        fusion.EarlyFusion(epochs=1).fit({"image": F_x}, y)


def test_fit_checks_validation_data():
    F_x, F_y, y = _tiny()
    with pytest.raises(ValueError, match=r"image \(validation\) has 120 rows but text \(validation\) has 60"):
        fusion.EarlyFusion(epochs=1).fit(_blocks(F_x, F_y), y, validation_data=(_blocks(F_x, F_y[:60]), y))
    with pytest.raises(ValueError, match=r"missing modality \['text'\] \(validation\)"):
        fusion.EarlyFusion(epochs=1).fit(_blocks(F_x, F_y), y, validation_data=({"image": F_x}, y))
    with pytest.raises(ValueError, match="image has 120 rows but text has 119"):
        fusion.GatedFusion(epochs=1).fit(_blocks(F_x, F_y[:119]), y)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        fusion.EarlyFusion(epochs=0)


def test_gated_fusion_gates_and_safe_save(tmp_path):
    import keras

    F_x, F_y, y = _tiny()
    b = _blocks(F_x, F_y)
    gated = fusion.GatedFusion(**FAST).fit(b, y)
    gates = gated.gates(b)
    assert gates["image"].shape == (120, 16)
    assert ((gates["image"] >= 0) & (gates["image"] <= 1)).all()
    assert np.allclose(gates["image"] + gates["text"], 1.0)
    # No Lambda layer: the model loads in Keras' safe mode and predicts the same.
    path = tmp_path / "gated.keras"
    gated.model_.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert np.allclose(loaded.predict((F_x, F_y), verbose=0), gated.predict_proba(b), atol=1e-5)


def test_joint_fusion_two_inputs_and_image_model():
    from crossmodal_lib.features.image import build_cnn

    rng = np.random.default_rng(1)
    _, F_y, y = _tiny(n=48)
    images = rng.random((48, 16, 16, 1), dtype=np.float32) * 0.3
    images[y >= 2, 2:8, 2:8, 0] += 0.6
    b = {"image": images, "text": F_y}
    joint = fusion.JointFusion(epochs=2, hidden=8, feature_dim=8).fit(b, y)
    p = joint.predict_proba(b)
    assert p.shape == (48, 4) and np.allclose(p.sum(axis=1), 1.0)
    assert [tuple(t.shape[1:]) for t in joint.model_.inputs] == [(16, 16, 1), (5,)]
    # Starting from a trained CNN: the CNN passed in is copied, not changed.
    cnn = build_cnn((16, 16, 1), n_classes=4, feature_dim=8)
    before = [w.copy() for w in cnn.get_weights()]
    fusion.JointFusion(epochs=1, hidden=8, feature_dim=8, image_model=cnn, augment=False).fit(b, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, cnn.get_weights(), strict=True))
    with pytest.raises(ValueError, match="image_model expects images of shape"):
        fusion.JointFusion(epochs=1, image_model=build_cnn((32, 32, 1))).fit(b, y)
    with pytest.raises(ValueError, match="image has 48 rows but text has 47"):
        joint.predict_proba({"image": images, "text": F_y[:47]})
    with pytest.raises(ValueError, match=r"image must have 4 dimensions, got shape \(48, 16, 16\)"):
        joint.predict_proba({"image": images[..., 0], "text": F_y})
    with pytest.raises(ValueError, match="needs the pixels as modality 'image'"):
        fusion.JointFusion(epochs=1).fit({"film": images, "text": F_y}, y)
    three = fusion.JointFusion(epochs=1, hidden=8, feature_dim=8, augment=False).fit(
        {**b, "ecg": F_y[:, :3]}, y
    )
    assert [tuple(t.shape[1:]) for t in three.model_.inputs] == [(16, 16, 1), (5,), (3,)]


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
    late = fusion.LateFusion().fit({"image": useless, "text": good}, y)
    assert late.weights_["text"] >= 0.8
    assert np.isclose(sum(late.weights_.values()), 1.0)
    p = late.predict_proba({"image": useless, "text": good})
    assert p.shape == (200, 4) and np.allclose(p.sum(axis=1), 1.0)
    three = fusion.LateFusion().fit({"image": useless, "text": good, "ecg": useless}, y)
    assert list(three.weights_) == ["image", "text", "ecg"] and three.weights_["text"] >= 0.8


def test_late_fusion_fixed_weights_and_errors():
    y = np.arange(40) % 4
    a, b = _probas(y, 1.0, 1), _probas(y, 1.0, 2)
    late = fusion.LateFusion(weights={"image": 1, "text": 3})
    assert late.weights_ == {"image": 0.25, "text": 0.75}
    assert np.allclose(late.predict_proba({"image": a, "text": b}), 0.25 * a + 0.75 * b)
    equal = fusion.LateFusion()
    assert np.allclose(equal.predict_proba({"image": a, "text": b}), (a + b) / 2)
    with pytest.raises(ValueError, match="non-negative"):
        fusion.LateFusion(weights={"image": -1, "text": 2})
    with pytest.raises(ValueError, match="at least two"):
        fusion.LateFusion().fit({"image": a}, y)
    with pytest.raises(ValueError, match="image has 4 classes but text has 3"):
        fusion.LateFusion().fit({"image": a, "text": b[:, :3]}, y)
    with pytest.raises(ValueError, match=r"text \(predictions\) must hold probabilities in \[0, 1\]"):
        fusion.LateFusion().predict_proba({"image": a, "text": b * 3})
    with pytest.raises(ValueError, match=r"unknown modality \['ecg'\] \(predictions\)"):
        late.predict_proba({"image": a, "text": b, "ecg": a})


# ---------------------------------------------------------------------------------------------------- staged fusion
def _clinics(n=400, seed=0):
    """Two clinics, each 'a finding AND its sign' in its own pair of blocks; the final label is the more urgent
    clinic's answer: 2 if clinic a's rule holds, else 1 if clinic b's, else 0 (chapter 09 in miniature)."""
    rng = np.random.default_rng(seed)
    blocks = {name: rng.normal(size=(n, 3)).astype(np.float32) for name in ("a_x", "a_y", "b_x", "b_y")}
    bits = {name: rng.random(n) < 0.6 for name in blocks}
    for name, bit in bits.items():
        blocks[name][:, 0] += 3.0 * bit
    y_a = (bits["a_x"] & bits["a_y"]).astype(int)
    y_b = (bits["b_x"] & bits["b_y"]).astype(int)
    return blocks, np.where(y_a == 1, 2, y_b), {"a": y_a, "b": y_b}


def test_stacked_fusion_specialists_learn_their_own_questions():
    blocks, y, own = _clinics()
    val, y_val, own_val = _clinics(seed=1)
    groups = {"a": ("a_x", "a_y"), "b": ("b_x", "b_y")}
    settings = {**FAST, "n_classes": 3, "specialist_classes": {"a": 2, "b": 2}, "epochs": 60}
    targets = {g: (own[g], own_val[g]) for g in groups}
    staged = fusion.StackedFusion(groups, **settings).fit(
        blocks, y, validation_data=(val, y_val), targets=targets
    )
    test, y_test, own_test = _clinics(seed=2)
    answers = staged.specialist_probas(test)
    assert {g: a.shape for g, a in answers.items()} == {"a": (400, 2), "b": (400, 2)}
    for g in groups:
        assert macro_roc_auc(own_test[g], answers[g]) > 0.9, f"specialist {g} learnt its clinic's rule"
    proba = staged.predict_proba(test)
    assert proba.shape == (400, 3) and np.allclose(proba.sum(axis=1), 1)
    assert macro_roc_auc(y_test, proba) > 0.9
    # One specialist and a new head: a staged pair, which reads clinic a's blocks only and cannot see clinic b.
    pair = staged.with_head_on(("a",), blocks, y)
    assert pair.specialists_["a"] is staged.specialists_["a"] and pair.modalities_ == ("a_x", "a_y")
    pair_auc = macro_roc_auc(y_test, pair.predict_proba({m: test[m] for m in ("a_x", "a_y")}))
    assert pair_auc < macro_roc_auc(y_test, proba) - 0.05
    again = fusion.StackedFusion(groups, **settings).fit(
        blocks, y, validation_data=(val, y_val), targets=targets
    )
    assert np.array_equal(again.predict_proba(test), proba), "seeded: the same model twice"


def test_stacked_fusion_errors_name_the_problem():
    blocks, y, own = _clinics(n=80)
    groups = {"a": ("a_x", "a_y"), "b": ("b_x",)}
    with pytest.raises(ValueError, match="group 'b' must be a non-empty tuple"):
        fusion.StackedFusion({"a": ("a_x",), "b": "b_x"})
    with pytest.raises(TypeError, match="hiden"):
        fusion.StackedFusion(groups, hiden=8)  # a misspelt setting fails before any training
    with pytest.raises(ValueError, match="specialist_classes names unknown groups"):
        fusion.StackedFusion(groups, specialist_classes={"c": 2})
    staged = fusion.StackedFusion(groups, **FAST, n_classes=3)
    with pytest.raises(ValueError, match="not fitted yet"):
        staged.predict_proba(blocks)
    with pytest.raises(ValueError, match="targets names unknown groups"):
        staged.fit(blocks, y, targets={"c": (own["a"], None)})
    with pytest.raises(ValueError, match=r"blocks lacks \['a_y'\]"):
        staged.fit({m: b for m, b in blocks.items() if m != "a_y"}, y)
    with pytest.raises(ValueError, match="needs validation labels"):
        staged.fit(blocks, y, validation_data=(blocks, y), targets={"a": (own["a"], None)})
    staged.fit(
        blocks, y
    )  # without targets every specialist learns y; a group of one is a single-modality model
    assert isinstance(staged.specialists_["b"], fusion.SingleModality)
    with pytest.raises(ValueError, match="must name fitted specialists"):
        staged.with_head_on(("c",), blocks, y)


# ---------------------------------------------------------------------------------------------------- specialists
def _multilabel(n=200, seed=0):
    """Three labels, each present or not; label j shifts column j of the features (column 3 is noise)."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < 0.4).astype(np.int64)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[:, :3] += 3.0 * y
    return x, y


def test_multilabel_logistic_learns_each_label():
    from sklearn.metrics import roc_auc_score

    x, y = _multilabel()
    x_test, y_test = _multilabel(seed=1)
    model = fusion.MultiLabelLogistic().fit(x, y)
    p = model.predict_proba(x_test)
    assert p.shape == (200, 3) and ((p >= 0) & (p <= 1)).all()
    assert len(model.models_) == 3
    for j in range(3):
        assert roc_auc_score(y_test[:, j], p[:, j]) > 0.9, f"label {j}"
    # Each label reads its own column: label 0's probability does not follow label 1's column.
    assert roc_auc_score(y_test[:, 0], p[:, 1]) < 0.7
    # The validation split is accepted (StackedFusion passes it) and changes nothing.
    with_val = fusion.MultiLabelLogistic().fit(x, y, x_test, y_test)
    assert np.array_equal(with_val.predict_proba(x_test), p)


def test_multilabel_logistic_errors():
    x, y = _multilabel(n=40)
    with pytest.raises(ValueError, match="C must be > 0, got 0"):
        fusion.MultiLabelLogistic(C=0)
    with pytest.raises(ValueError, match="not fitted yet"):
        fusion.MultiLabelLogistic().predict_proba(x)
    with pytest.raises(ValueError, match=r"y must be 0/1 labels of shape \(40, k\), got shape \(40,\)"):
        fusion.MultiLabelLogistic().fit(x, y[:, 0])
    with pytest.raises(ValueError, match=r"got shape \(39, 3\)"):
        fusion.MultiLabelLogistic().fit(x, y[:39])
    with pytest.raises(ValueError, match="0/1 labels"):
        fusion.MultiLabelLogistic().fit(x, 2 * y)
    constant = y.copy()
    constant[:, 1] = 1
    with pytest.raises(ValueError, match="label 1 has one value only in y"):
        fusion.MultiLabelLogistic().fit(x, constant)
    x_nan = x.copy()
    x_nan[5, 0] = np.nan
    with pytest.raises(ValueError, match=r"x has 1 NaN or infinite values \(first at row 5\)"):
        fusion.MultiLabelLogistic().fit(x_nan, y)


def _findings_and_image(n=240, seed=0):
    """The note block knows two findings (multi-label: y % 2 and an extra bit); the image block knows y >= 2."""
    blocks, y = xor_blocks(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    extra = (rng.random(n) < 0.5).astype(np.int64)
    blocks["text"][:, 1] += 2.5 * extra
    return blocks, y, np.column_stack([y % 2, extra])


def test_stacked_fusion_with_a_multilabel_specialist():
    from sklearn.metrics import roc_auc_score

    blocks, y, findings = _findings_and_image()
    val, y_val, findings_val = _findings_and_image(seed=1)
    test, y_test, findings_test = _findings_and_image(seed=2)
    note = fusion.MultiLabelLogistic()
    staged = fusion.StackedFusion(
        {"text": ("text",), "image": ("image",)}, estimators={"text": note}, **FAST
    ).fit(blocks, y, validation_data=(val, y_val), targets={"text": (findings, findings_val)})
    # A copy was fitted: the object passed in is still unfitted.
    assert note.models_ == [] and staged.specialists_["text"] is not note
    assert isinstance(staged.specialists_["text"], fusion.MultiLabelLogistic)
    assert isinstance(staged.specialists_["image"], fusion.SingleModality)
    answers = staged.specialist_probas(test)
    assert {g: a.shape for g, a in answers.items()} == {"text": (240, 2), "image": (240, 4)}
    for j in range(2):
        assert roc_auc_score(findings_test[:, j], answers["text"][:, j]) > 0.9, f"finding {j}"
    # The head reads the k = 2 finding probabilities and the image specialist's 4 class probabilities.
    assert staged.head_.n_features_in_ == 6
    proba = staged.predict_proba(test)
    assert proba.shape == (240, 4) and np.allclose(proba.sum(axis=1), 1)
    assert macro_roc_auc(y_test, proba) > 0.85, "y % 2 from the note's findings, y >= 2 from the image"
    # A staged pair keeps its group's estimator, so the note specialist still reads its block as an array.
    pair = staged.with_head_on(("text",), blocks, y)
    assert pair.estimators == {"text": note} and pair.specialists_["text"] is staged.specialists_["text"]
    assert pair.predict_proba({"text": test["text"]}).shape == (240, 4)
    assert staged.with_head_on(("image",), blocks, y).estimators == {}


QUICK = {**FAST, "epochs": 2}  # the MLP specialist beside a recorder need only run, not learn


class _Recorder:
    """A specialist that records what StackedFusion passed to fit and answers a constant probability."""

    def __init__(self):
        self.seen = None

    def fit(self, x, y, x_val, y_val):
        self.seen = (x, y, x_val, y_val)
        return self

    def predict_proba(self, x):
        return np.full((len(x), 2), 0.5)


def test_stacked_fusion_passes_its_block_and_target_to_an_estimator():
    blocks, y, own = _clinics(n=80)
    val, y_val, own_val = _clinics(n=40, seed=1)
    recorder = _Recorder()
    staged = fusion.StackedFusion(
        {"a": ("a_x", "a_y"), "b": ("b_x",)}, n_classes=3, estimators={"b": recorder}, **QUICK
    ).fit(blocks, y, validation_data=(val, y_val), targets={"b": (own["b"], own_val["b"])})
    assert recorder.seen is None
    x, y_b, x_val, y_b_val = staged.specialists_["b"].seen
    assert np.array_equal(x, blocks["b_x"]) and np.array_equal(x_val, val["b_x"])
    assert np.array_equal(y_b, own["b"]) and np.array_equal(y_b_val, own_val["b"])
    # Without targets the estimator learns the final question, like any specialist.
    plain = fusion.StackedFusion(
        {"a": ("a_x",), "b": ("b_x",)}, n_classes=3, estimators={"b": _Recorder()}, **QUICK
    )
    plain.fit(blocks, y, validation_data=(val, y_val))
    assert np.array_equal(plain.specialists_["b"].seen[1], y)
    assert np.array_equal(plain.specialists_["b"].seen[3], y_val)


def test_stacked_fusion_estimator_errors():
    blocks, y, own = _clinics(n=80)
    groups = {"a": ("a_x", "a_y"), "b": ("b_x",)}
    with pytest.raises(ValueError, match=r"estimators names unknown group 'c'; groups: \['a', 'b'\]"):
        fusion.StackedFusion(groups, estimators={"c": fusion.MultiLabelLogistic()})
    with pytest.raises(
        ValueError, match="group 'a' has an estimator of its own, so it must read one modality"
    ):
        fusion.StackedFusion(groups, estimators={"a": fusion.MultiLabelLogistic()})
    with pytest.raises(
        ValueError, match=r"estimators\['b'\] needs fit\(x, y, x_val, y_val\) and predict_proba"
    ):
        fusion.StackedFusion(groups, estimators={"b": object()})
    staged = fusion.StackedFusion(groups, n_classes=3, estimators={"b": _Recorder()}, **QUICK)
    with pytest.raises(ValueError, match="group 'b''s estimator chooses its settings on validation_data"):
        staged.fit(blocks, y)
    # Validation blocks but no validation labels for the estimator's own question: refused the same way.
    with pytest.raises(ValueError, match="group 'b''s estimator chooses its settings on validation_data"):
        staged.fit(blocks, y, validation_data=(blocks, y), targets={"b": (own["b"], None)})
