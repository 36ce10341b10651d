"""Load a MedMNIST ``.npz`` file (chapter 06: real formats).

MedMNIST (Yang et al., Scientific Data 10:41, 2023; CC BY 4.0) ships each 2-D dataset as one NumPy ``.npz`` file
with six arrays: ``{train,val,test}_images`` (uint8, ``(n, 28, 28)`` for grayscale, ``(n, 28, 28, 3)`` for colour)
and ``{train,val,test}_labels`` (``(n, 1)`` class indices, or ``(n, k)`` for the multi-label ChestMNIST).
Get the files with ``pip install medmnist`` (``medmnist.PneumoniaMNIST(split="train", download=True)``) or from
Zenodo (doi:10.5281/zenodo.10519652).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")
KEYS: tuple[str, ...] = tuple(f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels"))


def load_medmnist(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read a MedMNIST ``.npz`` into ``{"train": {"images", "labels"}, "val": ..., "test": ...}``. Chapter 06.

    Images stay uint8 ``(n, H, W)`` (or ``(n, H, W, 3)``); single-label ``(n, 1)`` labels become ``(n,)`` int64,
    multi-label ones stay ``(n, k)``. The file is read with ``allow_pickle=False``; a missing key, a count of
    images that does not match the count of labels, or a wrong dtype/shape raises ValueError naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MedMNIST file {path} does not exist (download it with `pip install medmnist` or from Zenodo)"
        )
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable .npz file: {err}") from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not a MedMNIST .npz archive with keys {list(KEYS)}")
    with npz:
        missing = [k for k in KEYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks the MedMNIST key(s) {missing}; it has {sorted(npz.files)}")
        try:
            arrays = {k: npz[k] for k in KEYS}
        except ValueError as err:  # object arrays would need pickle: refused
            raise ValueError(f"{path}: an array cannot be read without pickle ({err})") from err
    out: dict[str, dict[str, np.ndarray]] = {}
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8:
            raise ValueError(f"{path}: {split}_images has dtype {images.dtype}; MedMNIST images are uint8")
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
            raise ValueError(
                f"{path}: {split}_images has shape {images.shape}; expected (n, H, W) or (n, H, W, 3)"
            )
        if not np.issubdtype(labels.dtype, np.integer) or labels.ndim not in (1, 2):
            raise ValueError(
                f"{path}: {split}_labels has dtype {labels.dtype} and shape {labels.shape}; "
                "expected integer labels of shape (n,) or (n, k)"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{path}: {split}_images holds {len(images)} images but {split}_labels {len(labels)} labels"
            )
        if len(images) == 0:
            raise ValueError(f"{path}: the {split} split is empty")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        out[split] = {"images": images, "labels": labels.astype(np.int64)}
    shapes = {split: out[split]["images"].shape[1:] for split in SPLITS}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{path}: the splits' image shapes differ: {shapes}")
    return out


# ----------------------------------------------------------------------------------------------------------------
# The MedMNIST v2 2-D data sets and their published benchmark (test split, 28x28 unless the method says 224)
# ----------------------------------------------------------------------------------------------------------------

#: The 12 MedMNIST v2 2-D data sets: name -> (task as MedMNIST states it, number of classes or labels).
MEDMNIST_2D: dict[str, tuple[str, int]] = {
    "PathMNIST": ("multi-class", 9),
    "ChestMNIST": ("multi-label, binary-class", 14),
    "DermaMNIST": ("multi-class", 7),
    "OCTMNIST": ("multi-class", 4),
    "PneumoniaMNIST": ("binary-class", 2),
    "RetinaMNIST": ("ordinal regression", 5),
    "BreastMNIST": ("binary-class", 2),
    "BloodMNIST": ("multi-class", 8),
    "TissueMNIST": ("multi-class", 8),
    "OrganAMNIST": ("multi-class", 11),
    "OrganCMNIST": ("multi-class", 11),
    "OrganSMNIST": ("multi-class", 11),
}

MEDMNIST_V2_SOURCE = "MedMNIST v2 (Yang et al., Scientific Data 10:41, 2023; medmnist.com), test split"

#: The published table, one row per method: (AUC, ACC) for each data set of :data:`MEDMNIST_2D`, in that order.
# fmt: off
_MEDMNIST_V2_ROWS: dict[str, tuple[float, ...]] = {
    #                        Path          Chest         Derma         OCT           Pneumonia     Retina
    #                        Breast        Blood         Tissue        OrganA        OrganC        OrganS
    "ResNet-18 (28)":       (0.983, 0.907, 0.768, 0.947, 0.917, 0.735, 0.943, 0.743, 0.944, 0.854, 0.717, 0.524,
                             0.901, 0.863, 0.998, 0.958, 0.930, 0.676, 0.997, 0.935, 0.992, 0.900, 0.972, 0.782),
    "ResNet-18 (224)":      (0.989, 0.909, 0.773, 0.947, 0.920, 0.754, 0.958, 0.763, 0.956, 0.864, 0.710, 0.493,
                             0.891, 0.833, 0.998, 0.963, 0.933, 0.681, 0.998, 0.951, 0.994, 0.920, 0.974, 0.778),
    "ResNet-50 (28)":       (0.990, 0.911, 0.769, 0.947, 0.913, 0.735, 0.952, 0.762, 0.948, 0.854, 0.726, 0.528,
                             0.857, 0.812, 0.997, 0.956, 0.931, 0.680, 0.997, 0.935, 0.992, 0.905, 0.972, 0.770),
    "ResNet-50 (224)":      (0.989, 0.892, 0.773, 0.948, 0.912, 0.731, 0.958, 0.776, 0.962, 0.884, 0.716, 0.511,
                             0.866, 0.842, 0.997, 0.950, 0.932, 0.680, 0.998, 0.947, 0.993, 0.911, 0.975, 0.785),
    "auto-sklearn":         (0.934, 0.716, 0.649, 0.779, 0.902, 0.719, 0.887, 0.601, 0.942, 0.855, 0.690, 0.515,
                             0.836, 0.803, 0.984, 0.878, 0.828, 0.532, 0.963, 0.762, 0.976, 0.829, 0.945, 0.672),
    "AutoKeras":            (0.959, 0.834, 0.742, 0.937, 0.915, 0.749, 0.955, 0.763, 0.947, 0.878, 0.719, 0.503,
                             0.871, 0.831, 0.998, 0.961, 0.941, 0.703, 0.994, 0.905, 0.990, 0.879, 0.974, 0.813),
    "Google AutoML Vision": (0.944, 0.728, 0.778, 0.948, 0.914, 0.768, 0.963, 0.771, 0.991, 0.946, 0.750, 0.531,
                             0.919, 0.861, 0.998, 0.966, 0.924, 0.673, 0.990, 0.886, 0.988, 0.877, 0.964, 0.749),
}
# fmt: on


def medmnist_reference(name: str) -> dict[str, tuple[float, float]]:
    """The MedMNIST v2 benchmark rows for one 2-D data set: {method: (test AUC, test ACC)} (chapter 06).

    ``name`` as in :data:`MEDMNIST_2D`, any case (``"dermamnist"`` works).
    """
    canonical = medmnist_name(name)
    if canonical is None:
        raise ValueError(f"unknown MedMNIST 2-D data set {name!r}; known: {', '.join(MEDMNIST_2D)}")
    i = list(MEDMNIST_2D).index(canonical)
    return {method: (row[2 * i], row[2 * i + 1]) for method, row in _MEDMNIST_V2_ROWS.items()}


def medmnist_name(name_or_path: str | os.PathLike) -> str | None:
    """The MedMNIST 2-D data set a name or file names (``dermamnist_28.npz`` -> ``"DermaMNIST"``), else None."""
    stem = Path(name_or_path).name.lower().split(".")[0].split("_")[0]
    return {k.lower(): k for k in MEDMNIST_2D}.get(stem)
