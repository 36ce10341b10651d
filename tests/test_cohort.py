"""The embedded cohort: reproducible, split by patient, needs both modalities, rejects bad parameters."""

import re

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
    assert notes.str.contains(r"MRN:? \d{8}", regex=True).all()  # fake identifiers for the privacy chapter
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


def test_identifier_spans_are_exact_and_their_wording_leaves_the_clinical_text_alone():
    from crossmodal_lib.data.cohort import IDENTIFIER_TYPES, _patient, write_note

    for seed in range(20):
        patient = _patient(np.random.default_rng(seed), seed)
        f = {k: bool(seed % 2) for k in ("infection", "congestion", "constitutional")}
        vitals = {"temp": 37.0, "hr": 80, "rr": 16, "spo2": 97, "sbp": 120, "dbp": 80}
        rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
        a, spans_a = write_note(rng_a, f, patient, "2022-03-31", vitals, np.random.default_rng([seed, 1]))
        b, spans_b = write_note(rng_b, f, patient, "2022-03-31", vitals, np.random.default_rng([seed, 2]))
        for text, spans in ((a, spans_a), (b, spans_b)):
            assert spans and all(text[s["start"] : s["end"]] == s["text"] for s in spans)
            assert {s["type"] for s in spans} <= set(IDENTIFIER_TYPES)
        clinical = r"(?:CC|HPI|Vitals|PMH): [^.]*\."
        assert re.findall(clinical, a) == re.findall(clinical, b) != []  # the same clinical parts ...
        assert rng_a.random() == rng_b.random()  # ... and the same draws left for the rest of the cohort


def test_chest_only_generates_the_same_chest_question():
    config = CohortConfig(n_patients=6, seed=3, image_size=32)
    full, chest = generate_cohort(config), generate_cohort(config, chest_only=True)
    for key in ("manifest", "findings", "regions"):
        assert chest[key] == full[key], key
    assert all(np.array_equal(chest["images"][k], full["images"][k]) for k in full["images"])
    assert full["cardiac"] and full["triage"] and not chest["cardiac"] and not chest["triage"]


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


# ----------------------------------------------------------------------------------------------------------------
# Where the findings are drawn (finding_regions.csv, chapter 10)
# ----------------------------------------------------------------------------------------------------------------
def test_finding_regions_cover_exactly_the_drawn_findings(cohort):
    from crossmodal_lib.data import REGION_KINDS, load_finding_regions

    regions, findings = load_finding_regions(), load_findings()
    assert set(regions["finding"]) == set(REGION_KINDS)
    assert set(regions["id"]) <= set(cohort["id"])
    assert ((regions[["y0", "x0"]].to_numpy() >= 0) & (regions[["y1", "x1"]].to_numpy() <= 1)).all()
    assert ((regions["y1"] > regions["y0"]) & (regions["x1"] > regions["x0"])).all()
    for finding in ("opacity", "nodule", "cardiomegaly"):  # one region per finding (effusion: one per side)
        drawn = set(regions.loc[regions["finding"] == finding, "id"])
        assert drawn == set(findings.loc[findings[finding] == 1, "id"]), finding
    effusion = regions[regions["finding"] == "effusion"].groupby("id").size()
    assert set(effusion.index) == set(findings.loc[findings["effusion"] == 1, "id"])
    assert set(effusion) == {1, 2}
    assert 0.15 < regions["finding"].eq("marker").sum() / len(cohort) < 0.25  # about 20 % of images


@pytest.mark.parametrize("finding", ["opacity", "effusion", "nodule", "cardiomegaly", "marker"])
def test_a_region_is_brighter_than_the_same_place_on_the_patients_image_without_it(cohort, finding):
    """For every pair of visits of one patient, one with the finding and one without, the finding's box is
    brighter on the first: the boxes are where the findings were drawn (misplaced boxes give a median near 0)."""
    from crossmodal_lib.data import load_finding_regions, region_masks

    regions = load_finding_regions()
    with_it = set(regions.loc[regions["finding"] == finding, "id"])
    image_of = dict(zip(cohort["id"], cohort["image"], strict=True))
    pairs = [
        (a, b)
        for _, visits in cohort.groupby("patient_id")["id"]
        for a in visits
        if a in with_it
        for b in visits
        if b not in with_it
    ][:150]
    assert len(pairs) > 100
    masks = region_masks(regions, [a for a, _ in pairs], 64, finding)
    diffs = np.array(
        [
            read_image(image_of[a]).astype(float)[m].mean() - read_image(image_of[b]).astype(float)[m].mean()
            for (a, b), m in zip(pairs, masks, strict=True)
        ]
    )
    assert np.median(diffs) > 15 and (diffs > 0).mean() > 0.75


def test_region_masks_work_at_any_size_and_name_bad_input():
    from crossmodal_lib.data import region_masks

    box = [{"id": "v1", "finding": "nodule", "y0": 0.25, "x0": 0.5, "y1": 0.3, "x1": 0.55}]
    for size in (16, 32, 64, 128, 256):
        mask = region_masks(box, ["v1", "v2"], size, "nodule")
        assert mask.shape == (2, size, size) and mask[0].any() and not mask[1].any()
        rows, cols = np.nonzero(mask[0])
        assert rows.min() == int(0.25 * size) and cols.min() == int(0.5 * size)  # pixel [k/n, (k+1)/n)
        assert mask[0].mean() >= 0.05 * 0.05
    assert region_masks(box, ["v1"], 64, "nodule", margin=0.1)[0].sum() > 4 * mask[0].sum() / 16
    assert region_masks(box, ["v1"], 64).any()  # default: every finding but the marker
    assert not region_masks(box, ["v1"], 64, "opacity").any()
    with pytest.raises(ValueError, match="unknown finding"):
        region_masks(box, ["v1"], 64, "fracture")
    with pytest.raises(ValueError, match="lack the columns"):
        region_masks(pd.DataFrame({"id": ["v1"]}), ["v1"], 64)


def test_regions_are_recorded_without_changing_the_image():
    from crossmodal_lib.data.cohort import render_image

    f = {"opacity": True, "cardiomegaly": True, "effusion": True, "nodule": True}
    anatomy = {"width": 1.0, "height": 1.0, "ctr": 0.42, "rib_phase": 0.3, "contrast": 1.0}
    for seed in range(5):
        plain = render_image(np.random.default_rng(seed), f, anatomy, 64)
        image, regions = render_image(np.random.default_rng(seed), f, anatomy, 64, return_regions=True)
        assert np.array_equal(plain, image)
        assert {r["finding"] for r in regions} >= {"opacity", "cardiomegaly", "effusion", "nodule"}


def test_marker_rate_by_label_makes_the_marker_a_shortcut():
    """The variant for chapter 10: markers on every "normal" image and on no other; the default is unchanged."""
    cfg = CohortConfig(n_patients=30, seed=4, image_size=32, marker_rate_by_label=(1.0, 0.0, 0.0, 0.0))
    cohort = generate_cohort(cfg)
    marked = {r["id"] for r in cohort["regions"] if r["finding"] == "marker"}
    normal = {row["id"] for row in cohort["manifest"] if row["label"] == "normal"}
    assert marked == normal and 0 < len(marked) < len(cohort["manifest"])
    # the same draws: only the markers differ from the default variant
    default = generate_cohort(CohortConfig(n_patients=30, seed=4, image_size=32))
    assert default["manifest"] == cohort["manifest"] and default["findings"] == cohort["findings"]
    assert [r for r in default["regions"] if r["finding"] != "marker"] == [
        r for r in cohort["regions"] if r["finding"] != "marker"
    ]
    marked_by_default = {r["id"] for r in default["regions"] if r["finding"] == "marker"}
    unmarked = [vid for vid in default["images"] if vid not in marked | marked_by_default]
    assert unmarked and all(np.array_equal(default["images"][v], cohort["images"][v]) for v in unmarked)
    with pytest.raises(ValueError, match="marker_rate_by_label must be 4 probabilities"):
        generate_cohort(CohortConfig(marker_rate_by_label=(0.5, 0.5)))


def test_note_phrases_are_the_generators_phrases_without_placeholders():
    from crossmodal_lib.data import NOTE_FINDINGS, note_phrases

    phrases = note_phrases()
    assert set(phrases) == {*NOTE_FINDINGS, *(f"no_{s}" for s in NOTE_FINDINGS), "nonspecific"}
    assert "purulent sputum" in phrases["infection"] and "fever to" in phrases["infection"]
    assert "denies fever" in phrases["no_infection"]
    assert not any("{" in p for kind in phrases.values() for p in kind)
