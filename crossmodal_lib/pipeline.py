"""Chapter 05: the whole course pipeline as one call, ``python -m crossmodal_lib train --data DIR --out RUNDIR``.

    load the manifest -> split by patient (when it has no split column) -> preprocess each modality
    -> F_x = CNN(X), F_y = Word2Vec(Y), F_s = CNN(ECG), F_v = CNN(clip), F_t = (age, sex): those the data has
    -> a model per modality, early, joint, late and gated fusion -> test-split metrics with bootstrap CIs
    -> metrics.json and the evaluation chapter's figures (PNG)

Chapters 04 and 05 call the same functions (``cohort_features``, ``fit_models``, ``predict``, ``evaluate_run``)
with the same seeds, so the numbers in the notebooks and in ``metrics.json`` agree.

Missing modalities (a row with ``image == ""`` or an empty note) are never dropped silently; they are counted,
reported, and handled so: the CNN and Word2Vec are trained only on rows that have their modality; for a row without
it the modality's features are the training rows' mean feature vector (mean imputation) and an indicator column
``missing`` (1 for such rows) is appended to that block; the joint model sees a blank (all-zero) image. The
indicator column exists only when some row of the data set lacks the modality, so the cohort (complete) has
F_x and F_y of exactly ``feature_dim`` and ``vector_size`` columns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal_lib import evaluate
from crossmodal_lib.data import IMAGE_FINDINGS, NOTE_FINDINGS

__all__ = [
    "EPOCHS",
    "FUSION_MODELS",
    "MODALITIES",
    "MODELS",
    "IMAGE_RECIPE",
    "PROBE_FINDINGS",
    "SINGLE_MODELS",
    "COHORT_SPECIALISTS",
    "STACKED_MLP",
    "CohortFeatures",
    "FindingInputs",
    "StagedFeatures",
    "budget",
    "cohort_features",
    "evaluate_run",
    "feature_probes",
    "finding_inputs",
    "fit_finding_fusion",
    "fit_models",
    "fit_stacked",
    "load_data",
    "predict",
    "split_mask",
    "staged_features",
    "train",
]

#: Training budgets as (full, fast): epochs of each model (early stopping ends most runs sooner), and
#: the bootstrap's number of resamples.
EPOCHS: dict[str, tuple[int, int]] = {
    "cnn": (40, 15),
    "ecg_cnn": (25, 10),
    "video_cnn": (25, 10),
    "word2vec": (30, 15),
    "mlp": (150, 60),
    "mlp_patience": (10, 5),
    "joint": (15, 3),
    "bootstrap": (1000, 200),
}
#: The modalities the pipeline reads, and the CohortFeatures field that holds each one's features: the manifest's
#: image, text, ecg and video columns, and "tabular" (age and sex, chapter 09).
MODALITIES = {"image": "F_x", "text": "F_y", "ecg": "F_s", "video": "F_v", "tabular": "F_t"}
#: Modalities taken only when asked for: age and sex are in most manifests but are not a measurement of the question.
ON_REQUEST = ("tabular",)
#: The article's pair, which chapters 04-05 fuse; ``train --data`` uses every modality the manifest has.
IMAGE_AND_TEXT = ("image", "text")
SINGLE_MODELS = tuple(f"{m} only" for m in IMAGE_AND_TEXT)
FUSION_MODELS = ("early fusion", "joint fusion", "late fusion", "gated fusion")
MODELS = SINGLE_MODELS + FUSION_MODELS
#: The staged model's name in tables and metrics.json (``fit_stacked``; only with specialists, chapter 09).
STACKED_MODEL = "stacked fusion"
#: The staged model's MLPs: wider and more regularised than chapter 04's, because over many blocks the default one
#: stopped after 9 epochs under one arithmetic and 21 under another (oneDNN), and its AUC moved by 0.06.
STACKED_MLP = {"hidden": 128, "dropout": 0.5}
#: The capstone's specialists (chapter 09): each clinic's question in the embedded cohort and what its clinic reads.
COHORT_SPECIALISTS = {"chest": ("image", "text"), "cardiac": ("ecg", "text"), "motion": ("video", "text")}
FEATURE_DIM = 64
#: The image recipe's settings in the pipeline (``features.image_recipe.ImageRecipe``; its epochs: ``EPOCHS["cnn"]``):
#: chapter 01's augmentation ranges and chapter 02's width (``build_cnn``'s default filters), at the input side of the
#: images (``image_size``), so that the CNN also starts the joint model and serves chapters 10-12 on the same pixels.
IMAGE_RECIPE = {"augment_strength": 1.0, "zoom": 0.0, "filters": (8, 16, 32)}
SIGNAL_FEATURE_DIM = 32
VIDEO_FEATURE_DIM = 32
VECTOR_SIZE = 64
WEIGHTING = "tfidf"


def budget(name: str, fast: bool) -> int:
    """The budget (epochs or resamples) for ``name`` in :data:`EPOCHS`, full or fast (chapter 04)."""
    if name not in EPOCHS:
        raise ValueError(f"no budget named {name!r}; known: {sorted(EPOCHS)}")
    full, quick = EPOCHS[name]
    return quick if fast else full


def _log(verbose: bool, message: str) -> None:
    if verbose:
        print(message, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Data and features
# ----------------------------------------------------------------------------------------------------------------
def load_data(data_dir: str | Path, seed: int = 0) -> pd.DataFrame:
    """The manifest of ``data_dir`` with a ``split`` column (``split_by_patient`` when it has none) (chapter 05).

    Adds a boolean column ``has_<modality>`` per modality of :data:`MODALITIES` (False where the manifest has no
    such column; a note of only whitespace counts as missing; tabular needs both age and sex).
    """
    from crossmodal_lib.data import load_manifest, split_by_patient

    df = load_manifest(data_dir).reset_index(drop=True)
    if "split" not in df.columns or (df["split"] == "").all():
        df["split"] = split_by_patient(df, seed=seed).to_numpy()
    for name in ("train", "val", "test"):
        if not (df["split"] == name).any():
            raise ValueError(f"{Path(data_dir) / 'manifest.csv'}: the {name} split is empty")
    for name in MODALITIES:
        if name == "tabular":
            present = [df[c].str.strip() != "" for c in ("age", "sex") if c in df.columns]
            df["has_tabular"] = present[0] & present[1] if len(present) == 2 else False
        else:
            df[f"has_{name}"] = df[name].str.strip() != "" if name in df.columns else False
    return df


def _classes(labels: pd.Series) -> tuple[str, ...]:
    """The class order: the cohort question's own (normal first) when the labels are one of them, else sorted."""
    from crossmodal_lib.data import CARDIAC_CLASSES, CLASSES, MOTION_CLASSES, TRIAGE_CLASSES

    found = sorted(labels.unique().tolist())
    for classes in (CLASSES, CARDIAC_CLASSES, MOTION_CLASSES, TRIAGE_CLASSES):
        if set(found) <= set(classes):
            return tuple(classes)
    return tuple(found)


def split_mask(frame: pd.DataFrame, split: str) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` in one split ("train", "val" or "test")."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    return (frame["split"] == split).to_numpy()


@dataclass
class CohortFeatures:
    """Per-row features of a data set, with its split and labels (chapter 04).

    ``modalities`` are the ones the features were made for; each has its block (None otherwise): ``F_x`` = CNN(X)
    and ``F_y`` = Word2Vec(Y) (chapters 02-03), ``F_s`` = CNN(ECG) (chapter 07), ``F_v`` = CNN(video) (chapter
    08), ``F_t`` = age and sex (chapter 09), each imputed where missing (see the module's docstring). ``images``
    (n, size, size, 1) in [0, 1] (zeros where the image is missing); ``y`` integer labels indexing ``classes``;
    ``frame`` the manifest rows (id, patient_id, label, split, has_<modality>); ``cnn`` the trained CNN that made
    F_x (the joint model starts from it).
    """

    frame: pd.DataFrame
    classes: tuple[str, ...]
    y: np.ndarray
    images: np.ndarray | None
    F_x: np.ndarray | None
    F_y: np.ndarray | None
    info: dict = field(default_factory=dict)
    cnn: object | None = field(default=None, repr=False)
    F_s: np.ndarray | None = None
    modalities: tuple[str, ...] = IMAGE_AND_TEXT
    F_v: np.ndarray | None = None
    F_t: np.ndarray | None = None

    def mask(self, split: str) -> np.ndarray:
        """Boolean row mask of one split ("train", "val" or "test")."""
        return split_mask(self.frame, split)

    def part(self, split: str) -> dict[str, np.ndarray]:
        """The arrays of one split: images, every feature block (F_x, F_y, ...; None when not made), y, patient_id."""
        m = self.mask(split)
        arrays = {"images": self.images, **{f: getattr(self, f) for f in MODALITIES.values()}}
        return {
            **{name: None if a is None else a[m] for name, a in arrays.items()},
            "y": self.y[m],
            "patient_id": self.frame["patient_id"].to_numpy()[m],
        }

    def blocks(self, split: str) -> dict[str, np.ndarray]:
        """The features of one split by modality, {"image": F_x, "text": F_y, ...}: what the fusion models take."""
        m = self.mask(split)
        return {name: getattr(self, MODALITIES[name])[m] for name in self.modalities}

    def missing_counts(self) -> dict[str, dict[str, int]]:
        """Rows without each modality (an image, a note, an ECG, ...), per split."""
        out = {}
        for name in self.modalities:
            has = self.frame[f"has_{name}"]
            out[name] = {s: int((~has & self.mask(s)).sum()) for s in ("train", "val", "test")}
        return out


#: Which hidden findings each modality's features should know (``findings.csv``; the data card's rule).
PROBE_FINDINGS = {"image": IMAGE_FINDINGS, "text": NOTE_FINDINGS}


def feature_probes(features: CohortFeatures, findings: pd.DataFrame) -> pd.DataFrame:
    """Linear probes (``evaluate.linear_probe``) of F_x on the image findings and F_y on the note's syndromes,
    trained on the training rows and scored on the test rows (chapters 02, 03; ``make bench``).

    ``findings`` is the cohort's ``findings.csv`` (``data.load_findings``), matched to the rows by ``id``; a row
    without its findings is an error naming the id. Returns one row per (modality, finding) with its test ROC-AUC.
    """
    truth = findings.set_index("id")
    missing = sorted(set(features.frame["id"]) - set(truth.index))
    if missing:
        raise ValueError(f"findings has no row for id {missing[0]!r} ({len(missing)} ids missing)")
    truth = truth.loc[features.frame["id"]]
    train, test = features.mask("train"), features.mask("test")
    tables = []
    for modality, names in PROBE_FINDINGS.items():
        block = getattr(features, MODALITIES[modality])
        if modality not in features.modalities or block is None:
            continue
        table = evaluate.linear_probe(
            block[train], truth[list(names)][train], block[test], truth[list(names)][test]
        )
        tables.append(table.assign(modality=modality).reset_index())
    if not tables:
        raise ValueError(f"no image or text features to probe (modalities: {features.modalities})")
    return pd.concat(tables, ignore_index=True)[["modality", "finding", "roc_auc", "prevalence", "n_test"]]


def _impute(F: np.ndarray, present: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Mean-impute rows without the modality and append a missing-indicator column when any row lacks it."""
    if present.all():
        return F
    source = present & train
    if not source.any():
        raise ValueError("no training row has this modality; it cannot be learnt")
    F = F.copy()
    F[~present] = F[source].mean(axis=0)
    return np.hstack([F, (~present).astype(np.float32)[:, None]])


def _cache_key(
    df: pd.DataFrame, data_dir: Path, fast: bool, seed: int, image_size: int, modalities: tuple[str, ...]
) -> str:
    """A hash of everything the features depend on: the manifest, every file it names, the settings and the code."""
    import hashlib
    import importlib
    import inspect

    from crossmodal_lib.course import tf_threads

    h = hashlib.sha256()
    h.update((data_dir / "manifest.csv").read_bytes())
    for name in ("image", "ecg", "video"):
        if name in modalities:
            for path in df[name]:
                if path:
                    h.update(Path(path).read_bytes())
    settings = [
        fast,
        seed,
        image_size,
        {name: EPOCHS[name] for name in ("cnn", "word2vec", "ecg_cnn", "video_cnn")},
        FEATURE_DIM,
        VECTOR_SIZE,
        WEIGHTING,
        modalities,
        SIGNAL_FEATURE_DIM,
        VIDEO_FEATURE_DIM,
        # The arithmetic: another thread count or oneDNN trains a CNN with other last digits.
        os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        tf_threads(),
    ]
    h.update(repr(settings).encode())
    code = {"image": ("image",), "text": ("text",), "ecg": ("signal",), "video": ("video",), "tabular": ()}
    for name in modalities:
        for step in code[name]:
            for package in ("features", "preprocess"):
                h.update(
                    inspect.getsource(importlib.import_module(f"crossmodal_lib.{package}.{step}")).encode()
                )
    if "image" in modalities:
        h.update(inspect.getsource(importlib.import_module("crossmodal_lib.features.image_recipe")).encode())
        h.update(repr(IMAGE_RECIPE).encode())
    if "tabular" in modalities:
        h.update(inspect.getsource(importlib.import_module("crossmodal_lib.preprocess.tabular")).encode())
    h.update(inspect.getsource(cohort_features).encode())
    h.update(inspect.getsource(_sequence_features).encode())
    return h.hexdigest()[:16]


def cohort_features(
    data_dir: str | Path,
    fast: bool = False,
    seed: int = 0,
    image_size: int = 64,
    verbose: bool = False,
    cache_dir: str | Path | None = None,
    modalities: Sequence[str] | None = None,
) -> CohortFeatures:
    """Chapters 01-03 (and 07-09) in one call: load, split, preprocess, one feature block per modality (chapter 04).

    ``modalities``: any of :data:`MODALITIES`: ``"image"`` (F_x = CNN(X), chapter 02), ``"text"`` (F_y =
    Word2Vec(Y), chapter 03), ``"ecg"`` (F_s, chapter 07's 1-D CNN), ``"video"`` (F_v, chapter 08's clip CNN),
    ``"tabular"`` (F_t = age and sex, chapter 09); ``None`` takes every modality the manifest has (tabular only
    when asked for). Chapters 04-05 ask for ``("image", "text")``, the article's pair.

    Each encoder is trained on the training rows and chooses when to stop on the validation rows (the image CNN is
    the benchmark's recipe, ``features.image_recipe.ImageRecipe``, with :data:`IMAGE_RECIPE` and ``EPOCHS["cnn"]``:
    a snapshot window and test-time views chosen on validation; ``cnn`` is its averaged model); Word2Vec and the IDF
    weights (``features.text``) are fit on the training notes only, so no test information leaks into the
    features. Deterministic for a given seed.

    ``cache_dir``: keep the feature blocks (``.npz``, loaded with ``allow_pickle=False``) and the image CNN's weights
    (``.weights.h5``; the CNN is rebuilt by ``build_cnn``) there, under a hash of the data, the settings and the
    code; a second call with the same inputs loads them instead of training again (chapters 04 and 05 share them).
    The results are the same with or without the cache.
    """
    data_dir = Path(data_dir)
    df = load_data(data_dir, seed=seed)
    classes = _classes(df["label"])
    y = np.array([classes.index(label) for label in df["label"]], dtype=np.int64)
    train, val = (df["split"] == "train").to_numpy(), (df["split"] == "val").to_numpy()
    modalities = _check_modalities(modalities, df, data_dir)
    _log(
        verbose,
        f"  {len(df)} rows, {int(train.sum())} train / {int(val.sum())} val / {int((~train & ~val).sum())} test",
    )
    _log(verbose, "  rows without " + ", ".join(f"{m}: {int((~df[f'has_{m}']).sum())}" for m in modalities))
    frame = df[["id", "patient_id", "label", "split", *(f"has_{m}" for m in MODALITIES)]].copy()
    images = None
    if "image" in modalities:  # preprocess the images (chapter 01)
        from crossmodal_lib.data import read_images
        from crossmodal_lib.preprocess.image import prepare_images

        has_image = df["has_image"].to_numpy()
        images = np.zeros((len(df), image_size, image_size, 1), dtype=np.float32)
        if has_image.any():
            images[has_image] = prepare_images(read_images(df.loc[has_image]), size=image_size)

    def result(arrays: dict, info: dict, cnn: object | None) -> CohortFeatures:
        blocks = {f: arrays.get(f) for f in MODALITIES.values()}
        return CohortFeatures(frame, classes, y, images, info=info, cnn=cnn, modalities=modalities, **blocks)

    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        key = _cache_key(df, data_dir, fast, seed, image_size, modalities)
        npz, weights_file = cache_dir / f"features-{key}.npz", cache_dir / f"cnn-{key}.weights.h5"
        if npz.is_file() and (weights_file.is_file() or "image" not in modalities):
            with np.load(npz, allow_pickle=False) as stored:
                cached = {name: stored[name] for name in stored.files}
            info, cnn = json.loads(str(cached.pop("info"))), None
            if "image" in modalities:
                # The CNN is rebuilt from its code and only its weights are read: nothing in the file can run code.
                from crossmodal_lib.features.image import build_cnn

                cnn = build_cnn(
                    images.shape[1:],
                    info["cnn_outputs"],
                    feature_dim=FEATURE_DIM,
                    seed=seed,
                    filters=IMAGE_RECIPE["filters"],
                )
                cnn.load_weights(weights_file)
            _log(verbose, "  features loaded from the cache")
            return result(cached, info, cnn)

    arrays, info, cnn = {}, {}, None
    if (
        "image" in modalities
    ):  # F_x = CNN(X): the image recipe on the training rows with an image (chapter 02)
        from crossmodal_lib.features.image_recipe import ImageRecipe

        has_image = df["has_image"].to_numpy()
        fit_rows, val_rows = train & has_image, val & has_image
        if not fit_rows.any() or not val_rows.any():
            raise ValueError("the train and val splits each need at least one row with an image")
        epochs = budget("cnn", fast)
        _log(verbose, f"  training the CNN ({epochs} epochs; snapshot window and views chosen on val) ...")
        recipe = ImageRecipe(
            image_size=image_size, epochs=epochs, seed=seed, feature_dim=FEATURE_DIM, **IMAGE_RECIPE
        ).fit(images[fit_rows], y[fit_rows], images[val_rows], y[val_rows])
        cnn = recipe.model_
        arrays["F_x"] = _impute(recipe.transform(images).astype(np.float32), has_image, train)
        chosen = recipe.chosen
        info |= {
            "cnn_epochs": epochs,
            "cnn_outputs": recipe.n_outputs_,
            "cnn_window": chosen["window"],
            "cnn_views": chosen["views"],
            "cnn_val_auc": chosen["val_auc"],
        }
    if "text" in modalities:  # tokenise (chapter 01), Word2Vec and IDF on the training notes (chapter 03)
        from crossmodal_lib.preprocess.text import tokenize_all

        has_text = df["has_text"].to_numpy()
        tokens: list[list[str]] = [[] for _ in range(len(df))]
        for i, toks in zip(
            np.flatnonzero(has_text), tokenize_all(df.loc[has_text, "text"].tolist()), strict=True
        ):
            tokens[i] = toks
        _log(verbose, f"  training Word2Vec on {int((train & has_text).sum())} training notes ...")
        F_y, kv, _ = text_features(tokens, train & has_text, fast, seed)
        arrays["F_y"] = _impute(F_y.astype(np.float32), has_text, train)
        info |= {"word2vec_vocabulary": len(kv), "weighting": WEIGHTING}
    for name in ("ecg", "video"):  # F_s = CNN(ECG) (chapter 07), F_v = CNN(clip) (chapter 08)
        if name in modalities:
            F, info[f"{name}_cnn_epochs_run"] = _sequence_features(
                name, df, y, len(classes), fast, seed, verbose, cache_dir
            )
            arrays[MODALITIES[name]] = _impute(F, df[f"has_{name}"].to_numpy(), train)
    if "tabular" in modalities:  # age and sex (chapter 09)
        from crossmodal_lib.preprocess.tabular import prepare_tabular

        has_tabular = df["has_tabular"].to_numpy()
        arrays["F_t"] = _impute(prepare_tabular(df, fit_rows=train & has_tabular), has_tabular, train)
    if cache_dir is not None:
        # Write under temporary names, then rename: two notebooks running at once never read half a file.
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = f".tmp-{os.getpid()}"
        with open(cache_dir / f"features-{key}{tmp}.npz", "wb") as fh:
            np.savez(fh, **arrays, info=np.array(json.dumps(info)))
        if cnn is not None:
            cnn.save_weights(cache_dir / f"cnn-{key}{tmp}.weights.h5")
            os.replace(cache_dir / f"cnn-{key}{tmp}.weights.h5", weights_file)
        os.replace(cache_dir / f"features-{key}{tmp}.npz", npz)
    return result(arrays, info, cnn)


def text_features(
    tokens: Sequence[Sequence[str]],
    train: np.ndarray,
    fast: bool = False,
    seed: int = 0,
    vector_size: int = VECTOR_SIZE,
    pooling: str = "mean",
) -> tuple[np.ndarray, object, dict[str, float]]:
    """F_y of every note from its tokens, the course's way (chapter 03): Word2Vec and IDF fitted on the ``train``
    rows only, then the IDF-weighted mean of the word vectors (``pooling``: see ``document_vectors``; chapter
    14). Returns ``(F_y, word vectors, idf)``; any tokenizer's output works (English words, Chinese words or
    characters: chapters 12, 13)."""
    from crossmodal_lib.features.text import document_vectors, fit_idf, train_word2vec

    train_tokens = [tokens[i] for i in np.flatnonzero(train)]
    kv = train_word2vec(train_tokens, vector_size=vector_size, epochs=budget("word2vec", fast), seed=seed)
    idf = fit_idf(train_tokens)
    return document_vectors(kv, tokens, weighting=WEIGHTING, idf=idf, pooling=pooling), kv, idf


def _check_modalities(modalities: Sequence[str] | None, df: pd.DataFrame, data_dir: Path) -> tuple[str, ...]:
    """The modalities to build, in MODALITIES order: the asked ones, or every one the manifest has."""
    available = [m for m in MODALITIES if df[f"has_{m}"].any()]
    if modalities is None:
        modalities = [m for m in available if m not in ON_REQUEST]
        if not modalities:
            raise ValueError(
                f"{data_dir / 'manifest.csv'} has no modality with data; it needs {list(MODALITIES)}"
            )
    if isinstance(modalities, str):
        modalities = [modalities]
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modality {unknown}; the pipeline knows {list(MODALITIES)}")
    if not modalities:
        raise ValueError("no modality asked for")
    absent = [m for m in modalities if m not in available]
    if absent:
        what = "age and sex columns" if absent[0] == "tabular" else f"{absent[0]} files"
        raise ValueError(f"modality {absent} asked for, but {data_dir / 'manifest.csv'} has no {what}")
    return tuple(m for m in MODALITIES if m in modalities)


def _sequence_features(
    name: str,
    df: pd.DataFrame,
    y: np.ndarray,
    n_classes: int,
    fast: bool,
    seed: int,
    verbose: bool,
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, int]:
    """F_s = CNN(ECG) or F_v = CNN(clip) for the rows that have one (zeros elsewhere, imputed by the caller).

    Chapters 07 and 08: read the files, prepare them, train the encoder with ``train_cnn`` (no augmentation) on the
    training rows with early stopping on the validation rows, read its ``features`` layer. With ``cache_dir`` the
    training is the one chapters 07 and 08 store there, so it is loaded rather than repeated when they ran first.
    """
    from crossmodal_lib.features.image import train_cnn

    rows = np.flatnonzero(df[f"has_{name}"].to_numpy())
    if name == "ecg":
        from crossmodal_lib.data import read_ecgs
        from crossmodal_lib.data.folder import ECG_HZ
        from crossmodal_lib.features.signal import build_signal_cnn, signal_features
        from crossmodal_lib.preprocess.signal import prepare_signals

        x = prepare_signals(read_ecgs(df.iloc[rows]), fs=ECG_HZ)
        dim, extract = SIGNAL_FEATURE_DIM, signal_features
        model = build_signal_cnn(x.shape[1], x.shape[2], n_classes=n_classes, feature_dim=dim, seed=seed)
    else:
        from crossmodal_lib.data import read_videos
        from crossmodal_lib.features.video import build_video_cnn, video_features
        from crossmodal_lib.preprocess.video import prepare_clips

        x = prepare_clips(read_videos(df.iloc[rows]))
        dim, extract = VIDEO_FEATURE_DIM, video_features
        model = build_video_cnn(*x.shape[1:4], n_classes=n_classes, feature_dim=dim, seed=seed)
    split = df["split"].to_numpy()[rows]
    fit, val = split == "train", split == "val"
    if not fit.any() or not val.any():
        raise ValueError(f"the train and val splits each need at least one row with {name}")
    epochs = budget(f"{name}_cnn", fast)
    _log(verbose, f"  training the {name} CNN on {int(fit.sum())} rows ({epochs} epochs at most) ...")
    history = train_cnn(
        model,
        x[fit],
        y[rows][fit],
        x[val],
        y[rows][val],
        epochs=epochs,
        seed=seed,
        augment=False,
        cache_dir=cache_dir,
    )
    F = np.zeros((len(df), dim), dtype=np.float32)
    F[rows] = extract(model, x)
    return F, len(history.history["loss"])


@dataclass
class StagedFeatures:
    """A question's rows with the features and labels of the questions it builds on (chapter 09).

    ``target``: the question's own rows (``frame``, ``classes``, ``y``, splits; no feature block);
    ``specialists``: {name: that question's CohortFeatures, its rows in the target's order}. The blocks of
    specialist q are named ``"<q>_<modality>"`` ("cardiac_ecg", "cardiac_text", ...).
    """

    target: CohortFeatures
    specialists: dict[str, CohortFeatures]

    def blocks(self, split: str) -> dict[str, np.ndarray]:
        """Every specialist's feature blocks on one split, {"<specialist>_<modality>": array}."""
        return {
            f"{q}_{m}": block for q, f in self.specialists.items() for m, block in f.blocks(split).items()
        }

    def groups(self) -> dict[str, tuple[str, ...]]:
        """Each specialist's block names, {specialist: ("<q>_image", "<q>_text")}: ``StackedFusion``'s groups."""
        return {q: tuple(f"{q}_{m}" for m in f.modalities) for q, f in self.specialists.items()}

    def targets(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each specialist's own labels on the training and validation rows: ``StackedFusion``'s targets."""
        return {q: (f.part("train")["y"], f.part("val")["y"]) for q, f in self.specialists.items()}


def _rows_like(features: CohortFeatures, ids: pd.Series, name: str, splits: pd.Series) -> CohortFeatures:
    """``features`` with its rows in the order of ``ids``; every id must be there, in the same split."""
    position = pd.Series(np.arange(len(features.frame)), index=features.frame["id"].to_numpy())
    absent = ids[~ids.isin(position.index)]
    if len(absent):
        raise ValueError(
            f"specialist {name!r} has no row for id {absent.iloc[0]!r} ({len(absent)} ids missing)"
        )
    rows = position[ids.to_numpy()].to_numpy()
    frame = features.frame.iloc[rows].reset_index(drop=True)
    moved = frame["split"].to_numpy() != splits.to_numpy()
    if moved.any():
        i = int(np.flatnonzero(moved)[0])
        raise ValueError(
            f"id {ids.iloc[i]!r} is in the {splits.iloc[i]} split but in {frame['split'].iloc[i]} for specialist "
            f"{name!r}: a specialist trained on a test row would leak it"
        )
    blocks = {
        f: None if getattr(features, f) is None else getattr(features, f)[rows] for f in MODALITIES.values()
    }
    return CohortFeatures(
        frame,
        features.classes,
        features.y[rows],
        None if features.images is None else features.images[rows],
        info=features.info,
        cnn=features.cnn,
        modalities=features.modalities,
        **blocks,
    )


def staged_features(
    data_dir: str | Path,
    specialists: dict[str, str | Path | tuple[str | Path, Sequence[str]]],
    fast: bool = False,
    seed: int = 0,
    image_size: int = 64,
    verbose: bool = False,
    cache_dir: str | Path | None = None,
) -> StagedFeatures:
    """The rows of ``data_dir`` with the features of the questions they build on (chapter 09).

    ``specialists`` maps a name to a folder (every modality it has) or to ``(folder, modalities)``. Each folder's
    features come from :func:`cohort_features`, their encoders trained on *that folder's* question (a clinic's
    diagnosis), which teaches them what their modality shows; ``data_dir`` supplies the final labels and splits.
    Every row of ``data_dir`` must be in every specialist folder (matched by ``id``) and in the same split.
    """
    data_dir = Path(data_dir)
    df = load_data(data_dir, seed=seed)
    classes = _classes(df["label"])
    y = np.array([classes.index(label) for label in df["label"]], dtype=np.int64)
    frame = df[["id", "patient_id", "label", "split", *(f"has_{m}" for m in MODALITIES)]].copy()
    target = CohortFeatures(frame, classes, y, None, None, None, modalities=())
    if not specialists:
        raise ValueError(
            "specialists is empty; name at least one folder, e.g. {'cardiac': 'data/cohort/cardiac'}"
        )
    found = {}
    for name, where in specialists.items():
        folder, modalities = (where, None) if isinstance(where, str | Path) else where
        _log(verbose, f"  specialist {name}: features of {folder}")
        features = cohort_features(
            folder,
            fast=fast,
            seed=seed,
            image_size=image_size,
            verbose=verbose,
            cache_dir=cache_dir,
            modalities=modalities,
        )
        found[name] = _rows_like(features, df["id"], name, df["split"])
    return StagedFeatures(target, found)


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------
def fit_models(
    features: CohortFeatures,
    fast: bool = False,
    seed: int = 0,
    models: tuple[str, ...] | None = None,
    verbose: bool = False,
) -> dict[str, object]:
    """Fit the course's models on the training split, early-stopping on the validation split (chapter 04).

    Names: "<modality> only" for each modality ("image only", "text only", ... ``SingleModality``), and with two
    or more modalities "early fusion" (``EarlyFusion``), "joint fusion" (``JointFusion``, when there are images),
    "late fusion" (``LateFusion`` over the single-modality models, weights chosen on the validation split) and
    "gated fusion" (``GatedFusion``).
    """
    from crossmodal_lib import fusion

    singles = tuple(f"{m} only" for m in features.modalities)
    fusions = () if len(features.modalities) < 2 else FUSION_MODELS
    if "image" not in features.modalities:  # joint fusion trains the image CNN end to end
        fusions = tuple(m for m in fusions if m != "joint fusion")
    known = singles + fusions
    models = known if models is None else models
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(known)}")
    k = len(features.classes)
    mlp = {
        "n_classes": k,
        "epochs": budget("mlp", fast),
        "patience": budget("mlp_patience", fast),
        "seed": seed,
    }
    tr, va = features.blocks("train"), features.blocks("val")
    y_tr, y_va = features.part("train")["y"], features.part("val")["y"]
    fitted: dict[str, object] = {}
    needed = set(models) | (set(singles) if "late fusion" in models else set())
    for name in known:
        if name not in needed:
            continue
        _log(verbose, f"  fitting {name} ...")
        if name in singles:
            m = name.removesuffix(" only")
            fitted[name] = fusion.SingleModality(**mlp).fit(
                {m: tr[m]}, y_tr, validation_data=({m: va[m]}, y_va)
            )
        elif name == "early fusion":
            fitted[name] = fusion.EarlyFusion(**mlp).fit(tr, y_tr, validation_data=(va, y_va))
        elif name == "gated fusion":
            fitted[name] = fusion.GatedFusion(**mlp).fit(tr, y_tr, validation_data=(va, y_va))
        elif name == "joint fusion":
            joint = fusion.JointFusion(
                n_classes=k, epochs=budget("joint", fast), patience=3, seed=seed, image_model=features.cnn
            )
            fitted[name] = joint.fit(
                _with_pixels(tr, features, "train"),
                y_tr,
                validation_data=(_with_pixels(va, features, "val"), y_va),
            )
        elif name == "late fusion":
            p_val = {m.removesuffix(" only"): fitted[m].predict_proba(_single(va, m)) for m in singles}
            fitted[name] = fusion.LateFusion().fit(p_val, y_va)
    return {name: fitted[name] for name in known if name in fitted}


def fit_stacked(staged: StagedFeatures, fast: bool = False, seed: int = 0) -> object:
    """The staged model of chapter 09: ``fusion.StackedFusion`` with one specialist per question of ``staged``,
    each trained on its own question, and a head on the final one (settings :data:`STACKED_MLP`)."""
    from crossmodal_lib import fusion

    model = fusion.StackedFusion(
        staged.groups(),
        n_classes=len(staged.target.classes),
        specialist_classes={q: len(f.classes) for q, f in staged.specialists.items()},
        epochs=budget("mlp", fast),
        patience=budget("mlp_patience", fast),
        seed=seed,
        **STACKED_MLP,
    )
    return model.fit(
        staged.blocks("train"),
        staged.target.part("train")["y"],
        validation_data=(staged.blocks("val"), staged.target.part("val")["y"]),
        targets=staged.targets(),
    )


#: Chapter 14's findings-first model: the image specialist's input side and epochs, as (full, fast). Twice the
#: film's side lets the stride-2 first convolution keep a nodule's detail (the nodule's test AUC, measured: 0.55 at
#: 64 px and 15 epochs, 0.86 at 128 px and 60 epochs, 0.95 at 128 px and 100 epochs). The note's F_y keeps each dimension's extremes beside the average, in 128
#: dimensions: on the validation split's weak labels the note specialist scored 0.957 (64) and 0.995 (128).
FINDING_IMAGE_SIZE = (128, 64)
FINDING_EPOCHS = (100, 15)
FINDING_POOLING = "mean+max+min"
FINDING_VECTOR_SIZE = 128


@dataclass
class FindingInputs:
    """What chapter 14's findings-first model reads, for the rows of ``frame`` (all splits).

    ``images`` the films at the specialist's side; ``F_y`` the notes' pooled Word2Vec features; ``report_labels``
    and ``note_labels`` the weak labels (``preprocess.mentioned_findings``) of ``image_findings`` and
    ``note_findings``; ``y`` the diagnosis; ``frame`` id, patient_id, label, split.
    """

    frame: pd.DataFrame
    classes: tuple[str, ...]
    y: np.ndarray
    images: np.ndarray
    F_y: np.ndarray
    report_labels: np.ndarray
    note_labels: np.ndarray
    image_findings: tuple[str, ...]
    note_findings: tuple[str, ...]

    def mask(self, split: str) -> np.ndarray:
        """Boolean row mask of one split ("train", "val" or "test")."""
        return split_mask(self.frame, split)

    def blocks(self, split: str) -> dict[str, np.ndarray]:
        """{"image": pixels, "text": F_y} of one split: what the model's specialists read."""
        m = self.mask(split)
        return {"image": self.images[m], "text": self.F_y[m]}

    def targets(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each specialist's weak labels on the training and validation rows: ``StackedFusion``'s targets."""
        train, val = self.mask("train"), self.mask("val")
        return {
            "image": (self.report_labels[train], self.report_labels[val]),
            "text": (self.note_labels[train], self.note_labels[val]),
        }


def finding_inputs(data_dir: str | Path, fast: bool = False, seed: int = 0) -> FindingInputs:
    """Chapter 14's inputs from a data folder whose manifest has a ``report`` beside each image and note: the
    films at ``FINDING_IMAGE_SIZE``, the notes' F_y with ``FINDING_POOLING`` and ``FINDING_VECTOR_SIZE``
    (``text_features``: Word2Vec and IDF fitted on the training notes), and weak labels read from the report (``CHEST_REPORT_TERMS``) and
    from the note (``CHEST_NOTE_TERMS``). Every row needs all three texts and its image."""
    from crossmodal_lib.data import read_images
    from crossmodal_lib.preprocess.image import prepare_images
    from crossmodal_lib.preprocess.text import (
        CHEST_NOTE_TERMS,
        CHEST_REPORT_TERMS,
        mentioned_findings,
        tokenize_all,
    )

    data_dir = Path(data_dir)
    df = load_data(data_dir, seed=seed)
    if "report" not in df.columns:
        raise ValueError(
            f"{data_dir / 'manifest.csv'} has no report column: the image's weak labels come from it"
        )
    for column in ("image", "text", "report"):
        empty = df[column].str.strip() == ""
        if empty.any():
            raise ValueError(
                f"row {df['id'][empty].iloc[0]!r} has no {column} ({int(empty.sum())} rows); every row needs "
                "an image, a note and a report here"
            )
    classes = _classes(df["label"])
    train = (df["split"] == "train").to_numpy()
    size = FINDING_IMAGE_SIZE[1 if fast else 0]
    tokens = tokenize_all(df["text"].tolist())
    F_y, _, _ = text_features(
        tokens, train, fast, seed, vector_size=FINDING_VECTOR_SIZE, pooling=FINDING_POOLING
    )
    return FindingInputs(
        frame=df[["id", "patient_id", "label", "split"]].copy(),
        classes=classes,
        y=np.array([classes.index(label) for label in df["label"]], dtype=np.int64),
        images=prepare_images(read_images(df), size=size),
        F_y=F_y,
        report_labels=mentioned_findings(df["report"].tolist(), CHEST_REPORT_TERMS),
        note_labels=mentioned_findings(df["text"].tolist(), CHEST_NOTE_TERMS),
        image_findings=tuple(CHEST_REPORT_TERMS),
        note_findings=tuple(CHEST_NOTE_TERMS),
    )


def fit_finding_fusion(inputs: FindingInputs, fast: bool = False, seed: int = 0) -> object:
    """Chapter 14's findings-first model: ``fusion.StackedFusion`` whose image specialist is the image recipe
    (multi-label, on the report's findings; ``FINDING_EPOCHS``, ``IMAGE_RECIPE``) and whose note specialist is a
    logistic regression per syndrome on F_y (on the note's weak labels); its head learns the diagnosis from their
    seven probabilities."""
    from crossmodal_lib import fusion
    from crossmodal_lib.features.image_recipe import ImageRecipe

    image = ImageRecipe(
        image_size=inputs.images.shape[1],
        epochs=FINDING_EPOCHS[1 if fast else 0],
        seed=seed,
        feature_dim=FEATURE_DIM,
        **IMAGE_RECIPE,
    )
    model = fusion.StackedFusion(
        {"image": ("image",), "text": ("text",)},
        n_classes=len(inputs.classes),
        estimators={"image": image, "text": fusion.MultiLabelLogistic()},
    )
    return model.fit(
        inputs.blocks("train"),
        inputs.y[inputs.mask("train")],
        validation_data=(inputs.blocks("val"), inputs.y[inputs.mask("val")]),
        targets=inputs.targets(),
    )


def _single(blocks: dict[str, np.ndarray], model_name: str) -> dict[str, np.ndarray]:
    """The one modality a single-modality model ("image only") takes."""
    m = model_name.removesuffix(" only")
    return {m: blocks[m]}


def _with_pixels(
    blocks: dict[str, np.ndarray], features: CohortFeatures, split: str
) -> dict[str, np.ndarray]:
    """The joint model's inputs: the images' pixels in place of F_x, the other modalities' features."""
    return {**blocks, "image": features.part(split)["images"]}


def predict(
    models: dict[str, object], features: CohortFeatures, split: str = "test"
) -> dict[str, np.ndarray]:
    """Each fitted model's class probabilities on one split, {name: (n, n_classes)} (chapters 04-05)."""
    blocks = features.blocks(split)
    out: dict[str, np.ndarray] = {}
    for name, model in models.items():
        if name.endswith(" only"):
            out[name] = model.predict_proba(_single(blocks, name))
        elif name == "joint fusion":
            out[name] = model.predict_proba(_with_pixels(blocks, features, split))
        elif name == "late fusion":
            singles = {
                m: models[f"{m} only"].predict_proba(_single(blocks, f"{m} only")) for m in model.weights_
            }
            out[name] = model.predict_proba(singles)
        else:
            out[name] = model.predict_proba(blocks)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------
def evaluate_run(
    features: CohortFeatures,
    probas: dict[str, np.ndarray],
    fast: bool = False,
    seed: int = 0,
    split: str = "test",
) -> tuple[pd.DataFrame, dict]:
    """The metrics table of all models on one split with bootstrap CIs, and a summary (chapter 05).

    The bootstrap resamples *patients* (all visits of a drawn patient), because a patient's visits are not
    independent; ``budget("bootstrap", fast)`` resamples. The summary names the best single-modality and the
    best fusion model by macro ROC-AUC and their difference.
    """
    part = features.part(split)
    table = evaluate.metrics_table(
        probas, part["y"], n_resamples=budget("bootstrap", fast), seed=seed, groups=part["patient_id"]
    )
    singles = [m for m in table.index if m.endswith(" only")]
    fusions = [m for m in (*FUSION_MODELS, STACKED_MODEL) if m in table.index]
    summary: dict = {}
    if singles and fusions:
        best_single = table.loc[singles, "roc_auc"].idxmax()
        best_fusion = table.loc[fusions, "roc_auc"].idxmax()
        summary = {
            "best_single": best_single,
            "best_fusion": best_fusion,
            "fusion_gain": float(table.at[best_fusion, "roc_auc"] - table.at[best_single, "roc_auc"]),
        }
    return table, summary


def _figures(
    features: CohortFeatures, probas: dict[str, np.ndarray], model: str, out_dir: Path, table
) -> list[str]:
    import matplotlib.pyplot as plt

    y = features.part("test")["y"]
    p = probas[model]
    names = []
    plots = {
        "roc_curves.png": lambda ax: evaluate.plot_roc_curves(
            y, p, features.classes, ax=ax, title=f"ROC, {model}"
        ),
        "confusion_matrix.png": lambda ax: evaluate.plot_confusion_matrix(
            y, p, features.classes, ax=ax, title=f"confusion matrix, {model}"
        ),
        "calibration.png": lambda ax: evaluate.plot_calibration(
            y, p, features.classes, ax=ax, title=f"calibration, {model}"
        ),
        "roc_auc_ci.png": lambda ax: evaluate.plot_metric_ci(table, "roc_auc", ax=ax),
    }
    for filename, draw in plots.items():
        fig, ax = plt.subplots(figsize=(6, 4.5))
        draw(ax)
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=100)
        plt.close(fig)
        names.append(filename)
    return names


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"output path {out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output folder {out_dir} exists and is not empty; choose a new folder or pass overwrite=True (--overwrite)"
        )


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    overwrite: bool = False,
    fast: bool | None = None,
    seed: int = 0,
    image_size: int = 64,
    cache_dir: str | Path | None = None,
    modalities: Sequence[str] | None = None,
    specialists: dict[str, str | Path | tuple[str | Path, Sequence[str]]] | None = None,
) -> dict:
    """Run the whole course pipeline on a data folder; write ``metrics.json`` and figures to ``out_dir`` (chapter 05).

    ``fast=None`` reads ``CROSSMODAL_FAST`` (as the notebooks do). Refuses a non-empty ``out_dir`` unless
    ``overwrite=True``. ``cache_dir`` and ``modalities`` (default: every modality the data has): see
    :func:`cohort_features`; each modality gets its single-modality model beside the fusions. ``specialists``
    (see :func:`staged_features`) adds the staged model of chapter 09, "stacked fusion", and each specialist's
    test macro ROC-AUC on its own question. Returns what ``metrics.json`` holds.
    """
    from crossmodal_lib import __version__
    from crossmodal_lib.course import fast_mode, setup

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    if not (data_dir / "manifest.csv").is_file():
        raise FileNotFoundError(
            f"{data_dir / 'manifest.csv'} not found: --data must be a folder with a manifest.csv"
        )
    fast = fast_mode() if fast is None else bool(fast)
    setup(seed)  # the notebooks' setup: seeds, one TensorFlow thread, deterministic ops
    start = time.perf_counter()
    from crossmodal_lib.quality import check_data, format_report

    # Chapter 11: look at the data before training on it (duplicates, leaks across splits, empty notes, balance).
    quality_report = check_data(data_dir, seed=seed)
    print(format_report(quality_report), flush=True)

    def step(i: int, text: str) -> None:
        print(f"[{i}/5 {time.perf_counter() - start:6.1f}s] {text}", flush=True)

    step(1, f"features from {data_dir} ({'fast' if fast else 'full'} mode, seed {seed})")
    feats = cohort_features(
        data_dir,
        fast=fast,
        seed=seed,
        image_size=image_size,
        verbose=True,
        cache_dir=cache_dir,
        modalities=modalities,
    )
    missing = feats.missing_counts()
    step(2, f"fitting a model per modality ({', '.join(feats.modalities)}) and the fusions of them")
    models = fit_models(feats, fast=fast, seed=seed, verbose=True)
    probas = predict(models, feats, "test")
    own_question = None
    if specialists:
        _log(True, f"  staged model over the specialists {list(specialists)} ...")
        staged = staged_features(
            data_dir,
            specialists,
            fast=fast,
            seed=seed,
            image_size=image_size,
            verbose=True,
            cache_dir=cache_dir,
        )
        stacked = fit_stacked(staged, fast=fast, seed=seed)
        test_blocks = staged.blocks("test")
        probas[STACKED_MODEL] = stacked.predict_proba(test_blocks)
        own_question = {
            q: evaluate.macro_roc_auc(staged.specialists[q].part("test")["y"], p)
            for q, p in stacked.specialist_probas(test_blocks).items()
        }
    step(3, f"evaluating on the test split ({budget('bootstrap', fast)} bootstrap resamples)")
    table, summary = evaluate_run(feats, probas, fast=fast, seed=seed)
    y_test = feats.part("test")["y"]
    # With one modality there is nothing to fuse: the figures and the per-class table are the single model's.
    best = summary.get("best_fusion", table["roc_auc"].idxmax())
    per_class = evaluate.per_class_metrics(y_test, probas[best], feats.classes)
    ablation = None
    if "early fusion" in models:
        ablation = evaluate.modality_ablation(
            models["early fusion"].predict_proba,
            feats.blocks("test"),
            y_test,
            reference=feats.blocks("train"),
        )
    step(4, f"writing metrics.json and figures to {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    quality_report.to_json(out_dir / "data_quality.json")
    figures = _figures(feats, probas, best, out_dir, table)
    result = {
        "config": {
            "data_dir": str(data_dir),
            "fast": fast,
            "seed": seed,
            "image_size": image_size,
            "modalities": list(feats.modalities),
            "specialists": None if not specialists else {q: str(w) for q, w in specialists.items()},
            "bootstrap_resamples": budget("bootstrap", fast),
            "bootstrap_unit": "patient",
            "crossmodal_lib": __version__,
        },
        "classes": list(feats.classes),
        "counts": {s: int(feats.mask(s).sum()) for s in ("train", "val", "test")},
        "missing": {
            **missing,
            "policy": "features mean-imputed from training rows plus a missing-indicator column; never dropped",
        },
        # What each encoder chose on the validation split (the image recipe's snapshot window and views ...).
        "encoders": feats.info,
        "models": {
            name: {k: float(v) for k, v in row.items()}
            | {"roc_auc_ci": [float(row.roc_auc_low), float(row.roc_auc_high)]}
            for name, row in table.iterrows()
        },
        "summary": {
            **summary,
            "roc_auc_with_95ci": {
                name: [
                    round(float(r.roc_auc), 4),
                    round(float(r.roc_auc_low), 4),
                    round(float(r.roc_auc_high), 4),
                ]
                for name, r in table.iterrows()
            },
        },
        "specialists_own_question_roc_auc": own_question,
        "late_fusion_weights": dict(models["late fusion"].weights_) if "late fusion" in models else None,
        "per_class_best_model": per_class.round(6).to_dict(orient="index"),
        "ablation_early_fusion": None if ablation is None else ablation.round(6).to_dict(orient="index"),
        "figures": figures,
        "data_quality": {"file": "data_quality.json", "ok": quality_report.ok},
    }
    result = _finite_or_none(result)  # JSON has no NaN: an undefined interval is written as null
    (out_dir / "metrics.json").write_text(
        json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    versus = f" vs best single {summary['best_single']} {table.at[summary['best_single'], 'roc_auc']:.3f}"
    step(5, f"done: {best} macro ROC-AUC {table.at[best, 'roc_auc']:.3f}{versus if summary else ''}")
    return result


def _finite_or_none(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
