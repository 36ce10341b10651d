"""Chapter 04: fusing the two modalities, Z = MLP(F_x, F_y).

One small class per fusion idea, in the spirit of MultiBench's ``fusions/common_fusions.py``:

    SingleModality  the baseline: an MLP on one modality's features, p = MLP(F)
    EarlyFusion     an MLP on frozen, concatenated features, p = MLP(F_x ⊕ F_y)       (the article's formula)
    JointFusion     a two-input Keras model: a CNN on the pixels and a text branch, trained end to end
    LateFusion      a weighted average of per-modality probabilities, p = w p_x + (1 - w) p_y
    GatedFusion     a gated multimodal unit: a learned per-sample gate z mixes h_x and h_y

The Keras models follow the keras-io functional-API style. Every class has ``fit`` and ``predict_proba``
(scikit-learn's names); inputs are checked (2-D, finite, the same number of rows) and a mismatch names the arrays:
``"F_x has 120 rows but F_y has 119"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = [
    "EarlyFusion",
    "GatedFusion",
    "JointFusion",
    "LateFusion",
    "SingleModality",
    "build_mlp",
    "check_features",
    "check_labels",
    "concatenate_features",
]


# ----------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------
def check_features(blocks: Sequence[object], names: Sequence[str], ndim: int = 2) -> list[np.ndarray]:
    """Return the blocks as float32 arrays after checking them (chapter 04).

    Each block must have ``ndim`` dimensions (2 for feature matrices, 4 for image batches), at least one row,
    only finite values, and all blocks the same number of rows. Errors name the block and the problem.
    """
    arrays = []
    for block, name in zip(blocks, names, strict=True):
        if block is None:
            raise ValueError(f"{name} is None; pass an array")
        arr = np.asarray(block, dtype=np.float32)
        if arr.ndim != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        bad = ~np.isfinite(arr)
        if bad.any():
            first = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} has {int(bad.sum())} NaN or infinite values (first at row {int(first[0])}); "
                "impute missing features before fusion"
            )
        arrays.append(arr)
    for arr, name in zip(arrays[1:], names[1:], strict=True):
        if arr.shape[0] != arrays[0].shape[0]:
            raise ValueError(f"{names[0]} has {arrays[0].shape[0]} rows but {name} has {arr.shape[0]}")
    return arrays


def check_labels(y: object, n_rows: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Return integer class labels of shape (n_rows,) after checking them (chapter 04)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"the features have {n_rows} rows but {name} has {arr.shape[0]}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} has labels outside 0..{n_classes - 1}: min {arr.min()}, max {arr.max()}")
    return arr.astype(np.int64)


def concatenate_features(F_x: object, F_y: object) -> np.ndarray:
    """F_x ⊕ F_y: the row-wise concatenation early fusion feeds to its MLP (chapter 04)."""
    F_x, F_y = check_features([F_x, F_y], ["F_x", "F_y"])
    return np.concatenate([F_x, F_y], axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Keras building blocks
# ----------------------------------------------------------------------------------------------------------------
def _normalizer(block: np.ndarray, name: str):
    """A Keras Normalization layer adapted to the training block: each feature to mean 0, variance 1."""
    import keras

    layer = keras.layers.Normalization(name=name)
    layer.adapt(block)
    return layer


def build_mlp(
    train_blocks: Sequence[np.ndarray],
    n_classes: int = 4,
    hidden: Sequence[int] = (64,),
    dropout: float = 0.3,
    names: Sequence[str] | None = None,
    learning_rate: float = 1e-3,
    name: str = "mlp",
):
    """Build (and compile) p = softmax(MLP(F_1 ⊕ ... ⊕ F_k)) for feature blocks shaped like ``train_blocks``.

    Chapter 04. Each block is standardised by a Keras ``Normalization`` layer adapted on the training rows, so the
    CNN's and Word2Vec's features enter on the same scale. One block gives the single-modality baseline; two give
    early fusion, Z = MLP(F_x, F_y).
    """
    import keras

    names = list(names) if names is not None else [f"F_{i}" for i in range(len(train_blocks))]
    inputs, normed = [], []
    for block, block_name in zip(train_blocks, names, strict=True):
        inp = keras.Input(shape=(block.shape[1],), name=block_name)
        inputs.append(inp)
        normed.append(_normalizer(block, f"{block_name}_standardised")(inp))
    h = keras.layers.Concatenate(name="concatenate")(normed) if len(normed) > 1 else normed[0]
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)
        h = keras.layers.Dropout(dropout, name=f"dropout_{i}")(h)
    out = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(h)
    model = keras.Model(inputs, out, name=name)
    _compile(model, learning_rate)
    return model


def _compile(model, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


class _KerasFusion:
    """Shared fit/predict for the Keras-based classes: seeding, early stopping, checks."""

    input_names: tuple[str, ...] = ()
    input_ndims: tuple[int, ...] = ()

    def __init__(
        self,
        n_classes: int = 4,
        hidden: int = 64,
        dropout: float = 0.3,
        epochs: int = 100,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        patience: int = 10,
        seed: int = 0,
    ) -> None:
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.n_classes = n_classes
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed
        self.model_ = None
        self.history_ = None

    # subclasses build the Keras model from the (checked) training blocks
    def _build(self, blocks: list[np.ndarray]):
        raise NotImplementedError

    def _check(self, blocks: Sequence[object], suffix: str = "") -> list[np.ndarray]:
        arrays = []
        names = [n + suffix for n in self.input_names]
        for block, name, ndim in zip(blocks, names, self.input_ndims, strict=True):
            arrays += check_features([block], [name], ndim=ndim)
        for arr, name in zip(arrays[1:], names[1:], strict=True):
            if arr.shape[0] != arrays[0].shape[0]:
                raise ValueError(f"{names[0]} has {arrays[0].shape[0]} rows but {name} has {arr.shape[0]}")
        if self.model_ is not None and not suffix:
            for arr, name, inp in zip(arrays, names, self.model_.inputs, strict=True):
                expected = tuple(inp.shape[1:])
                if arr.shape[1:] != expected:
                    raise ValueError(
                        f"{name} has shape {arr.shape[1:]} per row but the model was fit on {expected}"
                    )
        return arrays

    def _fit(self, blocks: Sequence[object], y: object, validation_data: Sequence[object] | None):
        import keras

        self.model_ = None
        arrays = self._check(blocks)
        y = check_labels(y, arrays[0].shape[0], self.n_classes)
        validation = None
        callbacks = []
        if validation_data is not None:
            *val_blocks, y_val = validation_data
            val_arrays = self._check(val_blocks, suffix="_val")
            y_val = check_labels(y_val, val_arrays[0].shape[0], self.n_classes, name="y_val")
            validation = (tuple(val_arrays), y_val)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.patience, restore_best_weights=True
                )
            )
        # Seeding right before building makes the weights (and so the results) independent of what ran before.
        keras.utils.set_random_seed(self.seed)
        self.model_ = self._build(arrays)
        self.history_ = self.model_.fit(
            tuple(arrays) if len(arrays) > 1 else arrays[0],
            y,
            validation_data=validation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        return self

    def _predict(self, blocks: Sequence[object]) -> np.ndarray:
        if self.model_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit first")
        arrays = self._check(blocks)
        x = tuple(arrays) if len(arrays) > 1 else arrays[0]
        proba = np.asarray(self.model_.predict(x, batch_size=256, verbose=0), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only up to rounding

    def predict(self, *inputs: object) -> np.ndarray:
        """The most probable class per row; takes the same inputs as ``predict_proba``."""
        return self.predict_proba(*inputs).argmax(axis=1)


class SingleModality(_KerasFusion):
    """The baseline: p = softmax(MLP(F)) on one modality's features (chapter 04).

    >>> model = SingleModality(epochs=50).fit(F_x_train, y_train, validation_data=(F_x_val, y_val))
    >>> proba = model.predict_proba(F_x_test)            # (n, n_classes)
    """

    input_names = ("F",)
    input_ndims = (2,)

    def _build(self, blocks):
        return build_mlp(
            blocks,
            self.n_classes,
            (self.hidden,),
            self.dropout,
            ["F"],
            self.learning_rate,
            name="single_modality",
        )

    def fit(
        self, F: object, y: object, validation_data: tuple[object, object] | None = None
    ) -> SingleModality:
        """Train on features F (n, d) and labels y (n,); ``validation_data=(F_val, y_val)`` enables early stopping."""
        return self._fit([F], y, validation_data)

    def predict_proba(self, F: object) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        return self._predict([F])


class EarlyFusion(_KerasFusion):
    """Early fusion on frozen features: Z = MLP(F_x ⊕ F_y) (chapter 04; the article's formula, working).

    F_x comes from the CNN, F_y from Word2Vec; both are frozen (computed once), standardised, concatenated and fed
    to one hidden layer and a softmax.

    >>> model = EarlyFusion().fit(F_x_train, F_y_train, y_train, validation_data=(F_x_val, F_y_val, y_val))
    >>> proba = model.predict_proba(F_x_test, F_y_test)
    """

    input_names = ("F_x", "F_y")
    input_ndims = (2, 2)

    def _build(self, blocks):
        return build_mlp(
            blocks,
            self.n_classes,
            (self.hidden,),
            self.dropout,
            ["F_x", "F_y"],
            self.learning_rate,
            "early_fusion",
        )

    def fit(
        self,
        F_x: object,
        F_y: object,
        y: object,
        validation_data: tuple[object, object, object] | None = None,
    ) -> EarlyFusion:
        """Train on image features F_x (n, d_x), text features F_y (n, d_y) and labels y (n,)."""
        return self._fit([F_x, F_y], y, validation_data)

    def predict_proba(self, F_x: object, F_y: object) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        return self._predict([F_x, F_y])


class GatedFusion(_KerasFusion):
    """A gated multimodal unit (Arevalo et al., 2017) on frozen features (chapter 04).

        h_x = tanh(W_x F_x),  h_y = tanh(W_y F_y),  z = sigmoid(W_z [F_x ⊕ F_y]),
        h = z ⊙ h_x + (1 − z) ⊙ h_y,  p = softmax(W_o h)

    The gate z is computed per sample: it says how much this patient's prediction leans on the image (z near 1)
    or on the note (z near 0). ``gates(F_x, F_y)`` returns it.
    """

    input_names = ("F_x", "F_y")
    input_ndims = (2, 2)

    def _build(self, blocks):
        import keras

        F_x_train, F_y_train = blocks
        F_x = keras.Input(shape=(F_x_train.shape[1],), name="F_x")
        F_y = keras.Input(shape=(F_y_train.shape[1],), name="F_y")
        x = _normalizer(F_x_train, "F_x_standardised")(F_x)
        y = _normalizer(F_y_train, "F_y_standardised")(F_y)
        h_x = keras.layers.Dense(self.hidden, activation="tanh", name="h_x")(x)
        h_y = keras.layers.Dense(self.hidden, activation="tanh", name="h_y")(y)
        both = keras.layers.Concatenate(name="concatenate")([x, y])
        z = keras.layers.Dense(self.hidden, activation="sigmoid", name="gate")(both)
        # h = z * h_x + (1 - z) * h_y, written as h_y + z * (h_x - h_y) with built-in layers only (no Lambda).
        diff = keras.layers.Subtract(name="h_x_minus_h_y")([h_x, h_y])
        h = keras.layers.Add(name="h")([h_y, keras.layers.Multiply(name="gated")([z, diff])])
        h = keras.layers.Dropout(self.dropout, name="dropout")(h)
        out = keras.layers.Dense(self.n_classes, activation="softmax", name="probabilities")(h)
        model = keras.Model([F_x, F_y], out, name="gated_fusion")
        _compile(model, self.learning_rate)
        return model

    def fit(
        self,
        F_x: object,
        F_y: object,
        y: object,
        validation_data: tuple[object, object, object] | None = None,
    ) -> GatedFusion:
        """Train on image features F_x (n, d_x), text features F_y (n, d_y) and labels y (n,)."""
        return self._fit([F_x, F_y], y, validation_data)

    def predict_proba(self, F_x: object, F_y: object) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        return self._predict([F_x, F_y])

    def gates(self, F_x: object, F_y: object) -> np.ndarray:
        """The gate z per sample and unit, shape (n, hidden); its row mean is the weight on the image."""
        import keras

        if self.model_ is None:
            raise ValueError("GatedFusion is not fitted yet; call fit first")
        arrays = self._check([F_x, F_y])
        gate_model = keras.Model(self.model_.inputs, self.model_.get_layer("gate").output)
        return np.asarray(gate_model.predict(tuple(arrays), batch_size=256, verbose=0), dtype=np.float64)


class JointFusion(_KerasFusion):
    """Joint (end-to-end) fusion: one two-input Keras model trained as a whole (chapter 04).

    The image branch is the course's CNN (``features.image.build_cnn``, cut at its ``features`` layer) learning
    from the pixels; the text branch is a Dense layer on the note's document vector F_y. Both branches get their
    gradients from the fused prediction, p = MLP(CNN(X) ⊕ g(F_y)), so the image features are learnt *for* fusion
    instead of for the image-only task.

    ``image_model``: a trained CNN from ``build_cnn`` (chapter 02) whose weights start the image branch (a copy is
    fine-tuned; the CNN passed in is not changed). Without it the branch starts from random weights and needs
    more epochs. ``augment`` puts chapter 01's augmentation layers in front of the image branch (active in
    ``fit`` only).
    """

    input_names = ("images", "F_y")
    input_ndims = (4, 2)

    def __init__(
        self,
        *args: object,
        feature_dim: int = 64,
        image_model: object | None = None,
        augment: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.feature_dim = feature_dim
        self.image_model = image_model
        self.augment = augment

    def _image_branch(self, input_shape: tuple[int, ...]):
        import keras

        from crossmodal_lib.features.image import build_cnn

        if self.image_model is None:
            cnn = build_cnn(
                input_shape=input_shape,
                n_classes=self.n_classes,
                feature_dim=self.feature_dim,
                seed=self.seed,
            )
        else:
            if tuple(self.image_model.input_shape[1:]) != tuple(input_shape):
                raise ValueError(
                    f"image_model expects images of shape {tuple(self.image_model.input_shape[1:])}, "
                    f"but the images have shape {tuple(input_shape)}"
                )
            cnn = keras.models.clone_model(self.image_model)
            cnn.set_weights(self.image_model.get_weights())
        return keras.Model(cnn.inputs, cnn.get_layer("features").output, name="image_branch")

    def _build(self, blocks):
        import keras

        images_train, F_y_train = blocks
        image_branch = self._image_branch(images_train.shape[1:])
        images = keras.Input(shape=images_train.shape[1:], name="images")
        F_y = keras.Input(shape=(F_y_train.shape[1],), name="F_y")
        x = images
        if self.augment:
            from crossmodal_lib.preprocess.image import augmentation

            x = augmentation(seed=self.seed)(x)
        f_x = image_branch(x)
        y = _normalizer(F_y_train, "F_y_standardised")(F_y)
        f_y = keras.layers.Dense(self.feature_dim, activation="relu", name="text_branch")(y)
        h = keras.layers.Concatenate(name="concatenate")([f_x, f_y])
        h = keras.layers.Dense(self.hidden, activation="relu", name="hidden_0")(h)
        h = keras.layers.Dropout(self.dropout, name="dropout_0")(h)
        out = keras.layers.Dense(self.n_classes, activation="softmax", name="probabilities")(h)
        model = keras.Model([images, F_y], out, name="joint_fusion")
        _compile(model, self.learning_rate)
        return model

    def fit(
        self,
        images: object,
        F_y: object,
        y: object,
        validation_data: tuple[object, object, object] | None = None,
    ) -> JointFusion:
        """Train on images (n, h, w, 1) in [0, 1], text features F_y (n, d_y) and labels y (n,)."""
        return self._fit([images, F_y], y, validation_data)

    def predict_proba(self, images: object, F_y: object) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        return self._predict([images, F_y])


# ----------------------------------------------------------------------------------------------------------------
# Late fusion
# ----------------------------------------------------------------------------------------------------------------
def _check_probas(probas: Sequence[object], names: Sequence[str]) -> list[np.ndarray]:
    check_features(probas, names)  # 2-D, finite, the same rows (it returns float32 copies; keep float64 here)
    arrays = [np.asarray(a, dtype=np.float64) for a in probas]
    for arr, name in zip(arrays, names, strict=True):
        if arr.shape[1] != arrays[0].shape[1]:
            raise ValueError(f"{names[0]} has {arrays[0].shape[1]} classes but {name} has {arr.shape[1]}")
        if arr.min() < 0 or arr.max() > 1 + 1e-6:
            raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return arrays


class LateFusion:
    """Late fusion: p = Σ_m w_m p_m, a weighted average of per-modality probabilities (chapter 04).

    Each modality has its own model; only their predictions meet. ``weights=None`` averages equally; ``fit``
    chooses the weights on validation predictions (a grid over the simplex, step ``1/grid_steps``, lowest log-loss).

    >>> late = LateFusion().fit([p_image_val, p_text_val], y_val)
    >>> proba = late.predict_proba([p_image_test, p_text_test])
    """

    def __init__(self, weights: Sequence[float] | None = None, grid_steps: int = 10) -> None:
        if grid_steps < 1:
            raise ValueError(f"grid_steps must be at least 1, got {grid_steps}")
        self.grid_steps = grid_steps
        self.weights_ = None if weights is None else self._check_weights(weights)

    @staticmethod
    def _check_weights(weights: Sequence[float]) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) < 2:
            raise ValueError(f"weights must be a list of at least two numbers, got {weights!r}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"weights must be non-negative and not all zero, got {weights!r}")
        return w / w.sum()

    def fit(self, probas_val: Sequence[object], y_val: object) -> LateFusion:
        """Choose the weights that minimise the validation log-loss of the averaged probabilities."""
        from sklearn.metrics import log_loss

        names = [f"probas_val[{i}]" for i in range(len(probas_val))]
        if len(probas_val) < 2:
            raise ValueError("late fusion needs the predictions of at least two models")
        arrays = _check_probas(probas_val, names)
        n_classes = arrays[0].shape[1]
        y_val = check_labels(y_val, arrays[0].shape[0], n_classes, name="y_val")
        best, best_loss = None, np.inf
        steps = self.grid_steps
        for combo in itertools.product(range(steps + 1), repeat=len(arrays) - 1):
            if sum(combo) > steps:
                continue
            w = np.array([*combo, steps - sum(combo)], dtype=np.float64) / steps
            p = sum(wi * a for wi, a in zip(w, arrays, strict=True))
            loss = log_loss(y_val, p / p.sum(axis=1, keepdims=True), labels=np.arange(n_classes))
            if loss < best_loss - 1e-12:
                best, best_loss = w, loss
        self.weights_ = best
        self.validation_log_loss_ = float(best_loss)
        return self

    def predict_proba(self, probas: Sequence[object]) -> np.ndarray:
        """The weighted average of the models' probabilities, shape (n, n_classes)."""
        arrays = _check_probas(probas, [f"probas[{i}]" for i in range(len(probas))])
        weights = np.full(len(arrays), 1 / len(arrays)) if self.weights_ is None else self.weights_
        if len(weights) != len(arrays):
            raise ValueError(f"late fusion has {len(weights)} weights but got {len(arrays)} predictions")
        p = sum(w * a for w, a in zip(weights, arrays, strict=True))
        return p / p.sum(axis=1, keepdims=True)  # rows sum to 1 exactly, not only up to rounding

    def predict(self, probas: Sequence[object]) -> np.ndarray:
        """The most probable class per row."""
        return self.predict_proba(probas).argmax(axis=1)
