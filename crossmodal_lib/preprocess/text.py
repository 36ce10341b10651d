"""Text preprocessing for clinical notes: tokens that a Word2Vec model can learn from (chapter 01).

``tokenize`` turns one note into a list of tokens in five steps, each done by a library where one exists:

1. case and accents: ``gensim.utils.deaccent`` and ``str.lower``;
2. clauses: the note is cut at sentence punctuation (. ; : ! ? and line breaks); a clause is the scope of a negation;
3. words: ``gensim.parsing.preprocessing.strip_punctuation`` and ``strip_multiple_whitespaces``, then tokens that
   start with a digit, counts such as "x3" and one-letter tokens are dropped (vitals such as "T 38.9" lose their number: a bag of
   words cannot use it);
4. abbreviations and spellings: ``ABBREVIATIONS`` maps "sob" to "shortness of breath", "oedema" to "edema" ...;
5. negation (NegEx-light): after a cue such as "no", "denies" or "without", every following word of the clause
   gets the prefix ``no_``, so that "denies fever" and "no fever" both give ``no_fever``, a token distinct from
   ``fever``. Words such as "but" or "however" end the scope early. Stop words (gensim's ``STOPWORDS`` minus the
   negation words, which carry meaning here) are removed.

Limits, on purpose: no spelling correction (the cohort's notes contain typos), no post-negation ("fever: absent"),
no uncertainty ("?nodule", "rule out"). Chapter 01's exercises probe them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from gensim.parsing.preprocessing import STOPWORDS, strip_multiple_whitespaces, strip_punctuation
from gensim.utils import deaccent

NEGATION_PREFIX = "no_"

# Words that open a negation scope. Multi-word cues reduce to their first word ("negative for" -> "negative").
NEGATION_CUES = frozenset(
    {
        "no",
        "not",
        "denies",
        "denied",
        "deny",
        "denying",
        "without",
        "never",
        "nor",
        "neither",
        "none",
        "negative",
    }
)
# Words that close a negation scope before the end of the clause ("no fever but productive cough").
NEGATION_TERMINATORS = frozenset(
    {"but", "however", "although", "though", "yet", "except", "apart", "aside", "whereas", "while", "reports"}
)
# gensim's English stop words, minus the negation words: "no" and "not" decide what a note means.
STOP_WORDS = frozenset(STOPWORDS - NEGATION_CUES - {"cannot", "nothing", "nobody"})

# Abbreviations, contractions and British spellings of the cohort's notes (lowercase keys, one token each).
# Slash forms such as "c/o" are handled before punctuation is removed (see _SLASH_ABBREVIATIONS).
ABBREVIATIONS: dict[str, str] = {
    "sob": "shortness of breath",
    "doe": "dyspnea on exertion",
    "pnd": "paroxysmal nocturnal dyspnea",
    "le": "leg",
    "htn": "hypertension",
    "t2dm": "type diabetes",
    "dm": "diabetes",
    "copd": "chronic obstructive pulmonary disease",
    "ckd": "chronic kidney disease",
    "af": "atrial fibrillation",
    "mi": "myocardial infarction",
    "gerd": "gastroesophageal reflux",
    "chf": "heart failure",
    "cxr": "chest radiograph",
    "pt": "patient",
    "pts": "patients",
    "wt": "weight",
    "temp": "temperature",
    "hx": "history",
    "pmh": "past medical history",
    "hpi": "history present illness",
    "cc": "chief complaint",
    "adls": "activities daily living",
    "afebrile": "no fever",
    "febrile": "fever",
    "pyrexia": "fever",
    "fevers": "fever",
    "oedema": "edema",
    "orthopnoea": "orthopnea",
    "dyspnoea": "dyspnea",
    "haemoptysis": "hemoptysis",
    "hypercholesterolaemia": "hypercholesterolemia",
}
_SLASH_ABBREVIATIONS = {
    "c/o": " complains of ",
    "h/o": " history of ",
    "w/o": " without ",
    "s/p": " status post ",
}
# One alternation built from the table (longest first), not a hand-written pattern per abbreviation.
_SLASH_PATTERN = re.compile(
    "|".join(re.escape(k) for k in sorted(_SLASH_ABBREVIATIONS, key=len, reverse=True))
)
_CLAUSE_BREAK = re.compile(r"[.;:!?\n]+(?:\s|$)|\n")


def _words(clause: str) -> list[str]:
    """Words of one clause: punctuation removed (gensim), numbers and one-letter tokens dropped, abbreviations out."""
    words = []
    for word in strip_multiple_whitespaces(strip_punctuation(clause)).split():
        # Dropped: one letter, numbers ("38", "9c" from "38.9c") and counts ("x3" in "cough x3 days"); "spo2" stays.
        if len(word) < 2 or word[0].isdigit() or (word[0] == "x" and word[1:].isdigit()):
            continue
        words.extend(ABBREVIATIONS.get(word, word).split())
    return words


def tokenize(text: str) -> list[str]:
    """One clinical note -> tokens: lowercase, no punctuation, abbreviations expanded, negation marked (chapter 01).

    >>> tokenize("Denies fever. SOB on exertion; no chills but productive cough.")
    ['no_fever', 'shortness', 'breath', 'exertion', 'no_chills', 'productive', 'cough']
    """
    if not isinstance(text, str):
        raise ValueError(f"note must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("note is empty (only whitespace); drop it or mark it missing before tokenising")
    text = _SLASH_PATTERN.sub(lambda m: _SLASH_ABBREVIATIONS[m.group(0)], deaccent(text).lower())
    tokens: list[str] = []
    for clause in _CLAUSE_BREAK.split(text):
        negated = False
        for word in _words(clause):
            if word in NEGATION_CUES:
                negated = True
            elif word in NEGATION_TERMINATORS:
                negated = False
            elif word not in STOP_WORDS:
                tokens.append(NEGATION_PREFIX + word if negated else word)
    return tokens


def tokenize_all(texts: Sequence[str]) -> list[list[str]]:
    """``tokenize`` for many notes; an error names the index of the first empty or non-string note (chapter 01)."""
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of notes, got a single string; wrap it in a list")
    out = []
    for i, text in enumerate(texts):
        try:
            out.append(tokenize(text))
        except ValueError as err:
            raise ValueError(f"note {i}: {err}") from None
    if not out:
        raise ValueError("texts is empty: no notes to tokenise")
    return out


#: Words a chest radiograph report uses for each image finding (one token each, as ``tokenize`` writes them), in the
#: manner of the CheXpert labeller's mention lists (Irvin et al., 2019): the finding is there when a word is said and
#: not negated. Chapter 14 reads the findings from the cohort's reports with them.
CHEST_REPORT_TERMS: dict[str, tuple[str, ...]] = {
    "opacity": ("opacity", "opacities", "consolidation", "airspace", "shadowing", "infiltrate"),
    "cardiomegaly": ("cardiomegaly", "enlarged"),
    "effusion": ("effusion", "effusions", "blunting"),
    "nodule": ("nodule", "nodules", "mass"),
}

#: Words a clinical note uses for each syndrome of the chest question (chapter 14), in the same manner: symptoms a
#: clinician would list for an infection, for fluid overload (congestion) and for the constitutional signs of a
#: tumour. "no_fever" and "afebrile" are other tokens, so a negated or denied symptom does not count.
CHEST_NOTE_TERMS: dict[str, tuple[str, ...]] = {
    "infection": (
        "fever",
        "febrile",
        "pyrexia",
        "chills",
        "rigors",
        "purulent",
        "green",
        "yellow",
        "phlegm",
        "temp",
    ),
    "congestion": (
        "pillows",
        "orthopnoea",
        "orthopnea",
        "nocturnal",
        "ankle",
        "swelling",
        "swollen",
        "edema",
    ),
    "constitutional": ("haemoptysis", "hemoptysis", "blood", "sweats", "lost", "loss"),
}


def mentioned_findings(
    texts: Sequence[str], terms: dict[str, Sequence[str]] = CHEST_REPORT_TERMS
) -> np.ndarray:
    """0/1 labels ``(n_texts, n_findings)`` read from free text: 1 where a finding's word occurs and is not negated
    (chapter 14). A labelling function: the labels are noisy (a hedge such as "?nodule" counts as said), and they
    teach a model what to look for without a human labelling each image.

    >>> mentioned_findings(["Small right nodule. No pleural effusion."], {"nodule": ("nodule",), "effusion": ("effusion",)})
    array([[1, 0]])
    """
    if not terms:
        raise ValueError("terms is empty: give each finding its words, e.g. {'effusion': ('effusion',)}")
    for finding, words in terms.items():
        if isinstance(words, str) or not words:
            raise ValueError(f"terms[{finding!r}] must be a non-empty tuple of words, got {words!r}")
    token_sets = [set(tokens) for tokens in tokenize_all(texts)]
    return np.array(
        [[int(any(w in tokens for w in words)) for words in terms.values()] for tokens in token_sets],
        dtype=np.int64,
    )
