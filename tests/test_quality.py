"""Chapter 11's library: missing modalities, noise, label errors and data checks (crossmodal_lib.quality).

Every test uses small numpy data or a folder built in tmp_path, and no Keras model, so the file runs in
seconds.
"""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from crossmodal_lib import quality
from crossmodal_lib.evaluate import macro_roc_auc


# ------------------------------------------------------------------------------------------------------------
# A toy two-modality problem and model
# ------------------------------------------------------------------------------------------------------------
def toy_problem(n=300, seed=0):
    """y in 0..2; the image block tells class 1 from the rest, the text block class 2 from the rest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    image = np.column_stack([(y == 1) * 2.0, rng.normal(size=n)]) + rng.normal(0, 0.7, (n, 2))
    text = np.column_stack([(y == 2) * 2.0, rng.normal(size=n), rng.normal(size=n)]) + rng.normal(
        0, 0.7, (n, 3)
    )
    return {"image": image.astype(np.float32), "text": text.astype(np.float32)}, y


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def toy_model(blocks):
    """A fixed 'fusion model': logits from each block's first column (extra indicator columns are ignored)."""
    a, b = blocks["image"][:, 0], blocks["text"][:, 0]
    return softmax(np.column_stack([1.0 - a - b, 2 * a - 1.0, 2 * b - 1.0]))


def toy_text_only(blocks):
    b = blocks["text"][:, 0]
    return softmax(np.column_stack([0.5 - b, np.zeros_like(b), 2 * b - 1.0]))


# ------------------------------------------------------------------------------------------------------------
# 1. Missing modality
# ------------------------------------------------------------------------------------------------------------
def test_imputer_fills_lost_rows_with_training_mean_and_sets_the_indicator():
    blocks, _ = toy_problem(50)
    imputer = quality.ModalityImputer(indicator=True).fit(blocks)
    lost = np.zeros(50, dtype=bool)
    lost[[3, 7]] = True
    out = imputer.transform(blocks, {"image": lost})
    assert out["image"].shape == (50, 3) and out["text"].shape == (50, 4)
    np.testing.assert_allclose(
        out["image"][lost, :2], np.tile(blocks["image"].mean(axis=0), (2, 1)), rtol=1e-6
    )
    np.testing.assert_array_equal(out["image"][~lost, :2], blocks["image"][~lost])
    np.testing.assert_array_equal(out["image"][:, 2], lost.astype(np.float32))
    np.testing.assert_array_equal(out["text"][:, 3], 0)
    # without indicator: the plain model's convention, same width as trained
    plain = quality.ModalityImputer().fit(blocks).transform(blocks, {"image": lost})
    assert plain["image"].shape == (50, 2)


def test_imputer_uses_the_pipelines_own_indicator_column_instead_of_adding_one():
    blocks, _ = toy_problem(40)
    with_column = {**blocks, "text": np.hstack([blocks["text"], np.zeros((40, 1), np.float32)])}
    imputer = quality.ModalityImputer(indicator=True).fit(with_column, indicator_in=["text"])
    lost = np.arange(40) < 5
    out = imputer.transform(with_column, {"text": lost})
    assert out["text"].shape == (40, 4)  # no second indicator
    np.testing.assert_array_equal(out["text"][:, -1], lost.astype(np.float32))
    np.testing.assert_allclose(out["text"][lost, :3], np.tile(blocks["text"].mean(axis=0), (5, 1)), rtol=1e-6)


@pytest.mark.parametrize(
    ("lost", "message"),
    [
        ({"ecg": np.zeros(30, bool)}, "lost names modality 'ecg'"),
        ({"image": np.zeros(29, bool)}, r"lost\['image'\] has shape \(29,\)"),
        ({"image": np.full(30, 0.5)}, "must hold booleans"),
    ],
)
def test_imputer_bad_lost_masks_name_the_problem(lost, message):
    blocks, _ = toy_problem(30)
    imputer = quality.ModalityImputer().fit(blocks)
    with pytest.raises(ValueError, match=message):
        imputer.transform(blocks, lost)


def test_imputer_refuses_wrong_widths_and_unfitted_use():
    blocks, _ = toy_problem(30)
    with pytest.raises(ValueError, match="not fitted"):
        quality.ModalityImputer().transform(blocks)
    imputer = quality.ModalityImputer().fit(blocks)
    wider = {**blocks, "image": np.hstack([blocks["image"], blocks["image"]])}
    with pytest.raises(ValueError, match="image has 4 columns but the imputer was fit on 2"):
        imputer.transform(wider)
    with pytest.raises(ValueError, match="missing modality"):
        imputer.transform({"image": blocks["image"]})


def test_modality_dropout_duplicates_rows_keeps_labels_and_sets_indicators():
    n = 40
    rng = np.random.default_rng(1)
    blocks = {
        "image": rng.normal(size=(n, 4)).astype(np.float32),
        "text": rng.normal(size=(n, 3)).astype(np.float32),
    }
    blocks["text"][:, 0] = np.arange(n)  # row number, to match copies with their originals
    y = np.arange(n) % 4
    drop = quality.ModalityDropout(rate=0.25, seed=0).fit(blocks)
    out, y_out = drop.augment(blocks, y)
    k = 10  # 0.25 * 40 per modality
    assert out["image"].shape == (n + 2 * k, 5) and out["text"].shape == (n + 2 * k, 4)
    assert y_out.shape == (n + 2 * k,)
    # the original rows come first, unchanged, with indicator 0
    np.testing.assert_array_equal(out["image"][:n, :4], blocks["image"])
    np.testing.assert_array_equal(out["image"][:n, 4], 0)
    np.testing.assert_array_equal(out["text"][:n, 3], 0)
    # the image-blanked copies: training mean, indicator 1, text and label of the copied row
    img_copies = slice(n, n + k)
    np.testing.assert_allclose(
        out["image"][img_copies, :4], np.tile(blocks["image"].mean(0), (k, 1)), rtol=1e-6
    )
    np.testing.assert_array_equal(out["image"][img_copies, 4], 1)
    np.testing.assert_array_equal(out["text"][img_copies, 3], 0)
    source = out["text"][img_copies, 0].astype(int)
    np.testing.assert_array_equal(y_out[img_copies], y[source])
    np.testing.assert_array_equal(out["image"][n + k :, 4], 0)
    np.testing.assert_array_equal(out["text"][n + k :, 3], 1)
    # deterministic for a seed, different for another
    again, _ = quality.ModalityDropout(rate=0.25, seed=0).fit(blocks).augment(blocks, y)
    other, _ = quality.ModalityDropout(rate=0.25, seed=1).fit(blocks).augment(blocks, y)
    np.testing.assert_array_equal(again["text"], out["text"])
    assert not np.array_equal(other["text"], out["text"])


def test_modality_dropout_in_place_blanks_disjoint_rows():
    blocks, y = toy_problem(40)
    out, y_out = quality.ModalityDropout(rate=0.25, duplicate=False).fit(blocks).augment(blocks, y)
    assert out["image"].shape == (40, 3) and out["text"].shape == (40, 4)
    np.testing.assert_array_equal(y_out, y)
    image_lost, text_lost = out["image"][:, -1] == 1, out["text"][:, -1] == 1
    assert image_lost.sum() == text_lost.sum() == 10 and not (image_lost & text_lost).any()
    with pytest.raises(ValueError, match="rate must be <= 1 / number of modalities"):
        quality.ModalityDropout(rate=0.6, duplicate=False).fit(blocks).augment(blocks, y)
    with pytest.raises(ValueError, match="rate must be a number in"):
        quality.ModalityDropout(rate=1.5)
    with pytest.raises(ValueError, match="y has shape"):
        quality.ModalityDropout().fit(blocks).augment(blocks, y[:-1])


def test_robustness_curve_falls_as_rows_lose_a_modality_and_strategies_meet_their_end_points():
    blocks, y = toy_problem(400)
    imputer = quality.ModalityImputer().fit(blocks)
    strategies = {
        "imputation": quality.with_imputation(toy_model, imputer),
        "fallback": quality.with_fallback({("image", "text"): toy_model, ("text",): toy_text_only}),
    }
    curve = quality.robustness_curve(strategies, blocks, y, lose="image", seed=0)
    assert list(curve.index) == list(quality.FRACTIONS) and list(curve.columns) == list(strategies)
    assert curve.attrs["lost"] == ["image"]
    full = macro_roc_auc(y, toy_model(blocks))
    assert curve.iloc[0].tolist() == pytest.approx([full, full])
    mean_image = {**blocks, "image": np.tile(blocks["image"].mean(0), (400, 1))}
    assert curve.at[1.0, "imputation"] == pytest.approx(macro_roc_auc(y, toy_model(mean_image)))
    assert curve.at[1.0, "fallback"] == pytest.approx(macro_roc_auc(y, toy_text_only(blocks)))
    for name in strategies:  # monotone up to small wiggles, and a clear loss overall
        assert (np.diff(curve[name]) < 0.02).all()
        assert curve.at[0.0, name] - curve.at[1.0, name] > 0.1
    # the two-prediction shortcut gives the per-fraction answer for a row-wise model
    slow = quality.robustness_curve(strategies, blocks, y, lose="image", seed=0, rowwise=False)
    pd.testing.assert_frame_equal(slow, curve)


def test_robustness_curve_bad_inputs_name_the_problem():
    blocks, y = toy_problem(50)
    strategies = {"m": quality.with_imputation(toy_model, quality.ModalityImputer().fit(blocks))}
    with pytest.raises(ValueError, match="lose must name modalities"):
        quality.robustness_curve(strategies, blocks, y, lose="ecg")
    with pytest.raises(ValueError, match="every fraction must be a number in"):
        quality.robustness_curve(strategies, blocks, y, lose="image", fractions=[0, 1.2])
    with pytest.raises(ValueError, match="non-empty mapping"):
        quality.robustness_curve({}, blocks, y, lose="image")


def test_fallback_sends_each_row_to_the_largest_model_it_has_the_modalities_of():
    n = 6
    blocks = {m: np.zeros((n, 1), np.float32) for m in ("image", "text", "ecg")}

    def constant(k):
        return lambda b: np.tile(np.eye(4)[k], (len(next(iter(b.values()))), 1))

    models = {
        ("image", "text", "ecg"): constant(0),
        ("text", "ecg"): constant(1),
        "text": constant(2),
        "ecg": constant(3),
    }
    strategy = quality.with_fallback(models)
    lost = {"image": np.array([0, 1, 1, 1, 0, 0], bool), "ecg": np.array([0, 0, 1, 0, 0, 0], bool)}
    proba = strategy(blocks, lost)
    assert proba.argmax(axis=1).tolist() == [0, 1, 2, 1, 0, 0]
    # image only and nothing else: no model takes just the image
    with pytest.raises(ValueError, match=r"row\(s\) have only \['image'\] and no model takes just those"):
        strategy(blocks, {"text": np.ones(n, bool), "ecg": np.ones(n, bool)})
    otherwise = quality.with_fallback(models, otherwise=lambda b, lost: constant(3)(b))
    assert (
        otherwise(blocks, {"text": np.ones(n, bool), "ecg": np.ones(n, bool)}).argmax(1).tolist() == [3] * n
    )


# ------------------------------------------------------------------------------------------------------------
# 2. Noise
# ------------------------------------------------------------------------------------------------------------
def gray_images(n=8, size=32, level=0.5, seed=0):
    rng = np.random.default_rng(seed)
    smooth = rng.normal(0, 0.05, (n, size, size, 1)).cumsum(axis=1) / 10
    return np.clip(level + smooth, 0.2, 0.8).astype(np.float32)


def test_gaussian_noise_is_deterministic_and_adds_the_asked_standard_deviation():
    images = gray_images()
    a, b = quality.gaussian_noise(images, 0.05, seed=3), quality.gaussian_noise(images, 0.05, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, quality.gaussian_noise(images, 0.05, seed=4))
    assert a.shape == images.shape and a.dtype == images.dtype
    assert np.std(a - images) == pytest.approx(0.05, rel=0.05)  # mid-gray: no clipping
    np.testing.assert_array_equal(quality.gaussian_noise(images, 0), images)
    assert quality.gaussian_noise(images, 0.5).min() >= 0 and quality.gaussian_noise(images, 0.5).max() <= 1


def test_jpeg_compress_is_deterministic_and_hurts_more_at_lower_quality():
    images = gray_images(size=48)
    images[:, 10:20, 10:20] = 0.9  # an edge for the 8x8 blocks to blur
    errors = []
    for q in (90, 50, 10):
        out = quality.jpeg_compress(images, q)
        np.testing.assert_array_equal(out, quality.jpeg_compress(images, q))
        assert out.shape == images.shape and out.dtype == images.dtype
        errors.append(float(np.sqrt(np.mean((out - images) ** 2))))
    assert 0 < errors[0] < errors[1] < errors[2]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quality.gaussian_noise(np.zeros((2, 8, 8), np.uint8), 0.1), "floats in \\[0, 1\\]"),
        (lambda: quality.gaussian_noise(np.full((2, 8, 8), 2.0), 0.1), "values in \\[0, 1\\]"),
        (lambda: quality.gaussian_noise(np.zeros((8, 8)), 0.1), "must be a batch"),
        (lambda: quality.gaussian_noise(np.zeros((2, 8, 8)), -0.1), "sigma must be a number"),
        (
            lambda: quality.jpeg_compress(np.zeros((2, 8, 8)), 0),
            "quality must be a whole number from 1 to 95",
        ),
        (lambda: quality.jpeg_compress(np.zeros((2, 8, 8, 3)), 50), "must be grayscale"),
        (lambda: quality.inject_typos("one note", 0.1), "notes must be a list of strings"),
        (lambda: quality.inject_typos(["a", 3], 0.1), "note 1 is a int"),
        (lambda: quality.inject_abbreviations(["a"], 1.5), "rate must be a number in"),
    ],
)
def test_noise_bad_inputs_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_inject_typos_is_deterministic_and_changes_about_the_asked_share_of_words():
    words = "patient reports productive cough with purulent sputum and bilateral swelling".split()
    note = " ".join(words * 40)
    eligible = sum(len(w) > 4 for w in words) * 40
    assert quality.inject_typos([note], 0.0) == [note]
    a = quality.inject_typos([note, note], 0.5, seed=1)
    assert a == quality.inject_typos([note, note], 0.5, seed=1)
    assert a[0] != a[1]  # each note has its own random stream
    changed = sum(x != y for x, y in zip(a[0].split(), note.split(), strict=True))
    assert 0.4 * eligible < changed < 0.6 * eligible
    assert sorted(a[0].replace(" ", "")) == sorted(note.replace(" ", ""))  # letters swapped, none lost


def test_inject_abbreviations_replaces_whole_words_at_the_asked_rate():
    note = "Shortness of breath; weight loss of 3 kg; no fever. " * 50
    assert quality.inject_abbreviations([note], 0.0) == [note]
    full = quality.inject_abbreviations([note], 1.0)[0]
    assert full == "SOB; WL of 3 kg; Ø fvr. " * 50  # longer phrase first, any case
    half = quality.inject_abbreviations([note], 0.5, seed=2)[0]
    assert half == quality.inject_abbreviations([note], 0.5, seed=2)[0]
    assert 0.35 * 200 < sum(half.count(s) for s in ("SOB", "WL", "Ø", "fvr")) < 0.65 * 200
    assert quality.inject_abbreviations(["knowledge"], 1.0, table={"no": "Ø"}) == [
        "knowledge"
    ]  # whole words only


def test_noise_curve_scores_each_model_on_recomputed_features():
    blocks, y = toy_problem(300)
    raw = blocks["image"].copy()

    def corrupt(x, level):
        return x + np.random.default_rng(0).normal(0, level, x.shape).astype(np.float32)

    curve = quality.noise_curve(
        {"fusion": toy_model, "text only": toy_text_only},
        blocks,
        y,
        "image",
        raw,
        corrupt,
        lambda x: x,
        [0, 1, 3],
    )
    assert list(curve.index) == [0, 1, 3] and curve.index.name == "noise level"
    assert curve.at[0, "fusion"] == pytest.approx(macro_roc_auc(y, toy_model(blocks)))
    assert curve["fusion"].is_monotonic_decreasing and curve.at[3, "fusion"] < curve.at[0, "fusion"] - 0.05
    assert curve["text only"].nunique() == 1  # the text-only model never sees the image
    with pytest.raises(ValueError, match="encode gave image features of shape"):
        quality.noise_curve({"f": toy_model}, blocks, y, "image", raw[:10], corrupt, lambda x: x, [0])


# ------------------------------------------------------------------------------------------------------------
# 3. Label errors
# ------------------------------------------------------------------------------------------------------------
def test_find_label_issues_recovers_most_flipped_labels_on_a_separable_problem():
    rng = np.random.default_rng(0)
    n = 600
    y_true = rng.integers(0, 3, n)
    centres = np.array([[0, 0], [4, 0], [0, 4]])
    X = centres[y_true] + rng.normal(0, 0.7, (n, 2))
    flipped = rng.random(n) < 0.1
    y = y_true.copy()
    y[flipped] = (y_true[flipped] + rng.integers(1, 3, flipped.sum())) % 3
    ids = [f"v{i:03d}" for i in range(n)]
    issues = quality.find_label_issues({"image": X[:, :1], "text": X[:, 1:]}, y, ids=ids, seed=0)
    assert list(issues.columns) == ["label", "predicted", "p_label", "quality", "issue"]
    assert issues.index[0] == "v000"
    scores = quality.detection_scores(issues["issue"], flipped)
    assert scores["recall"] >= 0.8 and scores["precision"] >= 0.8, scores
    assert (
        scores["errors"] == flipped.sum() and scores["found"] == (issues["issue"].to_numpy() & flipped).sum()
    )
    capped = quality.find_label_issues(X, y, seed=0, max_issues=20)
    assert capped["issue"].sum() == 20
    worst = issues.loc[issues["issue"], "quality"].nsmallest(20).index
    assert set(np.array(ids)[capped["issue"].to_numpy()]) == set(worst)


def test_label_issue_inputs_are_checked():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="every class 0..1 needs at least cv=5 rows"):
        quality.out_of_fold_proba(X, np.array([0] * 17 + [1] * 3))
    with pytest.raises(ValueError, match="integer class indices"):
        quality.out_of_fold_proba(X, np.zeros(20))
    with pytest.raises(ValueError, match="groups has shape"):
        quality.out_of_fold_proba(X, np.arange(20) % 2, groups=np.arange(5))
    with pytest.raises(ValueError, match="ids has 3 entries but y has 20"):
        quality.find_label_issues(None, np.arange(20) % 2, ids=["a", "b", "c"], proba=np.full((20, 2), 0.5))
    with pytest.raises(ValueError, match="flagged has shape"):
        quality.detection_scores([True, False], [True])


def test_auc_comparison_gives_cis_and_paired_differences():
    blocks, y = toy_problem(200)
    probas = {"fusion": toy_model(blocks), "text only": toy_text_only(blocks)}
    table = quality.auc_comparison(probas, y, n_resamples=50)
    assert list(table.columns) == ["roc_auc", "roc_auc_low", "roc_auc_high", "diff", "diff_low", "diff_high"]
    assert table.loc["fusion", "diff"] == 0
    assert table.loc["text only", "diff"] == pytest.approx(
        table.loc["text only", "roc_auc"] - table.loc["fusion", "roc_auc"]
    )
    assert table.loc["text only", "diff_high"] < 0  # clearly worse
    with pytest.raises(ValueError, match="reference 'x' is not among"):
        quality.auc_comparison(probas, y, reference="x")


# ------------------------------------------------------------------------------------------------------------
# 4. Data checks on a folder
# ------------------------------------------------------------------------------------------------------------
def film(seed, size=32):
    """A distinct grayscale 'film': a few bright blobs at random places on a dark field."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.full((size, size), 0.15)
    for _ in range(3):
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.2)
        img += 0.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


NOTES = [
    "Fever and productive cough for three days.",
    "Orthopnoea, bilateral ankle swelling, weight up two kilos.",
    "Denies fever. Dry cough, feels tired after climbing stairs.",
    "Haemoptysis and night sweats, lost weight over months.",
    "Routine review, no complaints, lungs clear on examination.",
    "Purulent sputum with chills and rigors overnight.",
]


def write_folder(folder, plant=True):
    """A 24-row folder, 2 classes, 12 patients; with ``plant``, one of each problem check_data looks for."""
    (folder / "images").mkdir(parents=True)
    rows = []
    splits = ["train"] * 12 + ["val"] * 6 + ["test"] * 6
    for i in range(24):
        rid = f"r{i:02d}"
        Image.fromarray(film(i)).save(folder / "images" / f"{rid}.png")
        rows.append(
            {
                "id": rid,
                "patient_id": f"p{i // 2:02d}",
                "label": ("normal", "pneumonia")[i % 2],
                "split": splits[i],
                "image": f"images/{rid}.png",
                "text": f"Visit {i}: " + NOTES[i % len(NOTES)] + f" Seen by doctor number {i}.",
            }
        )
    if plant:
        # r03 is a byte-for-byte copy of r02's image (the same split)
        (folder / "images" / "r03.png").write_bytes((folder / "images" / "r02.png").read_bytes())
        # r05's note is r04's, in other case and spacing
        rows[5]["text"] = "  " + rows[4]["text"].upper().replace(" ", "   ")
        # r20 (test) is r00 (train) re-saved as JPEG and a little brighter: a near-duplicate across splits
        buf = io.BytesIO()
        Image.fromarray(np.clip(film(0).astype(int) + 6, 0, 255).astype(np.uint8)).save(
            buf, "JPEG", quality=70
        )
        (folder / "images" / "r20.jpg").write_bytes(buf.getvalue())
        rows[20]["image"] = "images/r20.jpg"
        rows[7]["text"] = ""  # an empty note
        rows[9]["text"] = "ok."  # a note with no word left after tokenising
        rows[13]["patient_id"] = "p05"  # r13 (val) belongs to p05, whose r10 and r11 are in train
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_check_data_finds_and_names_each_planted_problem(tmp_path):
    report = quality.check_data(write_folder(tmp_path / "data"), min_class_rows=1)
    found = {i.check: i for i in report.issues}
    assert set(found) == {
        "duplicate_image",
        "duplicate_note",
        "near_duplicate_image",
        "empty_note",
        "short_note",
        "patient_in_several_splits",
    }, report.issues
    assert (
        found["duplicate_image"].groups == [["r02", "r03"]] and found["duplicate_image"].severity == "warning"
    )
    assert found["duplicate_note"].groups == [["r04", "r05"]]
    assert found["near_duplicate_image"].groups == [["r00", "r20"]]
    assert found["empty_note"].ids == ["r07"] and found["short_note"].ids == ["r09"]
    crossing = found["patient_in_several_splits"]
    assert (
        crossing.severity == "error"
        and "p05" in crossing.message
        and crossing.groups == [["r10", "r11", "r13"]]
    )
    assert not report.ok
    assert report.n_rows == 24 and report.class_counts["val"] == {"normal": 3, "pneumonia": 3}
    text = quality.format_report(report)
    for name in ("r02", "r03", "r04", "r05", "r00", "r20", "r07", "r09", "p05"):
        assert name in text
    assert found["duplicate_note"].severity == "info"  # within a split, and notes may repeat honestly
    assert "1 error(s), 3 warning(s)" in text
    assert text.startswith(f"data quality of {report.source}: 24 rows, 12 patients, split from manifest (")
    short = quality.format_report(report, source="my folder", timing=False)
    assert short.splitlines()[0] == "data quality of my folder: 24 rows, 12 patients, split from manifest"
    assert short.splitlines()[1:] == text.splitlines()[1:]
    saved = json.loads(report.to_json(tmp_path / "data_quality.json").read_text())
    assert saved["ok"] is False and len(saved["issues"]) == 6


def test_check_data_on_a_clean_folder_and_a_dataframe(tmp_path):
    folder = write_folder(tmp_path / "clean", plant=False)
    report = quality.check_data(folder, min_class_rows=1)
    assert report.ok and report.issues == [], report.issues
    assert "no problem found" in quality.format_report(report)
    df = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False).drop(columns="split")
    df.loc[0, "text"] = df.loc[1, "text"]
    from_frame = quality.check_data(df, root=folder, min_class_rows=1)
    assert from_frame.split_from == "split_by_patient(seed=0)" and from_frame.source == "DataFrame"
    assert [i.check for i in from_frame.issues] == ["duplicate_note"]


def test_identical_images_across_splits_are_an_error(tmp_path):
    folder = write_folder(tmp_path / "d", plant=False)
    df = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    df.loc[23, "image"] = df.loc[0, "image"]  # a test row names a training row's file
    df.loc[22, "text"] = df.loc[1, "text"]  # and another test row has a training row's note
    report = quality.check_data(df, root=folder, min_class_rows=1)
    image, note = report.by_check("duplicate_image"), report.by_check("duplicate_note")
    assert [(i.severity, i.groups) for i in image] == [("error", [["r00", "r23"]])]
    assert [(i.severity, i.groups) for i in note] == [("warning", [["r01", "r22"]])]
    assert "across splits" in image[0].message and not report.ok
    assert report.by_check("near_duplicate_image") == []  # reported once, as identical


def test_check_data_flags_classes_missing_from_a_split_and_missing_files(tmp_path):
    folder = write_folder(tmp_path / "d", plant=False)
    df = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    df.loc[(df["split"] == "test") & (df["label"] == "pneumonia"), "label"] = "normal"
    df.loc[1, "image"] = "images/nowhere.png"
    report = quality.check_data(df, root=folder)
    messages = {i.check: i.message for i in report.issues}
    assert "['pneumonia'] have no row in the test split" in messages["class_missing"]
    assert "r01" in messages["missing_file"]
    assert "class_small" in messages  # 3 'normal' rows in val < 5


def test_check_data_bad_input_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.csv not found"):
        quality.check_data(tmp_path)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['label'\]"):
        quality.check_data(pd.DataFrame({"id": ["a"], "patient_id": ["p"], "text": ["x"]}))
    with pytest.raises(ValueError, match="no modality column"):
        quality.check_data(pd.DataFrame({"id": ["a"], "patient_id": ["p"], "label": ["x"]}))
