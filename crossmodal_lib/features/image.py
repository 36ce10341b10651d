"""Image features with a small CNN: F_x = CNN(X) (chapter 02).

``build_cnn`` makes a small convolutional network with the Keras functional API; its penultimate Dense layer,
named ``"features"``, is the image feature vector F_x. ``train_cnn`` trains it (augmentation on training images
only, early stopping on the validation loss); ``image_features`` reads F_x for any images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURE_LAYER = "features"


def check_cnn_settings(filters: tuple[int, ...], n_classes: int, feature_dim: int) -> int:
    """Check the settings every course CNN shares (chapters 02, 07); return the smallest input side it needs.

    The first convolution has stride 2 and each block pools by 2, so the input must be >= 2 ** (blocks + 1) long.
    """
    if not filters or min(filters) < 1:
        raise ValueError(f"filters must be a non-empty tuple of positive channel counts, got {filters!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes!r}")
    if feature_dim < 1:
        raise ValueError(f"feature_dim must be >= 1, got {feature_dim!r}")
    return 2 ** (len(filters) + 1)


def build_cnn(
    input_shape=(64, 64, 1),
    n_classes: int = 4,
    feature_dim: int = 64,
    seed: int = 0,
    filters: tuple[int, ...] = (8, 16, 32),
):
    """A small CNN (conv blocks -> Dense ``"features"`` -> softmax) built with the functional API (chapter 02).

    Each block is Conv2D(3x3, ReLU) -> MaxPooling(2x2), with ``filters`` channels (8, 16, 32 by default); the
    first convolution has stride 2, which makes training about four times faster on a CPU at the price of
    detail finer than two pixels. The conv layers are named ``conv1``, ``conv2`` ... so that chapter 02 can show
    their filters and feature maps. Flatten (not global pooling) keeps *where* something is on the film, which
    matters for a chest radiograph (the heart's width, a nodule's place). ``seed`` fixes the initial weights.
    """
    import keras

    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    min_side = check_cnn_settings(filters, n_classes, feature_dim)
    if min(input_shape[:2]) < min_side:
        raise ValueError(
            f"input_shape {input_shape!r} is too small for {len(filters)} conv blocks; use >= {min_side} pixels"
        )
    init = keras.initializers.GlorotUniform
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    h = inputs
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
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dropout(0.3, seed=seed, name="dropout")(h)
    features = keras.layers.Dense(
        feature_dim, activation="relu", kernel_initializer=init(seed=seed + 100), name=FEATURE_LAYER
    )(h)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_initializer=init(seed=seed + 101), name="probabilities"
    )(features)
    return keras.Model(inputs, outputs, name="image_cnn")


def _check_xy(x, y, n_classes: int, what: str, input_shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    # input_shape is the model's (without the batch axis): 3 axes for images, 2 for the 1-D ECG CNN (chapter 07),
    # 4 for the video CNN (chapter 08).
    x = np.asarray(x)
    y = np.asarray(y)
    items = {3: "images", 2: "signals", 4: "clips"}.get(len(input_shape), "inputs")
    if x.ndim != len(input_shape) + 1:
        layout = "height, width, channels" if len(input_shape) == 3 else ", ".join(map(str, input_shape))
        raise ValueError(f"{what} {items} have shape {x.shape}; expected (n, {layout})")
    if y.ndim != 1:
        raise ValueError(f"{what} labels have shape {y.shape}; expected integer class indices (n,)")
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} {items} but {len(y)} labels; they must match one to one")
    if len(x) == 0:
        raise ValueError(f"{what}: no {items}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} labels have dtype {y.dtype}; expected integer class indices")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"{what} labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError(f"{what} {items} contain NaN or infinite values")
    return x.astype(np.float32), y


def train_cnn(
    model,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    epochs: int,
    batch_size: int = 32,
    seed: int = 0,
    augment: bool = True,
    patience: int = 5,
    learning_rate: float = 1e-3,
    cache_dir: str | Path | None = None,
):
    """Train a CNN from ``build_cnn`` (or chapter 07's ``build_signal_cnn``, with ``augment=False``) on integer
    labels; returns the Keras ``History`` (chapter 02).

    * augmentation (``crossmodal_lib.preprocess.augmentation``) is applied to the training images only: the
      model is trained inside a wrapper ``augmentation -> model``, whose random layers are active in ``fit`` and
      idle when the validation loss is computed; ``model`` itself stays free of augmentation layers;
    * early stopping on the validation loss, restoring the best epoch's weights;
    * Adam, sparse categorical cross-entropy, ``verbose=0``; ``keras.utils.set_random_seed(seed)`` first, so the
      same call gives the same weights;
    * ``cache_dir``: keep the trained weights and the history there, under a hash of everything the training
      depends on (see ``_training_key``); the same training asked for again, by a later chapter or the pipeline,
      is loaded instead of repeated.
    """
    import keras

    from crossmodal_lib.preprocess.image import augmentation

    n_classes = int(model.output_shape[-1])
    expected = tuple(model.input_shape[1:])
    x, y = _check_xy(x, y, n_classes, "training", expected)
    x_val, y_val = _check_xy(x_val, y_val, n_classes, "validation", expected)
    image = len(expected) == 3
    for name, arr in (("training", x), ("validation", x_val)):
        if tuple(arr.shape[1:]) != expected:
            raise ValueError(
                f"{name} {'images' if image else 'signals'} have shape {arr.shape[1:]} per "
                f"{'image' if image else 'record'}; the model expects {expected}"
            )
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    if augment and not image:  # the augmentation layers rotate and shift 2-D images
        raise ValueError(f"augment=True needs an image model, not input {expected}; pass augment=False")
    settings = (epochs, batch_size, seed, augment, patience, learning_rate)
    arrays = (x, y.astype(np.int64), x_val, y_val.astype(np.int64))
    key = None if cache_dir is None else _training_key(model, arrays, settings)
    if key is not None and (Path(cache_dir) / f"train-{key}.json").is_file():
        return _load_training(model, Path(cache_dir), key, learning_rate)
    keras.utils.set_random_seed(seed)
    if augment:
        inputs = keras.Input(shape=expected, name="image")
        trainable = keras.Model(
            inputs, model(augmentation(seed=seed)(inputs)), name="augmented_" + model.name
        )
    else:
        trainable = model
    _compile(trainable, learning_rate)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    history = trainable.fit(
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=int(epochs),
        batch_size=batch_size,
        shuffle=True,
        callbacks=[stop],
        verbose=0,
    )
    if trainable is not model:  # so that model.evaluate() works without compiling it again
        _compile(model, learning_rate)
    if key is not None:
        _store_training(model, history, Path(cache_dir), key)
    return history


def _compile(model, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _training_key(model, arrays: tuple[np.ndarray, ...], settings: tuple) -> str:
    """A hash of what a training's result depends on: the layers' configurations (not their names) and starting
    weights, the data, the settings, the library's feature and augmentation code, the versions and the arithmetic."""
    import hashlib
    import os

    import keras
    import tensorflow as tf

    from crossmodal_lib import features, preprocess
    from crossmodal_lib.course import tf_threads

    h = hashlib.sha256()
    layers = [(type(layer).__name__, layer.get_config()) for layer in model.layers]
    h.update(
        repr([(kind, {k: v for k, v in config.items() if k != "name"}) for kind, config in layers]).encode()
    )
    for weights in model.get_weights():
        h.update(np.ascontiguousarray(weights).tobytes())
    for arr in arrays:
        h.update(repr((arr.shape, arr.dtype.str)).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr(settings).encode())
    for package in (features, preprocess):
        for file in sorted(Path(package.__file__).parent.glob("*.py")):
            h.update(file.read_bytes())
    arithmetic = (os.environ.get("TF_ENABLE_ONEDNN_OPTS"), tf_threads(), keras.__version__, tf.__version__)
    h.update(repr(arithmetic).encode())
    return h.hexdigest()[:16]


def _store_training(model, history, cache_dir: Path, key: str) -> None:
    """Write the trained weights and the history under temporary names, then rename (never half a file)."""
    import json
    import os

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = f".tmp-{os.getpid()}"
    model.save_weights(cache_dir / f"train-{key}{tmp}.weights.h5")
    os.replace(cache_dir / f"train-{key}{tmp}.weights.h5", cache_dir / f"train-{key}.weights.h5")
    record = {name: [float(v) for v in values] for name, values in history.history.items()}
    (cache_dir / f"train-{key}{tmp}.json").write_text(json.dumps(record), encoding="utf-8")
    os.replace(cache_dir / f"train-{key}{tmp}.json", cache_dir / f"train-{key}.json")


def _load_training(model, cache_dir: Path, key: str, learning_rate: float):
    """The stored result of the same training: the weights into ``model`` (weights only: no code is loaded), and
    a ``History`` with the stored per-epoch numbers."""
    import json

    import keras

    model.load_weights(cache_dir / f"train-{key}.weights.h5")
    _compile(model, learning_rate)
    history = keras.callbacks.History()
    history.history = json.loads((cache_dir / f"train-{key}.json").read_text(encoding="utf-8"))
    history.epoch = list(range(len(history.history["loss"])))
    return history


def feature_extractor(model):
    """The sub-model ``input -> "features" layer`` of a ``build_cnn`` or ``build_signal_cnn`` model (chapter 02)."""
    import keras

    try:
        layer = model.get_layer(FEATURE_LAYER)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer named {FEATURE_LAYER!r}; build it with build_cnn or build_signal_cnn"
        ) from None
    return keras.Model(model.inputs, layer.output, name=model.name + "_features")


def image_features(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """F_x = CNN(X): the ``"features"`` layer's activations for images ``x``, shape (n, feature_dim) (chapter 02)."""
    x = np.asarray(x)
    expected = tuple(model.input_shape[1:])
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"images have shape {x.shape}; the model expects (n, {', '.join(map(str, expected))})"
        )
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("images contain NaN or infinite values")
    out = feature_extractor(model).predict(x.astype(np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)
