"""Video features with a small CNN over frames and a GRU over time: F_v = GRU(CNN(frames)) (chapter 08).

``build_video_cnn`` is chapter 02's ``build_cnn`` for clips: every frame (with its difference from the previous
frame) goes through the same small 2-D CNN, a GRU reads the frames' vectors in order, then Dense ``"features"`` ->
softmax. It trains with the same ``train_cnn`` (``augment=False``); ``video_features`` reads F_v for clips prepared
by ``crossmodal_lib.preprocess.video.prepare_clips``. ``n_frames=1`` gives the one-frame baseline of chapter 08.

Why this design (measured 2026-11-25 on a 2-core AMD EPYC shared with other jobs (load about 3), one TensorFlow
thread, fast mode: ``train_cnn`` 10 epochs, motion cohort, fit on train (1179 clips), early stopping and scoring on
val; macro ROC-AUC of the video-only model for the motion label | for the movement (findings.csv, 4 classes) |
wall seconds of the label run; "+ diff" adds the frame-difference channel):
  frame CNN + mean/max over time 0.711 | 0.933 | 26;  + diff 0.748 | 0.995 | 28    one frame (n_frames=1):
  frame CNN + Conv1D over time   0.723 | 0.914 | 27;  + diff 0.745 | 0.964 | 27    0.616 | 0.865 | 7
  frame CNN + GRU over time      0.657 | 0.998 | 30;  + diff 0.804 | 0.997 | 37 (22 s of CPU) <- this module
  Conv3D, 3 blocks at half size  0.693 | 0.956 | 92;  TimeDistributed instead of folding: 2.5x slower per epoch
"""

from __future__ import annotations

import numpy as np

from crossmodal_lib.features.image import FEATURE_LAYER, check_cnn_settings, feature_extractor

_LAYERS: dict[str, type] = {}


def frame_layers() -> tuple[type, type]:
    """The Keras layers ``FoldFrames`` and ``UnfoldFrames`` (defined on first use, so importing stays quick).

    ``FoldFrames`` turns a batch of clips (n, frames, height, width, channels) into one batch of frames
    (n * frames, height, width, channels), so that one Conv2D call runs the same 2-D CNN on every frame;
    ``UnfoldFrames(n_frames)`` turns the frames' outputs back into sequences (n, frames, features). That is what
    ``keras.layers.TimeDistributed`` does, but TimeDistributed calls the CNN once per frame, 2.5 times slower on a
    CPU. Both are registered Keras layers (no ``Lambda``), so a model saves and loads in safe mode.
    """
    if not _LAYERS:
        import keras

        @keras.saving.register_keras_serializable(package="crossmodal_lib")
        class FoldFrames(keras.layers.Layer):
            def call(self, clips):
                return keras.ops.reshape(clips, (-1, *clips.shape[2:]))

            def compute_output_shape(self, input_shape):
                batch = (
                    None
                    if input_shape[0] is None or input_shape[1] is None
                    else input_shape[0] * input_shape[1]
                )
                return (batch, *input_shape[2:])

        @keras.saving.register_keras_serializable(package="crossmodal_lib")
        class UnfoldFrames(keras.layers.Layer):
            def __init__(self, n_frames: int, **kwargs):
                super().__init__(**kwargs)
                self.n_frames = int(n_frames)

            def call(self, frames):
                return keras.ops.reshape(frames, (-1, self.n_frames, int(np.prod(frames.shape[1:]))))

            def compute_output_shape(self, input_shape):
                batch = None if input_shape[0] is None else input_shape[0] // self.n_frames
                return (batch, self.n_frames, int(np.prod(input_shape[1:])))

            def get_config(self):
                return {**super().get_config(), "n_frames": self.n_frames}

        _LAYERS.update(FoldFrames=FoldFrames, UnfoldFrames=UnfoldFrames)
    return _LAYERS["FoldFrames"], _LAYERS["UnfoldFrames"]


def build_video_cnn(
    n_frames: int,
    height: int,
    width: int,
    n_classes: int = 2,
    feature_dim: int = 32,
    seed: int = 0,
    filters: tuple[int, ...] = (8, 16, 32),
    temporal_units: int = 32,
):
    """A small video network (per-frame CNN -> GRU -> Dense ``"features"`` -> softmax), functional API (chapter 08).

    Input: clips (n_frames, height, width, 1) from ``prepare_clips``. When ``n_frames > 1`` each frame gets a
    second channel, its difference from the previous frame (zero for the first frame; layers ``motion`` and
    ``frame_and_motion``): a tremor's hands that jump between two places from frame to frame, or a limp's
    uneven dip, become bright edges that a small convolution sees at once, where the raw frames show only a
    figure in slightly different poses. Each frame then goes through ``build_cnn``'s blocks (Conv2D 3x3 ReLU ->
    MaxPooling 2x2, ``filters`` channels, the first convolution with stride 2; layers ``conv1``, ``conv2`` ...),
    flattened so that the pose (where the arms and legs are) is kept. A GRU with ``temporal_units`` units reads
    the frames' vectors in order and keeps what changes over the gait cycle (an asymmetric swing, short steps);
    its last state goes through dropout to the ``"features"`` layer. ``seed`` fixes the initial weights.
    ``n_frames=1`` builds the same network on one frame (no motion channel): chapter 08's "what time adds".
    """
    import keras

    sizes = {"n_frames": n_frames, "height": height, "width": width, "temporal_units": temporal_units}
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    min_side = check_cnn_settings(filters, n_classes, feature_dim)
    if min(height, width) < min_side:
        raise ValueError(
            f"frames of {height}x{width} pixels are too small for {len(filters)} conv blocks; "
            f"use >= {min_side} pixels a side or fewer filters"
        )
    fold, unfold = frame_layers()
    init = keras.initializers.GlorotUniform
    n_frames, height, width = int(n_frames), int(height), int(width)
    inputs = keras.Input(shape=(n_frames, height, width, 1), name="clip")
    h = inputs
    if n_frames > 1:
        later = keras.layers.Cropping3D(((1, 0), (0, 0), (0, 0)), name="frames_1_to_end")(inputs)
        earlier = keras.layers.Cropping3D(((0, 1), (0, 0), (0, 0)), name="frames_0_to_end_1")(inputs)
        motion = keras.layers.Subtract(name="difference")([later, earlier])
        motion = keras.layers.ZeroPadding3D(((1, 0), (0, 0), (0, 0)), name="motion")(motion)
        h = keras.layers.Concatenate(name="frame_and_motion")([inputs, motion])
    h = fold(name="fold_frames")(h)
    for i, n_filters in enumerate(filters, start=1):
        h = keras.layers.Conv2D(
            n_filters,
            3,
            strides=2 if i == 1 else 1,
            padding="same",
            activation="relu",
            kernel_initializer=init(seed=seed + i),
            name=f"conv{i}",
        )(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{i}")(h)
    h = unfold(n_frames, name="frame_vectors")(h)
    h = keras.layers.GRU(
        int(temporal_units),
        kernel_initializer=init(seed=seed + 50),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 51),
        seed=seed,
        name="gru",
    )(h)
    h = keras.layers.Dropout(0.3, seed=seed, name="dropout")(h)
    features = keras.layers.Dense(
        feature_dim, activation="relu", kernel_initializer=init(seed=seed + 100), name=FEATURE_LAYER
    )(h)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_initializer=init(seed=seed + 101), name="probabilities"
    )(features)
    return keras.Model(inputs, outputs, name="video_cnn" if n_frames > 1 else "frame_cnn")


def video_features(model, clips: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """F_v = GRU(CNN(frames)): the ``"features"`` layer's activations for clips, (n, feature_dim) (chapter 08)."""
    x = np.asarray(clips)
    expected = tuple(model.input_shape[1:])
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"clips have shape {x.shape}; the model expects (n, {', '.join(map(str, expected))}): "
            "prepare them with prepare_clips"
        )
    if len(x) == 0:
        raise ValueError("clips are empty: no clip to read features from")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("clips contain NaN or infinite values")
    out = feature_extractor(model).predict(x.astype(np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)
