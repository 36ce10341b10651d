"""Small pieces the cohort's generators share: random choice, typing errors, findings drawn in pairs (chapter 00).

Each clinical question of the cohort (chest in ``cohort``, cardiac in ``cardiac``, movement in ``motion``) has
diseases defined by a *pair* of findings, one per modality, and distractors that carry one half of a pair, so that
no single modality reaches the label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def choice(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def typo(rng: np.random.Generator, sentence: str, rate: float = 0.04) -> str:
    """Swap two neighbouring letters in a few words (real notes are typed in a hurry)."""
    words = sentence.split(" ")
    for i, w in enumerate(words):
        if len(w) > 4 and w.isalpha() and rng.random() < rate:
            j = int(rng.integers(1, len(w) - 2))
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def draw_pairs(
    rng: np.random.Generator,
    intended: str,
    defining: Mapping[str, tuple[str, str]],
    distractor_rate: float,
) -> dict[str, bool]:
    """Findings of one visit: both findings of the ``intended`` disease's pair, and distractors.

    For every other disease, with probability ``distractor_rate`` the visit carries one half of its pair (the first
    modality's finding or the second's, never both): an opacity without infection signs, fever without an opacity.
    """
    f = {name: False for pair in defining.values() for name in pair}
    for disease, (first, second) in defining.items():
        if disease == intended:
            f[first] = f[second] = True
        else:
            r = rng.random()
            f[first], f[second] = r < distractor_rate / 2, distractor_rate / 2 <= r < distractor_rate
    return f


def label_by_pairs(f: Mapping[str, bool], defining: Mapping[str, tuple[str, str]], default: str) -> str:
    """The first disease (in ``defining``'s order) whose two findings are both present, else ``default``."""
    for disease, (first, second) in defining.items():
        if f[first] and f[second]:
            return disease
    return default


def pick_phrases(
    rng: np.random.Generator,
    findings: Mapping[str, bool],
    positive: Mapping[str, Sequence[str]],
    negative: Mapping[str, Sequence[str]],
    nonspecific: Sequence[str],
) -> list[str]:
    """A note's phrases: one or two for each present finding, a negation for half of the absent ones ("denies
    palpitations"), and up to two nonspecific complaints; in this order (the caller shuffles them)."""
    phrases: list[str] = []
    for name in positive:
        if findings[name]:
            phrases += [choice(rng, positive[name]) for _ in range(1 + int(rng.random() < 0.5))]
        elif rng.random() < 0.5:
            phrases.append(choice(rng, negative[name]))
    return phrases + [choice(rng, nonspecific) for _ in range(int(rng.integers(0, 3)))]
