"""Chapter 04: fusing the modalities, Z = MLP(F_x, F_y), and the same for any number of modalities.

One small class per fusion idea, in the spirit of MultiBench's ``fusions/common_fusions.py``:

    SingleModality  the baseline: an MLP on one modality's features, p = MLP(F)
    EarlyFusion     an MLP on frozen, concatenated features, p = MLP(F_x ⊕ F_y)       (the article's formula)
    JointFusion     a multi-input Keras model: a CNN on the pixels and a branch per other modality, end to end
    LateFusion      a weighted average of per-modality probabilities, p = Σ_m w_m p_m
    GatedFusion     a gated multimodal unit: learned per-sample gates z_m mix the modalities' h_m
    StackedFusion   staged: specialists over groups of modalities, each on its own question, then a head (ch. 09,
                    ch. 14: findings first, with weak labels read from the report and the note)

Every model takes its inputs as a mapping from modality name to array, the same for two modalities or five:

    EarlyFusion().fit({"image": F_x, "text": F_y}, y)                   # Z = MLP(F_x, F_y)
    EarlyFusion().fit({"image": F_x, "text": F_y, "ecg": F_s}, y)       # Z = MLP(F_x, F_y, F_s)

The Keras models follow the keras-io functional-API style. Every class has ``fit`` and ``predict_proba``
(scikit-learn's names); inputs are checked (2-D, finite, the same number of rows, the modalities the model was fit
on) and a problem names the modality: ``"image has 120 rows but text has 119"``.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "EarlyFusion",
    "GatedFusion",
    "JointFusion",
    "LateFusion",
    "MultiLabelLogistic",
    "SingleModality",
    "StackedFusion",
    "build_mlp",
    "check_blocks",
    "check_features",
    "check_labels",
    "concatenate_features",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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


def check_blocks(
    blocks: Mapping[str, object],
    ndims: Mapping[str, int] | None = None,
    expected: Sequence[str] | None = None,
    suffix: str = "",
) -> dict[str, np.ndarray]:
    """Check a mapping {modality: array} and return it as float32 arrays, in ``expected``'s order if given.

    Chapter 04. ``ndims`` gives a modality's number of dimensions (2 when not named); ``expected`` the modalities
    a fitted model needs; ``suffix`` is added to the names in messages (" (validation)").
    """
    if not isinstance(blocks, Mapping):
        raise TypeError(
            "pass the modalities as a mapping from name to array, e.g. {'image': F_x, 'text': F_y}; "
            f"got {type(blocks).__name__}"
        )
    if not blocks:
        raise ValueError("no modality given; pass at least one {'name': array}")
    for name in blocks:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"modality name {name!r} must be a word of letters, digits and _ (e.g. 'image')")
    if expected is not None:
        missing = [m for m in expected if m not in blocks]
        extra = [m for m in blocks if m not in expected]
        if missing or extra:
            problem = f"missing modality {missing}" if missing else f"unknown modality {extra}"
            raise ValueError(f"{problem}{suffix}: the model was fit on {list(expected)}")
    names = list(expected) if expected is not None else list(blocks)
    ndims = ndims or {}
    arrays = {m: check_features([blocks[m]], [m + suffix], ndim=ndims.get(m, 2))[0] for m in names}
    first = names[0]
    for m in names[1:]:
        if arrays[m].shape[0] != arrays[first].shape[0]:
            raise ValueError(
                f"{first}{suffix} has {arrays[first].shape[0]} rows but {m}{suffix} has {arrays[m].shape[0]}"
            )
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


def concatenate_features(blocks: Mapping[str, object]) -> np.ndarray:
    """F_x ⊕ F_y (⊕ ...): the row-wise join of the modalities' features that early fusion feeds its MLP (chapter 04)."""
    return np.concatenate(list(check_blocks(blocks).values()), axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Keras building blocks
# ----------------------------------------------------------------------------------------------------------------
def _normalizer(block: np.ndarray, name: str):
    """A Keras Normalization layer adapted to the training block: each feature to mean 0, variance 1."""
    import keras

    layer = keras.layers.Normalization(name=name)
    layer.adapt(block)
    set_standardisation(layer, np.asarray(layer.adapt_mean), np.asarray(layer.adapt_variance))
    return layer


def set_standardisation(layer, mean: np.ndarray, variance: np.ndarray) -> None:
    """Give a Normalization layer its mean and variance; a column constant in them is scaled by 1 (chapters 04, 12).

    Keras divides by max(sd, 1e-7), so a column that was constant in the training rows (a CNN unit that never
    fired) would be multiplied by 10^7 wherever it does vary, for example under another hospital's scanner. Such a
    column is scaled by 1 instead, scikit-learn's ``StandardScaler`` rule; every other column is unchanged.
    """
    import keras

    variance = np.asarray(variance, dtype=np.float64)
    constant = np.sqrt(np.maximum(variance, 0)) < keras.config.epsilon()
    layer.adapt_mean.assign(np.asarray(mean, dtype=np.float32))
    layer.adapt_variance.assign(np.where(constant, 1.0, variance).astype(np.float32))
    layer.finalize_state()


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
        # Run 32 training steps per call into TensorFlow: the same steps, in the same order (the same weights to
        # the last bit), with a third less Python overhead for these small models.
        steps_per_execution=32,
    )


def _model_inputs(arrays: dict[str, np.ndarray]):
    """The checked blocks in the form Keras takes them: one array, or a tuple in the model's input order."""
    values = tuple(arrays.values())
    return values[0] if len(values) == 1 else values


class _KerasFusion:
    """Shared fit/predict for the Keras-based classes: seeding, early stopping, checks over named modalities."""

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
        self.modalities_: tuple[str, ...] = ()

    # subclasses build the Keras model from the (checked) training blocks, one Keras input per modality
    def _build(self, blocks: dict[str, np.ndarray]):
        raise NotImplementedError

    def _ndims(self) -> dict[str, int]:
        return {}  # every modality is a 2-D feature matrix unless a subclass says otherwise

    def _check_count(self, blocks: Mapping[str, object]) -> None:
        """Subclasses refuse a number of modalities they cannot fuse."""
        if isinstance(blocks, Mapping) and len(blocks) < 2:
            raise ValueError(f"{type(self).__name__} fuses at least two modalities, got {list(blocks)}")

    def _check(self, blocks: Mapping[str, object], suffix: str = "") -> dict[str, np.ndarray]:
        arrays = check_blocks(blocks, self._ndims(), self.modalities_ or None, suffix)
        if self.model_ is not None and not suffix:
            for (name, arr), inp in zip(arrays.items(), self.model_.inputs, strict=True):
                expected = tuple(inp.shape[1:])
                if arr.shape[1:] != expected:
                    raise ValueError(
                        f"{name} has shape {arr.shape[1:]} per row but the model was fit on {expected}"
                    )
        return arrays

    def fit(
        self,
        blocks: Mapping[str, object],
        y: object,
        validation_data: tuple[Mapping[str, object], object] | None = None,
    ):
        """Train on {modality: features (n, d)} and labels y (n,); ``validation_data=(blocks_val, y_val)``
        (the same modalities) enables early stopping on the validation loss."""
        import keras

        self._check_count(blocks)
        self.model_, self.modalities_ = None, ()
        arrays = self._check(blocks)
        y = check_labels(y, len(next(iter(arrays.values()))), self.n_classes)
        self.modalities_ = tuple(arrays)
        validation = None
        callbacks = []
        if validation_data is not None:
            val_blocks, y_val = validation_data
            val_arrays = self._check(val_blocks, suffix=" (validation)")
            y_val = check_labels(y_val, len(next(iter(val_arrays.values()))), self.n_classes, name="y_val")
            validation = (_model_inputs(val_arrays), y_val)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.patience, restore_best_weights=True
                )
            )
        # Seeding right before building makes the weights (and so the results) independent of what ran before.
        keras.utils.set_random_seed(self.seed)
        self.model_ = self._build(arrays)
        self.history_ = self.model_.fit(
            _model_inputs(arrays),
            y,
            validation_data=validation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        return self

    def _fitted(self) -> None:
        if self.model_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit first")

    def predict_proba(self, blocks: Mapping[str, object]) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), from the modalities the model was fit on."""
        self._fitted()
        arrays = self._check(blocks)
        proba = np.asarray(
            self.model_.predict(_model_inputs(arrays), batch_size=256, verbose=0), dtype=np.float64
        )
        return proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only up to rounding

    def predict(self, blocks: Mapping[str, object]) -> np.ndarray:
        """The most probable class per row."""
        return self.predict_proba(blocks).argmax(axis=1)


class SingleModality(_KerasFusion):
    """The baseline: p = softmax(MLP(F)) on one modality's features (chapter 04).

    >>> model = SingleModality(epochs=50).fit({"image": F_x_train}, y_train, validation_data=({"image": F_x_val}, y_val))
    >>> proba = model.predict_proba({"image": F_x_test})            # (n, n_classes)
    """

    def _check_count(self, blocks):
        if isinstance(blocks, Mapping) and len(blocks) != 1:
            raise ValueError(f"SingleModality takes exactly one modality, got {list(blocks)}")

    def _build(self, blocks):
        return build_mlp(
            list(blocks.values()),
            self.n_classes,
            (self.hidden,),
            self.dropout,
            list(blocks),
            self.learning_rate,
            name="single_modality",
        )


class EarlyFusion(_KerasFusion):
    """Early fusion on frozen features: Z = MLP(F_x ⊕ F_y ⊕ ...) (chapter 04; the article's formula, working).

    F_x comes from the CNN, F_y from Word2Vec (and F_s from an ECG encoder ...); all are frozen (computed once),
    standardised, concatenated and fed to one hidden layer and a softmax.

    >>> model = EarlyFusion().fit({"image": F_x, "text": F_y}, y, validation_data=({"image": F_x_val, "text": F_y_val}, y_val))
    >>> proba = model.predict_proba({"image": F_x_test, "text": F_y_test})
    """

    def _build(self, blocks):
        return build_mlp(
            list(blocks.values()),
            self.n_classes,
            (self.hidden,),
            self.dropout,
            list(blocks),
            self.learning_rate,
            "early_fusion",
        )


class GatedFusion(_KerasFusion):
    """A gated multimodal unit (Arevalo et al., 2017) on frozen features, for any number of modalities (chapter 04).

        h_m = tanh(W_m F_m),  z = softmax_m(V_m [F_1 ⊕ ... ⊕ F_M]),  h = Σ_m z_m ⊙ h_m,  p = softmax(W_o h)

    The gates z_m are computed per sample and hidden unit and sum to 1 over the modalities: they say how much this
    patient's prediction leans on each modality. With two modalities z_image = 1 - z_text, the gate of the paper.
    ``gates(blocks)`` returns them.
    """

    def _build(self, blocks):
        import keras

        inputs, normed, h = [], [], []
        for name, block in blocks.items():
            inp = keras.Input(shape=(block.shape[1],), name=name)
            x = _normalizer(block, f"{name}_standardised")(inp)
            inputs.append(inp)
            normed.append(x)
            h.append(keras.layers.Dense(self.hidden, activation="tanh", name=f"h_{name}")(x))
        both = keras.layers.Concatenate(name="concatenate")(normed)
        logits = [keras.layers.Dense(self.hidden, name=f"gate_logits_{name}")(both) for name in blocks]
        z = keras.layers.Softmax(axis=1, name="gate")(keras.ops.stack(logits, axis=1))  # (n, M, hidden)
        fused = keras.ops.sum(z * keras.ops.stack(h, axis=1), axis=1)
        fused = keras.layers.Dropout(self.dropout, name="dropout")(fused)
        out = keras.layers.Dense(self.n_classes, activation="softmax", name="probabilities")(fused)
        model = keras.Model(inputs, out, name="gated_fusion")
        _compile(model, self.learning_rate)
        return model

    def gates(self, blocks: Mapping[str, object]) -> dict[str, np.ndarray]:
        """The gate z_m per modality, each of shape (n, hidden); they sum to 1 over the modalities."""
        import keras

        self._fitted()
        arrays = self._check(blocks)
        gate_model = keras.Model(self.model_.inputs, self.model_.get_layer("gate").output)
        z = np.asarray(gate_model.predict(_model_inputs(arrays), batch_size=256, verbose=0), dtype=np.float64)
        return {name: z[:, i, :] for i, name in enumerate(self.modalities_)}


class JointFusion(_KerasFusion):
    """Joint (end-to-end) fusion: one multi-input Keras model trained as a whole (chapter 04).

    The ``image`` modality is given as pixels, and its branch is the course's CNN (``features.image.build_cnn``,
    cut at its ``features`` layer); every other modality is a feature matrix (the note's document vector F_y, ...)
    with a Dense branch. All branches get their gradients from the fused prediction, p = MLP(CNN(X) ⊕ g(F_y)), so
    the image features are learnt *for* fusion instead of for the image-only task.

    ``image_model``: a trained CNN from ``build_cnn`` (chapter 02) whose weights start the image branch (a copy is
    fine-tuned; the CNN passed in is not changed). Without it the branch starts from random weights and needs
    more epochs. ``augment`` puts chapter 01's augmentation layers in front of the image branch (active in
    ``fit`` only). ``image``: the name of the modality given as pixels.

    >>> joint = JointFusion(image_model=cnn).fit({"image": images, "text": F_y}, y)
    """

    def __init__(
        self,
        *args: object,
        feature_dim: int = 64,
        image_model: object | None = None,
        augment: bool = True,
        image: str = "image",
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.feature_dim = feature_dim
        self.image_model = image_model
        self.augment = augment
        self.image = image

    def _ndims(self) -> dict[str, int]:
        return {self.image: 4}

    def _check_count(self, blocks):
        super()._check_count(blocks)
        if isinstance(blocks, Mapping) and self.image not in blocks:
            raise ValueError(f"JointFusion needs the pixels as modality {self.image!r}, got {list(blocks)}")

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

        image_branch = self._image_branch(blocks[self.image].shape[1:])
        inputs, branches = [], []
        for name, block in blocks.items():
            inp = keras.Input(shape=block.shape[1:], name=name)
            inputs.append(inp)
            if name == self.image:
                x = inp
                if self.augment:
                    from crossmodal_lib.preprocess.image import augmentation

                    x = augmentation(seed=self.seed)(x)
                branches.append(image_branch(x))
            else:
                x = _normalizer(block, f"{name}_standardised")(inp)
                branches.append(
                    keras.layers.Dense(self.feature_dim, activation="relu", name=f"{name}_branch")(x)
                )
        h = keras.layers.Concatenate(name="concatenate")(branches)
        h = keras.layers.Dense(self.hidden, activation="relu", name="hidden_0")(h)
        h = keras.layers.Dropout(self.dropout, name="dropout_0")(h)
        out = keras.layers.Dense(self.n_classes, activation="softmax", name="probabilities")(h)
        model = keras.Model(inputs, out, name="joint_fusion")
        _compile(model, self.learning_rate)
        return model


# ----------------------------------------------------------------------------------------------------------------
# Late fusion
# ----------------------------------------------------------------------------------------------------------------
def _check_probas(
    probas: Mapping[str, object], expected: Sequence[str] | None, what: str
) -> dict[str, np.ndarray]:
    arrays = check_blocks(probas, expected=expected, suffix=f" ({what})")  # 2-D, finite, the same rows
    arrays = {name: np.asarray(probas[name], dtype=np.float64) for name in arrays}  # float64 for the averages
    first = next(iter(arrays))
    for name, arr in arrays.items():
        if arr.shape[1] != arrays[first].shape[1]:
            raise ValueError(f"{first} has {arrays[first].shape[1]} classes but {name} has {arr.shape[1]}")
        if arr.min() < 0 or arr.max() > 1 + 1e-6:
            raise ValueError(f"{name} ({what}) must hold probabilities in [0, 1]")
    return arrays


class LateFusion:
    """Late fusion: p = Σ_m w_m p_m, a weighted average of per-modality probabilities (chapter 04).

    Each modality has its own model; only their predictions meet. ``weights=None`` averages equally; ``fit``
    chooses the weights on validation predictions (a grid over the simplex, step ``1/grid_steps``, lowest log-loss).

    >>> late = LateFusion().fit({"image": p_image_val, "text": p_text_val}, y_val)
    >>> late.weights_                                   # {"image": 0.6, "text": 0.4}
    >>> proba = late.predict_proba({"image": p_image_test, "text": p_text_test})
    """

    def __init__(self, weights: Mapping[str, float] | None = None, grid_steps: int = 10) -> None:
        if grid_steps < 1:
            raise ValueError(f"grid_steps must be at least 1, got {grid_steps}")
        self.grid_steps = grid_steps
        self.weights_ = None if weights is None else self._check_weights(weights)

    @staticmethod
    def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(weights, Mapping) or len(weights) < 2:
            raise ValueError(f"weights must map at least two modalities to weights, got {weights!r}")
        w = np.asarray(list(weights.values()), dtype=np.float64)
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"weights must be non-negative and not all zero, got {weights!r}")
        return {name: float(v) for name, v in zip(weights, w / w.sum(), strict=True)}

    def fit(self, probas_val: Mapping[str, object], y_val: object) -> LateFusion:
        """Choose the weights that minimise the validation log-loss of the averaged probabilities."""
        from sklearn.metrics import log_loss

        if isinstance(probas_val, Mapping) and len(probas_val) < 2:
            raise ValueError("late fusion needs the predictions of at least two models")
        arrays = _check_probas(probas_val, None, "validation")
        stacked = np.stack(list(arrays.values()))  # (M, n, classes)
        n_classes = stacked.shape[2]
        y_val = check_labels(y_val, stacked.shape[1], n_classes, name="y_val")
        best, best_loss = None, np.inf
        steps = self.grid_steps
        for combo in itertools.product(range(steps + 1), repeat=len(arrays) - 1):
            if sum(combo) > steps:
                continue
            w = np.array([*combo, steps - sum(combo)], dtype=np.float64) / steps
            p = np.tensordot(w, stacked, axes=1)
            loss = log_loss(y_val, p / p.sum(axis=1, keepdims=True), labels=np.arange(n_classes))
            if loss < best_loss - 1e-12:
                best, best_loss = w, loss
        self.weights_ = {name: float(v) for name, v in zip(arrays, best, strict=True)}
        self.validation_log_loss_ = float(best_loss)
        return self

    def predict_proba(self, probas: Mapping[str, object]) -> np.ndarray:
        """The weighted average of the models' probabilities, shape (n, n_classes)."""
        expected = None if self.weights_ is None else list(self.weights_)
        arrays = _check_probas(probas, expected, "predictions")
        weights = self.weights_ or {name: 1 / len(arrays) for name in arrays}
        p = sum(weights[name] * arr for name, arr in arrays.items())
        return p / p.sum(axis=1, keepdims=True)  # rows sum to 1 exactly, not only up to rounding

    def predict(self, probas: Mapping[str, object]) -> np.ndarray:
        """The most probable class per row."""
        return self.predict_proba(probas).argmax(axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Staged (stacked) fusion
# ----------------------------------------------------------------------------------------------------------------
class MultiLabelLogistic:
    """A specialist for a multi-label question on one feature block: one logistic regression per label, on the
    standardised features (chapter 14: the note's syndromes from F_y, each present or not).

    >>> MultiLabelLogistic().fit(F_y_train, syndromes_train).predict_proba(F_y_test)   # (n, 3) P(present)
    """

    def __init__(self, C: float = 1.0) -> None:
        if not C > 0:
            raise ValueError(f"C must be > 0, got {C!r}")
        self.C = C
        self.models_: list = []

    def fit(self, x: object, y: object, x_val: object = None, y_val: object = None) -> MultiLabelLogistic:
        """Fit on ``x`` (n, d) and 0/1 labels ``y`` (n, k); the validation split is not needed (StackedFusion
        passes it to every specialist)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        (x,) = check_features([x], ["x"])
        y = np.asarray(y)
        if y.ndim != 2 or len(y) != len(x) or not np.isin(y, (0, 1)).all():
            raise ValueError(f"y must be 0/1 labels of shape ({len(x)}, k), got shape {y.shape}")
        one_valued = [j for j in range(y.shape[1]) if len(np.unique(y[:, j])) < 2]
        if one_valued:
            raise ValueError(
                f"label {one_valued[0]} has one value only in y; a logistic regression needs both"
            )
        self.models_ = [
            make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=3000)).fit(x, y[:, j])
            for j in range(y.shape[1])
        ]
        return self

    def predict_proba(self, x: object) -> np.ndarray:
        """P(label present) for each row and label, shape (n, k)."""
        if not self.models_:
            raise ValueError("MultiLabelLogistic is not fitted yet; call fit first")
        (x,) = check_features([x], ["x"])
        return np.column_stack([m.predict_proba(x)[:, 1] for m in self.models_])


class StackedFusion:
    """Staged fusion: specialists over groups of modalities, then a head over their answers (chapter 09).

        p_g = MLP_g(F_m for m in group g), trained on question g;    p = softmax(W [p_1 ⊕ ... ⊕ p_G] + b)

    Each specialist is an early fusion (``SingleModality`` for a group of one) of its own group of modalities; the
    head is a logistic regression on the specialists' class probabilities. A specialist may learn the final
    question (plain stacking) or its own narrower one, with its own labels (a clinic's diagnosis): a question about
    what its modalities show teaches it more than a final label that mostly depends on the other groups.
    ``targets={group: (y_train, y_val)}`` gives a specialist its question (``specialist_classes={group: k}`` its
    number of classes, default ``n_classes``); a group without one learns y.

    >>> staged = StackedFusion({"cardiac": ("ecg", "cardiac_note"), "motion": ("video", "motion_note")})
    >>> staged.fit(blocks, y, validation_data=(blocks_val, y_val), targets={"cardiac": (y_c, y_c_val)})
    >>> staged.predict_proba(blocks_test)           # blocks: {"ecg": F_s, "cardiac_note": ..., "video": ...}

    ``estimators={group: model}`` gives a group of one modality a specialist of its own kind instead: any object
    with ``fit(x, y, x_val, y_val)`` and ``predict_proba(x)``, such as ``features.ImageRecipe`` on the pixels or
    :class:`MultiLabelLogistic` on a feature block. Its question may then be multi-label (targets ``(n, k)`` 0/1:
    findings, each present or not), and the head reads its k probabilities (chapter 14). A copy is fitted; the
    model passed in is left unfitted.
    """

    def __init__(
        self,
        groups: Mapping[str, Sequence[str]],
        n_classes: int = 4,
        specialist_classes: Mapping[str, int] | None = None,
        estimators: Mapping[str, object] | None = None,
        **specialist_settings: object,
    ) -> None:
        """``specialist_settings`` (hidden, dropout, epochs, batch_size, learning_rate, patience, seed) go to
        every specialist that ``estimators`` does not give, as to ``EarlyFusion``."""
        _KerasFusion(**specialist_settings)  # refuses an unknown or invalid setting now, not after training
        if not isinstance(groups, Mapping) or not groups:
            raise ValueError(
                "groups must map each specialist's name to its modalities, e.g. {'cardiac': ('ecg',)}"
            )
        for name, members in groups.items():
            if isinstance(members, str) or not members:
                raise ValueError(
                    f"group {name!r} must be a non-empty tuple of modality names, got {members!r}"
                )
        unknown = sorted(set(specialist_classes or {}) - set(groups))
        if unknown:
            raise ValueError(f"specialist_classes names unknown groups {unknown}; groups: {list(groups)}")
        self.estimators = dict(estimators or {})
        for name, model in self.estimators.items():
            if name not in groups:
                raise ValueError(f"estimators names unknown group {name!r}; groups: {list(groups)}")
            if len(groups[name]) != 1:
                raise ValueError(f"group {name!r} has an estimator of its own, so it must read one modality")
            if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
                raise ValueError(f"estimators[{name!r}] needs fit(x, y, x_val, y_val) and predict_proba(x)")
        self.groups = {name: tuple(members) for name, members in groups.items()}
        self.n_classes = n_classes
        self.specialist_classes = {g: (specialist_classes or {}).get(g, n_classes) for g in self.groups}
        self.mlp = dict(specialist_settings)
        self.modalities_ = tuple(dict.fromkeys(m for members in self.groups.values() for m in members))
        self.specialists_: dict[str, _KerasFusion] = {}
        self.head_ = None

    def _check_modalities(self, blocks: Mapping[str, object], what: str) -> None:
        # Blocks may hold more than the groups read (all of a StagedFeatures' blocks); each group's must be there.
        if not isinstance(blocks, Mapping):
            raise TypeError(f"{what} must map modality names to arrays, got {type(blocks).__name__}")
        missing = [m for m in self.modalities_ if m not in blocks]
        if missing:
            raise ValueError(f"{what} lacks {missing}, which the groups {self.groups} read")

    def specialist_probas(self, blocks: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Each specialist's class probabilities, {group: (n, its classes)}: what the head reads."""
        if not self.specialists_:
            raise ValueError("StackedFusion is not fitted yet; call fit first")
        self._check_modalities(blocks, "blocks")
        return {
            g: model.predict_proba(blocks[self.groups[g][0]])
            if g in self.estimators
            else model.predict_proba({m: blocks[m] for m in self.groups[g]})
            for g, model in self.specialists_.items()
        }

    def fit(
        self,
        blocks: Mapping[str, object],
        y: object,
        validation_data: tuple[Mapping[str, object], object] | None = None,
        targets: Mapping[str, tuple[object, object | None]] | None = None,
    ) -> StackedFusion:
        """Train every specialist on its question (early stopping on ``validation_data``), then the head on y."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        targets = dict(targets or {})
        unknown = sorted(set(targets) - set(self.groups))
        if unknown:
            raise ValueError(f"targets names unknown groups {unknown}; groups: {list(self.groups)}")
        self._check_modalities(blocks, "blocks")
        if validation_data is not None:
            self._check_modalities(validation_data[0], "validation blocks")
        self.specialists_ = {}
        for g, members in self.groups.items():
            y_g, y_g_val = targets.get(g, (y, None if validation_data is None else validation_data[1]))
            if g in self.estimators:
                if validation_data is None or y_g_val is None:
                    raise ValueError(
                        f"group {g!r}'s estimator chooses its settings on validation_data; give it"
                    )
                model = copy.deepcopy(self.estimators[g])
                (m,) = members
                self.specialists_[g] = model.fit(blocks[m], y_g, validation_data[0][m], y_g_val)
                continue
            model_class = SingleModality if len(members) == 1 else EarlyFusion
            model = model_class(n_classes=self.specialist_classes[g], **self.mlp)
            validation = None
            if validation_data is not None:
                if y_g_val is None:
                    raise ValueError(f"targets[{g!r}] needs validation labels when validation_data is given")
                validation = ({m: validation_data[0][m] for m in members}, y_g_val)
            self.specialists_[g] = model.fit({m: blocks[m] for m in members}, y_g, validation_data=validation)
        # The head reads the training rows' answers (the validation rows already chose the specialists' epochs).
        return self._fit_head(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), blocks, y)

    def _fit_head(self, head: object, blocks: Mapping[str, object], y: object) -> StackedFusion:
        answers = np.hstack(list(self.specialist_probas(blocks).values()))
        self.head_ = head.fit(answers, check_labels(y, len(answers), self.n_classes))
        return self

    def with_head_on(self, groups: Sequence[str], blocks: Mapping[str, object], y: object) -> StackedFusion:
        """A staged model that keeps the fitted specialists of ``groups`` only and fits a new head on their answers
        (chapter 09: one specialist and a head make a staged pair)."""
        from sklearn.base import clone

        unknown = [g for g in groups if g not in self.specialists_]
        if unknown or not groups:
            raise ValueError(
                f"groups must name fitted specialists {list(self.specialists_)}, got {list(groups)}"
            )
        part = StackedFusion(
            {g: self.groups[g] for g in groups},
            n_classes=self.n_classes,
            specialist_classes={g: self.specialist_classes[g] for g in groups},
            estimators={g: e for g, e in self.estimators.items() if g in groups},
            **self.mlp,
        )
        part.specialists_ = {g: self.specialists_[g] for g in groups}
        return part._fit_head(clone(self.head_), blocks, y)

    def predict_proba(self, blocks: Mapping[str, object]) -> np.ndarray:
        """Class probabilities of the final question, shape (n, n_classes)."""
        answers = np.hstack(list(self.specialist_probas(blocks).values()))
        if self.head_ is None:
            raise ValueError("StackedFusion is not fitted yet; call fit first")
        proba = np.zeros((len(answers), self.n_classes))  # a class absent in training stays 0
        proba[:, self.head_.classes_] = self.head_.predict_proba(answers)
        return proba

    def predict(self, blocks: Mapping[str, object]) -> np.ndarray:
        """The most probable class per row."""
        return self.predict_proba(blocks).argmax(axis=1)
