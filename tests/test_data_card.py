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
