"""Unit tests of crossmodal_lib.preprocess (chapter 01) on tiny synthetic images and notes."""

import numpy as np
import pytest

from crossmodal_lib.preprocess import augmentation, prepare_images, prepare_visits, tokenize, tokenize_all


# ---------------------------------------------------------------------------------------------------------- images
def test_prepare_images_mixed_inputs_shape_dtype_range():
    rng = np.random.default_rng(0)
    images = [
        rng.random((64, 64)),  # float in [0, 1]
        (rng.random((100, 80, 3)) * 255).astype(np.uint8),  # RGB, another size
        rng.normal(size=(64, 64)) * 100,  # float outside [0, 1]
        np.full((64, 64), 65535, dtype=np.uint16),  # 16-bit
        rng.random((64, 64, 1)).astype(np.float32),  # channel axis
    ]
    x = prepare_images(images, size=64)
    assert x.shape == (5, 64, 64, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_allclose(x[0, ..., 0], images[0].astype(np.float32))  # [0, 1] floats kept as they are
    np.testing.assert_allclose(x[3], 1.0)  # uint16 max -> 1
    assert x[2].min() == 0.0 and x[2].max() == 1.0  # min-max per image
    assert 0.3 < x[1].mean() < 0.7  # the RGB image, resized from 100 x 80


def test_prepare_images_dtype_range_and_rgb_to_gray():
    red = np.zeros((16, 16, 3), dtype=np.uint8)
    red[..., 0] = 255
    gray8 = np.full((16, 16), 51, dtype=np.uint8)
    x = prepare_images([red, gray8], size=16)
    np.testing.assert_allclose(x[0], 0.299, atol=1e-6)  # luma weight of red
    np.testing.assert_allclose(x[1], 0.2, atol=1e-6)  # 51 / 255: dtype range, not min-max


def test_prepare_images_batch_arrays_and_constant_float():
    batch3 = np.zeros((3, 20, 20), dtype=np.float64) + 5.0  # constant, outside [0, 1]
    x = prepare_images(batch3, size=16)
    assert x.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(x, 0.0)
    batch4 = np.random.default_rng(1).random((2, 16, 16, 1)).astype(np.float32)
    np.testing.assert_array_equal(prepare_images(batch4, size=16), batch4)


def test_prepare_images_is_deterministic():
    imgs = [np.random.default_rng(2).random((50, 70))]
    np.testing.assert_array_equal(prepare_images(imgs, 32), prepare_images(imgs, 32))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([], "empty"),
        ([np.zeros((8, 8)), np.array([[np.nan, 0.0], [0.0, 1.0]])], "image 1 contains NaN"),
        ([np.zeros((8, 8)), np.zeros((8, 8)), np.zeros(8)], "image 2 has shape"),
        ([np.zeros((8, 8, 2))], "image 0 has shape"),
        ([np.zeros((0, 8))], "image 0 has shape"),
        (np.zeros((8, 8)), "one 2-D image"),
        (np.zeros((2, 3, 8, 8, 1)), "expected (n, height, width)"),
        ([np.array([["a"]])], "image 0 has dtype"),
    ],
)
def test_prepare_images_errors_name_the_problem(images, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prepare_images(images, size=16)


def test_prepare_images_rejects_bad_size():
    with pytest.raises(ValueError, match="size"):
        prepare_images([np.zeros((8, 8))], size=0)


def test_augmentation_layers_no_flip_by_default():
    import keras

    aug = augmentation()
    assert isinstance(aug, keras.Sequential)
    kinds = [type(layer).__name__ for layer in aug.layers]
    assert "RandomFlip" not in kinds
    assert {"RandomRotation", "RandomContrast"} <= set(kinds)
    assert "RandomFlip" in [type(layer).__name__ for layer in augmentation(flip=True).layers]
    assert "RandomZoom" in [type(layer).__name__ for layer in augmentation(zoom=True).layers]


def test_augmentation_deterministic_and_identity_at_inference():
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype(np.float32)
    a1 = np.asarray(augmentation(seed=3)(x, training=True))
    a2 = np.asarray(augmentation(seed=3)(x, training=True))
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, x)
    assert a1.shape == x.shape
    np.testing.assert_array_equal(np.asarray(augmentation(seed=3)(x, training=False)), x)
    with pytest.raises(ValueError, match="strength"):
        augmentation(strength=0)


# ------------------------------------------------------------------------------------------------------------ text
def test_negation_gives_one_token_for_no_and_denies():
    assert tokenize("denies fever") == tokenize("No fever.") == ["no_fever"]
    assert tokenize("Fever.") == ["fever"]
    assert tokenize("Pt is afebrile") == ["patient", "no_fever"]
    assert "no_fever" != tokenize("fever")[0]


def test_negation_scope_ends_at_clause_or_terminator():
    assert tokenize("No chills; productive cough.") == ["no_chills", "productive", "cough"]
    assert tokenize("no fever but productive cough") == ["no_fever", "productive", "cough"]
    assert tokenize("denies fever, chills or weight loss") == [
        "no_fever",
        "no_chills",
        "no_weight",
        "no_loss",
    ]


def test_case_punctuation_abbreviations_stopwords():
    tokens = tokenize("SOB on exertion!! c/o Cough, T 38.9C; PMH: HTN.")
    assert tokens == [
        "shortness",
        "breath",
        "exertion",
        "complains",
        "cough",
        "past",
        "medical",
        "history",
        "hypertension",
    ]
    assert tokenize("Pedal oedema") == tokenize("pedal edema")
    assert tokenize("Haemoptysis x3 days, SpO2 91%") == ["hemoptysis", "days", "spo2"]
    assert all(t == t.lower() for t in tokens)


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 3])
def test_tokenize_rejects_empty_or_non_string(bad):
    with pytest.raises(ValueError, match="note"):
        tokenize(bad)


def test_tokenize_all_names_the_index():
    assert tokenize_all(["no fever", "cough"]) == [["no_fever"], ["cough"]]
    with pytest.raises(ValueError, match="note 2"):
        tokenize_all(["fever", "cough", "  "])
    with pytest.raises(ValueError, match="note 1"):
        tokenize_all(["fever", float("nan")])
    with pytest.raises(ValueError, match="empty"):
        tokenize_all([])
    with pytest.raises(ValueError, match="single string"):
        tokenize_all("fever")


def test_prepare_visits_checks_counts():
    x, tokens = prepare_visits([np.zeros((8, 8)), np.ones((8, 8))], ["fever", "no cough"], size=16)
    assert x.shape == (2, 16, 16, 1) and tokens == [["fever"], ["no_cough"]]
    with pytest.raises(ValueError, match="2 images but 3 notes"):
        prepare_visits([np.zeros((8, 8))] * 2, ["a b", "c d", "e f"])


def test_tabular_features_scale_age_on_the_fit_rows_and_name_bad_rows():
    import pandas as pd

    from crossmodal_lib.preprocess.tabular import prepare_tabular

    df = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "age": ["40", "60", "80", ""], "sex": ["F", "M", "m", "F"]}
    )
    F = prepare_tabular(df, fit_rows=np.array([True, True, False, False]))
    assert F.dtype == np.float32 and F.shape == (4, 2)
    assert np.allclose(F[:3, 0], [-1, 1, 3]) and F[:3, 1].tolist() == [1, 0, 0]
    assert F[3].tolist() == [0, 0], "a row without age is left for the pipeline to impute"
    with pytest.raises(ValueError, match=r"row 1 \(id 'b'\): age 'sixty' is not a number"):
        prepare_tabular(df.assign(age=["40", "sixty", "80", ""]))
    with pytest.raises(ValueError, match=r"row 0 \(id 'a'\): sex 'X' is not F or M"):
        prepare_tabular(df.assign(sex=["X", "M", "M", "F"]))


# ------------------------------------------------------------------------------------------ findings named in text
def test_mentioned_findings_reads_negation_and_synonyms():
    from crossmodal_lib.preprocess.text import CHEST_REPORT_TERMS, mentioned_findings

    reports = [
        "PA chest radiograph. No pleural effusion. Small right pulmonary nodule, ct suggested.",
        "Enlarged cardiac silhouette. Blunting of the right costophrenic angle.",
        "Heart size normal. Costophrenic angles clear. No airspace opacity.",
    ]
    labels = mentioned_findings(reports)
    assert list(CHEST_REPORT_TERMS) == ["opacity", "cardiomegaly", "effusion", "nodule"]
    assert labels.tolist() == [[0, 0, 0, 1], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert labels.dtype == np.int64


def test_mentioned_findings_on_the_cohort_agrees_with_the_hidden_truth():
    # The labelling function is noisy (hedged reports, an opacity word for a nodule) but far better than chance.
    from crossmodal_lib.data import load_cohort, load_findings
    from crossmodal_lib.preprocess.text import CHEST_REPORT_TERMS, mentioned_findings

    df = load_cohort().merge(load_findings(), on="id", validate="one_to_one")
    labels = mentioned_findings(df["report"].tolist())
    agreement = (labels == df[list(CHEST_REPORT_TERMS)].to_numpy()).mean(axis=0)
    assert agreement.min() > 0.75 and agreement.mean() > 0.85


@pytest.mark.parametrize(
    ("texts", "terms", "message"),
    [
        (["a note"], {}, "terms is empty"),
        (["a note"], {"fever": "fever"}, "non-empty tuple of words"),
        (["a note", "  "], {"fever": ("fever",)}, "note 1"),
        ("one string", {"fever": ("fever",)}, "single string"),
    ],
)
def test_mentioned_findings_errors_name_the_problem(texts, terms, message):
    from crossmodal_lib.preprocess.text import mentioned_findings

    with pytest.raises(ValueError, match=message):
        mentioned_findings(texts, terms)
