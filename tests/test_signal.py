"""Unit tests of the ECG step (chapter 07): crossmodal_lib.preprocess.signal and crossmodal_lib.features.signal,
on synthetic traces from ``render_ecg`` (5 s at 100 Hz, sinus rhythm or atrial fibrillation)."""

import numpy as np
import pytest
from scipy import signal as sps
from sklearn.metrics import roc_auc_score

from crossmodal_lib.data.cohort import render_ecg
from crossmodal_lib.features import build_signal_cnn, signal_features, train_cnn
from crossmodal_lib.preprocess import (
    RHYTHM_FEATURES,
    check_signals,
    detect_r_peaks,
    normalise_signals,
    prepare_signals,
    remove_baseline_wander,
    rhythm_features,
)

FS = 100
N_SAMPLES = 500  # 5 s at 100 Hz, as render_ecg draws them
COL = {name: i for i, name in enumerate(RHYTHM_FEATURES)}


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


def _traces(n, seed=0, hr=(55, 130)):
    """n traces, alternately sinus (label 0) and atrial fibrillation (label 1), heart rates drawn in ``hr``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.stack([render_ecg(rng, int(rng.integers(*hr)), bool(af)) for af in y])
    return x, y


# -------------------------------------------------------------------------------------------------- input checks
def _with_gaps(x, row):
    """A copy of ``x`` with one NaN and one inf in ``row`` (a lost electrode contact, an overflow)."""
    x = x.copy()
    x[row, [10, 20]] = [np.nan, np.inf]
    return x


def test_check_signals_shapes_and_dtype():
    x, _ = _traces(3)
    assert check_signals(x[0], FS).shape == (1, N_SAMPLES, 1)
    assert check_signals(x, FS).shape == (3, N_SAMPLES, 1)
    three_leads = np.repeat(x[..., None], 3, axis=-1)
    out = check_signals(three_leads, FS, expected_fs=100, n_samples=N_SAMPLES)
    assert out.shape == (3, N_SAMPLES, 3) and out.dtype == np.float32
    assert check_signals(list(x), FS).shape == (3, N_SAMPLES, 1)
    assert check_signals((x * 1000).astype(np.int16), FS).dtype == np.float32  # ADC counts are accepted


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda x: np.where(np.arange(N_SAMPLES) < 2, np.nan, x), {}, "signals: row 0 has 2 NaN or infinite"),
        (lambda x: _with_gaps(x, row=3), {}, r"signals: row 3 has 2 NaN or infinite values; drop the record"),
        (lambda x: x[:, :450], {"n_samples": 500}, r"has 450 samples, expected 500 \(5 s at 100 Hz\)"),
        (lambda x: [x[0], x[1][:450]], {"n_samples": 500}, r"row 1 has 450 samples, expected 500"),
        (lambda x: [x[0], x[1][:450]], {}, "row 1 has 450 samples but row 0 has 500"),
        (lambda x: x, {"fs": 250, "expected_fs": 100}, "sampling rate is 250 Hz, expected 100 Hz"),
        (lambda x: x, {"fs": 0}, "fs must be a positive sampling rate"),
        (lambda x: x[:0], {}, "signals is empty"),
        (lambda x: x[:, :, None, None], {}, r"has shape \(4, 500, 1, 1\); expected one trace"),
        (lambda x: np.float32(1.0), {}, "has shape"),
        (lambda x: x.astype(str), {}, "expected real numbers"),
    ],
)
def test_check_signals_errors_name_the_row_and_the_problem(make, kwargs, message):
    x, _ = _traces(4)
    with pytest.raises(ValueError, match=message):
        check_signals(make(x), **{"fs": FS, **kwargs})


def test_the_ecg_name_appears_in_errors():
    with pytest.raises(ValueError, match=r"^ecg_test: row 0 has 1 NaN"):
        check_signals(np.array([0.0, np.nan, 1.0]), FS, name="ecg_test")


# --------------------------------------------------------------------------------------------- filtering, scaling
def test_baseline_wander_is_removed():
    t = np.arange(N_SAMPLES) / FS
    sine = np.sin(2 * np.pi * 0.2 * t)
    assert np.std(remove_baseline_wander(sine, FS)) < 0.1 * np.std(sine)  # a 0.2-Hz drift loses > 90 %
    x, _ = _traces(20)
    filtered = remove_baseline_wander(x, FS)
    assert filtered.shape == x.shape and filtered.dtype == np.float32

    def low_power(a):  # power below 0.4 Hz, where render_ecg puts its wander (0.15-0.4 Hz)
        f, p = sps.welch(a, fs=FS, nperseg=N_SAMPLES, axis=-1)
        return p[..., (f > 0) & (f < 0.4)].sum(axis=-1)

    assert np.all(low_power(filtered) < 0.2 * low_power(x))
    # The QRS complexes survive: the R peaks stay where they were, within one sample.
    raw_peaks, _ = sps.find_peaks(x[0], height=0.6, distance=20)
    filt_peaks, _ = sps.find_peaks(filtered[0], height=0.5, distance=20)
    assert len(raw_peaks) == len(filt_peaks) and np.all(np.abs(raw_peaks - filt_peaks) <= 1)
    with pytest.raises(ValueError, match="Nyquist"):
        remove_baseline_wander(x, FS, cutoff_hz=60)


def test_normalise_gives_mean_0_std_1_and_keeps_flat_leads_finite():
    x, _ = _traces(6)
    batch = np.stack([x, 3 * x + 2], axis=-1)  # two leads of different gain and offset
    z = normalise_signals(batch)
    assert z.shape == batch.shape and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(z[..., 0], z[..., 1], atol=1e-5)  # per lead: gain and offset are gone
    flat = normalise_signals(np.full((2, N_SAMPLES), 0.7, dtype=np.float32))
    assert np.all(np.isfinite(flat)) and np.all(flat == 0)


def test_prepare_signals_is_check_then_filter_then_normalise():
    x, _ = _traces(5)
    out = prepare_signals(x, FS, expected_fs=100, n_samples=N_SAMPLES)
    assert out.shape == (5, N_SAMPLES, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, normalise_signals(remove_baseline_wander(x, FS))[..., None], atol=1e-6)
    with pytest.raises(ValueError, match="sampling rate is 500 Hz"):
        prepare_signals(x, 500, expected_fs=100)


# ------------------------------------------------------------------------------------------------- beats, rhythm
@pytest.mark.parametrize("hr", [50, 60, 75, 90, 110, 125, 140])
def test_r_peaks_recover_the_heart_rate(hr):
    rng = np.random.default_rng(hr)
    for _ in range(5):
        trace = render_ecg(rng, hr, atrial_fibrillation=False)
        peaks = detect_r_peaks(trace, FS)
        assert abs(60 * FS / np.diff(peaks).mean() - hr) < 4
        assert abs(rhythm_features(trace, FS)[0, COL["heart_rate_bpm"]] - hr) < 4


def test_detect_r_peaks_finds_inverted_beats_and_refuses_batches():
    trace = render_ecg(np.random.default_rng(3), 80, atrial_fibrillation=False)
    np.testing.assert_array_equal(detect_r_peaks(-trace, FS), detect_r_peaks(trace, FS))
    with pytest.raises(ValueError, match="one 1-D trace"):
        detect_r_peaks(trace[None], FS)


def test_atrial_fibrillation_has_a_higher_rr_variability():
    x, y = _traces(80, seed=1)
    feats = rhythm_features(x, FS)
    assert feats.shape == (80, len(RHYTHM_FEATURES)) and feats.dtype == np.float32
    cv_af, cv_sinus = feats[y == 1, COL["rr_cv"]], feats[y == 0, COL["rr_cv"]]
    assert np.median(cv_af) > 4 * np.median(cv_sinus)
    assert roc_auc_score(y, feats[:, COL["rr_cv"]]) > 0.95
    assert np.all(feats[:, COL["sdnn_ms"]] >= 0) and np.all(feats[:, COL["n_beats"]] >= 3)


def test_rhythm_features_are_defined_without_beats():
    flat = np.zeros((1, N_SAMPLES), dtype=np.float32)
    one_beat = np.zeros(N_SAMPLES, dtype=np.float32)
    one_beat[250] = 1.0
    feats = rhythm_features(np.concatenate([flat, one_beat[None]]), FS)
    assert np.all(np.isfinite(feats))
    np.testing.assert_allclose(feats[0], 0.0)
    assert feats[1, COL["n_beats"]] == 1 and feats[1, COL["heart_rate_bpm"]] == pytest.approx(
        12.0
    )  # 1 in 5 s
    np.testing.assert_allclose(feats[1, COL["rr_mean_ms"] :], 0.0)


# ---------------------------------------------------------------------------------------------------- the 1-D CNN
def test_build_signal_cnn_shapes_names_and_seed():
    model = build_signal_cnn(N_SAMPLES, n_leads=2, n_classes=3, feature_dim=12)
    assert model.input_shape == (None, N_SAMPLES, 2) and model.output_shape == (None, 3)
    assert model.get_layer("features").output.shape[-1] == 12
    assert model.get_layer("probabilities").output.shape[-1] == 3
    assert [layer.name for layer in model.layers if layer.name.startswith("conv")] == [
        "conv1",
        "conv2",
        "conv3",
    ]
    w1, w2 = (
        build_signal_cnn(N_SAMPLES, seed=4).get_weights(),
        build_signal_cnn(N_SAMPLES, seed=4).get_weights(),
    )
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert not np.array_equal(w1[0], build_signal_cnn(N_SAMPLES, seed=5).get_weights()[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 8}, "too small"),
        ({"n_leads": 0}, "n_leads"),
        ({"n_classes": 1}, "n_classes"),
        ({"feature_dim": 0}, "feature_dim"),
        ({"filters": ()}, "filters"),
    ],
)
def test_build_signal_cnn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_signal_cnn(**{"n_samples": N_SAMPLES, **kwargs})


def test_signal_cnn_trains_with_train_cnn_and_separates_af_from_sinus():
    x, y = _traces(400, seed=2)
    x = prepare_signals(x, FS, expected_fs=100, n_samples=N_SAMPLES)
    train, val, test = slice(0, 240), slice(240, 320), slice(320, 400)
    model = build_signal_cnn(N_SAMPLES, feature_dim=16, seed=0)
    history = train_cnn(
        model, x[train], y[train], x[val], y[val], epochs=3, batch_size=16, augment=False, learning_rate=3e-3
    )
    assert set(history.history) >= {"loss", "val_loss", "accuracy"}
    assert roc_auc_score(y[test], model.predict(x[test], verbose=0)[:, 1]) > 0.8
    feats = signal_features(model, x[test])
    assert feats.shape == (80, 16) and feats.dtype == np.float32 and np.all(np.isfinite(feats))
    np.testing.assert_array_equal(feats, signal_features(model, x[test]))
    same = build_signal_cnn(N_SAMPLES, feature_dim=16, seed=0)
    fresh = build_signal_cnn(N_SAMPLES, feature_dim=16, seed=0)
    np.testing.assert_array_equal(signal_features(same, x[:8]), signal_features(fresh, x[:8]))


def test_train_cnn_and_signal_features_refuse_bad_signals():
    x, y = _traces(8)
    x = prepare_signals(x, FS)
    model = build_signal_cnn(N_SAMPLES, feature_dim=8)
    with pytest.raises(ValueError, match="augment=True needs an image model"):
        train_cnn(model, x, y, x, y, epochs=1)
    with pytest.raises(ValueError, match=r"training signals have shape \(8, 500\); expected \(n, 500, 1\)"):
        train_cnn(model, x[..., 0], y, x, y, epochs=1, augment=False)
    with pytest.raises(ValueError, match="8 signals but 7 labels"):
        train_cnn(model, x, y[:7], x, y, epochs=1, augment=False)
    with pytest.raises(ValueError, match="the model expects"):
        train_cnn(model, x[:, :400], y, x, y, epochs=1, augment=False)
    with pytest.raises(
        ValueError, match=r"the model expects \(n, 500, 1\): prepare them with prepare_signals"
    ):
        signal_features(model, x[..., 0])
    with pytest.raises(ValueError, match="NaN"):
        signal_features(model, np.full_like(x, np.nan))


def test_tall_t_waves_of_a_slow_rhythm_are_not_counted_as_beats():
    """A T wave can be as high as a small R wave; it is much wider, and detect_r_peaks rejects it by width."""
    from crossmodal_lib.data.cardiac import render_cardiac_ecg

    rng = np.random.default_rng(7)
    findings = {"irregular_rhythm": False, "st_depression": False, "slow_rate": True}
    rates = [rhythm_features(render_cardiac_ecg(rng, findings, age=60), FS)[0, 0] for _ in range(40)]
    assert max(rates) < 52  # the cohort's slow rates are 36-48 bpm
