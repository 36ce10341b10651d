"""Chinese clinical notes to tokens: word segmentation (分词) and negation (chapter 03's section on Chinese notes).

Chinese writes no spaces between words, so "tokenise" needs a *segmenter*: a dictionary of words and a model of
how likely each cut is. The course uses ``rjieba`` (the Rust port of jieba: the same dictionary and the same
cuts as ``jieba``, maintained, about 15 times faster, no model download) with a user dictionary of the course's
medical terms (``MEDICAL_TERMS``): without it 端坐呼吸 comes out as 端坐 / 呼吸 and 体重下降 as 体重 / 下降.

``tokenize_zh`` mirrors the English ``tokenize`` of chapter 01:

1. normalisation: Unicode NFKC turns full-width punctuation, digits and letters into their ASCII forms
   (，-> ,  ；-> ;  ：-> :  （）-> ()  ｜-> |  ℃ -> °C  ３８ -> 38); Latin letters are lowercased;
2. clauses: the note is cut at , ; : ! ? 。 and line breaks (an ASCII full stop only before a space); a clause is
   the scope of a negation. The enumeration comma 、 separates words but does *not* end the scope: 无发热、寒战
   denies both (a choice: cutting there would turn the second symptom into a positive one);
3. words: the segmenter's cuts; punctuation, numbers (38.5, 97%, 80mmhg) and single Latin letters are dropped,
   Chinese single characters (咳, 痰) are words and stay;
4. negation: after a cue (``NEGATION_CUES_ZH``: 无, 否认, 未见, 没有, 未, 不 ...) every following word of the clause
   gets the prefix ``no_`` (``NEGATION_PREFIX`` of the English tokenizer); a turn such as 但 ends it early. A cue
   is a *word* of the segmentation, so 不适 (discomfort) or 不明原因 (of unknown cause) open no scope;
5. stop words (``STOP_WORDS_ZH``: 的, 了, 及, 和 ...) are removed.

``tokenize_zh_chars`` gives character-level tokens, the usual baseline in Chinese NLP that needs no segmenter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from crossmodal_lib.preprocess.text import NEGATION_PREFIX

# Words that open a negation scope (whole words of the segmentation, not characters inside a word).
NEGATION_CUES_ZH = frozenset(
    {"无", "否认", "未见", "没有", "未", "不", "无明显", "未闻及", "未触及", "不伴", "非"}
)
# Words that end a negation scope before the end of the clause ("无发热但咳嗽" -> no_发热, 咳嗽).
NEGATION_TERMINATORS_ZH = frozenset({"但", "但是", "然而", "不过", "可是", "却", "诉", "自述", "自诉"})
# Function words and fillers of the cohort's notes; negation words are not among them (they decide the meaning).
STOP_WORDS_ZH = frozenset(
    {
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "在",
        "于",
        "是",
        "为",
        "个",
        "次",
        "分",
        "等",
        "后",
        "时",
        "中",
        "约",
        "近",
        "已",
        "曾",
        "由",
        "被",
        "也",
        "并",
        "且",
        "其",
        "这",
        "那",
        "着",
        "过",
        "见",
        "至",
        "才能",
        "出现",
        "患者",
    }
)
# The course's medical terms, added to the segmenter's dictionary so that each stays one word. Their frequency
# (MEDICAL_TERM_FREQ) matters: with the segmenter's suggested one, 无畏寒 ("no chills") is cut 无畏 ("fearless")
# / 寒, and the negation is lost; with 10,000 it is 无 / 畏寒.
MEDICAL_TERM_FREQ = 10_000
MEDICAL_TERMS = (
    "端坐呼吸",
    "夜间阵发性呼吸困难",
    "呼吸困难",
    "体重下降",
    "体重减轻",
    "体重增加",
    "体重稳定",
    "痰中带血",
    "下肢水肿",
    "双下肢",
    "凹陷性水肿",
    "外周水肿",
    "足部水肿",
    "踝部肿胀",
    "下肢肿胀",
    "咳痰",
    "咯血",
    "咳血",
    "盗汗",
    "畏寒",
    "寒战",
    "发热",
    "高热",
    "干咳",
    "胸闷",
    "气促",
    "气短",
    "乏力",
    "喘息",
    "不明原因",
    "慢阻肺",
    "高胆固醇血症",
    "2型糖尿病",
    "胃食管反流病",
    "甲状腺功能减退",
    "陈旧性心肌梗死",
    "房颤",
    "骨关节炎",
    "慢性肾病",
    "胸腔积液",
    "肋膈角",
    "心胸比",
    "心影",
    "实变",
    "肺不张",
    "密度增高影",
    "生命体征",
    "血氧饱和度",
    "病历号",
    "现病史",
    "既往史",
    "吸烟史",
)
_CLAUSE_BREAK_ZH = re.compile(r"[,;:!?。\n]+|\.(?=\s|$)")
_NUMBER = re.compile(r"^[\d.%/°\-+]+[a-z]*$")


@lru_cache(maxsize=1)
def segmenter():
    """The course's segmenter: an ``rjieba.Jieba`` with ``MEDICAL_TERMS`` in its dictionary (built once)."""
    try:
        import rjieba
    except ImportError:  # pragma: no cover - a clear message where the dependency is missing
        raise ImportError(
            "Chinese word segmentation needs rjieba: pip install rjieba (it is in the course's dependencies)"
        ) from None
    jieba = rjieba.Jieba()
    for term in MEDICAL_TERMS:
        jieba.add_word(term, MEDICAL_TERM_FREQ, None)
    return jieba


def normalise_zh(text: str) -> str:
    """NFKC (full-width punctuation, digits and letters to ASCII), Latin letters lowercased; a clear error for an
    empty note (chapter 03's section on Chinese notes)."""
    if not isinstance(text, str):
        raise ValueError(f"note must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("note is empty (only whitespace); drop it or mark it missing before tokenising")
    return unicodedata.normalize("NFKC", text).lower()


def clauses_zh(text: str) -> list[str]:
    """A normalised note cut into clauses (the negation scopes) at , ; : ! ? 。 and line breaks."""
    return [c for c in _CLAUSE_BREAK_ZH.split(text) if c.strip()]


def _keep(word: str) -> bool:
    """A word worth a token: not whitespace or punctuation, not a number, not a single Latin letter."""
    word = word.strip()
    if not word or _NUMBER.match(word):
        return False
    if all(unicodedata.category(ch)[0] in "PSZ" for ch in word):
        return False
    return not (len(word) == 1 and word.isascii())


def _scoped_words(text: str) -> list[tuple[str, bool]]:
    """(word, negated) for every kept word of a note, cues, terminators and stop words removed."""
    jieba = segmenter()
    out = []
    for clause in clauses_zh(normalise_zh(text)):
        negated = False
        for word in jieba.cut(clause):
            word = word.strip()
            if word in NEGATION_CUES_ZH:
                negated = True
            elif word in NEGATION_TERMINATORS_ZH:
                negated = False
            elif word not in STOP_WORDS_ZH and _keep(word):
                out.append((word, negated))
    return out


def tokenize_zh(text: str) -> list[str]:
    """One Chinese note -> word tokens: NFKC, clauses, segmentation (rjieba + MEDICAL_TERMS), negation marked,
    stop words out (chapter 03's section on Chinese notes).

    >>> tokenize_zh("否认发热，咳嗽３天；无畏寒、寒战。端坐呼吸。")
    ['no_发热', '咳嗽', '天', 'no_畏寒', 'no_寒战', '端坐呼吸']
    """
    return [NEGATION_PREFIX + word if negated else word for word, negated in _scoped_words(text)]


def tokenize_zh_chars(text: str) -> list[str]:
    """One Chinese note -> character tokens, the segmenter-free baseline (chapter 03's section on Chinese notes).

    The same normalisation, clauses, stop words and negation scopes as ``tokenize_zh``; every kept word is then
    split into its characters, each carrying the word's negation prefix (Latin words such as "ct" stay whole).
    The negation scopes come from the segmentation on purpose: the comparison of word-level and character-level
    tokens then measures the granularity of the tokens alone, not a second, cruder negation detector (a purely
    character-based one would read 不适, discomfort, as "not" + 适).

    >>> tokenize_zh_chars("否认发热，咳嗽３天。")
    ['no_发', 'no_热', '咳', '嗽', '天']
    """
    tokens = []
    for word, negated in _scoped_words(text):
        prefix = NEGATION_PREFIX if negated else ""
        pieces = [word] if word.isascii() else [ch for ch in word if _keep(ch)]
        tokens += [prefix + piece for piece in pieces]
    return tokens


LEVELS = {"word": tokenize_zh, "char": tokenize_zh_chars}


def tokenize_all_zh(texts: Sequence[str], level: str = "word") -> list[list[str]]:
    """``tokenize_zh`` (``level="word"``) or ``tokenize_zh_chars`` (``level="char"``) for many notes; an error
    names the index of the first empty or non-string note (chapter 03's section on Chinese notes)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of notes, got a single string; wrap it in a list")
    out = []
    for i, text in enumerate(texts):
        try:
            out.append(LEVELS[level](text))
        except ValueError as err:
            raise ValueError(f"note {i}: {err}") from None
    if not out:
        raise ValueError("texts is empty: no notes to tokenise")
    return out
