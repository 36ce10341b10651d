"""The embedded cohort: reproducible, split by patient, needs both modalities, rejects bad parameters."""

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from crossmodal_lib.course import COHORT_DIR
from crossmodal_lib.data import (
    CLASSES,
    CohortConfig,
    generate_cohort,
    label_from_findings,
    load_cohort,
    load_findings,
    read_image,
    verify_cohort,
    write_cohort,
)
from crossmodal_lib.data.cohort import cohort_files


@pytest.fixture(scope="module")
def cohort():
    return load_cohort()


def test_committed_cohort_matches_its_checksums():
    assert verify_cohort(COHORT_DIR) == []


def test_regenerating_with_defaults_reproduces_committed_files_byte_for_byte():
    files = cohort_files(generate_cohort())
    on_disk = sorted(p.relative_to(COHORT_DIR).as_posix() for p in COHORT_DIR.rglob("*") if p.is_file())
    assert sorted(files) == on_disk
    differing = [name for name, data in files.items() if (COHORT_DIR / name).read_bytes() != data]
    assert differing == []


def test_no_patient_crosses_splits(cohort):
    assert set(cohort["split"]) == {"train", "val", "test"}
    assert (cohort.groupby("patient_id")["split"].nunique() == 1).all()
    fractions = cohort["split"].value_counts(normalize=True)
    assert 0.6 < fractions["train"] < 0.8 and 0.1 < fractions["test"] < 0.2


def test_patients_have_one_or_more_visits(cohort):
    visits = cohort.groupby("patient_id").size()
    assert visits.min() == 1 and visits.max() > 1
    assert (visits > 1).mean() > 0.2


def test_labels_follow_the_documented_rule_with_documented_noise(cohort):
    findings = load_findings()
    assert list(findings["id"]) == list(cohort["id"])
    rule = findings.apply(lambda r: label_from_findings(r.to_dict()), axis=1)
    assert (rule == findings["label_rule"]).all()
    noisy = cohort["label"].to_numpy() != findings["label_rule"].to_numpy()
    assert (noisy == findings["label_noisy"].astype(bool).to_numpy()).all()
    assert 0.02 < noisy.mean() < 0.08  # label_noise = 0.05
    assert set(cohort["label"]) == set(CLASSES)
    # each modality alone is ambiguous: many opacities are not pneumonia, much fever is not pneumonia
    assert ((findings["opacity"] == 1) & (findings["label_rule"] != "pneumonia")).sum() > 100
    assert ((findings["infection"] == 1) & (findings["label_rule"] != "pneumonia")).sum() > 100


def test_notes_are_realistic_text(cohort):
    notes = cohort["text"]
    lengths = notes.str.split().str.len()
    assert lengths.min() >= 15 and lengths.max() > 2 * lengths.min()
    assert notes.str.contains(r"\bdenies\b|\bno [a-z]", regex=True).mean() > 0.3  # negation
    assert (
        notes.str.contains(r"\bSOB\b|\bPND\b|\bLE edema\b|\bHTN\b", regex=True).mean() > 0.2
    )  # abbreviations
    assert notes.str.contains(r"MRN: \d{8}", regex=True).all()  # fake identifiers for the privacy chapter
    assert notes.nunique() == len(notes)
    assert cohort["report"].str.len().min() > 10


def test_images_and_ecgs_have_the_documented_format(cohort):
    img = read_image(cohort["image"].iloc[0])
    assert img.shape == (64, 64) and img.dtype == np.uint8
    ecg = np.load(cohort["ecg"].iloc[0], allow_pickle=False)
    assert ecg.shape == (500,) and ecg.dtype == np.float32


def test_generation_is_deterministic_and_seed_dependent():
    a = generate_cohort(CohortConfig(n_patients=5, seed=1, image_size=32))
    b = generate_cohort(CohortConfig(n_patients=5, seed=1, image_size=32))
    c = generate_cohort(CohortConfig(n_patients=5, seed=2, image_size=32))
    assert a["manifest"] == b["manifest"]
    assert all(np.array_equal(a["images"][k], b["images"][k]) for k in a["images"])
    assert a["manifest"] != c["manifest"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_patients": 0}, "n_patients must be a whole number >= 1"),
        ({"image_size": 50}, "image_size must be one of"),
        ({"label_noise": 0.7}, "label_noise must be in"),
        ({"split_fractions": (0.5, 0.5, 0.5)}, "split_fractions"),
    ],
)
def test_impossible_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_cohort(CohortConfig(**kwargs))


def test_write_refuses_to_overwrite_changed_files(tiny_cohort, tmp_path):
    folder = write_cohort(tmp_path / "c", CohortConfig(n_patients=4, seed=3, image_size=32))
    manifest = folder / "manifest.csv"
    edited = manifest.read_text() + "a learner's edit\n"
    manifest.write_text(edited)
    with pytest.raises(FileExistsError, match="manifest.csv"):
        write_cohort(folder, CohortConfig(n_patients=4, seed=3, image_size=32))
    assert manifest.read_text() == edited  # nothing lost
    assert verify_cohort(folder) == ["manifest.csv: content differs from SHA256SUMS"]
    write_cohort(folder, CohortConfig(n_patients=4, seed=3, image_size=32), overwrite=True)
    assert verify_cohort(folder) == []


def test_image_only_and_text_only_are_clearly_worse_than_both(cohort):
    """Quick difficulty check with logistic regression: pixel PCA vs TF-IDF words vs both."""
    y = cohort["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    train, test = (cohort["split"] == "train").to_numpy(), (cohort["split"] == "test").to_numpy()
    pixels = np.stack([read_image(p).ravel() for p in cohort["image"]]).astype(np.float32) / 255
    pca = make_pipeline(StandardScaler(), PCA(n_components=64, random_state=0)).fit(pixels[train])
    pixels = StandardScaler().fit(pca.transform(pixels[train])).transform(pca.transform(pixels))
    words = TfidfVectorizer(min_df=3).fit(cohort["text"][train]).transform(cohort["text"]).toarray()

    def macro_auc(features, c):
        model = LogisticRegression(C=c, max_iter=2000).fit(features[train], y[train])
        return roc_auc_score(y[test], model.predict_proba(features[test]), multi_class="ovr")

    image_only = macro_auc(pixels, 0.1)
    text_only = macro_auc(words, 1)
    both = macro_auc(np.hstack([0.1 * pixels, words]), 1)
    assert 0.6 < image_only < 0.85 and 0.6 < text_only < 0.85
    assert both > max(image_only, text_only) + 0.08
    assert both < 0.97


def test_manifest_is_the_learner_folder_format(cohort):
    raw = pd.read_csv(COHORT_DIR / "manifest.csv", dtype=str, keep_default_na=False)
    assert {"id", "patient_id", "image", "text", "label", "split"} <= set(raw.columns)
    assert raw["image"].str.startswith("images/").all()


# ----------------------------------------------------------------------------------------------------------------
# The other questions: cardiac (chapter 07), movement (chapter 08), triage (chapter 09)
# ----------------------------------------------------------------------------------------------------------------
def test_every_question_has_the_same_visits_patients_and_splits(cohort):
    for question in ("cardiac", "motion", "triage"):
        other = load_cohort(question=question)  # load_manifest checks that every file it names exists
        for column in ("id", "patient_id", "visit", "split", "age", "sex"):
            assert list(other[column]) == list(cohort[column]), (question, column)
    triage = load_cohort(question="triage")
    assert list(triage["image"]) == list(cohort["image"])
    assert list(triage["ecg"]) == list(load_cohort(question="cardiac")["ecg"])


def test_the_other_questions_follow_their_documented_rules():
    from crossmodal_lib.data import CARDIAC_CLASSES, MOTION_CLASSES, TRIAGE_CLASSES
    from crossmodal_lib.data.cardiac import cardiac_label
    from crossmodal_lib.data.motion import motion_label

    rules = {
        "cardiac": lambda r: cardiac_label(r),
        "motion": lambda r: motion_label(r["movement"], r),
        "triage": lambda r: (
            "cardiac"
            if r["cardiac_rule"] != "normal"
            else "movement"
            if r["movement_rule"] != "normal"
            else "chest"
            if r["chest_rule"] != "normal"
            else "none"
        ),
    }
    classes = {"cardiac": CARDIAC_CLASSES, "motion": MOTION_CLASSES, "triage": TRIAGE_CLASSES}
    for question, rule in rules.items():
        df, findings = load_cohort(question=question), load_findings(question=question)
        expected = [rule(r) for r in findings.to_dict(orient="records")]
        assert expected == list(findings["label_rule"]), question
        noisy = df["label"].to_numpy() != findings["label_rule"].to_numpy()
        assert (noisy == findings["label_noisy"].astype(bool).to_numpy()).all()
        assert 0.02 < noisy.mean() < 0.08 and set(df["label"]) == set(classes[question])
    triage = load_findings(question="triage")
    assert list(triage["chest_rule"]) == list(load_findings()["label_rule"])


def test_cardiac_traces_show_their_findings():
    """What the rule says is on the trace can be measured on it: irregular RR intervals, a slow rate."""
    from crossmodal_lib.data import read_ecgs
    from crossmodal_lib.preprocess.signal import RHYTHM_FEATURES, rhythm_features

    df, findings = load_cohort(question="cardiac"), load_findings(question="cardiac")
    x = read_ecgs(df)
    assert x.shape == (len(df), 1000, 1) and x.dtype == np.float32
    rhythm = pd.DataFrame(rhythm_features(x[:, :, 0], fs=100), columns=RHYTHM_FEATURES)
    irregular, slow = findings["irregular_rhythm"] == 1, findings["slow_rate"] == 1
    assert rhythm.loc[irregular, "rr_cv"].median() > 2 * rhythm.loc[~irregular, "rr_cv"].median()
    assert rhythm.loc[slow, "heart_rate_bpm"].median() < 50 < rhythm.loc[~slow, "heart_rate_bpm"].median()


def test_clips_show_their_movements():
    """A shuffling figure covers less ground than a normal walker; clips are GIFs of 16 frames of 32x32."""
    from crossmodal_lib.data import read_videos

    df, findings = load_cohort(question="motion"), load_findings(question="motion")
    rows = np.flatnonzero(findings["movement"].isin(["normal_gait", "shuffling"]).to_numpy())[:200]
    clips = read_videos(df.iloc[rows]).astype(float)
    assert clips.shape[1:] == (16, 32, 32)
    ink = clips - clips.min(axis=(2, 3), keepdims=True)
    columns = ink.sum(axis=2)  # (n, frames, width): where the figure is, frame by frame
    centre = (columns * np.arange(32)).sum(axis=2) / columns.sum(axis=2)
    ground = np.abs(centre[:, -1] - centre[:, 0])
    shuffling = findings["movement"].to_numpy()[rows] == "shuffling"
    assert np.median(ground[shuffling]) < 0.7 * np.median(ground[~shuffling])


def test_the_new_questions_leave_the_chest_files_as_they_were():
    """The cardiac and movement questions draw from their own random streams: other priors change nothing else."""
    small = CohortConfig(n_patients=8, seed=5, image_size=32)
    files = cohort_files(generate_cohort(small))
    other = cohort_files(generate_cohort(CohortConfig(**{**small.__dict__, "cardiac_prior": (0.25,) * 4})))
    chest = [n for n in files if "/" not in n or n.startswith(("images/", "ecg/"))]
    chest = [n for n in chest if n != "SHA256SUMS"]
    assert all(files[n] == other[n] for n in chest)
    assert any(files[n] != other[n] for n in files if n.startswith("cardiac/"))
