"""Unit tests of the video step (chapter 08): crossmodal_lib.preprocess.video, crossmodal_lib.features.video, and
the folder format's video readers (read_video, read_videos), on tiny clips made here and the tiny cohort."""

import shutil

import numpy as np
import pandas as pd
import pytest

from crossmodal_lib.data import load_manifest, read_video, read_videos
from crossmodal_lib.features import build_video_cnn, train_cnn, video_features
from crossmodal_lib.preprocess import prepare_clips

FRAMES, SIDE = 6, 16


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


def _moving_dots(n, seed=0):
    """n uint8 clips (FRAMES, SIDE, SIDE) of a bright square moving right (label 0) or left (label 1).

    Any single frame is a square somewhere (the start is random): only the direction of motion tells them apart.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    clips = np.full((n, FRAMES, SIDE, SIDE), 30, dtype=np.uint8)
    for i, label in enumerate(y):
        start = (
            int(rng.integers(0, SIDE - 2 * FRAMES - 3))
            if label == 0
            else int(rng.integers(2 * FRAMES, SIDE - 3))
        )
        row = int(rng.integers(2, SIDE - 5))
        for f in range(FRAMES):
            col = start + (2 * f if label == 0 else -2 * f)
            clips[i, f, row : row + 3, col : col + 3] = 220
    return clips, y


# ------------------------------------------------------------------------------------------------- prepare_clips
def test_prepare_clips_scales_and_adds_the_channel():
    clips, _ = _moving_dots(4)
    out = prepare_clips(clips)
    assert out.shape == (4, FRAMES, SIDE, SIDE, 1) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 and np.isclose(out.max(), 220 / 255)
    assert np.array_equal(prepare_clips(clips[..., None]), out)  # a channel axis already there is kept
    assert np.allclose(prepare_clips(clips.astype(np.float64)), out)
    assert np.array_equal(prepare_clips(list(clips)), out)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda c: c[0], r"shape \(6, 16, 16\); expected a batch .*clip\[None\]"),
        (lambda c: np.repeat(c[..., None], 3, axis=-1), r"3 channels, expected grayscale"),
        (lambda c: c[:0], r"empty"),
        (lambda c: np.array([["a"]]), r"dtype <U1; expected numbers"),
    ],
)
def test_prepare_clips_rejects_wrong_shapes(make, message):
    clips, _ = _moving_dots(3)
    with pytest.raises(ValueError, match=message):
        prepare_clips(make(clips))


def test_prepare_clips_names_the_row_with_nan_or_out_of_range_values():
    clips, _ = _moving_dots(4)
    bad = clips.astype(np.float32)
    bad[2, 1, 3, 3] = np.nan
    with pytest.raises(ValueError, match=r"row 2 has 1 NaN or infinite values"):
        prepare_clips(bad)
    bad = clips.astype(np.int16)
    bad[1, 0, 0, :2] = 300
    bad[3, 0, 0, 0] = -1
    with pytest.raises(ValueError, match=r"row 1 has 2 values outside 0-255 .*\(and 1 other rows\)"):
        prepare_clips(bad)
    with pytest.raises(ValueError, match=r"row 2 has shape \(5, 16, 16\) but row 0 has \(6, 16, 16\)"):
        prepare_clips([clips[0], clips[1], clips[2][:5]])


# ------------------------------------------------------------------------------------------ the video network
def test_build_video_cnn_shapes_layers_and_one_frame():
    model = build_video_cnn(FRAMES, SIDE, SIDE, n_classes=3, feature_dim=8, seed=0)
    assert model.input_shape == (None, FRAMES, SIDE, SIDE, 1) and model.output_shape == (None, 3)
    names = [layer.name for layer in model.layers]
    assert {"motion", "conv1", "gru", "features", "probabilities"} <= set(names)
    x = prepare_clips(_moving_dots(5)[0])
    assert video_features(model, x).shape == (5, 8) and video_features(model, x).dtype == np.float32
    one = build_video_cnn(1, SIDE, SIDE, n_classes=3, feature_dim=8)  # the one-frame baseline
    assert one.input_shape == (None, 1, SIDE, SIDE, 1) and "motion" not in [ly.name for ly in one.layers]
    assert video_features(one, x[:, 2:3]).shape == (5, 8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_frames": 0}, r"n_frames must be a whole number >= 1, got 0"),
        ({"height": 8.5}, r"height must be a whole number"),
        ({"height": 8, "width": 8}, r"8x8 pixels are too small for 3 conv blocks; use >= 16"),
        ({"n_classes": 1}, r"n_classes must be >= 2"),
        ({"feature_dim": 0}, r"feature_dim must be >= 1"),
        ({"filters": ()}, r"filters must be a non-empty tuple"),
    ],
)
def test_build_video_cnn_rejects_bad_settings(kwargs, message):
    settings = {"n_frames": FRAMES, "height": SIDE, "width": SIDE, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_video_cnn(**settings)


def test_video_features_checks_its_input():
    model = build_video_cnn(FRAMES, SIDE, SIDE, feature_dim=4)
    clips = _moving_dots(2)[0]
    with pytest.raises(
        ValueError, match=r"the model expects \(n, 6, 16, 16, 1\): prepare them with prepare_clips"
    ):
        video_features(model, clips)  # uint8 frames without the channel axis
    x = prepare_clips(clips)
    x[1, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        video_features(model, x)


def test_same_seed_same_weights_and_features():
    x = prepare_clips(_moving_dots(3)[0])
    a, b = (build_video_cnn(FRAMES, SIDE, SIDE, feature_dim=4, seed=7) for _ in range(2))
    c = build_video_cnn(FRAMES, SIDE, SIDE, feature_dim=4, seed=8)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
    assert np.array_equal(video_features(a, x), video_features(b, x))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


# Keras's own saving code trips a NumPy 2 deprecation (np.array on a TensorFlow variable); not ours to fix.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_training_learns_the_direction_of_motion(tmp_path):
    """A tiny run of train_cnn (as chapter 08 uses it) tells a square moving left from one moving right, which no
    single frame shows; the trained model also saves and loads (its frame layers are registered Keras layers)."""
    import keras

    clips, y = _moving_dots(160, seed=1)
    x = prepare_clips(clips)
    model = build_video_cnn(FRAMES, SIDE, SIDE, n_classes=2, feature_dim=8, seed=0)
    train_cnn(model, x[:120], y[:120], x[120:], y[120:], epochs=12, seed=0, augment=False, learning_rate=3e-3)
    accuracy = (model.predict(x[120:], verbose=0).argmax(axis=1) == y[120:]).mean()
    assert accuracy >= 0.9
    model.save(tmp_path / "video.keras")
    loaded = keras.models.load_model(tmp_path / "video.keras")
    assert np.allclose(video_features(loaded, x[:4]), video_features(model, x[:4]), atol=1e-6)


# ------------------------------------------------------------------------------ reading clips from a manifest
@pytest.fixture()
def motion(tiny_cohort, tmp_path):
    """A private copy of the tiny cohort's motion question (GIF clips) that a test may break."""
    return shutil.copytree(tiny_cohort / "motion", tmp_path / "motion")


def test_read_videos_reads_the_cohort_clips(motion):
    df = load_manifest(motion)
    clips = read_videos(df)
    assert clips.dtype == np.uint8 and clips.shape[1:] == (16, 32, 32) and len(clips) == len(df)
    assert prepare_clips(clips).shape == (len(df), 16, 32, 32, 1)


def test_a_clip_of_another_shape_names_its_row(motion):
    df = pd.read_csv(motion / "manifest.csv", dtype=str, keep_default_na=False)
    np.save(motion / "short.npy", np.zeros((8, 32, 32), dtype=np.uint8))
    df.loc[2, "video"] = "short.npy"
    df.to_csv(motion / "manifest.csv", index=False)
    with pytest.raises(ValueError, match=rf"line 4 \(id '{df.at[2, 'id']}'\): video has shape \(8, 32, 32\)"):
        read_videos(load_manifest(motion))


def test_a_corrupt_gif_names_the_file_and_the_row(motion):
    df = load_manifest(motion)
    gif = df.at[1, "video"]
    with open(gif, "r+b") as fh:  # keep the GIF header, break the image data
        fh.seek(40)
        fh.write(b"\x00" * 64)
        fh.truncate(120)
    with pytest.raises(ValueError, match=r"video .*\.gif is unreadable or corrupt"):
        read_video(gif)
    with pytest.raises(ValueError, match=rf"line 3 \(id '{df.at[1, 'id']}'\): video .*unreadable or corrupt"):
        read_videos(df)
    (motion / "video" / "not_a_gif.gif").write_text("hello")
    with pytest.raises(ValueError, match=r"not_a_gif\.gif is unreadable or corrupt"):
        read_video(motion / "video" / "not_a_gif.gif")


def test_npy_clips_with_nan_or_out_of_range_values_name_the_file(tmp_path):
    clip = np.zeros((4, 16, 16))
    clip[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", clip)
    with pytest.raises(ValueError, match=r"nan\.npy has NaN"):
        read_video(tmp_path / "nan.npy")
    np.save(tmp_path / "big.npy", np.full((4, 16, 16), 300.0))
    with pytest.raises(ValueError, match=r"big\.npy has values outside 0-255"):
        read_video(tmp_path / "big.npy")
