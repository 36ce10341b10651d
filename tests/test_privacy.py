"""De-identification of notes, DICOM files and data folders (crossmodal_lib.privacy, chapter 12)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file

from crossmodal_lib import privacy as P
from crossmodal_lib.data.dicom import read_dicom, write_dicom
from crossmodal_lib.data.folder import cohort_dir, load_manifest

HERE = Path(__file__).parent / "data" / "privacy"
HAND_WRITTEN = [HERE / "dev_notes.txt", HERE / "hard_notes.txt"]

TINY = """## a file comment, skipped
# first note: a comment line
Patient: [[NAME|Ana Lopez]] seen [[DATE|4 March]].
## a skipped line inside a note
Call [[PHONE|555-0100]].
---
No identifiers here.
---

---
[[MRN|123456]] and [[NAME|Bo]]
"""


def _write(tmp_path: Path, text: str, name: str = "notes.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- annotated format


def test_read_annotated_notes_parses_inline_spans(tmp_path):
    notes = P.read_annotated_notes(_write(tmp_path, TINY))
    assert [text for text, _ in notes] == [
        "Patient: Ana Lopez seen 4 March.\nCall 555-0100.",
        "No identifiers here.",
        "123456 and Bo",
    ]
    text, spans = notes[0]
    assert [(s["type"], s["text"]) for s in spans] == [
        ("NAME", "Ana Lopez"),
        ("DATE", "4 March"),
        ("PHONE", "555-0100"),
    ]
    assert all(note[s["start"] : s["end"]] == s["text"] for note, spans in notes for s in spans)
    assert notes[1][1] == [] and notes[2][1][0] == {"start": 0, "end": 6, "type": "MRN", "text": "123456"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [("Seen [[DOCTOR|Who]].", "unknown identifier type 'DOCTOR'"), ("Seen [[NAME|Ana].", "malformed")],
)
def test_read_annotated_notes_names_the_line_of_a_bad_marker(tmp_path, bad, message):
    with pytest.raises(ValueError, match=rf"line 2: .*{message}"):
        P.read_annotated_notes(_write(tmp_path, f"fine\n{bad}\n"))


def test_hand_written_fixtures_are_consistent():
    for path in HAND_WRITTEN:
        notes = P.read_annotated_notes(path)
        assert len(notes) >= 9
        for text, spans in notes:
            assert all(
                text[s["start"] : s["end"]] == s["text"] and s["type"] in P.IDENTIFIER_TYPES for s in spans
            )


# --------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: p.name)
def test_find_identifiers_on_hand_written_notes(path):
    notes = P.read_annotated_notes(path)
    texts, gold = [t for t, _ in notes], [g for _, g in notes]
    scores = P.score_deidentification(texts, gold, [P.find_identifiers(t) for t in texts])
    assert scores["overall"]["recall"] >= 0.99, scores["missed"]
    assert scores["overall"]["precision"] >= 0.95, scores["false_positives"]
    assert scores["content_survival"] == 1.0, scores["clinical_words_removed"]


def test_clinical_words_and_eponyms_are_not_identifiers():
    note = (
        "Impression: Community acquired pneumonia. Wheeze: None. Cough: Productive. Plan: Amoxicillin, "
        "Ventolin. PMH: Parkinson disease, Graves disease, Bell palsy, Crohn disease. HR 100 110 120, "
        "Sat 94% RA, BP 120/80, T 38.1, 2/3 tablets, x3 days. Hope to review in 2 weeks. Hospital at home."
    )
    assert P.find_identifiers(note) == []
    assert P.deidentify_text(note) == note


def test_deidentify_text_writes_typed_placeholders():
    note = "Patient: Ana Lopez  MRN: 12345678  DOB: 1950-01-02 Seen by Dr. R. Alvarez. Daughter Mei, 07700 900123."
    assert P.deidentify_text(note) == (
        "Patient: [NAME]  MRN: [MRN]  DOB: [DATE] Seen by Dr. [NAME]. Daughter [NAME], [PHONE]."
    )


def test_a_name_found_once_is_removed_where_it_recurs():
    note = "Patient: Ingrid Halvorsen. Mrs Halvorsen reports cough; Halvorsen's husband agrees."
    assert "Halvorsen" not in P.deidentify_text(note)


def test_ages_over_89_only():
    spans = P.find_identifiers("A 92-year-old man; his wife is 88 years old; aged 101; 94F; 90 minutes walk.")
    assert [(s["type"], s["text"]) for s in spans] == [("AGE", "92"), ("AGE", "101"), ("AGE", "94")]


def test_surrogates_are_consistent_per_patient_and_shift_dates_by_whole_weeks():
    first = "Patient: Ana Lopez seen 2021-03-10 and 17 March 2021. Mrs Lopez, aged 93."
    again = "Lopez, Ana returned on 2021-03-24."
    a = P.deidentify_text(first, surrogates=True, key="p1", secret="k")
    b = P.deidentify_text(again, surrogates=True, key="p1", secret="k")
    other = P.deidentify_text(first, surrogates=True, key="p2", secret="k")
    assert "Lopez" not in a + b and "Ana" not in a + b and "2021-03-10" not in a
    assert "90+" in a and "93" not in a
    surname = re.search(r"Mrs (\w+)", a).group(1)
    assert a.count(surname) == 2 and b.startswith(f"{surname}, ")  # the same surrogate surname everywhere
    d1, d3 = (
        pd.Timestamp(x) for x in (re.search(r"\d{4}-\d\d-\d\d", a)[0], re.search(r"\d{4}-\d\d-\d\d", b)[0])
    )
    assert (d3 - d1).days == 14  # the interval between the visits survives the shift
    shift = (pd.Timestamp("2021-03-10") - d1).days
    assert shift > 0 and shift % 7 == 0 and other != a


# --------------------------------------------------------------------------------------------- scoring


def test_score_deidentification_matching_rules():
    text = "Ana Lopez saw Bo on 4 March with cough."
    gold = [
        {"start": 0, "end": 9, "type": "NAME"},
        {"start": 14, "end": 16, "type": "NAME"},
        {"start": 20, "end": 27, "type": "DATE"},
    ]
    predicted = [
        {
            "start": 0,
            "end": 3,
            "type": "NAME",
        },  # "Ana" and "Lopez" as two spans: together they cover the gold span
        {"start": 4, "end": 9, "type": "NAME"},
        {"start": 20, "end": 22, "type": "DATE"},  # "4 " only: the date is not found
        {"start": 33, "end": 38, "type": "NAME"},  # "cough": a false positive that removes a clinical word
    ]
    scores = P.score_deidentification([text], [gold], [predicted])
    name, date = scores["per_type"]["NAME"], scores["per_type"]["DATE"]
    assert (name["gold"], name["found"], name["predicted"], name["correct"]) == (2, 1, 3, 2)
    assert (date["found"], date["recall"], date["precision"]) == (0, 0.0, 1.0)
    assert scores["overall"]["recall"] == pytest.approx(1 / 3)
    assert scores["overall"]["precision"] == pytest.approx(3 / 4)
    assert scores["clinical_words_removed"] == {"cough": 1}
    assert scores["content_survival"] == pytest.approx(3 / 4)  # saw, on, with survive; cough does not
    assert [m["text"] for m in scores["missed"]] == ["Bo", "4 March"]


def test_score_deidentification_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="1 notes but 2 gold"):
        P.score_deidentification(["a"], [[], []], [[]])
    with pytest.raises(ValueError, match="outside the note"):
        P.score_deidentification(["a"], [[{"start": 0, "end": 5, "type": "NAME"}]], [[]])


# --------------------------------------------------------------------------------------------- cohort gold spans


def _folder(tmp_path: Path, rows: list[dict], identifiers: str | None = None) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    if identifiers is not None:
        (folder / "identifiers.csv").write_text(identifiers)
    return folder


ROWS = [
    {"id": "v1", "patient_id": "p1", "label": "normal", "text": "Patient: Ana Lopez. Cough.", "age": "95"},
    {"id": "v2", "patient_id": "p2", "label": "pneumonia", "text": "Fever since 2021-03-04.", "age": "40"},
]


def test_load_identifiers_checks_every_row_against_the_manifest(tmp_path):
    folder = _folder(
        tmp_path, ROWS, "id,start,end,type,text\nv1,9,18,NAME,Ana Lopez\nv2,12,22,DATE,2021-03-04\n"
    )
    gold = P.load_identifiers(folder)
    assert gold == {
        "v1": [{"start": 9, "end": 18, "type": "NAME", "text": "Ana Lopez"}],
        "v2": [{"start": 12, "end": 22, "type": "DATE", "text": "2021-03-04"}],
    }
    (folder / "identifiers.csv").write_text(
        "id,start,end,type,text\nv1,9,18,NAME,Ana Lopez\nv1,0,7,NAME,Ana\n"
    )
    with pytest.raises(ValueError, match=r"identifiers.csv line 3 \(id 'v1'\): the note has 'Patient'"):
        P.load_identifiers(folder)
    (folder / "identifiers.csv").write_text("id,start,end,type,text\nv9,0,3,NAME,Ana\n")
    with pytest.raises(ValueError, match="no visit with this id"):
        P.load_identifiers(folder)


@pytest.mark.skipif(
    not (cohort_dir() / "identifiers.csv").is_file(), reason="the cohort has no identifiers.csv"
)
def test_cohort_notes_reach_the_target_recall():
    df = load_manifest(cohort_dir(), check_files=False)
    gold = P.load_identifiers(cohort_dir())
    texts = list(df["text"])
    scores = P.score_deidentification(
        texts, [gold.get(i, []) for i in df["id"]], [P.find_identifiers(t) for t in texts]
    )
    assert scores["overall"]["recall"] >= 0.99, scores["missed"][:5]
    assert all(r["recall"] >= 0.99 for r in scores["per_type"].values() if r["gold"]), scores["per_type"]
    assert scores["content_survival"] == 1.0, scores["clinical_words_removed"]


# --------------------------------------------------------------------------------------------- DICOM


def _profile_leftovers(orig: pydicom.Dataset, new: pydicom.Dataset | None, tags: set) -> list[str]:
    """Attributes of the profile's table that still hold their original non-empty value (sequences too)."""
    out = []
    for element in orig:
        if element.VR == "SQ":
            kept = new.get(element.tag) if new is not None else None
            for i, item in enumerate(element.value):
                same = kept.value[i] if kept is not None and kept.VR == "SQ" and i < len(kept.value) else None
                out += _profile_leftovers(item, same, tags)
        elif (element.tag.group, element.tag.element) in tags and element.value not in (None, "", b""):
            after = new.get(element.tag) if new is not None else None
            if after is not None and after.value == element.value:
                out.append(element.keyword)
    return out


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_pydicom_test_files_lose_every_profile_value_and_keep_pixels(name):
    ds = pydicom.dcmread(get_testdata_file(name))
    orig = copy.deepcopy(ds)
    assert any(e.tag.is_private for e in orig) or name == "MR_small.dcm"
    P.deidentify_dataset(ds, secret="test")
    tags = {t for t in P.annex_e_tags() if len(t) == 2}
    assert len(tags) > 500  # the PS3.15 Annex E table, not a hand-picked handful
    assert _profile_leftovers(orig, ds, tags) == []
    assert not any(e.tag.is_private for e in ds)
    assert ds.PixelData == orig.PixelData
    for keyword in (
        "Rows",
        "Columns",
        "PixelSpacing",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "RescaleSlope",
    ):
        assert ds.get(keyword) == orig.get(keyword), keyword
    assert ds.PatientIdentityRemoved == "YES" and "Annex E" in ds.DeidentificationMethod
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert (
        ds.StudyInstanceUID != orig.StudyInstanceUID
        and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    )
    assert str(orig.PatientName) and str(ds.PatientName) != str(orig.PatientName)


def test_course_dicom_files_are_deidentified_with_consistent_uids(tmp_path):
    image = np.linspace(0, 1, 24 * 20, dtype=np.float32).reshape(24, 20)
    paths = [
        write_dicom(image, tmp_path / f"in{i}.dcm", "MRN-4471", patient_name="Lopez^Ana", instance_number=i)
        for i in (1, 2)
    ]
    originals = [pydicom.dcmread(p) for p in paths]
    assert originals[0].StudyInstanceUID == originals[1].StudyInstanceUID
    uid_map: dict[str, str] = {}
    outs = []
    for i, path in enumerate(paths):
        with pytest.warns(P.BurnedInTextWarning, match="BurnedInAnnotation is missing and modality OT"):
            outs.append(P.deidentify_dicom(path, tmp_path / f"out{i}.dcm", uid_map=uid_map, patient_id="P1"))
    new = [pydicom.dcmread(p) for p in outs]
    assert new[0].StudyInstanceUID == new[1].StudyInstanceUID != originals[0].StudyInstanceUID
    assert new[0].SOPInstanceUID != new[1].SOPInstanceUID
    assert str(new[0].PatientName) != "Lopez^Ana" and new[0].PatientID == "P1"
    assert "StudyDescription" not in new[0] or new[0].StudyDescription != originals[0].StudyDescription
    np.testing.assert_array_equal(read_dicom(outs[0]), read_dicom(paths[0]))
    with pytest.raises(ValueError, match="is the input file"):
        P.deidentify_dicom(paths[0], paths[0])


def test_burned_in_annotation_yes_warns_and_keep_retains_attributes():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    sex = ds.PatientSex
    with pytest.warns(P.BurnedInTextWarning, match="says YES"):
        P.deidentify_dataset(ds, keep=("PatientSex",))
    assert ds.PatientSex == sex
    with pytest.raises(ValueError, match="'NotAKeyword' in keep"):
        P.deidentify_dataset(ds, keep=("NotAKeyword",))


# --------------------------------------------------------------------------------------------- data folders


def test_deidentify_folder_on_a_generated_cohort(tiny_cohort, tmp_path):
    out = tmp_path / "deid"
    dcm = write_dicom(
        np.zeros((8, 8), np.float32), Path(tiny_cohort) / "scan.dcm", "p0001", patient_name="X^Y"
    )
    try:
        report = P.deidentify_folder(tiny_cohort, out, secret="k")
    finally:
        dcm.unlink()
    gold = P.load_identifiers(tiny_cohort)
    before = pd.read_csv(Path(tiny_cohort) / "manifest.csv", dtype=str, keep_default_na=False)
    after = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(after["id"]) == list(before["id"]) and list(after["label"]) == list(before["label"])
    leaked = [
        s["text"]
        for i, t in zip(after["id"], after["text"], strict=True)
        for s in gold.get(i, [])
        if s["text"] in t
    ]
    assert leaked == [] and "[NAME]" in after["text"].iloc[0]
    assert report["notes"] >= len(before) and report["replaced"]["NAME"] > 0 and report["dicom_files"] == 1
    assert not (out / "identifiers.csv").exists() and any("identifiers.csv" in s for s in report["skipped"])
    assert (out / "images").is_dir() and report["copied_files"] > 0
    assert pydicom.dcmread(out / "scan.dcm").PatientIdentityRemoved == "YES"
    assert len(report["burned_in_warnings"]) == 1
    load_manifest(out)  # the copy is still a valid course data folder


def test_deidentify_folder_caps_ages_and_refuses_to_overwrite(tmp_path):
    folder = _folder(tmp_path, ROWS)
    out = tmp_path / "out"
    report = P.deidentify_folder(folder, out, pseudonymise_ids=True, secret="k")
    after = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(after["age"]) == ["90", "40"] and report["ages_capped"] == 1
    assert after["text"].iloc[0] == "Patient: [NAME]. Cough." and "p1" not in set(after["patient_id"])
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        P.deidentify_folder(folder, out)
    for bad in (folder, folder / "inside"):
        with pytest.raises(ValueError, match="overlaps the input folder"):
            P.deidentify_folder(folder, bad)
    with pytest.raises(FileNotFoundError, match="no manifest.csv"):
        P.deidentify_folder(tmp_path / "out" / "..", tmp_path / "elsewhere")


def test_the_deidentify_command_writes_a_copy_and_never_overwrites(tiny_cohort, tmp_path, capsys):
    from crossmodal_lib.__main__ import main

    out = tmp_path / "copy"
    assert main(["deidentify", "--data", str(tiny_cohort), "--out", str(out)]) == 0
    assert "de-identified" in capsys.readouterr().out and (out / "manifest.csv").is_file()
    before = (out / "manifest.csv").read_bytes()
    assert main(["deidentify", "--data", str(tiny_cohort), "--out", str(out)]) == 2  # not empty: refused
    assert main(["deidentify", "--data", str(tiny_cohort), "--out", str(Path(tiny_cohort) / "x")]) == 2
    assert "overlaps the input folder" in capsys.readouterr().err
    assert (out / "manifest.csv").read_bytes() == before and not (Path(tiny_cohort) / "x").exists()
