"""Video preprocessing: a batch of grayscale clips to the float array a video CNN takes (chapter 08).

Chapter 08: a short clip of the patient walking + the record. ``prepare_clips`` is the course's one recipe for
clips (the frames of ``crossmodal_lib.data.read_videos``, uint8 0-255): check them, scale to [0, 1] and add the
channel axis, giving float32 ``(n, frames, height, width, 1)``. Nothing is resized or cropped: every clip of a data
set must already have the same number of frames and size (``read_videos`` checks that), and the figure walking
*across* the frame is part of the signal, so there is no per-frame centring either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _first_bad_row(bad: np.ndarray) -> tuple[int, int, int]:
    """(first row with a bad value, its count of bad values, how many other rows have some)."""
    per_row = bad.reshape(len(bad), -1).sum(axis=1)
    i = int(np.flatnonzero(per_row)[0])
    return i, int(per_row[i]), int((per_row > 0).sum()) - 1


def prepare_clips(clips: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Clips -> float32 ``(n, frames, height, width, 1)`` in [0, 1] (chapter 08).

    ``clips`` is a batch of grayscale clips, ``(n, frames, height, width)`` or ``(n, frames, height, width, 1)``,
    uint8 or floats on the 0-255 scale (what ``read_videos`` returns). Errors say what is wrong and name the first
    row it is wrong in: another number of axes, an empty batch, clips of different shapes in a list, NaN or
    infinite values, values outside 0-255 (a clip already scaled to [0, 1] passes as a very dark clip, so scale
    once, here).
    """
    if isinstance(clips, list | tuple) and len(clips):
        shapes = [np.shape(c) for c in clips]
        if len(set(shapes)) > 1:  # a ragged list: name the first clip that differs from the first one
            i = next(i for i, s in enumerate(shapes) if s != shapes[0])
            raise ValueError(
                f"clips: row {i} has shape {shapes[i]} but row 0 has {shapes[0]}; every clip must have the same "
                "number of frames and size"
            )
    arr = np.asarray(clips)
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"clips have dtype {arr.dtype}; expected numbers on the 0-255 scale (uint8 frames)")
    if np.iscomplexobj(arr):
        raise ValueError(f"clips have dtype {arr.dtype}; expected real numbers on the 0-255 scale")
    if arr.ndim == 5 and arr.shape[-1] != 1:
        raise ValueError(
            f"clips have shape {arr.shape}: {arr.shape[-1]} channels, expected grayscale (1 channel); "
            "read_video converts colour GIFs to gray"
        )
    if arr.ndim not in (4, 5):
        raise ValueError(
            f"clips have shape {arr.shape}; expected a batch (n, frames, height, width) or "
            "(n, frames, height, width, 1): for one clip use clip[None]"
        )
    if arr.size == 0:
        raise ValueError(f"clips are empty (shape {arr.shape}): nothing to prepare")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            i, count, others = _first_bad_row(bad)
            more = f" (and {others} other rows)" if others else ""
            raise ValueError(
                f"clips: row {i} has {count} NaN or infinite values{more}; drop or re-read the clip"
            )
    out_of_range = (arr < 0) | (arr > 255)
    if out_of_range.any():
        i, count, others = _first_bad_row(out_of_range)
        more = f" (and {others} other rows)" if others else ""
        raise ValueError(
            f"clips: row {i} has {count} values outside 0-255 (from {arr[i].min()} to {arr[i].max()}){more}; "
            "expected 8-bit gray levels"
        )
    if arr.ndim == 4:
        arr = arr[..., None]
    return (arr.astype(np.float32) / np.float32(255.0)).astype(np.float32)
