"""Preprocessing of each modality (chapters 01, 07-09): images to one array format, notes to tokens, ECG traces
filtered and z-scored, video clips scaled to [0, 1], age and sex as numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crossmodal_lib.preprocess.chinese import tokenize_all_zh, tokenize_zh
from crossmodal_lib.preprocess.image import augmentation, prepare_images
from crossmodal_lib.preprocess.signal import (
    RHYTHM_FEATURES,
    check_signals,
    detect_r_peaks,
    normalise_signals,
    prepare_signals,
    remove_baseline_wander,
    rhythm_features,
)
from crossmodal_lib.preprocess.tabular import TABULAR_FEATURES, prepare_tabular
from crossmodal_lib.preprocess.text import (
    CHEST_NOTE_TERMS,
    CHEST_REPORT_TERMS,
    mentioned_findings,
    tokenize,
    tokenize_all,
)
from crossmodal_lib.preprocess.video import prepare_clips

__all__ = [
    "CHEST_NOTE_TERMS",
    "CHEST_REPORT_TERMS",
    "RHYTHM_FEATURES",
    "TABULAR_FEATURES",
    "augmentation",
    "check_signals",
    "detect_r_peaks",
    "mentioned_findings",
    "normalise_signals",
    "prepare_clips",
    "prepare_images",
    "prepare_signals",
    "prepare_tabular",
    "prepare_visits",
    "remove_baseline_wander",
    "rhythm_features",
    "tokenize",
    "tokenize_all",
    "tokenize_all_zh",
    "tokenize_zh",
]


def prepare_visits(
    images: Sequence[np.ndarray] | np.ndarray, texts: Sequence[str], size: int = 64
) -> tuple[np.ndarray, list[list[str]]]:
    """Both modalities of the same visits: ``(prepare_images(images, size), tokenize_all(texts))`` (chapter 01).

    The i-th image and the i-th note must belong to the same visit, so the two counts must match; a mismatch
    (a dropped row on one side) would silently pair images with other patients' notes, hence the error.
    """
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of notes, got a single string; wrap it in a list")
    if len(images) != len(texts):
        raise ValueError(
            f"{len(images)} images but {len(texts)} notes: each visit needs one of each, in the same order"
        )
    return prepare_images(images, size=size), tokenize_all(texts)
