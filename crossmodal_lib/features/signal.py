"""ECG features with a small 1-D CNN: F_s = CNN(signal) (chapter 07).

``build_signal_cnn`` is chapter 02's ``build_cnn`` for traces: Conv1D blocks -> Dense ``"features"`` -> softmax.
It trains with the same ``train_cnn`` (``augment=False``) and its features are read by the same
``feature_extractor``; ``signal_features`` reads F_s for traces prepared by
``crossmodal_lib.preprocess.signal.prepare_signals``.
"""

from __future__ import annotations

import numpy as np

from crossmodal_lib.features.image import FEATURE_LAYER, check_cnn_settings, feature_extractor

KERNEL_SIZE = 7  # 70 ms at 100 Hz: about one QRS complex, or a P wave's rise


def build_signal_cnn(
    n_samples: int,
    n_leads: int = 1,
    n_classes: int = 2,
    feature_dim: int = 32,
    seed: int = 0,
    filters: tuple[int, ...] = (16, 32, 64),
):
    """A small 1-D CNN (conv blocks -> Dense ``"features"`` -> softmax) built with the functional API (chapter 07).

    Each block is Conv1D(7 samples, ReLU) -> MaxPooling1D(2), with ``filters`` channels; the first convolution has
    stride 2, as in ``build_cnn``, which halves the cost for little loss at 100 Hz. Global pooling over time, not
    Flatten, ends the blocks: where a beat falls in the window means nothing (a record starts at any moment of the
    cardiac cycle), unlike where a nodule is on a film. Average and max pooling are concatenated: the average says
    how much of a pattern the record holds, the max whether it occurs at all (a single P wave); with both, the
    network learns sinus vs atrial fibrillation in a few epochs. Conv layers are named ``conv1``, ``conv2`` ...;
    ``seed`` fixes the initial weights.
    """
    import keras

    if (
        not isinstance(n_samples, int | np.integer)
        or not isinstance(n_leads, int | np.integer)
        or n_leads < 1
    ):
        raise ValueError(f"n_samples and n_leads must be whole numbers >= 1, got {n_samples!r}, {n_leads!r}")
    min_samples = check_cnn_settings(filters, n_classes, feature_dim)
    if n_samples < min_samples:
        raise ValueError(
            f"n_samples={n_samples!r} is too small for {len(filters)} conv blocks; use >= {min_samples} samples"
        )
    init = keras.initializers.GlorotUniform
    inputs = keras.Input(shape=(int(n_samples), int(n_leads)), name="signal")
    h = inputs
    for i, n_filters in enumerate(filters, start=1):
        h = keras.layers.Conv1D(
            n_filters,
            KERNEL_SIZE,
            strides=2 if i == 1 else 1,
            padding="same",
            activation="relu",
            kernel_initializer=init(seed=seed + i),
            name=f"conv{i}",
        )(h)
        h = keras.layers.MaxPooling1D(2, name=f"pool{i}")(h)
    h = keras.layers.Concatenate(name="global_pool")(
        [
            keras.layers.GlobalAveragePooling1D(name="mean_pool")(h),
            keras.layers.GlobalMaxPooling1D(name="max_pool")(h),
        ]
    )
    h = keras.layers.Dropout(0.3, seed=seed, name="dropout")(h)
    features = keras.layers.Dense(
        feature_dim, activation="relu", kernel_initializer=init(seed=seed + 100), name=FEATURE_LAYER
    )(h)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_initializer=init(seed=seed + 101), name="probabilities"
    )(features)
    return keras.Model(inputs, outputs, name="signal_cnn")


def signal_features(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """F_s = CNN(signal): the ``"features"`` layer's activations for traces ``x``, (n, feature_dim) (chapter 07)."""
    x = np.asarray(x)
    expected = tuple(model.input_shape[1:])
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"signals have shape {x.shape}; the model expects (n, {', '.join(map(str, expected))}): "
            "prepare them with prepare_signals"
        )
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("signals contain NaN or infinite values")
    out = feature_extractor(model).predict(x.astype(np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)
