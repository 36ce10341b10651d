"""ECG preprocessing with SciPy: checks, baseline-wander removal, z-scores, R peaks and rhythm features (chapter 07).

Chapter 07: ECG + symptom text. ``prepare_signals`` is the course's one recipe for ECG traces (check ->
remove the baseline wander with a zero-phase Butterworth high-pass -> z-score per record and lead) and returns the
float32 batch ``(n, n_samples, n_leads)`` that chapter 07's 1-D CNN expects. ``detect_r_peaks`` finds the beats
with ``scipy.signal.find_peaks``; ``rhythm_features`` turns them into a few named numbers (heart rate, RR
variability) that a clinician reads off a rhythm strip, a hand-made baseline for the CNN's features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal as sps

# Columns of ``rhythm_features``, in order.
RHYTHM_FEATURES = ("heart_rate_bpm", "n_beats", "rr_mean_ms", "sdnn_ms", "rmssd_ms", "rr_cv")

# After a beat the ventricles cannot fire again for about 200 ms (the refractory period; Pan & Tompkins' QRS
# detector uses the same 200 ms): two R peaks closer than that would be a rate above 300 bpm. 250 ms would miss
# beats of atrial fibrillation with a fast ventricular response (RR intervals of 220-250 ms at 150-160 bpm).
_REFRACTORY_S = 0.2
# An R wave is about 40 ms wide at half its height, 60-80 ms in a wide QRS complex; a T wave 100-150 ms.
_QRS_MAX_WIDTH_S = 0.1
_FLAT_STD = 1e-6  # a lead whose standard deviation is below this is flat (electrode off): it is not scaled


def _as_batch(x: Sequence[np.ndarray] | np.ndarray, name: str) -> np.ndarray:
    """One trace, a batch, or a batch of multi-lead traces -> float64 (n, n_samples, n_leads); finite values."""
    if isinstance(x, list | tuple) and len(x) and all(np.ndim(row) >= 1 for row in x):
        lengths = [len(row) for row in x]
        if len(set(lengths)) > 1:  # a ragged list: name the first record that differs from the first one
            i = next(i for i, n in enumerate(lengths) if n != lengths[0])
            raise ValueError(
                f"{name}: row {i} has {lengths[i]} samples but row 0 has {lengths[0]}; "
                "every record must have the same length"
            )
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
        raise ValueError(f"{name} has dtype {arr.dtype}; expected real numbers (millivolts)")
    if arr.ndim == 0 or arr.ndim > 3:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected one trace (n_samples,), a batch (n, n_samples) "
            "or a multi-lead batch (n, n_samples, n_leads)"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): nothing to preprocess")
    if arr.ndim == 1:
        arr = arr[None, :, None]
    elif arr.ndim == 2:  # (n, n_samples): a batch of single-lead traces, never (n_samples, n_leads)
        arr = arr[:, :, None]
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        per_row = bad.sum(axis=(1, 2))
        i = int(np.flatnonzero(per_row)[0])
        others = int((per_row > 0).sum()) - 1
        more = f" (and {others} other rows)" if others else ""
        raise ValueError(
            f"{name}: row {i} has {per_row[i]} NaN or infinite values{more}; "
            "drop the record or fill the gap before filtering"
        )
    return arr


def _check_fs(fs: float) -> float:
    if (
        isinstance(fs, bool)
        or not isinstance(fs, int | float | np.integer | np.floating)
        or not (np.isfinite(fs) and fs > 0)
    ):
        raise ValueError(f"fs must be a positive sampling rate in Hz, got {fs!r}")
    return float(fs)


def check_signals(
    x: Sequence[np.ndarray] | np.ndarray,
    fs: float,
    expected_fs: float | None = None,
    n_samples: int | None = None,
    name: str = "signals",
) -> np.ndarray:
    """Check ECG traces and return them as float32 ``(n, n_samples, n_leads)`` (chapter 07).

    ``x`` is one trace ``(n_samples,)``, a batch ``(n, n_samples)`` or ``(n, n_samples, n_leads)``. Errors name
    ``name``, the row and the problem: NaN/inf values, a length other than ``n_samples``, a sampling rate ``fs``
    other than ``expected_fs`` (a model trained at 100 Hz reads a 500-Hz trace as a heart rate five times
    slower), an empty input or too many dimensions.
    """
    fs = _check_fs(fs)
    if expected_fs is not None and not np.isclose(fs, _check_fs(expected_fs)):
        raise ValueError(
            f"{name}: sampling rate is {fs:g} Hz, expected {expected_fs:g} Hz; "
            "resample first (scipy.signal.resample_poly)"
        )
    if n_samples is not None and (isinstance(x, list | tuple) and len(x)) and all(np.ndim(r) >= 1 for r in x):
        for i, row in enumerate(x):  # a list of records: name the first one with the wrong length
            if len(row) != n_samples:
                raise ValueError(
                    f"{name}: row {i} has {len(row)} samples, expected {n_samples} "
                    f"({n_samples / fs:g} s at {fs:g} Hz)"
                )
    arr = _as_batch(x, name)
    if n_samples is not None and arr.shape[1] != n_samples:
        which = "the record" if len(arr) == 1 else f"every row of {len(arr)}"
        raise ValueError(
            f"{name}: {which} has {arr.shape[1]} samples, expected {n_samples} ({n_samples / fs:g} s at {fs:g} Hz)"
        )
    return arr.astype(np.float32)


def remove_baseline_wander(
    x: Sequence[np.ndarray] | np.ndarray, fs: float, cutoff_hz: float = 0.5, order: int = 2
) -> np.ndarray:
    """Zero-phase Butterworth high-pass along the time axis: removes breathing/electrode drift (chapter 07).

    ``scipy.signal.butter(order, cutoff_hz, "highpass", output="sos")`` then ``sosfiltfilt``: running the
    filter forwards and backwards cancels its phase shift, so the QRS complexes do not move or change shape.
    0.5 Hz (30 bpm) is below any heart rate and above the usual drift. Returns float32 of the input's shape.
    """
    arr = check_signals(x, fs).astype(np.float64)
    fs = float(fs)
    if not 0 < cutoff_hz < fs / 2:
        raise ValueError(
            f"cutoff_hz must lie between 0 and the Nyquist frequency fs/2 = {fs / 2:g} Hz, got {cutoff_hz!r}"
        )
    if not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"order must be a whole number >= 1, got {order!r}")
    sos = sps.butter(int(order), cutoff_hz, btype="highpass", fs=fs, output="sos")
    try:
        # padtype="constant" extends each end with its last value; SciPy's default odd extension mirrors a trace
        # that ends on an R peak into a tall false wave, which the high-pass turns into a deep edge artefact.
        out = sps.sosfiltfilt(sos, arr, axis=1, padtype="constant")
    except ValueError as err:  # SciPy's "must be greater than padlen": a trace of a few samples
        raise ValueError(f"signals are too short ({arr.shape[1]} samples) to filter: {err}") from None
    return out.astype(np.float32).reshape(np.shape(x))


def normalise_signals(x: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Z-score each record and lead over time: mean 0, standard deviation 1 (chapter 07).

    Amplitudes differ between machines, leads and electrode contact; the rhythm and the waves' shapes do not.
    A flat lead (standard deviation below 1e-6) is only centred, to zeros, instead of divided by ~0.
    Returns float32 of the input's shape.
    """
    arr = _as_batch(x, "signals")
    mean = arr.mean(axis=1, keepdims=True)
    std = arr.std(axis=1, keepdims=True)
    out = (arr - mean) / np.where(std < _FLAT_STD, 1.0, std)
    return out.astype(np.float32).reshape(np.shape(x))


def detect_r_peaks(trace: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of the R peaks of one 1-D trace, with ``scipy.signal.find_peaks`` (chapter 07).

    The trace is high-passed and z-scored first (``remove_baseline_wander``, ``normalise_signals``) and turned
    over if its largest deflection is negative (an inverted lead). A peak counts as a beat if it is at least
    half as high and half as prominent as the trace's 99th percentile (R waves, not P waves), at most
    ``_QRS_MAX_WIDTH_S`` wide at half its prominence (a tall T wave is as high as a small R wave but three or four
    times wider: on slow rhythms it would count twice) and at least 0.2 s after the previous beat (the refractory
    period: no rhythm is faster than 300 bpm).
    """
    trace = np.asarray(trace)
    if trace.ndim != 1:
        raise ValueError(f"trace has shape {trace.shape}; detect_r_peaks takes one 1-D trace (n_samples,)")
    fs = _check_fs(fs)
    z = normalise_signals(remove_baseline_wander(trace, fs)).astype(np.float64)
    if -z.min() > z.max():  # the largest deflection is negative: an inverted lead
        z = -z
    ref = float(np.percentile(z, 99))
    if ref <= 0:  # a flat trace: no beat
        return np.zeros(0, dtype=np.int64)
    peaks, _ = sps.find_peaks(
        z,
        height=0.5 * ref,
        prominence=0.5 * ref,
        distance=max(1, round(_REFRACTORY_S * fs)),
        width=(None, _QRS_MAX_WIDTH_S * fs),
    )
    return peaks.astype(np.int64)


def rhythm_features(x: Sequence[np.ndarray] | np.ndarray, fs: float) -> np.ndarray:
    """Rhythm numbers per record from its R peaks: float32 ``(n, len(RHYTHM_FEATURES))`` (chapter 07).

    Columns (``RHYTHM_FEATURES``): heart rate in bpm (60 000 / mean RR), number of beats, mean RR, SDNN
    (standard deviation of the RR intervals) and RMSSD (root mean square of successive RR differences) in ms,
    and ``rr_cv`` = SDNN / mean RR, the irregularity that marks atrial fibrillation. Beats are found on the
    first lead (lead II in the course's data).

    Records with too few beats get defined values, never NaN: with fewer than 2 beats there is no RR interval,
    so the heart rate is the beat count per minute of the record (0 for none) and the RR columns are 0;
    with exactly 2 beats (one interval) SDNN, RMSSD and ``rr_cv`` are 0.
    """
    arr = check_signals(x, fs)
    fs = float(fs)
    out = np.zeros((len(arr), len(RHYTHM_FEATURES)), dtype=np.float64)
    for i, record in enumerate(arr):
        peaks = detect_r_peaks(record[:, 0], fs)
        rr = np.diff(peaks) * (1000.0 / fs)  # ms
        if len(rr) == 0:
            out[i] = [len(peaks) * 60.0 / (arr.shape[1] / fs), len(peaks), 0.0, 0.0, 0.0, 0.0]
            continue
        sdnn = float(np.std(rr, ddof=1)) if len(rr) >= 2 else 0.0
        rmssd = float(np.sqrt(np.mean(np.diff(rr) ** 2))) if len(rr) >= 2 else 0.0
        mean_rr = float(rr.mean())
        out[i] = [60_000.0 / mean_rr, len(peaks), mean_rr, sdnn, rmssd, sdnn / mean_rr]
    return out.astype(np.float32)


def prepare_signals(
    x: Sequence[np.ndarray] | np.ndarray,
    fs: float,
    expected_fs: float | None = None,
    n_samples: int | None = None,
    cutoff_hz: float = 0.5,
    name: str = "signals",
) -> np.ndarray:
    """The course's one ECG recipe: check -> remove baseline wander -> z-score (chapter 07).

    Returns float32 ``(n, n_samples, n_leads)``, the input of ``crossmodal_lib.features.build_signal_cnn``.
    ``expected_fs`` and ``n_samples`` are passed to ``check_signals``: give them, so a trace recorded at another
    rate or length is refused instead of read wrongly by a model trained on 5-s, 100-Hz traces.
    """
    arr = check_signals(x, fs, expected_fs=expected_fs, n_samples=n_samples, name=name)
    return normalise_signals(remove_baseline_wander(arr, fs, cutoff_hz=cutoff_hz))
