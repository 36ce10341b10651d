"""The numbers quoted in the data card (data/README.md) are those of the committed cohort."""

import re

from crossmodal_lib.course import DATA_DIR
from crossmodal_lib.data import load_cohort, load_findings


def test_data_card_quotes_the_committed_cohort():
    card = (DATA_DIR / "README.md").read_text()
    cohort, findings = load_cohort(), load_findings()
    visits = cohort.groupby("patient_id").size().value_counts()
    expected = [
        f"{cohort['patient_id'].nunique()} patients, {len(cohort)} visits",
        f"{visits[1]} with one, {visits[2]} with two, {visits[3]} with three, {visits[4]} with four",
        ", ".join(f"{s} {n}" for s, n in cohort["split"].value_counts()[["train", "val", "test"]].items()),
        ", ".join(f"{label} {n}" for label, n in cohort["label"].value_counts().items()),
        f"{findings['label_noisy'].sum()} visits ({100 * findings['label_noisy'].mean():.1f} %",
        f"{((findings.opacity == 1) & (findings.label_rule != 'pneumonia')).sum()} of the {findings.opacity.sum()} images",
        f"{((findings.infection == 1) & (findings.label_rule != 'pneumonia')).sum()} of the "
        f"{findings.infection.sum()} notes",
    ]
    flat = re.sub(r"\s+", " ", card)
    missing = [text for text in expected if text not in flat]
    assert missing == []
    words = cohort["text"].str.split().str.len()
    assert f"{words.min()}–{words.max()} words" in flat


def _counts(series) -> str:
    return ", ".join(f"{label} {n}" for label, n in series.value_counts().items())


def test_data_card_quotes_the_other_questions():
    flat = re.sub(r"\s+", " ", (DATA_DIR / "README.md").read_text())
    expected = []
    for question in ("cardiac", "motion", "triage"):
        cohort, findings = load_cohort(question=question), load_findings(question=question)
        words = cohort["text"].str.split().str.len()
        expected += [
            f"{words.min()}–{words.max()} words",
            _counts(cohort["label"]),
            f"{findings['label_noisy'].sum()} visits ({100 * findings['label_noisy'].mean():.1f} %)",
        ]
    heart = load_findings(question="cardiac")
    af = heart.label_rule == "atrial_fibrillation"
    expected += [
        f"{((heart.irregular_rhythm == 1) & ~af).sum()} of the {heart.irregular_rhythm.sum()} irregular traces",
        f"{((heart.palpitations == 1) & ~af).sum()} of the {heart.palpitations.sum()} notes with palpitations",
    ]
    walk = load_findings(question="motion")
    limp = walk[walk.movement == "limp"].label_rule.value_counts()
    expected.append(
        f"of {limp.sum()} limping clips, {limp['stroke']} are stroke, {limp['osteoarthritis']} osteoarthritis "
        f"and {limp['normal']} neither"
    )
    assert [text for text in expected if text not in flat] == []


def test_data_card_quotes_the_finding_regions():
    from crossmodal_lib.data import load_finding_regions

    flat = re.sub(r"\s+", " ", (DATA_DIR / "README.md").read_text())
    regions = load_finding_regions()
    expected = f"{len(regions)} regions: {_counts(regions['finding'])}"
    assert expected in flat


def test_data_card_quotes_the_identifiers():
    import pandas as pd

    flat = re.sub(r"\s+", " ", (DATA_DIR / "README.md").read_text())
    spans = pd.read_csv(DATA_DIR / "cohort" / "identifiers.csv", keep_default_na=False)
    assert f"{len(spans)} identifiers: {_counts(spans['type'])}" in flat
