"""Chapter 11: data quality: missing modalities, noise, label errors, and checks of a data folder.

The article names data quality (missing values, noise, errors) as one of cross-modal learning's three
challenges. This module measures each one on the course's models and offers the usual remedy:

    missing modality   ModalityImputer (mean + indicator, the pipeline's convention), ModalityDropout
                       (train with blanked modalities), with_imputation / with_fallback (strategies at
                       prediction time), robustness_curve (macro ROC-AUC as a growing fraction of the test
                       rows loses a modality)
    noise              gaussian_noise, jpeg_compress (images), inject_typos, inject_abbreviations (notes),
                       image_encoder / text_encoder (features through the trained encoders), noise_curve
    label errors       find_label_issues (confident learning: ``cleanlab`` on out-of-fold probabilities),
                       detection_scores, auc_comparison (paired bootstrap CIs: cleaned vs original)
    data validation    check_data (duplicates, near-duplicates across splits, class balance, empty or short
                       notes, patients in several splits) -> DataQualityReport, format_report

Models enter as fitted course models (anything with ``predict_proba`` over ``{modality: features}``; a model
with ``modalities_`` gets only its own modalities) or as plain callables ``blocks -> proba``. Everything is
deterministic for a given ``seed``. This module imports only earlier steps (data, preprocess, features,
fusion, evaluate), so that ``pipeline.train`` can call ``check_data`` before it trains.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal_lib.evaluate import bootstrap_ci, bootstrap_difference, check_predictions, macro_roc_auc
from crossmodal_lib.fusion import check_blocks

__all__ = [
    "FRACTIONS",
    "SHORTHAND",
    "DataQualityReport",
    "Issue",
    "ModalityDropout",
    "ModalityImputer",
    "auc_comparison",
    "check_data",
    "detection_scores",
    "find_label_issues",
    "format_report",
    "gaussian_noise",
    "image_encoder",
    "indicator_modalities",
    "inject_abbreviations",
    "inject_typos",
    "jpeg_compress",
    "noise_curve",
    "out_of_fold_proba",
    "plot_curves",
    "robustness_curve",
    "text_encoder",
    "with_fallback",
    "with_imputation",
]

Blocks = Mapping[str, np.ndarray]
Predictor = Callable[[Blocks], np.ndarray]
#: A way to predict when modalities are lost: ``strategy(blocks, lost) -> proba``, with
#: ``lost = {modality: bool rows}``.
Strategy = Callable[[Blocks, Mapping[str, np.ndarray]], np.ndarray]
#: The fractions of test rows that lose a modality in :func:`robustness_curve`: 0, 0.1, ..., 1.
FRACTIONS = tuple(round(0.1 * i, 1) for i in range(11))


def _predictor(model: object) -> Predictor:
    """``blocks -> proba`` for a fitted course model (only its own modalities passed) or a plain callable."""
    if hasattr(model, "predict_proba"):
        own = tuple(getattr(model, "modalities_", ()) or ())
        if own:
            return lambda blocks: model.predict_proba({m: blocks[m] for m in own})
        return model.predict_proba
    if callable(model):
        return model
    raise TypeError(
        f"a model must have predict_proba or be a callable blocks -> proba, got {type(model).__name__}"
    )


def _check_fraction(value: float, name: str) -> float:
    if not isinstance(value, int | float | np.number) or not 0 <= float(value) <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------------------------------
# 1. Missing modality at prediction time
# ------------------------------------------------------------------------------------------------------------
def indicator_modalities(features: object) -> tuple[str, ...]:
    """The modalities whose blocks end with the pipeline's missing-indicator column (of a CohortFeatures).

    ``pipeline.cohort_features`` appends that column only when some row of the data set lacks the modality, so
    the complete cohort has none; a learner's folder with empty notes has one on ``text``.
    """
    frame = features.frame
    return tuple(m for m in features.modalities if not frame[f"has_{m}"].all())


def _lost_masks(lost: Mapping[str, object] | None, names: Sequence[str], n: int) -> dict[str, np.ndarray]:
    out = {}
    for name, mask in (lost or {}).items():
        if name not in names:
            raise ValueError(f"lost names modality {name!r}, but the blocks hold {list(names)}")
        arr = np.asarray(mask)
        if arr.shape != (n,):
            raise ValueError(f"lost[{name!r}] has shape {arr.shape}; expected one flag per row, ({n},)")
        if arr.dtype != bool:
            if not np.isin(arr, (0, 1)).all():
                raise ValueError(f"lost[{name!r}] must hold booleans (True = the row lost {name})")
            arr = arr.astype(bool)
        out[name] = arr
    return out


class ModalityImputer:
    """Fill a lost modality the way the pipeline fills a missing one (chapter 11).

    A row that lost modality m gets the training rows' mean feature vector of m; with ``indicator=True`` an
    indicator column (1 = lost) is appended to m's block, so a model trained with it can tell "average
    patient" from "unknown". That is ``pipeline``'s convention for rows without a modality.
    ``fit(train_blocks)`` learns the means; ``transform(blocks, lost)`` blanks the rows flagged in ``lost =
    {modality: bool rows}``.

    ``fit(blocks, indicator_in=...)``: modalities whose blocks already end with the pipeline's indicator
    column (see :func:`indicator_modalities`); their indicator is set to 1 instead of a second one being
    appended.

    >>> imputer = ModalityImputer().fit(features.blocks("train"))
    >>> blocks = imputer.transform(features.blocks("test"), lost={"image": rows_without_image})
    """

    def __init__(self, indicator: bool = False) -> None:
        self.indicator = bool(indicator)
        self.means_: dict[str, np.ndarray] = {}
        self.widths_: dict[str, int] = {}
        self.indicator_in_: tuple[str, ...] = ()

    @property
    def modalities_(self) -> tuple[str, ...]:
        """The modalities seen in ``fit``, in their order."""
        return tuple(self.means_)

    def fit(self, blocks: Blocks, indicator_in: Sequence[str] = ()) -> ModalityImputer:
        """Learn each modality's mean feature vector from the training blocks."""
        arrays = check_blocks(blocks, suffix=" (training)")
        unknown = [m for m in indicator_in if m not in arrays]
        if unknown:
            raise ValueError(f"indicator_in names {unknown}, which are not among the blocks {list(arrays)}")
        self.indicator_in_ = tuple(indicator_in)
        # Rows the pipeline imputed already hold the present rows' mean, so the mean over all rows is it.
        self.means_ = {
            m: (a[:, :-1] if m in self.indicator_in_ else a).mean(axis=0) for m, a in arrays.items()
        }
        self.widths_ = {m: a.shape[1] for m, a in arrays.items()}
        return self

    def _fitted(self) -> None:
        if not self.means_:
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(training blocks) first")

    def transform(self, blocks: Blocks, lost: Mapping[str, object] | None = None) -> dict[str, np.ndarray]:
        """The blocks as the model sees them: lost rows mean-imputed, the indicator column set or appended."""
        self._fitted()
        arrays = check_blocks(blocks, expected=self.modalities_)
        for m, a in arrays.items():
            if a.shape[1] != self.widths_[m]:
                raise ValueError(
                    f"{m} has {a.shape[1]} columns but the imputer was fit on {self.widths_[m]}; "
                    "pass the blocks without the columns this imputer adds"
                )
        n = len(next(iter(arrays.values())))
        masks = _lost_masks(lost, list(arrays), n)
        out = {}
        for m, a in arrays.items():
            rows = masks.get(m, np.zeros(n, dtype=bool))
            a = a.copy()
            if m in self.indicator_in_:
                a[rows, :-1] = self.means_[m]
                a[rows, -1] = 1.0
            else:
                a[rows] = self.means_[m]
                if self.indicator:
                    a = np.hstack([a, rows.astype(np.float32)[:, None]])
            out[m] = a
        return out


class ModalityDropout(ModalityImputer):
    """Modality dropout as a data transform: train on rows whose modality was blanked (chapter 11).

    ``augment(blocks, y)`` returns the training set with, for each modality in ``modalities`` (default: all),
    a ``rate`` fraction of the rows blanked in that modality (mean-imputed, indicator column = 1; the other
    rows get indicator 0). ``duplicate=True`` adds the blanked rows as copies, so every complete row stays
    (better on small data); ``duplicate=False`` blanks them in place, the classic ModDrop (Neverova et al.,
    2015), with disjoint rows per modality. The rows are drawn once (seeded), not anew each epoch: the
    course's models are fit in one Keras call. The result works with ``fusion.EarlyFusion``/``GatedFusion`` as
    they are; predict with ``with_imputation(model, dropout)``, which appends the same indicator columns.

    >>> drop = ModalityDropout(rate=0.3, seed=0).fit(train_blocks)
    >>> model = EarlyFusion().fit(*drop.augment(train_blocks, y_train),
    ...                           validation_data=drop.augment(val_blocks, y_val))
    >>> proba = with_imputation(model, drop)(test_blocks, {"image": lost_rows})
    """

    def __init__(
        self,
        rate: float = 0.3,
        modalities: Sequence[str] | None = None,
        duplicate: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(indicator=True)
        self.rate = _check_fraction(rate, "rate")
        self.modalities = None if modalities is None else tuple(modalities)
        self.duplicate = bool(duplicate)
        self.seed = seed

    def augment(self, blocks: Blocks, y: object) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``(blocks, y)`` with blanked rows (see the class); blocks gain their indicator columns."""
        self._fitted()
        arrays = check_blocks(blocks, expected=self.modalities_)
        n = len(next(iter(arrays.values())))
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y has shape {y.shape} but the blocks have {n} rows")
        names = self.modalities or self.modalities_
        unknown = [m for m in names if m not in arrays]
        if unknown:
            raise ValueError(f"modalities {unknown} to drop are not among the blocks {list(arrays)}")
        if len(arrays) < 2:
            raise ValueError(f"modality dropout needs at least two modalities, got {list(arrays)}")
        k = int(round(self.rate * n))
        rng = np.random.default_rng(self.seed)
        if self.duplicate:
            parts, labels = [self.transform(arrays)], [y]
            for m in names:
                rows = np.sort(rng.choice(n, size=k, replace=False))
                sub = {name: a[rows] for name, a in arrays.items()}
                parts.append(self.transform(sub, {m: np.ones(k, dtype=bool)}))
                labels.append(y[rows])
            out = {m: np.concatenate([p[m] for p in parts]) for m in arrays}
            return out, np.concatenate(labels)
        if k * len(names) > n:
            raise ValueError(
                f"rate {self.rate} x {len(names)} modalities blanks more rows than there are; with "
                "duplicate=False each row loses at most one modality, so rate must be "
                "<= 1 / number of modalities"
            )
        order = rng.permutation(n)
        lost = {}
        for i, m in enumerate(names):
            mask = np.zeros(n, dtype=bool)
            mask[order[i * k : (i + 1) * k]] = True
            lost[m] = mask
        return self.transform(arrays, lost), y.copy()


def with_imputation(model: object, imputer: ModalityImputer) -> Strategy:
    """Strategy: mean-impute the lost modalities (``imputer``'s convention), then predict with ``model``.

    With a plain ``ModalityImputer()`` this is strategy (a), the normal model; with the ``ModalityDropout``
    the model was trained with, strategy (b).
    """
    predict = _predictor(model)
    imputer._fitted()

    def strategy(blocks: Blocks, lost: Mapping[str, np.ndarray]) -> np.ndarray:
        return predict(imputer.transform(blocks, lost))

    return strategy


def _model_sets(models: Sequence[object] | Mapping[object, object]) -> list[tuple[frozenset[str], Predictor]]:
    if isinstance(models, Mapping):
        pairs = [((k,) if isinstance(k, str) else tuple(k), v) for k, v in models.items()]
    else:
        pairs = []
        for model in models:
            own = tuple(getattr(model, "modalities_", ()) or ())
            if not own:
                raise ValueError(
                    f"{type(model).__name__} does not say which modalities it takes (no modalities_); pass "
                    "{('image', 'text'): predict, ('text',): predict_text, ...} instead"
                )
            pairs.append((own, model))
    if not pairs:
        raise ValueError("with_fallback needs at least one model")
    return [(frozenset(names), _predictor(model)) for names, model in pairs]


def with_fallback(
    models: Sequence[object] | Mapping[object, object], otherwise: Strategy | None = None
) -> Strategy:
    """Strategy (c): each row goes to the model of the most modalities that the row still has.

    ``models``: fitted course models (their ``modalities_`` say what they take), e.g. ``[early, image_only,
    text_only]``, or ``{("image", "text"): predict, ("text",): predict_text, ...}``. A row that lost its image
    goes to the text-only model; with N modalities, to the largest model whose modalities the row has (the
    first given on a tie). Rows no model covers go to ``otherwise`` (for example ``with_imputation(...)``),
    else raise.
    """
    sets = _model_sets(models)

    def strategy(blocks: Blocks, lost: Mapping[str, np.ndarray]) -> np.ndarray:
        names = list(blocks)
        n = len(np.asarray(next(iter(blocks.values()))))
        masks = _lost_masks(lost, names, n)
        present = np.column_stack([~masks.get(m, np.zeros(n, dtype=bool)) for m in names])
        patterns, which = np.unique(present, axis=0, return_inverse=True)
        out = None
        for p, pattern in enumerate(patterns):
            rows = np.flatnonzero(which.ravel() == p)
            have = {m for m, flag in zip(names, pattern, strict=True) if flag}
            usable = [(len(s), -i) for i, (s, _) in enumerate(sets) if s <= have]
            sub = {m: np.asarray(b)[rows] for m, b in blocks.items()}
            if usable:
                proba = sets[-max(usable)[1]][1](sub)
            elif otherwise is not None:
                proba = otherwise(sub, {m: mask[rows] for m, mask in masks.items()})
            else:
                raise ValueError(
                    f"{len(rows)} row(s) have only {sorted(have) or 'no modality'} and no model takes "
                    "just those; add a model or pass otherwise=with_imputation(...)"
                )
            proba = np.asarray(proba, dtype=np.float64)
            if out is None:
                out = np.empty((n, proba.shape[1]))
            out[rows] = proba
        return out

    return strategy


def _check_strategies(strategies: Mapping[str, object], what: str, one: str) -> None:
    if not isinstance(strategies, Mapping) or not strategies:
        raise ValueError(f"pass the {what} as a non-empty mapping {{name: ...}}")
    for name, s in strategies.items():
        if not callable(s) and not hasattr(s, "predict_proba"):
            raise TypeError(f"{one} {name!r} is a {type(s).__name__}, not a callable")


def robustness_curve(
    strategies: Mapping[str, Strategy],
    blocks: Blocks,
    y: object,
    lose: str | Sequence[str],
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    metric: Callable[[np.ndarray, np.ndarray], float] = macro_roc_auc,
    rowwise: bool = True,
) -> pd.DataFrame:
    """Macro ROC-AUC of each strategy as a growing fraction of the test rows loses ``lose`` (chapter 11).

    ``strategies``: {name: strategy(blocks, lost) -> proba}, from :func:`with_imputation` and
    :func:`with_fallback`. The lost rows are drawn once from ``seed``, and nested (the rows lost at 10 % are
    also lost at 20 %), and all strategies lose the same rows. ``lose`` is one modality or several lost
    together. The course's models score each row on its own, so by default (``rowwise=True``) each strategy
    predicts twice (nothing lost, everything lost) and the curve mixes the two; ``rowwise=False`` predicts
    once per fraction. Returns a table: one row per fraction (index "fraction lost"), one column per strategy.
    """
    _check_strategies(strategies, "strategies", "strategy")
    lose = (lose,) if isinstance(lose, str) else tuple(lose)
    arrays = {m: np.asarray(b) for m, b in blocks.items()}
    unknown = [m for m in lose if m not in arrays]
    if not lose or unknown:
        raise ValueError(f"lose must name modalities of the blocks {list(arrays)}, got {list(lose)}")
    n = len(next(iter(arrays.values())))
    fractions = [_check_fraction(f, "every fraction") for f in fractions]
    order = np.random.default_rng(seed).permutation(n)
    masks = []
    for f in fractions:
        mask = np.zeros(n, dtype=bool)
        mask[order[: int(round(f * n))]] = True
        masks.append(mask)
    table = {}
    for name, strategy in strategies.items():
        if rowwise:
            kept = strategy(arrays, {m: np.zeros(n, dtype=bool) for m in lose})
            gone = strategy(arrays, {m: np.ones(n, dtype=bool) for m in lose})
            probas = [np.where(mask[:, None], gone, kept) for mask in masks]
        else:
            probas = [strategy(arrays, {m: mask for m in lose}) for mask in masks]
        table[name] = [float(metric(y, p)) for p in probas]
    out = pd.DataFrame(table, index=pd.Index(fractions, name="fraction lost"))
    out.attrs["lost"] = list(lose)
    return out


def plot_curves(table: pd.DataFrame, ax=None, title: str = "", ylabel: str = "macro ROC-AUC"):
    """One line per column of a :func:`robustness_curve` or :func:`noise_curve` table; returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", label=str(name))
    ax.set_xlabel(table.index.name or "")
    ax.set_ylabel(ylabel)
    lost = table.attrs.get("lost")
    ax.set_title(title or (f"lost: {', '.join(lost)}" if lost else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# ------------------------------------------------------------------------------------------------------------
# 2. Noise
# ------------------------------------------------------------------------------------------------------------
def _unit_images(images: object, what: str = "images") -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or arr.size == 0:
        raise ValueError(f"{what} must be a batch (n, height, width[, 1]), got shape {arr.shape}")
    if arr.ndim == 4 and arr.shape[-1] != 1:
        raise ValueError(f"{what} must be grayscale (n, height, width, 1), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what} must be floats in [0, 1] (prepare_images' output), got dtype {arr.dtype}")
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{what} must hold finite values in [0, 1] (prepare_images' output)")
    return arr


def gaussian_noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Images in [0, 1] plus Gaussian noise of standard deviation ``sigma`` (same units), clipped to [0, 1].

    Deterministic for a given ``seed``; ``sigma=0`` returns a copy. Clipping makes the change a little smaller
    than ``sigma`` on very dark or bright pixels.
    """
    arr = _unit_images(images)
    if not isinstance(sigma, int | float | np.number) or not 0 <= sigma <= 1:
        raise ValueError(f"sigma must be a number in [0, 1] (the image range), got {sigma!r}")
    noise = np.random.default_rng(seed).normal(0.0, float(sigma), arr.shape)
    return np.clip(arr + noise, 0.0, 1.0).astype(arr.dtype)


def jpeg_compress(images: np.ndarray, quality: int) -> np.ndarray:
    """Images in [0, 1] after a JPEG round trip at ``quality`` (1 worst ... 95 best) with Pillow's encoder.

    The artefacts of a film saved, e-mailed and re-saved: 8x8 blocks and blurred edges. Deterministic.
    """
    arr = _unit_images(images)
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer) or not 1 <= quality <= 95:
        raise ValueError(
            f"quality must be a whole number from 1 to 95 (Pillow's JPEG scale), got {quality!r}"
        )
    from PIL import Image

    out = np.empty_like(arr)
    for i, img in enumerate(arr):
        buf = io.BytesIO()
        Image.fromarray((img.reshape(img.shape[:2]) * 255).round().astype(np.uint8)).save(
            buf, format="JPEG", quality=int(quality)
        )
        decoded = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
        out[i] = decoded.reshape(img.shape)
    return out


def _check_notes(notes: object) -> list[str]:
    if isinstance(notes, np.ndarray | pd.Series):
        notes = notes.tolist()
    if isinstance(notes, str) or not isinstance(notes, Sequence):
        raise ValueError(f"notes must be a list of strings (one per row), got {type(notes).__name__}")
    for i, note in enumerate(notes):
        if not isinstance(note, str):
            raise ValueError(f"note {i} is a {type(note).__name__}, not a string")
    return list(notes)


def inject_typos(notes: Sequence[str], rate: float, seed: int = 0) -> list[str]:
    """Each word of five or more letters gets two neighbouring letters swapped with probability ``rate``.

    The cohort's own typing-error model (``data.synthetic.typo``, which wrote the notes), applied again at a
    chosen rate: like there, a word with punctuation attached ("sputum;") is left alone. Note i uses the
    random stream ``(seed, i)``, so a note's typos do not depend on the others.
    """
    from crossmodal_lib.data.synthetic import typo

    rate = _check_fraction(rate, "rate")
    return [typo(np.random.default_rng([seed, i]), note, rate) for i, note in enumerate(_check_notes(notes))]


#: Clinical shorthand for :func:`inject_abbreviations`: phrase (lower case) -> what a hurried clinician
#: writes. The course's tokenizer expands the first five back (``preprocess.text.ABBREVIATIONS``); the others
#: it does not know, and "Ø" (the null sign for "no") is dropped as a one-letter token, so "Ø fever" reads as
#: "fever".
SHORTHAND: dict[str, str] = {
    "shortness of breath": "SOB",
    "patient": "pt",
    "history": "hx",
    "temperature": "temp",
    "weight": "wt",
    "weight loss": "WL",
    "night sweats": "NS",
    "fever": "fvr",
    "sputum": "sput",
    "purulent": "purul",
    "productive": "prod",
    "bilateral": "bilat",
    "swelling": "swllg",
    "ankle": "ank",
    "orthopnoea": "orthopn",
    "orthopnea": "orthopn",
    "oedema": "oed",
    "edema": "oed",
    "haemoptysis": "haemopt",
    "hemoptysis": "hemopt",
    "blood": "bld",
    "unintentional": "unint",
    "no": "Ø",
}


def inject_abbreviations(
    notes: Sequence[str], rate: float, seed: int = 0, table: Mapping[str, str] | None = None
) -> list[str]:
    """Each occurrence of a phrase of ``table`` (default :data:`SHORTHAND`) is shortened with chance ``rate``.

    Whole words, any case; longer phrases first ("weight loss" before "weight"). Note i uses the random stream
    ``(seed, i)``. The cohort's notes already mix abbreviations in; this adds more, including ones the
    tokenizer does not know, which is where a bag of word vectors loses information.
    """
    rate = _check_fraction(rate, "rate")
    table = dict(SHORTHAND if table is None else table)
    if not table:
        raise ValueError("table is empty; pass {phrase: abbreviation}")
    keys = sorted(table, key=len, reverse=True)
    lookup = {k.lower(): v for k, v in table.items()}
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keys) + r")\b", re.IGNORECASE)
    out = []
    for i, note in enumerate(_check_notes(notes)):
        rng = np.random.default_rng([seed, i])

        def shorten(match: re.Match, rng: np.random.Generator = rng) -> str:
            return lookup[match.group(0).lower()] if rng.random() < rate else match.group(0)

        out.append(pattern.sub(shorten, note))
    return out


def image_encoder(cnn: object) -> Callable[[np.ndarray], np.ndarray]:
    """``images -> F_x``: the trained CNN's features (``features.image.image_features``), for noise_curve."""
    from crossmodal_lib.features.image import image_features

    return lambda images: image_features(cnn, images)


def text_encoder(
    kv: object, idf: Mapping[str, float] | None = None, weighting: str = "tfidf"
) -> Callable[[Sequence[str]], np.ndarray]:
    """``notes -> F_y``: tokenise, then the trained Word2Vec's document vectors (the pipeline's: "tfidf")."""
    from crossmodal_lib.features.text import document_vectors
    from crossmodal_lib.preprocess.text import tokenize_all

    return lambda notes: document_vectors(kv, tokenize_all(list(notes)), weighting=weighting, idf=idf)


def noise_curve(
    models: Mapping[str, object],
    blocks: Blocks,
    y: object,
    modality: str,
    raw: object,
    corrupt: Callable[[object, float], object],
    encode: Callable[[object], np.ndarray],
    levels: Sequence[float],
    metric: Callable[[np.ndarray, np.ndarray], float] = macro_roc_auc,
) -> pd.DataFrame:
    """Macro ROC-AUC of each model as ``modality``'s raw data gets noisier (chapter 11).

    For each level: ``encode(corrupt(raw, level))`` replaces ``blocks[modality]`` (features recomputed through
    the trained encoder), the other modalities stay clean, and every model in ``models`` (fitted course models
    or callables ``blocks -> proba``) is scored. ``raw`` holds one item per row of the blocks (images for
    ``image_encoder``, notes for ``text_encoder``). Returns a table: one row per level (index "noise level"),
    one column per model.

    >>> noise_curve(models, test_blocks, y_test, "image", test_images, gaussian_noise, image_encoder(cnn),
    ...             levels=[0, 0.05, 0.1, 0.2])
    """
    _check_strategies(models, "models", "model")
    arrays = {m: np.asarray(b) for m, b in blocks.items()}
    if modality not in arrays:
        raise ValueError(f"modality {modality!r} is not among the blocks {list(arrays)}")
    predictors = {name: _predictor(model) for name, model in models.items()}
    rows = []
    for level in levels:
        F = np.asarray(encode(corrupt(raw, level)), dtype=np.float32)
        if F.shape != arrays[modality].shape:
            raise ValueError(
                f"encode gave {modality} features of shape {F.shape}, but the blocks hold "
                f"{arrays[modality].shape}; raw must have one item per row, and a block with the pipeline's "
                "missing-indicator column cannot be recomputed this way (score the rows that have the "
                "modality)"
            )
        noisy = {**arrays, modality: F}
        rows.append({name: float(metric(y, predict(noisy))) for name, predict in predictors.items()})
    return pd.DataFrame(rows, index=pd.Index(list(levels), name="noise level"))


# ------------------------------------------------------------------------------------------------------------
# 3. Label errors (confident learning)
# ------------------------------------------------------------------------------------------------------------
def _design_matrix(X: object) -> np.ndarray:
    if isinstance(X, Mapping):
        return np.concatenate(list(check_blocks(X).values()), axis=1)  # F_x ⊕ F_y, as early fusion sees it
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or not len(arr):
        raise ValueError(f"X must be 2-D (rows, features) or a mapping of blocks, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("X has NaN or infinite values; impute them first")
    return arr


def out_of_fold_proba(
    X: object,
    y: object,
    groups: object | None = None,
    estimator: object | None = None,
    cv: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold class probabilities: each row predicted by a model that never saw its label (chapter 11).

    ``X``: a feature matrix or blocks ``{"image": F_x, "text": F_y}`` (concatenated). ``estimator``: any
    scikit-learn classifier with ``predict_proba`` (default: standardise + logistic regression). With
    ``groups`` (patient ids) the folds keep a patient's visits together (``StratifiedGroupKFold``), so a
    patient's other visits do not vouch for a label.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _design_matrix(X)
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be integer class indices of shape ({len(X)},), got {y.dtype} {y.shape}")
    counts = np.bincount(y)
    if (counts[counts > 0] < cv).any() or (counts == 0).any():
        raise ValueError(
            f"every class 0..{len(counts) - 1} needs at least cv={cv} rows; counts {counts.tolist()}"
        )
    if estimator is None:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if groups is None:
        splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    else:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups has shape {groups.shape} but y has {y.shape}")
        splitter = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed)
    return cross_val_predict(estimator, X, y, groups=groups, cv=splitter, method="predict_proba")


def find_label_issues(
    X: object,
    y: object,
    groups: object | None = None,
    ids: Sequence[str] | None = None,
    estimator: object | None = None,
    cv: int = 5,
    seed: int = 0,
    filter_by: str = "prune_by_noise_rate",
    proba: np.ndarray | None = None,
    max_issues: float | None = None,
) -> pd.DataFrame:
    """Rows whose label is probably wrong, by confident learning (Northcutt et al., 2021) (chapter 11).

    Out-of-fold probabilities (:func:`out_of_fold_proba` on ``X``, or ``proba`` if given; then ``X`` is
    unused) go to ``cleanlab.filter.find_label_issues``: it estimates how often each class is mislabelled as
    each other class (the confident joint) and flags that many rows, the least likely under their given label
    first. Returns one row per input row (index ``ids``): ``label`` (given), ``predicted``, ``p_label`` (the
    probability of the given label), ``quality`` (cleanlab's label-quality score, low = suspicious) and
    ``issue`` (flagged).

    How well it works depends on the classifier: a label is flagged when a good model confidently disagrees,
    and a weak one makes cleanlab overestimate the number of errors. ``max_issues`` (a count, or a fraction of
    the rows below 1, e.g. the documented noise rate) keeps only that many flags, those of the lowest quality.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            # cleanlab imports tqdm.auto, which warns in a notebook without ipywidgets about a progress bar that
            # is never shown here (and prints a site-packages path into the notebook's output).
            warnings.filterwarnings("ignore", message="IProgress not found")
            from cleanlab.filter import find_label_issues as cl_find
            from cleanlab.rank import get_label_quality_scores
    except ImportError as exc:
        raise ImportError(
            "find_label_issues needs cleanlab, one of the course's dependencies: pip install 'cleanlab>=2.9'"
        ) from exc

    y = np.asarray(y)
    if proba is None:
        proba = out_of_fold_proba(X, y, groups, estimator, cv, seed)
    y, proba = check_predictions(y, proba, name="proba")
    if ids is not None and len(ids) != len(y):
        raise ValueError(f"ids has {len(ids)} entries but y has {len(y)}")
    issue = np.asarray(cl_find(y, proba, filter_by=filter_by), dtype=bool)
    quality = get_label_quality_scores(y, proba)
    if max_issues is not None:
        if not isinstance(max_issues, int | float | np.number) or max_issues < 0:
            raise ValueError(f"max_issues must be a count or a fraction of the rows, got {max_issues!r}")
        limit = int(round(max_issues * len(y))) if max_issues < 1 else int(max_issues)
        flagged = np.flatnonzero(issue)
        issue[flagged[np.argsort(quality[flagged], kind="stable")[limit:]]] = False
    table = pd.DataFrame(
        {
            "label": y,
            "predicted": proba.argmax(axis=1),
            "p_label": proba[np.arange(len(y)), y],
            "quality": quality,
            "issue": issue,
        },
        index=pd.Index(list(ids), name="id") if ids is not None else None,
    )
    return table


def detection_scores(flagged: object, truth: object) -> dict[str, float]:
    """Precision and recall of flagged rows against the known errors (the cohort's ``label_noisy``)."""
    from sklearn.metrics import precision_recall_fscore_support

    f, t = np.asarray(flagged), np.asarray(truth)
    if f.shape != t.shape or f.ndim != 1:
        raise ValueError(f"flagged has shape {f.shape} but truth has {t.shape}; pass one flag per row each")
    f, t = f.astype(bool), t.astype(bool)
    precision, recall, f1, _ = precision_recall_fscore_support(t, f, average="binary", zero_division=0)
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "flagged": int(f.sum()),
        "errors": int(t.sum()),
        "found": int((f & t).sum()),
    }


def auc_comparison(
    probas: Mapping[str, object],
    y: object,
    groups: object | None = None,
    reference: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Macro ROC-AUC with a bootstrap CI per model, and each model's paired difference from ``reference``.

    ``reference`` defaults to the first model (e.g. ``{"original": p, "cleaned": q}``). Columns: roc_auc,
    roc_auc_low, roc_auc_high, diff, diff_low, diff_high (``evaluate.bootstrap_ci`` and
    ``evaluate.bootstrap_difference`` on the same resamples; ``groups`` = patient ids resamples patients).
    """
    if not isinstance(probas, Mapping) or not probas:
        raise ValueError("probas must map model names to probabilities, e.g. {'original': p, 'cleaned': q}")
    reference = next(iter(probas)) if reference is None else reference
    if reference not in probas:
        raise ValueError(f"reference {reference!r} is not among the models {list(probas)}")
    rows = {}
    for name, p in probas.items():
        ci = bootstrap_ci(y, p, n_resamples=n_resamples, seed=seed, groups=groups)
        diff = bootstrap_difference(
            y, p, probas[reference], n_resamples=n_resamples, seed=seed, groups=groups
        )
        rows[name] = {
            "roc_auc": ci["point"],
            "roc_auc_low": ci["low"],
            "roc_auc_high": ci["high"],
            "diff": diff["point"],
            "diff_low": diff["low"],
            "diff_high": diff["high"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


# ------------------------------------------------------------------------------------------------------------
# 4. Data validation of a folder
# ------------------------------------------------------------------------------------------------------------
SEVERITIES = ("error", "warning", "info")


@dataclass
class Issue:
    """One problem :func:`check_data` found: which check, how serious, what to do, the rows it concerns."""

    check: str
    severity: str
    message: str
    ids: list[str] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)


@dataclass
class DataQualityReport:
    """What :func:`check_data` found in a data set (chapter 11); ``to_dict()`` is ``data_quality.json``."""

    source: str
    n_rows: int
    n_patients: int
    split_from: str
    class_counts: dict[str, dict[str, int]]
    modalities: dict[str, int]
    issues: list[Issue] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check found an error (warnings and notes may remain)."""
        return not any(i.severity == "error" for i in self.issues)

    def by_check(self, check: str) -> list[Issue]:
        """The issues of one check, e.g. ``report.by_check("duplicate_image")``."""
        return [i for i in self.issues if i.check == check]

    def to_dict(self) -> dict:
        """Plain types only, ready for ``json.dumps``; ``ok`` first."""
        return {"ok": self.ok, **asdict(self)}

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as indented JSON (``data_quality.json`` in a run folder); returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def _read_table(data: str | Path | pd.DataFrame, root: str | Path | None) -> tuple[pd.DataFrame, Path, str]:
    from crossmodal_lib.data.folder import MODALITY_COLUMNS, REQUIRED_COLUMNS

    if isinstance(data, pd.DataFrame):
        df, base, source = data.copy(), Path(root) if root is not None else Path.cwd(), "DataFrame"
    else:
        base = Path(data)
        path = base / "manifest.csv"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: pass a data folder with a manifest.csv, or a DataFrame"
            )
        df, source = pd.read_csv(path, dtype=str, keep_default_na=False), str(base)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source} lacks the column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")
    if not any(c in df.columns for c in MODALITY_COLUMNS):
        raise ValueError(
            f"{source} has no modality column; it needs at least one of {list(MODALITY_COLUMNS)}"
        )
    if df.empty:
        raise ValueError(f"{source} has no rows")
    df = df.reset_index(drop=True)
    for col in ("id", "patient_id", "label", "split", *MODALITY_COLUMNS):
        if col in df.columns:
            df[col] = df[col].fillna("").astype(str)
    return df, base, source


def _groups(keys: Sequence[object], ids: np.ndarray) -> list[np.ndarray]:
    """Row indices of each key that occurs more than once (keys None are skipped)."""
    seen: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            seen.setdefault(key, []).append(i)
    return [np.array(v) for v in seen.values() if len(v) > 1]


def _listing(ids: Sequence[str], limit: int = 5) -> str:
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _duplicates(
    check: str,
    what: str,
    groups: list[np.ndarray],
    df: pd.DataFrame,
    severities: tuple[str, str] = ("error", "warning"),
    advice: tuple[str, str] = (
        "the same data on both sides of a split leaks the answer; keep one row of each",
        "the same data counts twice in training and evaluation; keep one row of each",
    ),
) -> list[Issue]:
    """One issue for duplicates across splits and one for duplicates within a split, at ``severities``."""
    ids, split = df["id"].to_numpy(), df["split"].to_numpy()
    across = [g for g in groups if len(set(split[g])) > 1]
    within = [g for g in groups if len(set(split[g])) == 1]
    issues = []
    for found, severity, where, why in zip(
        (across, within), severities, ("across splits", "within a split"), advice, strict=True
    ):
        if found:
            named = [[str(ids[i]) for i in g] for g in found]
            shown = "; ".join("=".join(g) for g in named[:5]) + (
                f"; and {len(named) - 5} more" if len(named) > 5 else ""
            )
            issues.append(
                Issue(
                    check,
                    severity,
                    f"{len(found)} group(s) of {what} {where} ({shown}): {why}",
                    ids=[i for g in named for i in g],
                    groups=named,
                )
            )
    return issues


def _thumbnail(array: np.ndarray, size: int) -> np.ndarray:
    """A size x size gray thumbnail with mean 0 and norm 1: exposure and contrast changes do not move it."""
    from PIL import Image

    from crossmodal_lib.preprocess.image import _to_unit_gray

    gray = _to_unit_gray(array, 0)
    small = np.asarray(
        Image.fromarray(gray.astype(np.float32)).resize((size, size), Image.Resampling.BOX),
        dtype=np.float64,
    ).ravel()
    small -= small.mean()
    norm = np.linalg.norm(small)
    return small / norm if norm > 0 else small


def _image_checks(df: pd.DataFrame, base: Path, size: int, radius: float, issues: list[Issue]) -> None:
    from crossmodal_lib.data.folder import read_image

    rows = np.flatnonzero(df["image"].str.strip() != "")
    keys: list[object] = [None] * len(df)
    thumbs, thumb_rows, missing, unreadable = [], [], [], []
    for i in rows:
        path = Path(df.at[i, "image"].strip())
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            missing.append(df.at[i, "id"])
            continue
        try:
            array = read_image(path)
            thumbs.append(_thumbnail(array, size))
        except (ValueError, OSError) as exc:
            unreadable.append(f"{df.at[i, 'id']} ({exc})")
            continue
        # Identical pixels: the same film saved twice (PNG and re-saved PNG, or the same file named twice).
        keys[i] = hashlib.sha256(f"{array.shape}{array.dtype}".encode() + array.tobytes()).hexdigest()
        thumb_rows.append(i)
    if missing:
        issues.append(
            Issue(
                "missing_file",
                "error",
                f"{len(missing)} image file(s) not found: {_listing(missing)}",
                missing,
            )
        )
    if unreadable:
        issues.append(
            Issue(
                "unreadable_file",
                "error",
                f"{len(unreadable)} image(s) unreadable: {_listing(unreadable, 3)}",
            )
        )
    exact = _groups(keys, df["id"].to_numpy())
    issues += _duplicates("duplicate_image", "identical images", exact, df)
    if len(thumb_rows) < 2:
        return
    from sklearn.neighbors import NearestNeighbors

    # Near-duplicates across splits only: within a split, the same patient's films may look alike on purpose.
    T, idx = np.stack(thumbs), np.array(thumb_rows)
    split, ids = df["split"].to_numpy()[idx], df["id"].to_numpy()
    pairs = []
    names = sorted(set(split))
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            A, B = np.flatnonzero(split == a), np.flatnonzero(split == b)
            dist, nbr = NearestNeighbors(radius=radius).fit(T[A]).radius_neighbors(T[B])
            for j, (d_row, n_row) in enumerate(zip(dist, nbr, strict=True)):
                for d, k in zip(d_row, n_row, strict=True):
                    pair = tuple(sorted((int(idx[A[k]]), int(idx[B[j]]))))  # in manifest order
                    if keys[pair[0]] != keys[pair[1]]:  # identical ones are reported as duplicates
                        pairs.append((float(d), pair))
    if pairs:
        pairs.sort()
        named = [[str(ids[p]), str(ids[q])] for _, (p, q) in pairs]
        shown = "; ".join(f"{p}~{q} ({d:.3f})" for (d, _), (p, q) in zip(pairs[:5], named[:5], strict=True))
        issues.append(
            Issue(
                "near_duplicate_image",
                "warning",
                f"{len(pairs)} pair(s) of near-identical images in different splits ({shown}"
                f"{'; ...' if len(pairs) > 5 else ''}; thumbnail distance < {radius}): the same film "
                "re-saved or resized leaks across the split; check them and keep each film in one split",
                ids=sorted({i for pair in named for i in pair}),
                groups=named,
            )
        )


def _note_checks(df: pd.DataFrame, min_tokens: int, issues: list[Issue]) -> None:
    from crossmodal_lib.preprocess.text import tokenize

    notes = df["text"].to_numpy()
    ids = df["id"].to_numpy()
    empty = [str(ids[i]) for i, t in enumerate(notes) if not t.strip()]
    keys, short = [], []
    for i, note in enumerate(notes):
        if not note.strip():
            keys.append(None)
            continue
        keys.append(" ".join(note.lower().split()))  # identical up to case and spacing
        if len(tokenize(note)) < min_tokens:
            short.append(str(ids[i]))
    if empty:
        issues.append(
            Issue(
                "empty_note",
                "info",
                f"{len(empty)} row(s) without a note ({_listing(empty)}): the pipeline treats them as a "
                "missing note (mean-imputed features and an indicator column)",
                empty,
            )
        )
    if short:
        issues.append(
            Issue(
                "short_note",
                "warning",
                f"{len(short)} note(s) with fewer than {min_tokens} words after tokenising "
                f"({_listing(short)}): almost no text information; check that the column holds the full note",
                short,
            )
        )
    # A note can repeat honestly (a template such as "no cardiac symptoms"), unlike a film: never an error.
    issues += _duplicates(
        "duplicate_note",
        "identical notes",
        _groups(keys, ids),
        df,
        ("warning", "info"),
        (
            "a copied record leaks across the split, a template does not; check whether they are one visit",
            "a copied record counts twice, a template is harmless; check whether they are the same visit",
        ),
    )


def _file_checks(df: pd.DataFrame, base: Path, column: str, issues: list[Issue]) -> None:
    """ECG and video files: missing ones, and identical bytes (the same recording under two ids)."""
    keys: list[object] = [None] * len(df)
    missing = []
    for i, rel in enumerate(df[column].str.strip()):
        if not rel:
            continue
        path = Path(rel) if Path(rel).is_absolute() else base / rel
        if not path.is_file():
            missing.append(df.at[i, "id"])
            continue
        keys[i] = hashlib.sha256(path.read_bytes()).hexdigest()
    if missing:
        issues.append(
            Issue(
                "missing_file",
                "error",
                f"{len(missing)} {column} file(s) not found: {_listing(missing)}",
                missing,
            )
        )
    issues += _duplicates(
        f"duplicate_{column}", f"identical {column} files", _groups(keys, df["id"].to_numpy()), df
    )


def _balance_checks(df: pd.DataFrame, min_rows: int, max_ratio: float, issues: list[Issue]) -> dict:
    counts = pd.crosstab(df["label"], df["split"])
    classes = sorted(df["label"].unique())
    table = {
        s: {c: int(counts.at[c, s]) if s in counts.columns else 0 for c in classes}
        for s in ("train", "val", "test")
    }
    for split, per_class in table.items():
        absent = [c for c, k in per_class.items() if k == 0]
        if absent and sum(per_class.values()):
            why = "the model cannot learn it" if split == "train" else "its ROC-AUC there is undefined"
            issues.append(
                Issue("class_missing", "error", f"class(es) {absent} have no row in the {split} split: {why}")
            )
        few = [f"{c} ({k})" for c, k in per_class.items() if 0 < k < min_rows and split != "train"]
        if few:
            issues.append(
                Issue(
                    "class_small",
                    "warning",
                    f"the {split} split has fewer than {min_rows} rows of {', '.join(few)}: their metrics "
                    "will have very wide confidence intervals",
                )
            )
    train = [k for k in table["train"].values() if k > 0]
    if train and max(train) / min(train) > max_ratio:
        issues.append(
            Issue(
                "class_imbalance",
                "warning",
                f"the training split's largest class has {max(train) / min(train):.0f}x the rows of its "
                f"smallest ({table['train']}): accuracy will flatter the model; read macro ROC-AUC, PR-AUC "
                "and recall per class",
            )
        )
    return table


def check_data(
    data: str | Path | pd.DataFrame,
    root: str | Path | None = None,
    seed: int = 0,
    min_note_tokens: int = 3,
    min_class_rows: int = 5,
    max_class_ratio: float = 10.0,
    thumbnail_size: int = 16,
    near_duplicate_distance: float = 0.04,
) -> DataQualityReport:
    """Check a data folder (or a manifest DataFrame) before training on it (chapter 11; ``train --data``).

    The manifest is read as it is (unlike ``load_manifest``, nothing stops at the first problem), and every
    finding names its rows:

    * ``patient_in_several_splits`` (error): a patient's visits on both sides of a split;
    * ``duplicate_image`` (identical pixels), ``duplicate_ecg``/``duplicate_video`` (identical bytes): an
      error across splits, a warning within one; ``duplicate_note`` (identical up to case and spacing): a
      warning across splits, an "info" within one (short templated notes repeat honestly, as in the cohort's
      cardiac question);
    * ``near_duplicate_image`` (warning): images in different splits whose 16x16 thumbnails (mean 0, norm 1,
      so brightness and contrast do not count) are closer than ``near_duplicate_distance``: a film re-saved as
      JPEG, resized or re-windowed. 0.04 is below every pair of distinct cohort films (>= 0.06 across splits)
      and above a JPEG re-save at quality 30 (<= 0.03) or 3 % pixel noise (<= 0.035); a shifted or cropped
      copy is missed;
    * ``empty_note`` (info: the pipeline imputes it), ``short_note`` (warning: < ``min_note_tokens`` tokens);
    * ``class_missing`` (error), ``class_small`` (warning: < ``min_class_rows`` in val or test),
      ``class_imbalance`` (warning: largest / smallest training class > ``max_class_ratio``);
    * ``missing_file``, ``unreadable_file`` (errors).

    Without a ``split`` column the split is ``split_by_patient(seed=seed)``, the one ``train --data`` makes.
    A DataFrame's relative paths are taken from ``root`` (default: the working directory).
    """
    import time

    from crossmodal_lib.data.folder import SPLITS, split_by_patient

    start = time.perf_counter()
    df, base, source = _read_table(data, root)
    issues: list[Issue] = []
    blank = [c for c in ("id", "patient_id", "label") if (df[c].str.strip() == "").any()]
    if blank:
        raise ValueError(f"{source}: column(s) {blank} have empty cells; fill them before checking the data")
    dup_ids = df["id"][df["id"].duplicated()].unique().tolist()
    if dup_ids:
        issues.append(
            Issue(
                "duplicate_id",
                "error",
                f"{len(dup_ids)} id(s) occur more than once: {_listing(dup_ids)}",
                dup_ids,
            )
        )
    if "split" not in df.columns or (df["split"].str.strip() == "").all():
        df["split"] = split_by_patient(df, seed=seed).to_numpy()
        split_from = f"split_by_patient(seed={seed})"
    else:
        bad = df["id"][~df["split"].isin(SPLITS)].tolist()
        if bad:
            raise ValueError(f"{source}: rows {_listing(bad)} have a split outside {SPLITS}")
        split_from = "manifest"
    per_patient = df.groupby("patient_id")["split"].nunique()
    crossing = per_patient.index[per_patient > 1].tolist()
    if crossing:
        rows = df[df["patient_id"].isin(crossing)]
        where = "; ".join(
            f"{p}: {', '.join(sorted(rows.loc[rows['patient_id'] == p, 'split'].unique()))}"
            for p in crossing[:5]
        )
        issues.append(
            Issue(
                "patient_in_several_splits",
                "error",
                f"{len(crossing)} patient(s) in more than one split ({where}"
                f"{'; ...' if len(crossing) > 5 else ''}): their visits leak between training and test; "
                "split by patient (data.split_by_patient)",
                ids=rows["id"].tolist(),
                groups=[rows.loc[rows["patient_id"] == p, "id"].tolist() for p in crossing],
            )
        )
    class_counts = _balance_checks(df, min_class_rows, max_class_ratio, issues)
    modalities = {}
    for col in ("image", "text", "ecg", "video"):
        if col in df.columns:
            modalities[col] = int((df[col].str.strip() != "").sum())
    if "image" in df.columns:
        _image_checks(df, base, thumbnail_size, near_duplicate_distance, issues)
    if "text" in df.columns:
        _note_checks(df, min_note_tokens, issues)
    for col in ("ecg", "video"):
        if col in df.columns:
            _file_checks(df, base, col, issues)
    issues.sort(key=lambda i: SEVERITIES.index(i.severity))
    return DataQualityReport(
        source=source,
        n_rows=len(df),
        n_patients=int(df["patient_id"].nunique()),
        split_from=split_from,
        class_counts=class_counts,
        modalities=modalities,
        issues=issues,
        settings={
            "min_note_tokens": min_note_tokens,
            "min_class_rows": min_class_rows,
            "max_class_ratio": max_class_ratio,
            "thumbnail_size": thumbnail_size,
            "near_duplicate_distance": near_duplicate_distance,
        },
        seconds=round(time.perf_counter() - start, 3),
    )


def format_report(report: DataQualityReport, source: str | None = None, timing: bool = True) -> str:
    """The report as text for a terminal or a notebook: counts per split and class, then every finding.

    ``source`` names the data in the first line in place of ``report.source`` (a short name instead of one
    machine's path); ``timing=False`` leaves out the seconds the checks took, so that the text is the same on
    every run (chapter 11 prints it so).
    """
    took = f" ({report.seconds:.1f} s)" if timing else ""
    lines = [
        f"data quality of {report.source if source is None else source}: {report.n_rows} rows, "
        f"{report.n_patients} patients, split from {report.split_from}{took}",
        "  modalities present: "
        + ", ".join(f"{m} {k}/{report.n_rows}" for m, k in report.modalities.items()),
    ]
    classes = sorted({c for per in report.class_counts.values() for c in per})
    width = max(len(c) for c in classes) if classes else 5
    lines.append("  " + "class".ljust(width) + "".join(f"{s:>8}" for s in report.class_counts))
    for c in classes:
        lines.append(
            "  " + c.ljust(width) + "".join(f"{per.get(c, 0):8d}" for per in report.class_counts.values())
        )
    if not report.issues:
        lines.append("  no problem found")
    for issue in report.issues:
        lines.append(f"  {issue.severity.upper():7s} [{issue.check}] {issue.message}")
    errors = sum(i.severity == "error" for i in report.issues)
    warnings = sum(i.severity == "warning" for i in report.issues)
    lines.append(f"  {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)
