"""Tests of crossmodal_lib.pipeline (chapter 05): the whole pipeline on a small generated cohort, missing
modalities, the feature cache, the output folder rules, and agreement with notebook 05's stored numbers."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossmodal_lib import pipeline

REPO = Path(__file__).resolve().parent.parent
COHORT = REPO / "data" / "cohort"
NOTEBOOK_05 = REPO / "notebooks" / "05_evaluation.ipynb"


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    """58 patients, 116 visits, 32x32 images; every class occurs in every split (seed 2)."""
    from crossmodal_lib.data import CohortConfig, write_cohort

    folder = tmp_path_factory.mktemp("small_cohort")
    return write_cohort(folder, CohortConfig(n_patients=60, seed=2, image_size=32))


@pytest.fixture(scope="module")
def cohort_with_gaps(small_cohort, tmp_path_factory):
    """The small cohort with 3 images and 2 notes removed (empty manifest cells) and no split column."""
    folder = tmp_path_factory.mktemp("gaps")
    shutil.copytree(small_cohort, folder, dirs_exist_ok=True)
    df = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    df.loc[[0, 5, 9], "image"] = ""
    df.loc[[2, 7], "text"] = ""
    df.drop(columns=["split"]).to_csv(folder / "manifest.csv", index=False)
    return folder


def test_budget():
    assert pipeline.budget("cnn", fast=True) == pipeline.EPOCHS["cnn"][1]
    assert pipeline.budget("bootstrap", fast=False) == 1000
    with pytest.raises(ValueError, match="no budget named 'gpu'"):
        pipeline.budget("gpu", fast=True)


def test_train_writes_metrics_and_figures(small_cohort, tmp_path):
    out = tmp_path / "run"
    result = pipeline.train(small_cohort, out, fast=True, image_size=32)
    stored = json.loads((out / "metrics.json").read_text())
    assert stored == json.loads(json.dumps(result))
    quality = json.loads((out / "data_quality.json").read_text())  # chapter 11's checks ran before training
    assert stored["data_quality"] == {"file": "data_quality.json", "ok": True} and quality["n_rows"] == 116
    # The cohort has ECGs: train uses every modality the manifest has, each alone and all fused.
    assert stored["config"]["modalities"] == ["image", "text", "ecg"]
    assert list(stored["models"]) == ["image only", "text only", "ecg only", *pipeline.FUSION_MODELS]
    for name, m in stored["models"].items():
        assert 0.0 <= m["roc_auc"] <= 1.0, name
        assert m["roc_auc_ci"][0] <= m["roc_auc"] <= m["roc_auc_ci"][1], name
    summary = stored["summary"]
    assert (
        summary["best_single"] in pipeline.SINGLE_MODELS and summary["best_fusion"] in pipeline.FUSION_MODELS
    )
    assert summary["fusion_gain"] == pytest.approx(
        stored["models"][summary["best_fusion"]]["roc_auc"]
        - stored["models"][summary["best_single"]]["roc_auc"]
    )
    assert stored["counts"] == {"train": 81, "val": 19, "test": 16}
    assert stored["missing"]["image"] == {"train": 0, "val": 0, "test": 0}
    for figure in stored["figures"]:
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    # A second run into the same, now non-empty, folder is refused ...
    with pytest.raises(FileExistsError, match="not empty.*overwrite=True"):
        pipeline.train(small_cohort, out, fast=True, image_size=32)


def test_overwrite_and_missing_data_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("x")
    # ... unless overwrite=True, which gets past the folder check (and here stops at the missing data folder).
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        pipeline.train(tmp_path / "no_such_data", out, overwrite=True, fast=True)
    with pytest.raises(FileExistsError, match="is not a folder"):
        pipeline.train(tmp_path / "no_such_data", out / "old.txt", fast=True)


def test_missing_modalities_are_counted_and_imputed(cohort_with_gaps, tmp_path):
    feats = pipeline.cohort_features(cohort_with_gaps, fast=True, image_size=32)
    n = len(feats.frame)
    assert n == 116, "no row is dropped"
    missing = feats.missing_counts()
    assert sum(missing["image"].values()) == 3 and sum(missing["text"].values()) == 2
    assert set(feats.frame["split"]) == {"train", "val", "test"}, "split_by_patient made the split"
    # One indicator column per modality with gaps, 1 exactly on the rows without it; no NaN anywhere.
    assert feats.F_x.shape == (n, pipeline.FEATURE_DIM + 1) and feats.F_y.shape == (
        n,
        pipeline.VECTOR_SIZE + 1,
    )
    assert np.array_equal(feats.F_x[:, -1] == 1, ~feats.frame["has_image"].to_numpy())
    assert np.array_equal(feats.F_y[:, -1] == 1, ~feats.frame["has_text"].to_numpy())
    assert np.isfinite(feats.F_x).all() and np.isfinite(feats.F_y).all()
    assert feats.modalities == ("image", "text", "ecg") and feats.F_s.shape == (
        n,
        pipeline.SIGNAL_FEATURE_DIM,
    )
    assert np.isfinite(feats.F_s).all() and list(feats.blocks("test")) == ["image", "text", "ecg"]
    assert not feats.images[~feats.frame["has_image"].to_numpy()].any(), "a missing image is a blank image"
    result = pipeline.train(cohort_with_gaps, tmp_path / "run", fast=True, image_size=32)
    assert result["missing"]["image"] == missing["image"] and result["missing"]["text"] == missing["text"]
    assert "never dropped" in result["missing"]["policy"]
    # The image recipe's choices, made on the validation split, are in the run's JSON (issue: "report what it chose").
    assert result["encoders"]["cnn_epochs"] > 0 and set(result["encoders"]["cnn_window"]) == {
        "first_round",
        "last_round",
        "rounds",
    }
    # 16 test visits, few of some classes: intervals may be undefined, and are then written as null, never NaN.
    assert "NaN" not in (tmp_path / "run" / "metrics.json").read_text()


def test_features_are_deterministic_and_the_cache_changes_nothing(small_cohort, tmp_path):
    cache = tmp_path / "cache"
    first = pipeline.cohort_features(small_cohort, fast=True, image_size=32, cache_dir=cache)
    assert len(list(cache.glob("features-*.npz"))) == 1 and len(list(cache.glob("cnn-*.weights.h5"))) == 1
    cached = pipeline.cohort_features(small_cohort, fast=True, image_size=32, cache_dir=cache)
    fresh = pipeline.cohort_features(small_cohort, fast=True, image_size=32)
    for other in (cached, fresh):
        assert np.array_equal(first.F_x, other.F_x) and np.array_equal(first.F_y, other.F_y)
        assert np.array_equal(first.F_s, other.F_s) and other.modalities == first.modalities
        assert np.array_equal(first.images, other.images)
    for a, b in zip(first.cnn.get_weights(), cached.cnn.get_weights(), strict=True):
        assert np.array_equal(a, b)
    other_seed = pipeline.cohort_features(small_cohort, fast=True, image_size=32, cache_dir=cache, seed=1)
    assert not np.array_equal(first.F_x, other_seed.F_x)
    assert len(list(cache.glob("features-*.npz"))) == 2


def test_fit_models_rejects_unknown_names(small_cohort):
    feats = pipeline.cohort_features(small_cohort, fast=True, image_size=32, cache_dir=None)
    with pytest.raises(ValueError, match="unknown model"):
        pipeline.fit_models(feats, fast=True, models=("image only", "ensemble"))
    with pytest.raises(ValueError, match="split must be"):
        feats.part("holdout")


@pytest.mark.skipif(not NOTEBOOK_05.is_file(), reason="notebook 05 not present")
def test_cli_pipeline_matches_notebook_05(tmp_path):
    """`python -m crossmodal_lib train --fast` and chapter 05 call the same functions with the same seed.

    Notebook 05 is stored with its fast-mode outputs; its lines "<model>: macro ROC-AUC 0.xxx (95% CI ...)" must
    match what pipeline.train writes to metrics.json: to the digit on the machine that stored the notebook, and
    within the tolerance of the cell that prints them (crossmodal_lib.testing) on any other. The feature cache
    (if chapter 04 or 05 made it) only saves the CNN's training; the numbers are the same either way.
    """
    from crossmodal_lib.testing import cell_tolerance, differences

    nb = json.loads(NOTEBOOK_05.read_text())
    cell = next(
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "(95% CI {row.roc_auc_low" in "".join(c["source"])
    )
    stored = [line for out in cell["outputs"] for line in "".join(out.get("text", "")).splitlines()]
    stored = [line for line in stored if "macro ROC-AUC" in line]
    result = pipeline.train(
        COHORT, tmp_path / "run", fast=True, cache_dir=REPO / ".cache", modalities=("image", "text")
    )
    produced = [
        f"{name}: macro ROC-AUC {m['roc_auc']:.3f} (95% CI {m['roc_auc_ci'][0]:.3f} to {m['roc_auc_ci'][1]:.3f})"
        for name, m in result["models"].items()
    ]
    assert len(stored) == len(pipeline.MODELS), "notebook 05 prints every model's macro ROC-AUC"
    assert differences("\n".join(stored), "\n".join(produced), cell_tolerance("".join(cell["source"]))) == []


def test_modalities_are_checked(small_cohort, tmp_path):
    with pytest.raises(ValueError, match=r"unknown modality \['sound'\]"):
        pipeline.cohort_features(
            small_cohort, fast=True, image_size=32, modalities=("image", "text", "sound")
        )
    with pytest.raises(ValueError, match=r"modality \['video'\] asked for, but .*has no video files"):
        pipeline.cohort_features(small_cohort, fast=True, image_size=32, modalities=("image", "video"))
    no_ecg = tmp_path / "no_ecg"
    shutil.copytree(small_cohort, no_ecg)
    df = pd.read_csv(no_ecg / "manifest.csv", dtype=str, keep_default_na=False)
    df.drop(columns=["ecg", "age"]).to_csv(no_ecg / "manifest.csv", index=False)
    with pytest.raises(
        ValueError, match=r"modality \['tabular'\] asked for, but .*has no age and sex columns"
    ):
        pipeline.cohort_features(no_ecg, fast=True, image_size=32, modalities=("text", "tabular"))
    with pytest.raises(
        ValueError, match=r"modality \['ecg'\] asked for, but .*manifest.csv has no ecg files"
    ):
        pipeline.cohort_features(no_ecg, fast=True, image_size=32, modalities=("image", "text", "ecg"))
    feats = pipeline.cohort_features(no_ecg, fast=True, image_size=32)
    assert feats.modalities == ("image", "text") and feats.F_s is None


def test_cli_train_with_chosen_modalities(small_cohort, tmp_path):
    from crossmodal_lib.__main__ import main

    out = tmp_path / "run"
    args = ["train", "--data", str(small_cohort), "--out", str(out), "--fast", "--modalities", "image,text"]
    assert main(args) == 0
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["config"]["modalities"] == ["image", "text"] and "ecg only" not in stored["models"]


def test_train_without_images_uses_what_the_manifest_has(tmp_path):
    """The cardiac question's folder has ECGs and notes, no images: no joint fusion, every other model."""
    from crossmodal_lib.data import CohortConfig, write_cohort

    # 60 patients: enough for every cardiac class to be in the test split
    cohort = write_cohort(tmp_path / "cohort", CohortConfig(n_patients=60, seed=1, image_size=32))
    result = pipeline.train(cohort / "cardiac", tmp_path / "run", fast=True)
    assert result["config"]["modalities"] == ["text", "ecg"]
    assert list(result["models"]) == ["text only", "ecg only", "early fusion", "late fusion", "gated fusion"]
    assert result["classes"] == ["normal", "atrial_fibrillation", "ischaemia", "bradycardia"]
    assert set(result["ablation_early_fusion"]) == {"all", "text removed", "ecg removed"}


@pytest.fixture(scope="module")
def question_cohort(tmp_path_factory):
    """60 patients (seed 1): every class of the cardiac, motion and triage questions occurs in every split."""
    from crossmodal_lib.data import CohortConfig, write_cohort

    folder = tmp_path_factory.mktemp("questions")
    return write_cohort(folder, CohortConfig(n_patients=60, seed=1, image_size=32))


@pytest.mark.parametrize("question", ["cardiac", "motion"])
def test_pipeline_features_are_the_chapters_steps(question_cohort, question):
    """Chapters 07 and 08 build F_s / F_v and F_y step by step; cohort_features must give the same bits."""
    from crossmodal_lib.data import load_manifest, read_ecgs, read_videos
    from crossmodal_lib.data.folder import ECG_HZ
    from crossmodal_lib.features import (
        build_signal_cnn,
        build_video_cnn,
        document_vectors,
        fit_idf,
        signal_features,
        train_cnn,
        train_word2vec,
        video_features,
    )
    from crossmodal_lib.preprocess import prepare_clips, prepare_signals, tokenize_all

    folder = question_cohort / question
    feats = pipeline.cohort_features(folder, fast=True, seed=0)
    df = load_manifest(folder)
    y = df["label"].map(feats.classes.index).to_numpy()
    train, val = (df["split"] == "train").to_numpy(), (df["split"] == "val").to_numpy()
    if question == "cardiac":  # chapter 07, sections 3 and 4
        x = prepare_signals(read_ecgs(df), fs=ECG_HZ, expected_fs=ECG_HZ, n_samples=10 * ECG_HZ)
        model = build_signal_cnn(*x.shape[1:], n_classes=4, feature_dim=pipeline.SIGNAL_FEATURE_DIM, seed=0)
        epochs, extract, block = pipeline.budget("ecg_cnn", True), signal_features, feats.F_s
    else:  # chapter 08, sections 3 and 4
        x = prepare_clips(read_videos(df))
        model = build_video_cnn(*x.shape[1:4], n_classes=4, feature_dim=pipeline.VIDEO_FEATURE_DIM, seed=0)
        epochs, extract, block = pipeline.budget("video_cnn", True), video_features, feats.F_v
    train_cnn(model, x[train], y[train], x[val], y[val], epochs=epochs, seed=0, augment=False)
    tokens = tokenize_all(df["text"].tolist())
    train_tokens = [tokens[i] for i in np.flatnonzero(train)]
    kv = train_word2vec(
        train_tokens, vector_size=pipeline.VECTOR_SIZE, epochs=pipeline.budget("word2vec", True)
    )
    F_y = document_vectors(kv, tokens, weighting=pipeline.WEIGHTING, idf=fit_idf(train_tokens))
    assert np.array_equal(feats.y, y)
    assert np.array_equal(block, extract(model, x))
    assert np.array_equal(feats.F_y, F_y)


def test_staged_model_in_train_and_on_the_command_line(question_cohort, tmp_path):
    """train --specialist adds chapter 09's staged model and each specialist's score on its own question."""
    from crossmodal_lib.__main__ import main

    out = tmp_path / "run"
    args = ["train", "--data", str(question_cohort / "triage"), "--out", str(out), "--fast"]
    args += ["--modalities", "text"]  # the target's own model: quick
    for q, pair in pipeline.COHORT_SPECIALISTS.items():
        if q != "chest":  # two clinics keep the test quick
            args += ["--specialist", f"{q}={question_cohort / q}:{','.join(pair)}"]
    assert main(args) == 0
    stored = json.loads((out / "metrics.json").read_text())
    assert list(stored["models"])[-1] == pipeline.STACKED_MODEL
    assert set(stored["specialists_own_question_roc_auc"]) == {"cardiac", "motion"}
    assert all(0 <= v <= 1 for v in stored["specialists_own_question_roc_auc"].values())
    assert stored["summary"]["best_fusion"] in [*pipeline.FUSION_MODELS, pipeline.STACKED_MODEL]
    assert main([*args[:4], str(tmp_path / "bad"), "--fast", "--specialist", "cardiac"]) == 2


def test_staged_features_align_rows_and_refuse_leaks(question_cohort):
    folder = question_cohort / "reordered"  # beside triage/, so that its "../" file paths still resolve
    shutil.copytree(question_cohort / "triage", folder)
    manifest = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    # The target's rows in another order: the specialists' rows follow it.
    manifest.iloc[::-1].to_csv(folder / "manifest.csv", index=False)
    cardiac = (question_cohort / "cardiac", ("ecg", "text"))
    staged = pipeline.staged_features(folder, {"cardiac": cardiac}, fast=True)
    ids = staged.specialists["cardiac"].frame["id"].to_numpy()
    assert (ids == manifest["id"].to_numpy()[::-1]).all()
    assert staged.groups() == {"cardiac": ("cardiac_text", "cardiac_ecg")}
    assert set(staged.blocks("test")) == {"cardiac_text", "cardiac_ecg"}
    # A visit in another split than in the specialist's folder would leak a test row into training.
    moved = manifest.copy()
    first_test = int(np.flatnonzero(moved["split"] == "test")[0])
    moved.loc[first_test, "split"] = "train"
    moved.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(
        ValueError, match=rf"id '{moved.at[first_test, 'id']}' is in the train split but in test"
    ):
        pipeline.staged_features(folder, {"cardiac": cardiac}, fast=True)
    extra = pd.concat([manifest, manifest.iloc[[0]].assign(id="v99999")])
    extra.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(ValueError, match="specialist 'cardiac' has no row for id 'v99999'"):
        pipeline.staged_features(folder, {"cardiac": cardiac}, fast=True)


def test_feature_probes_match_findings_by_id_and_probe_each_block():
    """F_x is probed on the image findings, F_y on the syndromes; findings are matched by id, not by order."""
    from crossmodal_lib.data import IMAGE_FINDINGS, NOTE_FINDINGS

    rng = np.random.default_rng(0)
    n = 400
    ids = [f"v{i:05d}" for i in range(n)]
    findings = pd.DataFrame({"id": ids, **{f: rng.integers(0, 2, n) for f in IMAGE_FINDINGS + NOTE_FINDINGS}})
    F_x, F_y = rng.normal(size=(n, 6)), rng.normal(size=(n, 4))
    F_x[:, 0] += 3 * findings["opacity"].to_numpy()  # the image features know opacity only
    F_y[:, 1] += 3 * findings["congestion"].to_numpy()  # the text features know congestion only
    frame = pd.DataFrame({"id": ids, "split": ["train"] * 250 + ["val"] * 50 + ["test"] * 100})
    features = pipeline.CohortFeatures(frame, ("a", "b"), np.zeros(n, np.int64), None, F_x, F_y)
    table = pipeline.feature_probes(features, findings.sample(frac=1, random_state=0))
    auc = table.set_index(["modality", "finding"])["roc_auc"]
    assert list(auc.index) == [("image", f) for f in IMAGE_FINDINGS] + [("text", f) for f in NOTE_FINDINGS]
    assert auc["image", "opacity"] > 0.95 and auc["text", "congestion"] > 0.95
    assert auc["image", "nodule"] < 0.7 and auc["text", "infection"] < 0.7
    assert (table["n_test"] == 100).all()
    with pytest.raises(ValueError, match="no row for id 'v00003'"):
        pipeline.feature_probes(features, findings.drop(index=3))


# ---------------------------------------------------------------------------------------------------- chapter 14
def test_text_features_vector_size_and_pooling():
    from crossmodal_lib.features import document_vectors

    notes = [
        ["fever", "cough", "purulent", "sputum"],
        ["leg", "edema", "orthopnea", "no_fever"],
        ["fever", "chills", "cough"],
        ["weight", "loss", "hemoptysis", "sweats"],
    ] * 4 + [["fever", "zzz_test_only", "edema"]]
    train = np.array([True] * 16 + [False])
    mean, kv, idf = pipeline.text_features(notes, train, fast=True, vector_size=16)
    pooled, kv2, idf2 = pipeline.text_features(
        notes, train, fast=True, vector_size=16, pooling="mean+max+min"
    )
    assert mean.shape == (17, 16) and pooled.shape == (17, 48) and kv.vector_size == 16
    np.testing.assert_array_equal(pooled[:, :16], mean)  # the same Word2Vec and IDF (same seed)
    assert "zzz_test_only" not in idf and "zzz_test_only" not in kv.key_to_index, "fitted on train rows only"
    expected = document_vectors(kv2, notes, weighting="tfidf", idf=idf2, pooling="mean+max+min")
    np.testing.assert_array_equal(pooled, expected)
    assert pipeline.text_features(notes, train, fast=True)[0].shape == (17, pipeline.VECTOR_SIZE)
    with pytest.raises(ValueError, match="'sum'"):
        pipeline.text_features(notes, train, fast=True, vector_size=16, pooling="sum")


def test_finding_inputs_shapes_and_weak_labels(tiny_cohort, tmp_path):
    from crossmodal_lib.data import CLASSES, IMAGE_FINDINGS, NOTE_FINDINGS
    from crossmodal_lib.preprocess import tokenize_all

    manifest = pd.read_csv(tiny_cohort / "manifest.csv", dtype=str, keep_default_na=False)
    n = len(manifest)
    inputs = pipeline.finding_inputs(tiny_cohort, fast=True)
    assert list(inputs.frame.columns) == ["id", "patient_id", "label", "split"]
    assert inputs.frame["id"].tolist() == manifest["id"].tolist()
    assert inputs.classes == CLASSES
    assert np.array_equal(inputs.y, manifest["label"].map(CLASSES.index).to_numpy())
    side = pipeline.FINDING_IMAGE_SIZE[1]  # fast mode
    assert inputs.images.shape == (n, side, side, 1)
    assert inputs.F_y.shape == (n, 3 * pipeline.FINDING_VECTOR_SIZE)
    # The pooled F_y starts with the plain text features of the same notes (Word2Vec fitted on train only).
    train = inputs.mask("train")
    tokens = tokenize_all(manifest["text"].tolist())
    mean, _, _ = pipeline.text_features(tokens, train, True, 0, vector_size=pipeline.FINDING_VECTOR_SIZE)
    np.testing.assert_array_equal(inputs.F_y[:, : pipeline.FINDING_VECTOR_SIZE], mean)
    assert inputs.image_findings == IMAGE_FINDINGS and inputs.note_findings == NOTE_FINDINGS
    assert inputs.report_labels.shape == (n, 4) and inputs.note_labels.shape == (n, 3)
    assert set(np.unique(inputs.report_labels)) == {0, 1} and set(np.unique(inputs.note_labels)) == {0, 1}
    val = inputs.mask("val")
    targets = inputs.targets()
    assert np.array_equal(targets["image"][0], inputs.report_labels[train])
    assert np.array_equal(targets["text"][1], inputs.note_labels[val])
    test = inputs.blocks("test")
    assert list(test) == ["image", "text"] and len(test["text"]) == inputs.mask("test").sum()
    # The weak labels are read from each row's own report and note, negations not counted.
    folder = tmp_path / "written"
    shutil.copytree(tiny_cohort, folder)
    manifest.loc[1, "report"] = "Small right nodule. No pleural effusion."
    manifest.loc[1, "text"] = "Denies fever. Orthopnoea, sleeps on three pillows."
    manifest.to_csv(folder / "manifest.csv", index=False)
    written = pipeline.finding_inputs(folder, fast=True)
    assert written.report_labels[1].tolist() == [0, 0, 0, 1]  # opacity, cardiomegaly, effusion, nodule
    assert written.note_labels[1].tolist() == [0, 1, 0]  # infection, congestion, constitutional
    others = np.arange(n) != 1
    assert np.array_equal(written.report_labels[others], inputs.report_labels[others])


def test_finding_inputs_errors_name_the_column_and_the_row(tiny_cohort, tmp_path):
    manifest = pd.read_csv(tiny_cohort / "manifest.csv", dtype=str, keep_default_na=False)
    folder = tmp_path / "data"
    shutil.copytree(tiny_cohort, folder)
    manifest.drop(columns=["report"]).to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(ValueError, match="manifest.csv has no report column"):
        pipeline.finding_inputs(folder, fast=True)
    for column, rows in (("image", [4, 2]), ("text", [6]), ("report", [3, 7, 9])):
        broken = manifest.copy()
        broken.loc[rows, column] = "  "  # only whitespace counts as empty
        broken.to_csv(folder / "manifest.csv", index=False)
        first = manifest.at[min(rows), "id"]
        with pytest.raises(ValueError, match=rf"row '{first}' has no {column} \({len(rows)} rows\)"):
            pipeline.finding_inputs(folder, fast=True)


def test_fit_finding_fusion_on_a_tiny_cohort(tiny_cohort):
    from crossmodal_lib import fusion

    inputs = pipeline.finding_inputs(tiny_cohort, fast=True)
    model = pipeline.fit_finding_fusion(inputs, fast=True)  # 15 epochs of the recipe on 64 px: seconds
    assert isinstance(model, fusion.StackedFusion) and list(model.specialists_) == ["image", "text"]
    test = inputs.blocks("test")
    n_test = int(inputs.mask("test").sum())
    answers = model.specialist_probas(test)
    assert answers["image"].shape == (n_test, 4) and answers["text"].shape == (n_test, 3)
    image = model.specialists_["image"]
    assert image.chosen["task"] == "multilabel" and image.image_size_ == inputs.images.shape[1]
    # The head learns the diagnosis from the seven finding probabilities.
    assert model.head_.n_features_in_ == 7
    proba = model.predict_proba(test)
    assert proba.shape == (n_test, len(inputs.classes)) and np.allclose(proba.sum(axis=1), 1)
    # The estimators passed in were copied, not fitted.
    assert model.estimators["text"].models_ == [] and not hasattr(model.estimators["image"], "model_")
