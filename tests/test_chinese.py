"""The Chinese cohort and its tokenizer (chapter 03's section on Chinese notes)."""

import string

import numpy as np
import pytest

from crossmodal_lib.data import chinese as zh
from crossmodal_lib.data import cohort
from crossmodal_lib.preprocess.chinese import (
    MEDICAL_TERMS,
    tokenize_all_zh,
    tokenize_zh,
    tokenize_zh_chars,
)
from crossmodal_lib.preprocess.text import NEGATION_PREFIX


def _fields(phrase: str) -> set[str]:
    """The placeholders of a phrase; {Rel} (a capitalised {rel}) means the same in a language without capitals."""
    return {"rel" if name == "Rel" else name for _, name, _, _ in string.Formatter().parse(phrase) if name}


def _entries(table):
    return (
        [(k, v) for k, vs in table.items() for v in vs] if isinstance(table, dict) else list(enumerate(table))
    )


@pytest.mark.parametrize("name", sorted(zh.PARALLEL_TABLES))
def test_phrase_tables_are_parallel(name):
    english, chinese = zh.PARALLEL_TABLES[name]
    assert type(english) is type(chinese)
    if isinstance(english, dict):
        assert list(english) == list(chinese)
        assert [len(v) for v in english.values()] == [len(v) for v in chinese.values()]
    assert len(_entries(english)) == len(_entries(chinese))
    for (key_en, en), (key_zh, z) in zip(_entries(english), _entries(chinese), strict=True):
        assert key_en == key_zh
        assert _fields(en) == _fields(z), (en, z)
        assert z and z == z.strip()


def _visit(seed: int) -> tuple[dict, dict, dict]:
    """A patient, findings and vitals as generate_cohort draws them, from seed."""
    rng = np.random.default_rng([seed, 99])
    patient = cohort._patient(rng, seed)
    if seed % 5 == 0:
        patient["age"] = 95  # an age over 89 is an identifier
    names = (*cohort.IMAGE_FINDINGS, *cohort.NOTE_FINDINGS)
    f = {k: bool(v) for k, v in zip(names, rng.random(len(names)) < 0.5, strict=True)}
    return patient, f, cohort._vitals(rng, f)


@pytest.mark.parametrize("with_id_rng", [False, True])
def test_chinese_note_draws_the_same_random_numbers_and_its_spans_are_exact(with_id_rng):
    types = set()
    for seed in range(120):
        patient, f, vitals = _visit(seed)
        date = f"{2019 + seed % 4}-0{1 + seed % 9}-1{seed % 10}"
        rng_en, rng_zh = np.random.default_rng(seed), np.random.default_rng(seed)
        ids = (
            (np.random.default_rng([seed, 4]), np.random.default_rng([seed, 4]))
            if with_id_rng
            else (None, None)
        )
        cohort.write_note(rng_en, f, patient, date, vitals, ids[0])
        text, spans = zh.write_note_zh(rng_zh, f, patient, date, vitals, ids[1])
        assert rng_en.bit_generator.state == rng_zh.bit_generator.state, seed
        assert spans and all(text[s["start"] : s["end"]] == s["text"] for s in spans)
        assert all(s["type"] in cohort.IDENTIFIER_TYPES for s in spans)
        assert zh.name_zh(patient["name"]) in text and patient["mrn"] in text
        assert "HPI" not in text and "现病史：" in text
        types |= {s["type"] for s in spans}
        cohort.write_report(rng_en, f)
        report = zh.write_report_zh(rng_zh, f)
        assert rng_en.bit_generator.state == rng_zh.bit_generator.state, seed
        assert report.startswith("胸") and report.endswith("。")
    assert {"NAME", "DATE", "MRN", "AGE", "PHONE", "HOSPITAL", "ADDRESS", "EMAIL"} <= types


def test_names_map_index_for_index():
    assert zh.name_zh("James Smith") == "王伟"
    assert zh.name_zh("Mary O'Brien") == "欧阳秀英"
    with pytest.raises(ValueError, match="not a name"):
        zh.name_zh("Nobody Known")


def test_small_chinese_cohort_has_the_english_ones_labels_and_images():
    cfg = cohort.CohortConfig(n_patients=30)
    en = cohort.generate_cohort(cfg, chest_only=True)
    zc = cohort.generate_cohort(cfg, chest_only=True, lang="zh")
    assert [r["label"] for r in en["manifest"]] == [r["label"] for r in zc["manifest"]]
    assert [r["split"] for r in en["manifest"]] == [r["split"] for r in zc["manifest"]]
    assert en["findings"] == zc["findings"] and en["regions"] == zc["regions"]
    assert en["images"].keys() == zc["images"].keys()
    assert all(cohort._png_bytes(en["images"][v]) == cohort._png_bytes(zc["images"][v]) for v in en["images"])
    assert all(np.array_equal(en["ecgs"][v], zc["ecgs"][v]) for v in en["ecgs"])
    texts = {r["id"]: r["text"] for r in zc["manifest"]}
    assert all("现病史" in t and "主诉" in t for t in texts.values())
    assert all("胸" in r["report"] for r in zc["manifest"])
    assert all(texts[s["id"]][s["start"] : s["end"]] == s["text"] for s in zc["identifiers"])


def test_lang_is_validated():
    with pytest.raises(ValueError, match="lang must be one of"):
        cohort.generate_cohort(cohort.CohortConfig(n_patients=1), lang="fr")
    from crossmodal_lib.__main__ import build_parser

    assert build_parser().parse_args(["generate", "--out", "x", "--lang", "zh"]).lang == "zh"
    assert build_parser().parse_args(["generate", "--out", "x"]).lang == "en"


def test_segmentation_keeps_the_medical_terms():
    tokens = tokenize_zh("端坐呼吸，双下肢凹陷性水肿，近3个月体重下降5公斤，痰中带血，咯血2天。")
    for term in ("端坐呼吸", "双下肢", "凹陷性水肿", "体重下降", "痰中带血", "咯血"):
        assert term in MEDICAL_TERMS and term in tokens


def test_negation_scope_ends_at_the_clause():
    assert tokenize_zh("否认发热，咳嗽。") == ["no_发热", "咳嗽"]
    assert tokenize_zh("无发热但咳嗽") == ["no_发热", "咳嗽"]
    assert tokenize_zh("未见外周水肿；没有盗汗。咯血") == ["no_外周水肿", "no_盗汗", "咯血"]
    # the enumeration comma lists more denied symptoms; it does not end the scope
    assert tokenize_zh("无发热、寒战，乏力") == ["no_发热", "no_寒战", "乏力"]
    # a cue is a word: 不适 and 不明原因 deny nothing; 无畏寒 is "no chills", not 无畏 ("fearless")
    assert not any(t.startswith(NEGATION_PREFIX) for t in tokenize_zh("身体不适，不明原因体重下降"))
    assert tokenize_zh("无畏寒") == ["no_畏寒"]


def test_full_width_punctuation_and_digits_are_normalised():
    full = tokenize_zh("否认发热；咳嗽３天！体温３８．５℃（在家）")
    half = tokenize_zh("否认发热;咳嗽3天!体温38.5°C(在家)")
    assert full == half and "no_咳嗽" not in full and not any(t[0].isdigit() for t in full)


def test_every_table_phrase_reads_as_its_polarity():
    blank = {"t": "38.5℃", "d": 3, "p": 3, "k": 4, "m": 2, "side": "左", "zone": "下", "ctr": "0.60", "mm": 8}
    for table in (zh.POSITIVE_ZH, zh.REPORT_POSITIVE_ZH):
        for phrase in (p for ps in table.values() for p in ps):
            assert not any(t.startswith(NEGATION_PREFIX) for t in tokenize_zh(phrase.format(**blank))), phrase
    for phrase in (p for ps in zh.NEGATIVE_ZH.values() for p in ps if "体重稳定" not in p):
        assert all(t.startswith(NEGATION_PREFIX) for t in tokenize_zh(phrase)), phrase


def test_character_tokens_and_errors():
    assert tokenize_zh_chars("否认发热，咳嗽３天。CT正常") == [
        "no_发",
        "no_热",
        "咳",
        "嗽",
        "天",
        "ct",
        "正",
        "常",
    ]
    assert tokenize_all_zh(["咳嗽", "发热"], level="char") == [["咳", "嗽"], ["发", "热"]]
    assert tokenize_all_zh(["咳嗽"]) == [["咳嗽"]]
    with pytest.raises(ValueError, match="note 1: note is empty"):
        tokenize_all_zh(["咳嗽", "  "])
    with pytest.raises(ValueError, match="level must be one of"):
        tokenize_all_zh(["咳嗽"], level="sentence")
    with pytest.raises(ValueError, match="single string"):
        tokenize_all_zh("咳嗽")
    with pytest.raises(ValueError, match="must be a string"):
        tokenize_zh(None)
