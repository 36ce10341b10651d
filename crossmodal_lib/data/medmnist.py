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
