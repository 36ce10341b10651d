"""Unit tests of crossmodal_lib.federated (chapter 12) on small synthetic cohorts and feature blocks."""

import numpy as np
import pandas as pd
import pytest
from synthetic_blocks import xor_blocks

from crossmodal_lib import federated as fed
from crossmodal_lib import fusion
from crossmodal_lib.evaluate import macro_roc_auc
from crossmodal_lib.pipeline import CohortFeatures

CLASSES = ("normal", "pneumonia", "heart_failure", "lung_mass")


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


def _frame(n_patients=400, seed=0):
    """Patients with 1-3 visits, one label per patient, split 70/15/15 by patient (as the cohort is)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        label = CLASSES[rng.integers(4)]
        split = rng.choice(["train", "val", "test"], p=[0.7, 0.15, 0.15])
        for v in range(rng.integers(1, 4)):
            rows.append({"id": f"p{p}v{v}", "patient_id": f"p{p}", "label": label, "split": split})
    return pd.DataFrame(rows)


def _blocks(n=120, seed=0):
    return xor_blocks(n, seed=seed)


def _take(blocks, rows):
    return {name: b[rows] for name, b in blocks.items()}


# ------------------------------------------------------------------------------------------------ split_hospitals
def test_patients_never_straddle_hospitals_and_each_hospital_keeps_the_split():
    frame = _frame()
    hospitals = fed.split_hospitals(frame, n_hospitals=4, seed=0)
    assert hospitals.shape == (len(frame),)
    assert set(hospitals) == {0, 1, 2, 3}
    assert (frame.assign(h=hospitals).groupby("patient_id")["h"].nunique() == 1).all()
    for split in ("train", "val", "test"):
        assert set(hospitals[(frame["split"] == split).to_numpy()]) == {0, 1, 2, 3}
    # at least min_share (8 %) of the training patients in every hospital
    train = frame[frame["split"] == "train"].assign(h=hospitals[(frame["split"] == "train").to_numpy()])
    shares = train.groupby("h")["patient_id"].nunique() / train["patient_id"].nunique()
    assert shares.min() >= 0.08
    np.testing.assert_array_equal(hospitals, fed.split_hospitals(frame, n_hospitals=4, seed=0))


def test_case_mixes_differ_across_hospitals_and_tend_to_the_same_with_a_large_concentration():
    frame = _frame()
    skewed = fed.case_mix(frame, fed.split_hospitals(frame, n_hospitals=4, seed=0))
    iid = fed.case_mix(frame, fed.split_hospitals(frame, n_hospitals=4, seed=0, concentration=1000.0))
    spread = lambda mix: (mix[list(CLASSES)].max() - mix[list(CLASSES)].min()).max()  # noqa: E731
    assert np.allclose(skewed[list(CLASSES)].sum(axis=1), 1)
    assert skewed["n"].sum() == (frame["split"] == "train").sum()
    assert spread(skewed) > 0.3  # some class is 30 points more common in one hospital than in another
    assert spread(iid) < 0.15


def test_split_hospitals_refuses_bad_frames_and_settings():
    frame = _frame(60)
    with pytest.raises(ValueError, match="no 'label' column"):
        fed.split_hospitals(frame.drop(columns="label"))
    bad = frame.copy()
    bad.loc[bad.index[1], "split"] = "test" if bad.loc[bad.index[0], "split"] != "test" else "train"
    bad.loc[bad.index[1], "patient_id"] = bad.loc[bad.index[0], "patient_id"]
    with pytest.raises(ValueError, match=r"patient 'p0' has visits in several splits"):
        fed.split_hospitals(bad)
    with pytest.raises(ValueError, match="n_hospitals must be between 2 and 10"):
        fed.split_hospitals(frame, n_hospitals=1)
    with pytest.raises(ValueError, match="could not give each of 8 hospitals"):
        fed.split_hospitals(frame, n_hospitals=8, min_share=0.1, concentration=0.05)


# ------------------------------------------------------------------------------------------------ acquisition
def test_acquire_is_deterministic_per_hospital_and_different_between_hospitals():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.2, 0.8, size=(3, 16, 16, 1)).astype(np.float32)
    a0 = fed.acquire(images, 0, seed=1)
    np.testing.assert_array_equal(a0, fed.acquire(images, 0, seed=1))
    assert np.abs(a0 - fed.acquire(images, 1, seed=1)).mean() > 0.01
    assert a0.min() >= 0 and a0.max() <= 1 and a0.dtype == np.float32
    np.testing.assert_allclose(fed.acquire(images, 2, strength=0.0), images, atol=1e-6)  # identical scanners
    assert fed.scanner(0, seed=1) == fed.scanner(0, seed=1) != fed.scanner(1, seed=1)
    with pytest.raises(ValueError, match=r"images must be \(n, height, width, channels\)"):
        fed.acquire(images[0], 0)
    with pytest.raises(ValueError, match=r"finite values in \[0, 1\]"):
        fed.acquire(images * 2, 0)


def test_site_features_and_hospital_blocks_on_a_small_cnn():
    from crossmodal_lib.features.image import build_cnn, image_features

    rng = np.random.default_rng(0)
    frame = _frame(30).reset_index(drop=True)
    frame["has_image"] = True
    images = rng.uniform(0, 1, size=(len(frame), 16, 16, 1)).astype(np.float32)
    cnn = build_cnn((16, 16, 1), n_classes=4, feature_dim=8, seed=0)
    y = frame["label"].map(CLASSES.index).to_numpy()
    F_y = rng.normal(size=(len(frame), 5)).astype(np.float32)
    feats = CohortFeatures(frame, CLASSES, y, images, image_features(cnn, images), F_y, cnn=cnn)
    hospitals = np.arange(len(frame)) % 3
    site = fed.site_features(feats, hospitals, seed=0)
    np.testing.assert_array_equal(site.images[hospitals == 1], fed.acquire(images[hospitals == 1], 1, seed=0))
    np.testing.assert_allclose(site.F_x, image_features(cnn, site.images), atol=1e-6)
    assert np.abs(site.F_x - feats.F_x).max() > 0  # the scanners change what the CNN sees
    np.testing.assert_array_equal(site.F_y, F_y)  # the notes are as given
    blocks, labels = fed.hospital_blocks(site, hospitals, "train")
    assert len(blocks) == 3 and sum(len(v) for v in labels) == feats.mask("train").sum()
    np.testing.assert_array_equal(blocks[2]["text"], F_y[feats.mask("train") & (hospitals == 2)])
    with pytest.raises(ValueError, match="one entry per row"):
        fed.hospital_blocks(site, hospitals[:-1], "train")


# ------------------------------------------------------------------------------------------------ server side
def test_average_weights_is_the_row_weighted_mean():
    w_a = [np.array([[1.0, 2.0]], dtype=np.float32), np.array([0.0], dtype=np.float32)]
    w_b = [np.array([[3.0, 6.0]], dtype=np.float32), np.array([4.0], dtype=np.float32)]
    avg = fed.average_weights([w_a, w_b], [30, 10])  # shares 3/4 and 1/4
    np.testing.assert_allclose(avg[0], [[1.5, 3.0]])
    np.testing.assert_allclose(avg[1], [1.0])
    assert avg[0].dtype == np.float32
    with pytest.raises(ValueError, match="hospital 1 has no training rows"):
        fed.average_weights([w_a, w_b], [30, 0])
    with pytest.raises(ValueError, match="weight 0 has different shapes across hospitals"):
        fed.average_weights([w_a, [w_b[0].T, w_b[1]]], [1, 1])
    with pytest.raises(ValueError, match="weights of 2 hospitals but 3 counts"):
        fed.average_weights([w_a, w_b], [1, 1, 1])


def test_pooled_statistics_equal_the_statistics_of_the_pooled_rows():
    blocks, _ = _blocks(90)
    parts = [_take(blocks, slice(0, 10)), _take(blocks, slice(10, 50)), _take(blocks, slice(50, 90))]
    stats = fed.pooled_statistics(parts)
    for name, block in blocks.items():
        np.testing.assert_allclose(stats[name][0], block.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(stats[name][1], block.var(axis=0), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ fedavg
def test_fedavg_with_one_hospital_is_plain_training():
    """One hospital, one local epoch a round, R rounds = EarlyFusion for R epochs (bit-identical here)."""
    blocks, y = _blocks()
    settings = {"seed": 3, "hidden": 16, "learning_rate": 1e-3}
    result = fed.fedavg([blocks], [y], rounds=4, local_epochs=1, **settings)
    plain = fusion.EarlyFusion(epochs=4, **settings).fit(blocks, y)
    np.testing.assert_allclose(result.model.predict_proba(blocks), plain.predict_proba(blocks), atol=1e-6)
    assert result.chosen_round == 4  # without validation rows, the last round
    assert list(result.history.index) == [1, 2, 3, 4]


def test_fedavg_learns_across_hospitals_and_chooses_the_round_on_validation():
    blocks, y = _blocks(240)
    val_blocks, y_val = _blocks(120, seed=1)
    # two hospitals with opposite case mixes: hospital 0 mostly classes 0-1, hospital 1 mostly 2-3
    first = np.flatnonzero((y < 2) | (np.arange(len(y)) % 8 == 0))
    second = np.setdiff1d(np.arange(len(y)), first)
    result = fed.fedavg(
        [_take(blocks, first), _take(blocks, second)],
        [y[first], y[second]],
        val=(val_blocks, y_val),
        rounds=6,
        local_epochs=4,
        seed=0,
        hidden=16,
    )
    history = result.history
    assert result.chosen_round == history["val_loss"].idxmin()
    assert result.counts == [len(first), len(second)]
    # the returned model is the chosen round's global model: its validation loss is the one recorded
    p = result.model.predict_proba(val_blocks)
    loss = -np.mean(np.log(p[np.arange(len(y_val)), y_val]))
    assert loss == pytest.approx(history.at[result.chosen_round, "val_loss"], abs=1e-5)
    assert macro_roc_auc(y_val, p) > 0.75  # all four classes, learnt from weights alone
    by_auc = fed.fedavg([blocks], [y], val=(val_blocks, y_val), rounds=3, seed=0, hidden=16, select="auc")
    assert by_auc.chosen_round == by_auc.history["val_auc"].idxmax()


def test_fedavg_refuses_bad_inputs_naming_the_hospital():
    blocks, y = _blocks(40)
    good = [blocks, blocks]
    short = {"image": blocks["image"], "text": blocks["text"][:-1]}
    with pytest.raises(ValueError, match=r"image \(hospital 1\) has 40 rows but text \(hospital 1\) has 39"):
        fed.fedavg([blocks, short], [y, y], rounds=1)
    with pytest.raises(ValueError, match="hospital 1 has no training rows"):
        fed.fedavg([blocks, _take(blocks, slice(0, 0))], [y, y[:0]], rounds=1)
    with pytest.raises(ValueError, match=r"unknown modality \['ecg'\] \(hospital 1\)"):
        fed.fedavg([blocks, {**blocks, "ecg": blocks["image"]}], [y, y], rounds=1)
    with pytest.raises(ValueError, match=r"missing modality \['text'\] \(hospital 1\)"):
        fed.fedavg([blocks, {"image": blocks["image"]}], [y, y], rounds=1)
    with pytest.raises(ValueError, match="the blocks of 2 hospitals but the labels of 1"):
        fed.fedavg(good, [y], rounds=1)
    with pytest.raises(ValueError, match="the features have 40 rows but y of hospital 1 has 39"):
        fed.fedavg(good, [y, y[:-1]], rounds=1)
    with pytest.raises(ValueError, match="text of hospital 1 has 4 columns but hospital 0's has 5"):
        fed.fedavg([blocks, {**blocks, "text": blocks["text"][:, :4]}], [y, y], rounds=1)
    with pytest.raises(ValueError, match=r"unknown modality \['ecg'\] \(validation\)"):
        fed.fedavg(good, [y, y], val=({**blocks, "ecg": blocks["image"]}, y), rounds=1)
    with pytest.raises(TypeError, match="one {modality: array} per hospital"):
        fed.fedavg(blocks, [y], rounds=1)
    with pytest.raises(ValueError, match="select must be 'loss' or 'auc'"):
        fed.fedavg(good, [y, y], rounds=1, select="accuracy")


def test_standardisation_survives_a_unit_that_was_silent_in_training():
    """A column constant (0) in training but not later: scaled by 1 (scikit-learn's rule), not by 1 / 1e-7."""
    blocks, y = _blocks(80)
    blocks["image"][:, 1] = 0.0  # a CNN unit that never fired on the training rows
    later = {name: b.copy() for name, b in blocks.items()}
    later["image"][:, 1] = 0.5  # ... fires under another hospital's scanner
    model = fusion.EarlyFusion(epochs=3, hidden=16, seed=0).fit(blocks, y)
    layer = model.model_.get_layer("image_standardised")
    assert np.asarray(layer.variance)[0, 1] == 1.0  # the constant column
    assert np.abs(model.predict_proba(later) - model.predict_proba(blocks)).max() < 0.2


# ------------------------------------------------------------------------------------------------ comparison
def test_compare_training_scores_every_model_on_the_pooled_test_split():
    blocks, y = _blocks(160)
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(160)],
            "patient_id": [f"p{i}" for i in range(160)],
            "label": [CLASSES[c] for c in y],
            "split": np.array(["train", "train", "train", "val", "test"] * 32),
        }
    )
    feats = CohortFeatures(frame, CLASSES, y, None, blocks["image"], blocks["text"])
    hospitals = (np.arange(160) // 4) % 2  # every class in both hospitals and in every split
    table = fed.compare_training(feats, hospitals, fast=True, rounds=2, n_resamples=20, epochs=2)
    assert list(table.index) == ["central", "FedAvg", "hospital 0 alone", "hospital 1 alone"]
    assert table.at["FedAvg", "train_rows"] == table.at["central", "train_rows"] == 96
    assert table.loc["hospital 0 alone":, "train_rows"].tolist() == [48, 48]
    assert table["roc_auc"].between(0, 1).all() and (table["roc_auc_low"] <= table["roc_auc"]).all()
    assert table.at["FedAvg", "chosen_round"] in (1, 2)
    with pytest.raises(ValueError, match="hospital 1 has no training rows"):
        fed.compare_training(feats, hospitals * 2, fast=True, rounds=1)
