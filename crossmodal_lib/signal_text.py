"""PTB-XL: ECG-only, report-only and fused superclass classifiers on the official split (``make bench``).

:func:`ptbxl_superclass_benchmark` scores the course's recipe on real ECGs and their (mostly German) reports:
macro ROC-AUC over the 5 diagnostic superclasses (NORM, MI, STTC, CD, HYP; multi-label) with PTB-XL's split
(folds 1-8 train, 9 val, 10 test). The pieces are the course's own:

* F_s: ``prepare_signals`` (baseline wander out, z-score) -> ``build_signal_cnn`` trained with the shared
  ``train_cnn`` (single label, early stopping on the validation loss) -> ``signal_features``; optionally with
  ``rhythm_features`` of lead II beside it;
* F_y: ``tokenize`` -> ``train_word2vec`` on the training reports -> ``document_vectors`` weighted by the IDF
  of the training reports;
* fusion: ``concatenate_features({"ecg": F_s, "text": F_y})``;
* for each of the three: one logistic regression per superclass (``OneVsRestClassifier``), standardised inputs.

Every choice (leads, rhythm features, C, the CNN's epoch) is made on the validation split; test labels only score
the final predictions. The CNN trains on one label per record although the task is multi-label (``train_cnn``
is softmax, single label): the record's *rarest* superclass in the training split (so a record with NORM and HYP
counts as HYP, and MI with STTC as MI: the co-occurring, common class does not swamp the rare one), and a sixth
class ``none`` for records without a diagnostic superclass. The multi-label heads are the logistic regressions.

Text: the course's ``tokenize`` is English-oriented; on the German reports it keeps the words (``deaccent`` turns
"verlÄngerung" into "verlangerung" the same way every time, which is all Word2Vec needs), drops one-letter tokens
such as the "t" of "t abnormal" and has no German negation cues ("kein", "nicht": none occurs in the first 500
reports). Empty reports (one in the first 500) get the zero vector.

On the first 500 records the val and test folds hold 81 and 66 ECGs (7-36 per superclass): the numbers are noisy,
and are not comparable with the leaderboard of the full 21,799-record dataset.
"""

from __future__ import annotations

import os
import time

import numpy as np

from crossmodal_lib.data.ptbxl import (
    PTBXL_LEADS,
    SUPERCLASSES,
    load_ptbxl,
    official_split,
    read_ptbxl_signals,
    superclass_matrix,
)
from crossmodal_lib.features.image import train_cnn
from crossmodal_lib.features.signal import build_signal_cnn, signal_features
from crossmodal_lib.features.text import document_vectors, fit_idf, train_word2vec
from crossmodal_lib.fusion import concatenate_features
from crossmodal_lib.preprocess.signal import prepare_signals, rhythm_features
from crossmodal_lib.preprocess.text import tokenize

FS = 100  # Hz: the subset's records100
N_SAMPLES = 1000  # 10 s
SPLITS = ("train", "val", "test")
LEAD_OPTIONS: dict[str, tuple[str, ...]] = {"II": ("II",), "all 12": PTBXL_LEADS}
C_GRID = (0.01, 0.1, 1.0, 10.0)
NONE_CLASS = "none"  # the CNN's sixth class: no diagnostic superclass
SINGLE_LABEL_RULE = (
    "the record's rarest superclass in the training split (NORM only when it is the sole one); "
    f"'{NONE_CLASS}' when it has none"
)
MODEL_NAMES = ("ecg only", "text only", "ecg + text")


def single_labels(y_multi: np.ndarray, train: np.ndarray) -> np.ndarray:
    """One class per record for the softmax CNN: its rarest superclass in the training rows, else ``none`` (5)."""
    counts = y_multi[train].sum(axis=0).astype(np.float64)
    order = np.argsort(counts, kind="stable")  # rarest first
    out = np.full(len(y_multi), len(SUPERCLASSES), dtype=np.int64)
    for j in order[::-1]:  # most common first, so the rarest present class is written last
        out[y_multi[:, j] == 1] = j
    return out


def _tokens(reports) -> list[list[str]]:
    return [tokenize(r) if isinstance(r, str) and r.strip() else [] for r in reports]


def _fit_predict(c: float, x_fit: np.ndarray, y_fit: np.ndarray, x_pred: list[np.ndarray], seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = OneVsRestClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    ).fit(x_fit, y_fit)
    return [clf.predict_proba(x) for x in x_pred]


def _choose_c(x: dict[str, np.ndarray], y: dict[str, np.ndarray], seed: int) -> dict:
    """C with the best validation macro AUC (ties: the smaller C); the val and test probabilities for it."""
    from sklearn.metrics import roc_auc_score

    best = None
    for c in C_GRID:
        p_val, p_test = _fit_predict(c, x["train"], y["train"], [x["val"], x["test"]], seed)
        auc = float(roc_auc_score(y["val"], p_val, average="macro"))
        if best is None or auc > best["val_auc"] + 1e-12:
            best = {"C": c, "val_auc": auc, "p_val": p_val, "p_test": p_test}
    return best


def patient_bootstrap_ci(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, int]:
    """95 % percentile CI of the macro ROC-AUC, resampling whole patients; resamples lacking a class are skipped
    (returned as the third value). NaN bounds when more than half are skipped."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    values, skipped = [], 0
    for _ in range(n_resamples):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(unique), size=len(unique))])
        if y[idx].sum(axis=0).min() == 0 or (y[idx] == 0).sum(axis=0).min() == 0:
            skipped += 1
            continue
        values.append(roc_auc_score(y[idx], p[idx], average="macro"))
    if len(values) < n_resamples / 2:
        return float("nan"), float("nan"), skipped
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high), skipped


def ptbxl_superclass_benchmark(
    folder: str | os.PathLike,
    seed: int = 0,
    epochs: int = 30,
    fast: bool = False,
    n_records: int = 500,
    n_resamples: int = 1000,
) -> dict:
    """ECG-only, text-only and fused macro ROC-AUC on PTB-XL's official split; choices on validation only.

    ``folder`` is a PTB-XL folder (``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``); the first
    ``n_records`` rows (by ``ecg_id``) are used. ``epochs`` is the CNN's maximum (early stopping on the validation
    loss, patience 5, restores the best epoch); ``fast`` caps it at 6 and uses 200 bootstrap resamples. Returns
    a JSON-ready dict: ``models`` (per row: val AUC, test AUC, its patient-level bootstrap CI, per-superclass
    test AUC, C), ``choices`` (what validation picked, and the validation AUCs it compared), split sizes and time.
    Deterministic for a seed (given TensorFlow's op determinism and a fixed thread count).
    """
    from sklearn.metrics import roc_auc_score

    start, cpu_start = time.perf_counter(), time.process_time()
    if fast:
        epochs, n_resamples = min(epochs, 6), min(n_resamples, 200)
    df = load_ptbxl(folder).sort_index().iloc[:n_records]
    split = official_split(df).to_numpy()
    rows = {s: np.flatnonzero(split == s) for s in SPLITS}
    y_multi = superclass_matrix(df).astype(np.int64)
    y = {s: y_multi[rows[s]] for s in SPLITS}
    for s in ("val", "test"):
        absent = [c for c, n in zip(SUPERCLASSES, y[s].sum(axis=0), strict=True) if n == 0]
        if absent:
            raise ValueError(f"the {s} split has no record of {absent}: macro ROC-AUC is undefined")
    y_single = single_labels(y_multi, rows["train"])

    # ECG: one CNN per lead option; rhythm numbers from lead II
    raw = read_ptbxl_signals(df)
    lead_index = {name: [PTBXL_LEADS.index(lead) for lead in leads] for name, leads in LEAD_OPTIONS.items()}
    rhythm = rhythm_features(prepare_signals(raw[:, :, lead_index["II"]], FS), FS)
    candidates, cnn_epochs = {}, {}
    for name, idx in lead_index.items():
        x = prepare_signals(raw[:, :, idx], FS, expected_fs=FS, n_samples=N_SAMPLES)
        model = build_signal_cnn(N_SAMPLES, len(idx), n_classes=len(SUPERCLASSES) + 1, seed=seed)
        history = train_cnn(
            model,
            x[rows["train"]],
            y_single[rows["train"]],
            x[rows["val"]],
            y_single[rows["val"]],
            epochs=epochs,
            augment=False,
            seed=seed,
        )
        losses = history.history["val_loss"]
        cnn_epochs[name] = {"best": int(np.argmin(losses)) + 1, "run": len(losses)}
        f_s = signal_features(model, x)
        for with_rhythm in (False, True):
            feats = np.hstack([f_s, rhythm]) if with_rhythm else f_s
            candidates[(name, with_rhythm)] = {s: feats[rows[s]] for s in SPLITS}
    ecg_fits = {key: _choose_c(feats, y, seed) for key, feats in candidates.items()}
    best_key = max(ecg_fits, key=lambda k: ecg_fits[k]["val_auc"])  # first of equals: II before 12, no rhythm
    f_ecg = candidates[best_key]

    # Text: Word2Vec and IDF from the training reports only
    tokens = _tokens(df["report"].tolist())
    train_tokens = [tokens[i] for i in rows["train"]]
    kv = train_word2vec([t for t in train_tokens if t], seed=seed)
    idf = fit_idf([t for t in train_tokens if t])
    f_text_all = document_vectors(kv, tokens, weighting="tfidf", idf=idf)
    f_text = {s: f_text_all[rows[s]] for s in SPLITS}

    fused = {s: concatenate_features({"ecg": f_ecg[s], "text": f_text[s]}) for s in SPLITS}
    features = {"ecg only": f_ecg, "text only": f_text, "ecg + text": fused}
    fits = {
        "ecg only": ecg_fits[best_key],
        "text only": _choose_c(f_text, y, seed),
        "ecg + text": _choose_c(fused, y, seed),
    }
    groups = df["patient_id"].to_numpy()[rows["test"]]
    models = {}
    for name in MODEL_NAMES:
        fit = fits[name]
        low, high, skipped = patient_bootstrap_ci(y["test"], fit["p_test"], groups, n_resamples, seed)
        per_class = roc_auc_score(y["test"], fit["p_test"], average=None)
        models[name] = {
            "val_auc": fit["val_auc"],
            "test_auc": float(roc_auc_score(y["test"], fit["p_test"], average="macro")),
            "test_auc_ci": [low, high],
            "bootstrap_skipped": skipped,
            "test_auc_per_class": {c: float(a) for c, a in zip(SUPERCLASSES, per_class, strict=True)},
            "C": fit["C"],
            "n_features": int(features[name]["train"].shape[1]),
        }
    return {
        "dataset": f"PTB-XL v1.0, first {len(df)} records, 100 Hz, 12 leads, official split (folds 1-8/9/10)",
        "n": {s: int(len(rows[s])) for s in SPLITS},
        "positives": {s: dict(zip(SUPERCLASSES, map(int, y[s].sum(axis=0)), strict=True)) for s in SPLITS},
        "classes": list(SUPERCLASSES),
        "models": models,
        "choices": {
            "leads": best_key[0],
            "rhythm_features": bool(best_key[1]),
            "ecg_val_auc": {
                f"{k[0]}{' + rhythm' if k[1] else ''}": round(v["val_auc"], 4) for k, v in ecg_fits.items()
            },
            "cnn_epochs": cnn_epochs,
            "max_epochs": epochs,
            "C": {name: fits[name]["C"] for name in MODEL_NAMES},
            "C_grid": list(C_GRID),
            "single_label_rule": SINGLE_LABEL_RULE,
            "text": "Word2Vec (64-d skip-gram) + IDF weights from the training reports",
        },
        "bootstrap": f"{n_resamples} resamples of the test patients",
        "seed": seed,
        "fast": fast,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }
