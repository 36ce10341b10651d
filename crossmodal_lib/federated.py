"""Chapter 12: privacy and scale: federated learning of the fusion model across simulated hospitals.

The article names patient privacy as a challenge of cross-modal learning: the images and notes of several hospitals
would make a better model, but they may not leave their hospitals. Federated averaging (FedAvg, McMahan et al.
2017) trains one model without moving the data: every round, each hospital starts from the server's global
weights, trains a few epochs on its own rows, and sends back only its weights; the server averages them, weighted
by each hospital's number of training rows. This module simulates that on the course's cohort:

    split_hospitals     whole patients -> 3-5 hospitals with different case mixes (Dirichlet label skew, non-IID)
    case_mix            the measured class proportions per hospital
    scanner, acquire    a per-hospital acquisition effect on the images (contrast, gamma, brightness, noise, blur)
    site_features       F_x = CNN(X) again, each row's image as its hospital's scanner took it
    hospital_blocks     the features and labels of one split, one entry per hospital
    fedavg              FedAvg of the course's early-fusion MLP (``fusion.build_mlp``), the round chosen on
                        validation; -> FedAvgResult (model, history, chosen_round)
    average_weights     the server's step: Σ_k (n_k / n) w_k
    pooled_statistics   the global mean and variance of each block from per-hospital (n, mean, variance)
    compare_training    central vs FedAvg vs each hospital alone, on the same pooled test split

What is federated here, honestly stated: only the fusion MLP, Z = MLP(F_x, F_y). The feature extractors are the
shared ones of chapters 02-03 (the CNN and Word2Vec, trained on the pooled training rows); a real consortium would
have to federate them too (or use a public pre-trained encoder). The acquisition effect is applied to the
preprocessed images (chapter 01), as the differences between scanners that survive preprocessing.

Why a hand-written loop and not Flower (``flwr``), measured on the course's 2-core machine: ``flwr[simulation]``
1.42 adds about 400 MB (Ray alone 220 MB) and downgrades protobuf, packaging and rich below the course's pins; its
simulation starts a Ray cluster and one TensorFlow per worker process, and took 28 s for 5 rounds of a tiny Keras
model with 3 clients (most of it start-up), outside the notebook's seeds and thread settings; and its
``run_simulation`` is deprecated in favour of the ``flwr run`` command line. :func:`fedavg` is the same weighted
average as Flower's ``FedAvg`` strategy, in one function that runs in the notebook's process.

Standardisation across sites: a CNN unit that never fired on a model's training rows has variance 0; the
course's ``fusion.set_standardisation`` scales such a column by 1 (scikit-learn's rule) rather than by 10^7, so
another scanner that makes the unit fire does not blow the model up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from crossmodal_lib import evaluate, fusion
from crossmodal_lib.pipeline import CohortFeatures, budget

__all__ = [
    "FEDAVG_BUDGET",
    "FEDAVG_LEARNING_RATE",
    "FedAvgResult",
    "Scanner",
    "acquire",
    "average_weights",
    "case_mix",
    "compare_training",
    "fedavg",
    "hospital_blocks",
    "pooled_statistics",
    "scanner",
    "site_features",
    "split_hospitals",
]

#: FedAvg's budget as (full, fast): rounds, and local epochs per round. Chosen on the validation split of the
#: cohort (fast mode): one local epoch per round drifts least between these non-IID hospitals.
FEDAVG_BUDGET: dict[str, tuple[int, int]] = {"rounds": (60, 30), "local_epochs": (1, 1)}
#: The hospitals' Adam step size: three times EarlyFusion's 1e-3, because averaging updates from hospitals with
#: different case mixes cancels part of each one, so the global model moves less per epoch than a central one
#: (on the cohort's validation split: 1e-3 needed about 50 rounds to reach the loss that 3e-3 reached in 20).
FEDAVG_LEARNING_RATE = 3e-3


def _fedavg_budget(name: str, fast: bool) -> int:
    full, quick = FEDAVG_BUDGET[name]
    return quick if fast else full


# ----------------------------------------------------------------------------------------------------------------
# Hospitals: who goes where (case mix)
# ----------------------------------------------------------------------------------------------------------------
def _patient_labels(frame: pd.DataFrame, label: str, patient: str) -> pd.Series:
    """One label per patient: the most frequent over the visits (the first such in row order on a tie)."""
    counts = frame.groupby([patient, label], sort=False).size().reset_index(name="n")
    counts = counts.sort_values("n", ascending=False, kind="stable")
    return counts.drop_duplicates(patient).set_index(patient)[label]


def split_hospitals(
    frame: pd.DataFrame,
    n_hospitals: int = 4,
    seed: int = 0,
    concentration: float = 0.5,
    min_share: float = 0.08,
    label: str = "label",
    patient: str = "patient_id",
    split: str = "split",
) -> np.ndarray:
    """The hospital (0 .. n_hospitals-1) of every row: whole patients, different case mixes (chapter 12).

    Non-IID by label skew (the Dirichlet partition of Hsu et al. 2019): for each class c a share p_c ~
    Dirichlet(concentration, ..., concentration) over the hospitals is drawn once, and that class's patients go to
    the hospitals in those shares, separately inside train, val and test, so each hospital keeps the cohort's
    split and the same case mix in each of its splits. A patient's class is their most frequent label; all their
    visits go to one hospital. Small ``concentration`` makes specialised hospitals (0.5: most classes sit mainly
    in one or two hospitals); a large one tends to the same mix everywhere (IID). Shares are drawn again (from the
    same seeded generator) until every hospital has at least ``min_share`` of the training patients and a row in
    every split. Deterministic for a given seed.
    """
    for col in (label, patient, split):
        if col not in frame.columns:
            raise ValueError(f"frame has no {col!r} column; columns: {list(frame.columns)}")
    if not 2 <= n_hospitals <= 10:
        raise ValueError(f"n_hospitals must be between 2 and 10, got {n_hospitals}")
    if concentration <= 0:
        raise ValueError(f"concentration must be positive, got {concentration}")
    if not 0 <= min_share < 1 / n_hospitals:
        raise ValueError(
            f"min_share must be in [0, 1/n_hospitals) = [0, {1 / n_hospitals:.3f}), got {min_share}"
        )
    splits_per_patient = frame.groupby(patient)[split].nunique()
    straddling = splits_per_patient[splits_per_patient > 1]
    if len(straddling):
        raise ValueError(
            f"patient {straddling.index[0]!r} has visits in several splits; split the cohort by patient first"
        )
    patient_label = _patient_labels(frame, label, patient)
    patient_split = frame.groupby(patient, sort=False)[split].first().reindex(patient_label.index)
    classes = sorted(patient_label.unique())
    # the patients of each (split, class), in a fixed order, so that the seeded shuffles are reproducible
    groups = {
        (s, c): patient_label.index[((patient_split == s) & (patient_label == cls)).to_numpy()].to_numpy()
        for s in sorted(patient_split.unique())
        for c, cls in enumerate(classes)
    }
    n_train = int((patient_split == "train").sum())
    row_split = frame[split].to_numpy()
    rng = np.random.default_rng(seed)
    for _attempt in range(200):
        shares = rng.dirichlet(np.full(n_hospitals, concentration), size=len(classes))  # (classes, hospitals)
        assigned: dict[object, int] = {}
        for (_split, c), members in groups.items():
            members = members[rng.permutation(len(members))]
            cuts = np.round(np.cumsum(shares[c]) * len(members)).astype(int)
            for h, part in enumerate(np.split(members, cuts[:-1])):
                assigned.update(dict.fromkeys(part.tolist(), h))
        hospital = frame[patient].map(assigned).to_numpy(dtype=np.int64)
        train_patients = [assigned[p] for p in patient_split.index[(patient_split == "train").to_numpy()]]
        per_hospital = np.bincount(train_patients, minlength=n_hospitals)
        every_split = all(
            len(np.unique(hospital[row_split == s])) == n_hospitals for s in np.unique(row_split)
        )
        if per_hospital.min() >= min_share * max(n_train, 1) and every_split:
            return hospital
    raise ValueError(
        f"could not give each of {n_hospitals} hospitals {min_share:.0%} of the training patients and a row in "
        f"every split with concentration {concentration}; use fewer hospitals, a larger concentration or a "
        "smaller min_share"
    )


def case_mix(
    frame: pd.DataFrame, hospitals: np.ndarray, split: str | None = "train", label: str = "label"
) -> pd.DataFrame:
    """The measured case mix: class proportions per hospital (rows) and the row count ``n`` (chapter 12).

    ``split=None`` counts every row; otherwise only that split's.
    """
    hospitals = _check_hospitals(hospitals, len(frame))
    rows = np.ones(len(frame), dtype=bool) if split is None else (frame["split"] == split).to_numpy()
    table = pd.crosstab(
        pd.Series(hospitals[rows], name="hospital"), frame.loc[rows, label].to_numpy(), normalize="index"
    )
    table.columns.name = label
    table["n"] = np.bincount(hospitals[rows], minlength=hospitals.max() + 1)[table.index]
    return table


def _check_hospitals(hospitals: object, n_rows: int) -> np.ndarray:
    arr = np.asarray(hospitals)
    if arr.shape != (n_rows,):
        raise ValueError(f"hospitals must have one entry per row ({n_rows}), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) or (arr.size and arr.min() < 0):
        raise ValueError("hospitals must hold hospital indices 0, 1, ... (non-negative integers)")
    return arr.astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# Hospitals: how they acquire images (scanner effects)
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scanner:
    """One hospital's acquisition: x -> blur(clip(gain * x**gamma + offset + noise)) on images in [0, 1]."""

    gamma: float = 1.0
    gain: float = 1.0
    offset: float = 0.0
    noise: float = 0.0
    blur: float = 0.0


def scanner(hospital: int, seed: int = 0, strength: float = 1.0) -> Scanner:
    """The scanner of ``hospital``, drawn from a generator seeded by (seed, hospital) (chapter 12).

    At ``strength=1``: gamma in [0.7, 1.4], gain (contrast) in [0.75, 1.25], brightness offset in [-0.1, 0.1],
    Gaussian noise sd in [0, 0.05], blur sigma in [0, 1] pixel; ``strength`` scales every deviation from the
    identity (0: all hospitals acquire alike).
    """
    if hospital < 0:
        raise ValueError(f"hospital must be a non-negative index, got {hospital}")
    if strength < 0:
        raise ValueError(f"strength must be non-negative, got {strength}")
    rng = np.random.default_rng([seed, hospital])
    u = rng.uniform(-1, 1, size=5)
    return Scanner(
        gamma=float(np.exp(strength * 0.35 * u[0])),
        gain=float(1 + strength * 0.25 * u[1]),
        offset=float(strength * 0.1 * u[2]),
        noise=float(strength * 0.025 * (u[3] + 1)),
        blur=float(strength * 0.5 * (u[4] + 1)),
    )


def acquire(images: np.ndarray, hospital: int | Scanner, seed: int = 0, strength: float = 1.0) -> np.ndarray:
    """The images as ``hospital``'s scanner would take them (chapter 12): deterministic for a given seed.

    ``images``: (n, height, width, channels) in [0, 1], as chapter 01 prepares them. ``hospital``: an index (its
    scanner is ``scanner(hospital, seed, strength)``) or a ``Scanner``.
    """
    from scipy.ndimage import gaussian_filter

    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got shape {x.shape}")
    if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ValueError("images must hold finite values in [0, 1]")
    s = hospital if isinstance(hospital, Scanner) else scanner(hospital, seed, strength)
    index = hospital if isinstance(hospital, int) else 0
    out = s.gain * x**s.gamma + s.offset
    if s.noise > 0:
        out = out + np.random.default_rng([seed, index, 1]).normal(0, s.noise, size=x.shape)
    out = np.clip(out, 0, 1)
    if s.blur > 0:
        out = gaussian_filter(out, sigma=(0, s.blur, s.blur, 0))  # spatial axes only, never across images
    return out.astype(np.float32)


def site_features(
    features: CohortFeatures, hospitals: np.ndarray, seed: int = 0, strength: float = 1.0
) -> CohortFeatures:
    """The features as the hospitals would compute them: every image through its hospital's scanner (chapter 12).

    F_x = CNN(acquire(X, hospital)) with the shared CNN of chapter 02 (``features.cnn``, trained on the pooled
    training rows), for the rows that have an image (a row without one keeps its imputed features); F_y and the
    other blocks are as given. Returns a copy of ``features`` with the new ``images`` and ``F_x``.
    """
    from crossmodal_lib.features.image import image_features

    hospitals = _check_hospitals(hospitals, len(features.frame))
    if features.images is None or features.F_x is None or features.cnn is None:
        raise ValueError("features need images, F_x and the CNN (cohort_features with the image modality)")
    images = features.images.copy()
    has_image = features.frame["has_image"].to_numpy()
    for h in np.unique(hospitals):
        rows = (hospitals == h) & has_image
        images[rows] = acquire(features.images[rows], int(h), seed=seed, strength=strength)
    F_x = features.F_x.copy()
    new = image_features(features.cnn, images[has_image])
    F_x[has_image, : new.shape[1]] = new  # a missing-indicator column, if any, stays as it was
    return replace(features, images=images, F_x=F_x)


def hospital_blocks(
    features: CohortFeatures, hospitals: np.ndarray, split: str
) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    """One split's ``{modality: features}`` and labels, one entry per hospital (chapter 12)."""
    hospitals = _check_hospitals(hospitals, len(features.frame))
    m = features.mask(split)
    blocks = features.blocks(split)
    y = features.y[m]
    where = hospitals[m]
    ids = range(int(hospitals.max()) + 1)
    return [{n: b[where == h] for n, b in blocks.items()} for h in ids], [y[where == h] for h in ids]


# ----------------------------------------------------------------------------------------------------------------
# FedAvg
# ----------------------------------------------------------------------------------------------------------------
def average_weights(weights: Sequence[Sequence[np.ndarray]], counts: Sequence[int]) -> list[np.ndarray]:
    """The server's step of FedAvg: w = Σ_k (n_k / n) w_k, layer by layer (chapter 12; McMahan et al. 2017)."""
    if len(weights) != len(counts) or not weights:
        raise ValueError(f"got weights of {len(weights)} hospitals but {len(counts)} counts")
    n = np.asarray(counts, dtype=np.float64)
    if (n <= 0).any():
        raise ValueError(
            f"hospital {int(np.argmax(n <= 0))} has no training rows; every count must be positive"
        )
    shares = n / n.sum()
    out = []
    for i, layer in enumerate(zip(*weights, strict=True)):
        shapes = {np.shape(w) for w in layer}
        if len(shapes) > 1:
            raise ValueError(f"weight {i} has different shapes across hospitals: {sorted(shapes)}")
        # float64 for the sum, so the average does not depend on the hospitals' order beyond rounding
        avg = sum(s * np.asarray(w, dtype=np.float64) for s, w in zip(shares, layer, strict=True))
        out.append(avg.astype(np.asarray(layer[0]).dtype))
    return out


def pooled_statistics(
    client_blocks: Sequence[Mapping[str, np.ndarray]],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each block's mean and variance over all hospitals' rows, from each hospital's (n, mean, variance) only.

    Chapter 12. What ``Normalization.adapt`` computes on the pooled rows, without pooling them: the hospitals send
    their count, mean and variance (the same information as n, Σx and Σx², which a secure aggregation could add
    up so that the server sees only the totals), and the server combines them:
    mean = Σ n_k m_k / n,  var = Σ n_k (v_k + (m_k - mean)²) / n. A column constant on every hospital's rows
    gets variance 1 (``fusion.set_standardisation``).
    """
    out = {}
    for name in client_blocks[0]:
        stats = [(len(b[name]), np.mean(b[name], axis=0), np.var(b[name], axis=0)) for b in client_blocks]
        n = np.array([s[0] for s in stats], dtype=np.float64)
        means = np.array([s[1] for s in stats], dtype=np.float64)
        variances = np.array([s[2] for s in stats], dtype=np.float64)
        w = (n / n.sum())[:, None]
        mean = (w * means).sum(axis=0)
        var = (w * (variances + (means - mean) ** 2)).sum(axis=0)
        out[name] = (mean.astype(np.float32), var.astype(np.float32))  # set_standardisation guards constants
    return out


@dataclass
class FedAvgResult:
    """What ``fedavg`` returns (chapter 12).

    ``model``: the global model of the chosen round, chapter 04's ``EarlyFusion`` (same network,
    same ``predict_proba``); only the way its weights were found differs. ``history``: one row per round (val_loss,
    val_auc, train_loss: the hospitals' mean training loss weighted by rows, seconds). ``chosen_round``: the round
    with the best validation score (the last round without validation data).
    """

    model: fusion.EarlyFusion
    history: pd.DataFrame
    chosen_round: int
    counts: list[int] = field(default_factory=list)


def _check_clients(
    client_blocks: Sequence[Mapping[str, object]], client_y: Sequence[object], n_classes: int
) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    if isinstance(client_blocks, Mapping):
        raise TypeError(
            "client_blocks must be a list with one {modality: array} per hospital, not one mapping"
        )
    if len(client_blocks) != len(client_y):
        raise ValueError(
            f"got the blocks of {len(client_blocks)} hospitals but the labels of {len(client_y)}"
        )
    if not client_blocks:
        raise ValueError("no hospital given")
    blocks, labels = [], []
    names = None
    for k, (b, y) in enumerate(zip(client_blocks, client_y, strict=True)):
        if isinstance(b, Mapping) and b and all(len(np.asarray(v)) == 0 for v in b.values() if v is not None):
            raise ValueError(f"hospital {k} has no training rows")
        arrays = fusion.check_blocks(b, expected=names, suffix=f" (hospital {k})")
        if names is None:
            names = list(arrays)
        else:
            for name in names:
                if arrays[name].shape[1] != blocks[0][name].shape[1]:
                    raise ValueError(
                        f"{name} of hospital {k} has {arrays[name].shape[1]} columns but hospital 0's has "
                        f"{blocks[0][name].shape[1]}"
                    )
        blocks.append(arrays)
        labels.append(fusion.check_labels(y, len(arrays[names[0]]), n_classes, name=f"y of hospital {k}"))
    return blocks, labels


def _set_normalization(
    model, names: Sequence[str], stats: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Give ``build_mlp``'s Normalization layers the pooled statistics instead of one hospital's."""
    for name in names:
        fusion.set_standardisation(model.get_layer(f"{name}_standardised"), *stats[name])


def _inputs(blocks: Mapping[str, np.ndarray]):
    values = tuple(blocks.values())
    return values[0] if len(values) == 1 else values


def fedavg(
    client_blocks: Sequence[Mapping[str, object]],
    client_y: Sequence[object],
    val: tuple[Mapping[str, object], object] | None = None,
    rounds: int = 30,
    local_epochs: int = 1,
    seed: int = 0,
    n_classes: int = 4,
    hidden: int = 64,
    dropout: float = 0.3,
    batch_size: int = 32,
    learning_rate: float = FEDAVG_LEARNING_RATE,
    select: str = "loss",
    verbose: bool = False,
) -> FedAvgResult:
    """Federated averaging of the course's early-fusion MLP over hospitals (chapter 12; McMahan et al. 2017).

    ``client_blocks[k]``, ``client_y[k]``: hospital k's training features ``{modality: (n_k, d)}`` and labels.
    Every round, each hospital sets its copy of the model to the global weights, trains ``local_epochs`` epochs on
    its own rows (Adam; each hospital keeps its optimizer's state from round to round, as a hospital that takes
    part in every round can), and the server averages the trainable weights weighted by n_k (``average_weights``).
    The network is ``fusion.build_mlp``, the one ``EarlyFusion`` trains. Its Normalization layers hold the pooled
    mean and variance of every block (``pooled_statistics``: sent once, before the first round) and are not
    averaged. Only weights and these statistics leave a hospital, never a row; the feature extractors are the
    shared ones of chapters 02-03 and are not federated.

    ``val=(blocks, y)``: validation rows (all hospitals' val splits); the global model of every round is scored on
    them and the round with the lowest validation loss (``select="loss"``, the rule of ``EarlyFusion``'s early
    stopping; a sum each hospital can compute and send) or the highest macro ROC-AUC (``select="auc"``; it needs
    the validation predictions and labels in one place) is kept. The test split is never looked at.
    """
    import keras

    if rounds < 1 or local_epochs < 1:
        raise ValueError(f"rounds and local_epochs must be at least 1, got {rounds} and {local_epochs}")
    if select not in ("loss", "auc"):
        raise ValueError(f"select must be 'loss' or 'auc', got {select!r}")
    blocks, labels = _check_clients(client_blocks, client_y, n_classes)
    names = list(blocks[0])
    val_inputs = y_val = None
    if val is not None:
        val_arrays = fusion.check_blocks(val[0], expected=names, suffix=" (validation)")
        for name in names:
            if val_arrays[name].shape[1] != blocks[0][name].shape[1]:
                raise ValueError(
                    f"{name} (validation) has {val_arrays[name].shape[1]} columns but the hospitals' have "
                    f"{blocks[0][name].shape[1]}"
                )
        y_val = fusion.check_labels(val[1], len(val_arrays[names[0]]), n_classes, name="y_val")
        val_inputs = _inputs(val_arrays)
    counts = [len(y) for y in labels]
    stats = pooled_statistics(blocks)

    def build():
        model = fusion.build_mlp(
            list(blocks[0].values()), n_classes, (hidden,), dropout, names, learning_rate, "early_fusion"
        )
        _set_normalization(model, names, stats)
        return model

    # The server's model first; then each hospital's copy, seeded like EarlyFusion.fit seeds its model (the last
    # seeding before training is `seed` itself for hospital 0), so one hospital alone trains as EarlyFusion does.
    keras.utils.set_random_seed(seed)
    server = build()
    clients = []
    for k in reversed(range(len(blocks))):
        keras.utils.set_random_seed(seed + k)
        clients.insert(0, build())
    global_weights = [v.numpy() for v in server.trainable_weights]
    rows, best, best_score = [], None, np.inf
    for r in range(1, rounds + 1):
        start = time.perf_counter()
        updates, losses = [], []
        for client, x, y in zip(clients, blocks, labels, strict=True):
            for v, w in zip(client.trainable_weights, global_weights, strict=True):
                v.assign(w)
            h = client.fit(_inputs(x), y, epochs=local_epochs, batch_size=batch_size, shuffle=True, verbose=0)
            updates.append([v.numpy() for v in client.trainable_weights])
            losses.append(h.history["loss"][-1])
        global_weights = average_weights(updates, counts)
        row = {"round": r, "train_loss": float(np.average(losses, weights=counts))}
        if val_inputs is not None:
            for v, w in zip(server.trainable_weights, global_weights, strict=True):
                v.assign(w)
            p = np.asarray(server(val_inputs, training=False), dtype=np.float64)
            p /= p.sum(axis=1, keepdims=True)
            row["val_loss"] = float(-np.mean(np.log(np.clip(p[np.arange(len(y_val)), y_val], 1e-12, None))))
            row["val_auc"] = evaluate.macro_roc_auc(y_val, p)
            score = row["val_loss"] if select == "loss" else -row["val_auc"]
        else:
            score = -r  # without validation rows, the last round
        if score < best_score:  # strictly better: a tie keeps the earlier round
            best, best_score = (r, global_weights), score
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        if verbose:
            print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    chosen_round, weights = best
    for v, w in zip(server.trainable_weights, weights, strict=True):
        v.assign(w)
    model = fusion.EarlyFusion(
        n_classes=n_classes,
        hidden=hidden,
        dropout=dropout,
        epochs=rounds * local_epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    # A fitted (Safe)EarlyFusion, as if its fit had found these weights: predict_proba and its checks come with it.
    model.model_, model.modalities_ = server, tuple(names)
    return FedAvgResult(model, pd.DataFrame(rows).set_index("round"), chosen_round, counts)


# ----------------------------------------------------------------------------------------------------------------
# Central vs federated vs each hospital alone
# ----------------------------------------------------------------------------------------------------------------
def compare_training(
    features: CohortFeatures,
    hospitals: np.ndarray,
    fast: bool = False,
    seed: int = 0,
    rounds: int | None = None,
    local_epochs: int | None = None,
    n_resamples: int | None = None,
    epochs: int | None = None,
) -> pd.DataFrame:
    """Test macro ROC-AUC of central training, FedAvg and each hospital alone, on the pooled test split (ch. 12).

    ``central``: ``EarlyFusion`` on all hospitals' training rows, early stopping on all validation rows (the model
    one would train if the data could be pooled). ``FedAvg``: :func:`fedavg`, its round chosen on all validation
    rows. ``hospital k alone``: ``EarlyFusion`` on hospital k's training rows, early stopping on its own
    validation rows (what it could do without the others). All are scored on the same pooled test split, with a
    bootstrap CI over patients (``budget("bootstrap", fast)`` resamples unless ``n_resamples``); the
    ``EarlyFusion`` models train ``budget("mlp", fast)`` epochs at most unless ``epochs``. ``features``:
    usually :func:`site_features`'s. Rows: model; columns: roc_auc, roc_auc_low, roc_auc_high, train_rows,
    seconds (and chosen_round for FedAvg).
    """
    hospitals = _check_hospitals(hospitals, len(features.frame))
    k = len(features.classes)
    epochs = budget("mlp", fast) if epochs is None else epochs
    mlp = {"n_classes": k, "epochs": epochs, "patience": budget("mlp_patience", fast), "seed": seed}
    rounds = _fedavg_budget("rounds", fast) if rounds is None else rounds
    local_epochs = _fedavg_budget("local_epochs", fast) if local_epochs is None else local_epochs
    n_resamples = budget("bootstrap", fast) if n_resamples is None else n_resamples
    tr_blocks, tr_y = hospital_blocks(features, hospitals, "train")
    va_blocks, va_y = hospital_blocks(features, hospitals, "val")
    empty = [h for h, y in enumerate(tr_y) if len(y) == 0]
    if empty:
        raise ValueError(f"hospital {empty[0]} has no training rows")
    test = features.part("test")
    test_blocks = features.blocks("test")
    val = (features.blocks("val"), features.part("val")["y"])
    rows = []

    def score(name: str, model: object, n_train: int, start: float, **extra: object) -> None:
        p = model.predict_proba(test_blocks)
        ci = evaluate.bootstrap_ci(
            test["y"], p, n_resamples=n_resamples, seed=seed, groups=test["patient_id"]
        )
        rows.append(
            {
                "model": name,
                "roc_auc": ci["point"],
                "roc_auc_low": ci["low"],
                "roc_auc_high": ci["high"],
                "train_rows": n_train,
                "seconds": time.perf_counter() - start,
                **extra,
            }
        )

    start = time.perf_counter()
    central = fusion.EarlyFusion(**mlp).fit(features.blocks("train"), features.part("train")["y"], val)
    score("central", central, int(features.mask("train").sum()), start)
    start = time.perf_counter()
    result = fedavg(tr_blocks, tr_y, val, rounds=rounds, local_epochs=local_epochs, seed=seed, n_classes=k)
    score("FedAvg", result.model, sum(result.counts), start, chosen_round=result.chosen_round)
    for h in range(len(tr_y)):
        start = time.perf_counter()
        # Its own validation rows for early stopping, when it has them (it cannot see the other hospitals').
        own_val = (va_blocks[h], va_y[h]) if len(va_y[h]) else None
        alone = fusion.EarlyFusion(**mlp).fit(tr_blocks[h], tr_y[h], own_val)
        score(f"hospital {h} alone", alone, len(tr_y[h]), start)
    return pd.DataFrame(rows).set_index("model")
