"""Chapter 10: explaining the models, and checking the explanations against the cohort's truth.

Where does a model look, which words move it, how much does each modality contribute?

    grad_cam               Grad-CAM (Selvaraju et al., 2017) or HiResCAM of the image CNN, alone or in JointFusion
    integrated_gradients   integrated gradients (Sundararajan et al., 2017) for the same models, with completeness
    attribution_map        pixel attributions -> a non-negative heat map in [0, 1]
    word_occlusion         each word of a note: how much the class probability drops without it (F_y recomputed)
    highlight_words        the note with its words coloured by those scores (HTML, shows itself in a notebook)
    modality_shapley       exact Shapley values over the modalities (absent = the training mean)
    modality_gates         GatedFusion's per-patient gates, one column per modality

And the checks that an explanation is not just a pretty picture:

    pointing_game          does the heat map's peak fall in the finding's region? (vs a random point)
    word_hit_rate          do the top words belong to the syndrome's phrases? (vs random words)
    randomization_check    do the maps change when the weights are re-initialised? (Adebayo et al., 2018)
    marker_shortcut_data   a cohort variant whose side marker goes with the label: a shortcut to catch

The truth comes from the generator: ``data.load_finding_regions`` / ``data.region_masks`` say where each finding
was drawn, ``data.note_phrases`` which phrases express each syndrome.

What the checks show on the embedded cohort (measured for chapter 10): the course's CNN flattens its last maps
into a Dense layer, so plain Grad-CAM (which averages the gradients of a map) misses most findings, while
HiResCAM (``variant="hirescam"``) and integrated gradients point at them; integrated gradients with a black
baseline, though, change little when the weights are randomised (the image itself shows through x - x'), and a
finding the CNN cannot see (the small nodules) cannot be found by any explanation of it.

Why plain ``tf.GradientTape`` and no explanation library: tf-keras-vis 0.8.7 computes Grad-CAM for the single
CNN under Keras 3.15, but fails on JointFusion's model ("the name 'image' is used 2 times": its image branch is a
nested model whose input has the model's input name) and has no integrated gradients; captum is for PyTorch; and
each would be one more dependency. Here the gradients come from a clone of the model (the same layer objects, so
the same weights) with identity "probe" layers after the chosen conv layer and in front of the softmax, which hand
their tensors to the tape. Written for the TensorFlow backend (the course's).
"""

from __future__ import annotations

import html
import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

__all__ = [
    "attribution_map",
    "conv_layers",
    "grad_cam",
    "highlight_words",
    "integrated_gradients",
    "map_similarity",
    "marker_shortcut_data",
    "modality_gates",
    "modality_shapley",
    "plot_heatmap",
    "pointing_game",
    "randomization_check",
    "symptom_words",
    "word_hit_rate",
    "word_occlusion",
]

_TARGETS = ("logit", "probability")


# ----------------------------------------------------------------------------------------------------------------
# The model, its image input and its layers
# ----------------------------------------------------------------------------------------------------------------
def _keras_model(model: object) -> tuple[object, str | None]:
    """The Keras model inside ``model`` (a Keras model or a fitted fusion estimator) and its image input's name."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"explain needs the TensorFlow backend of Keras, not {keras.backend.backend()!r}")
    net = getattr(model, "model_", model)  # the fusion estimators keep their Keras model in model_
    if net is None:
        raise ValueError(f"{type(model).__name__} is not fitted yet; call fit first")
    if not isinstance(net, keras.Model):
        raise TypeError(f"expected a Keras model or a fitted fusion model, got {type(model).__name__}")
    return net, getattr(model, "image", None)


def _inputs(net, inputs: object, image: str | None) -> tuple[dict[str, np.ndarray] | np.ndarray, str | None]:
    """Checked model inputs (an array for a one-input model, else {name: array}) and the image input's name."""
    from crossmodal_lib.fusion import check_blocks

    names = [t.name for t in net.inputs]
    shapes = {t.name: tuple(t.shape[1:]) for t in net.inputs}
    if len(names) == 1:
        if isinstance(inputs, Mapping):
            if len(inputs) != 1:
                raise ValueError(f"the model has one input, {names[0]!r}, but got modalities {list(inputs)}")
            inputs = next(iter(inputs.values()))
        image = names[0]
        arrays = {image: np.asarray(inputs, dtype=np.float32)}
    else:
        if not isinstance(inputs, Mapping):
            raise TypeError(f"the model takes several inputs {names}: pass them as a mapping {{name: array}}")
        image = image or "image"
        if image not in names:
            raise ValueError(f"the model has no image input {image!r}; its inputs are {names}")
        arrays = check_blocks(inputs, {n: len(shapes[n]) + 1 for n in names}, names)
    for name in names:
        arr = arrays[name]
        if arr.ndim != len(shapes[name]) + 1 or tuple(arr.shape[1:]) != shapes[name]:
            hint = "; add a channel axis: images[..., None]" if arr.ndim == len(shapes[name]) else ""
            expected = ", ".join(str(d) for d in shapes[name])
            raise ValueError(f"{name} has shape {arr.shape}; the model expects (n, {expected}){hint}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    return (arrays[names[0]] if len(names) == 1 else arrays), image


def _walk(net) -> list:
    """Every layer of ``net`` in order, nested models' layers in place of the nested model."""
    import keras

    out = []
    for layer in net.layers:
        out += _walk(layer) if isinstance(layer, keras.Model) else [layer]
    return out


def conv_layers(model: object) -> list[str]:
    """The names of the 2-D convolution layers of a model (nested models included), input side first."""
    import keras

    net, _ = _keras_model(model)
    return [layer.name for layer in _walk(net) if isinstance(layer, keras.layers.Conv2D)]


def _find_layer(net, name: str | None):
    import keras

    convs = [layer for layer in _walk(net) if isinstance(layer, keras.layers.Conv2D)]
    if name is None:
        if not convs:
            raise ValueError(
                f"model {net.name!r} has no Conv2D layer; Grad-CAM needs a convolutional image model "
                "(integrated_gradients works for any model)"
            )
        return convs[-1]  # the last conv layer: the most semantic maps that still know where things are
    for layer in _walk(net):
        if layer.name == name:
            if len(layer.output.shape) != 4:
                raise ValueError(f"layer {name!r} gives {tuple(layer.output.shape)}, not 2-D feature maps")
            return layer
    raise ValueError(
        f"model {net.name!r} has no layer {name!r}; its conv layers are {[c.name for c in convs]}"
    )


class _Probe:
    """Holds the tape and the tensor that an identity layer sees while the model runs eagerly."""

    def __init__(self) -> None:
        self.tape = None
        self.value = None


def _probed(net, conv) -> tuple[object, _Probe, _Probe]:
    """A clone of ``net`` sharing its layers (so its weights) with identity probes after ``conv`` (None: none)
    and in front of the final softmax layer (None when the model does not end in one)."""
    import keras

    class Watch(keras.layers.Layer):
        def __init__(self, probe: _Probe, **kwargs):
            super().__init__(**kwargs)
            self._probe = probe

        def call(self, x):
            if self._probe.tape is not None:  # eager run inside our tape: record and keep the tensor
                self._probe.tape.watch(x)
                self._probe.value = x
            return x

    head = net.layers[-1]
    softmax_head = (
        isinstance(head, keras.layers.Dense)
        and head.activation is keras.activations.softmax
        and head.output is net.outputs[0]
    )
    at_conv, at_head = _Probe(), _Probe()

    def call(layer, *args, **kwargs):
        if softmax_head and layer is head:
            args = (Watch(at_head, name="explain_head_probe")(args[0]), *args[1:])
        out = layer(*args, **kwargs)
        if layer is conv:
            out = Watch(at_conv, name="explain_conv_probe")(out)
        return out

    clone = keras.models.clone_model(
        net, clone_function=lambda layer: layer, call_function=call, recursive=True
    )
    return clone, at_conv, (at_head if softmax_head else None)


@contextmanager
def _recording(tape, *probes: _Probe | None) -> Iterator[None]:
    """Let the probes record into ``tape`` for one forward pass, and never after it."""
    probes = tuple(p for p in probes if p is not None)
    for probe in probes:
        probe.tape = tape
    try:
        yield
    finally:
        for probe in probes:
            probe.tape = None


def _check_target(net, target: str, at_head: _Probe | None) -> None:
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {_TARGETS}, got {target!r}")
    if target == "logit" and at_head is None:
        raise ValueError(
            f"target='logit' needs a model ending in a Dense softmax layer; {net.name!r} does not"
        )


def _scores(net, proba, at_head: _Probe | None, target: str):
    """Per-class scores: the logits (the softmax's input, so gradients do not saturate) or the probabilities."""
    if target == "probability":
        return proba
    head = net.layers[-1]
    return at_head.value @ head.kernel + head.bias


def _classes(class_index: object, n: int, n_classes: int) -> np.ndarray | None:
    """None (the predicted class), or one class index per row, checked."""
    if class_index is None:
        return None
    arr = np.asarray(class_index)
    arr = np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"class_index must be an integer or {n} integers (one per row), got {class_index!r}")
    if arr.min() < 0 or arr.max() >= n_classes:
        raise ValueError(f"class_index must be in 0..{n_classes - 1}, got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def _rows(inputs: dict[str, np.ndarray] | np.ndarray, index) -> dict[str, np.ndarray] | np.ndarray:
    if isinstance(inputs, dict):
        return {name: arr[index] for name, arr in inputs.items()}
    return inputs[index]


# ----------------------------------------------------------------------------------------------------------------
# Grad-CAM and integrated gradients
# ----------------------------------------------------------------------------------------------------------------
def grad_cam(
    model: object,
    inputs: object,
    class_index: int | Sequence[int] | None = None,
    *,
    layer: str | None = None,
    image: str | None = None,
    target: str = "logit",
    variant: str = "grad-cam",
    batch_size: int = 64,
) -> np.ndarray:
    """Grad-CAM heat maps, float32 (n, height, width) in [0, 1] at the input's resolution (chapter 10).

    ``model``: a CNN from ``features.image.build_cnn`` (``inputs`` = images (n, h, w, c)), or a fitted
    ``fusion.JointFusion`` or any multi-input Keras model (``inputs`` = {modality: array}, the pixels under
    ``image``, which JointFusion knows). ``layer``: the conv layer, found inside nested models; default the last
    Conv2D (for JointFusion, the image branch's). ``class_index``: the class to explain, one per row or one for all
    (default: each row's predicted class). ``target="logit"`` differentiates the softmax's input (the paper's
    class score; probabilities saturate), ``"probability"`` the probability.

    ``variant="grad-cam"``: map = ReLU(sum_k alpha_k A_k), alpha_k the mean gradient of the score over feature
    map A_k (Selvaraju et al.). ``"hirescam"``: map = ReLU(sum_k dscore/dA_k * A_k), position by position
    (Draelos & Carin, 2020). The two agree for a CNN that ends in global average pooling; the course's CNN
    flattens its last maps into a Dense layer, which weighs every position separately, and there the averaged
    gradient of Grad-CAM can point anywhere: on the embedded cohort it misses most findings that HiResCAM and
    integrated gradients find (see the pointing game). Maps are resized (bilinear) to the image and divided by
    their maximum (all zeros when nothing supports the class).
    """
    import keras
    import tensorflow as tf

    if variant not in ("grad-cam", "hirescam"):
        raise ValueError(f"variant must be 'grad-cam' or 'hirescam', got {variant!r}")
    net, own_image = _keras_model(model)
    conv = _find_layer(net, layer)
    arrays, image = _inputs(net, inputs, image or own_image)
    pixels = arrays[image] if isinstance(arrays, dict) else arrays
    n, height, width = pixels.shape[:3]
    classes = _classes(class_index, n, net.output_shape[-1])
    clone, at_conv, at_head = _probed(net, conv)
    _check_target(net, target, at_head)
    maps = np.zeros((n, height, width), dtype=np.float32)
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        with tf.GradientTape() as tape:
            with _recording(tape, at_conv, at_head):
                proba = clone(_rows(arrays, rows), training=False)
            scores = _scores(net, proba, at_head, target)
            chosen = np.argmax(proba, axis=1) if classes is None else classes[rows]
            score = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))
        activations = at_conv.value
        grads = tape.gradient(score, activations)
        if variant == "grad-cam":
            grads = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # alpha_k: one weight per feature map
        cam = tf.nn.relu(tf.reduce_sum(grads * activations, axis=-1, keepdims=True))
        cam = keras.ops.image.resize(cam, (height, width), interpolation="bilinear")
        maps[rows] = np.asarray(cam)[..., 0]
    return _normalise(maps)


def _normalise(maps: np.ndarray) -> np.ndarray:
    peak = maps.reshape(len(maps), -1).max(axis=1)
    safe = np.where(peak > 0, peak, 1.0)[:, None, None]
    return np.where(peak[:, None, None] > 0, maps / safe, 0.0).astype(np.float32)


def integrated_gradients(
    model: object,
    inputs: object,
    class_index: int | Sequence[int] | None = None,
    *,
    baseline: float | np.ndarray | None = None,
    steps: int = 32,
    image: str | None = None,
    target: str = "probability",
    batch_size: int = 256,
) -> np.ndarray:
    """Integrated gradients of the pixels, float32 (n, height, width, channels), signed (chapter 10).

    attribution = (x - x') * mean over the straight path from the baseline x' to x of d score / d pixel (the
    trapezoid rule over ``steps`` intervals). Completeness: the attributions of an image sum to
    score(x) - score(x'), up to the rule's error; with ``target="probability"`` (default) they are shares of the
    class probability. ``baseline``: None = a black image (no film), a number = a flat image, or an array of one
    image's shape (e.g. the training images' mean, which pointed at the cohort's opacities more often than black)
    or of ``images``' shape. Models and ``inputs`` as in :func:`grad_cam`; in a fused model only the pixels move
    along the path, the other modalities stay the patient's. :func:`attribution_map` makes heat maps.

    Caveat (see :func:`randomization_check`): the factor x - x' carries the image into the map, so the maps of a
    model with random weights still look much like the trained model's.
    """
    import tensorflow as tf

    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    net, own_image = _keras_model(model)
    arrays, image = _inputs(net, inputs, image or own_image)
    pixels = arrays[image] if isinstance(arrays, dict) else arrays
    n = len(pixels)
    base = np.zeros_like(pixels) if baseline is None else np.asarray(baseline, dtype=np.float32)
    try:
        base = np.broadcast_to(base, pixels.shape)
    except ValueError:
        raise ValueError(
            f"baseline has shape {base.shape}; it must be a number, one image {pixels.shape[1:]} or {pixels.shape}"
        ) from None
    clone, _, at_head = _probed(net, None)
    _check_target(net, target, at_head)
    classes = _classes(class_index, n, net.output_shape[-1])
    if classes is None:
        classes = np.asarray(net.predict(arrays, batch_size=256, verbose=0)).argmax(axis=1)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float32)
    weights[[0, -1]] /= 2  # trapezoid rule
    out = np.zeros_like(pixels)
    per_batch = max(1, batch_size // (steps + 1))  # images whose whole path fits in one batch
    for start in range(0, n, per_batch):
        idx = np.arange(start, min(start + per_batch, n))
        path = base[idx, None] + alphas[None, :, None, None, None] * (pixels[idx] - base[idx])[:, None]
        path = tf.convert_to_tensor(path.reshape(-1, *pixels.shape[1:]))
        batch = path
        if isinstance(arrays, dict):  # the other modalities stay the patient's along the path
            batch = {k: tf.convert_to_tensor(np.repeat(v[idx], steps + 1, axis=0)) for k, v in arrays.items()}
            batch[image] = path
        with tf.GradientTape() as tape:
            tape.watch(path)
            with _recording(tape, at_head):
                proba = clone(batch, training=False)
            scores = _scores(net, proba, at_head, target)
            score = tf.reduce_sum(tf.gather(scores, np.repeat(classes[idx], steps + 1), axis=1, batch_dims=1))
        grads = np.asarray(tape.gradient(score, path)).reshape(len(idx), steps + 1, *pixels.shape[1:])
        out[idx] = (pixels[idx] - base[idx]) * np.tensordot(weights, grads, axes=(0, 1))
    return out


def attribution_map(attributions: np.ndarray, *, sign: str = "absolute", smooth: float = 1.0) -> np.ndarray:
    """Pixel attributions (n, h, w[, c]) -> heat maps float32 (n, h, w) in [0, 1] (chapter 10).

    ``sign="absolute"``: |attribution| (a pixel that matters either way; Adebayo et al. compare these);
    ``"positive"``: only evidence *for* the class. Channels are summed; ``smooth`` is the sigma in pixels of a
    Gaussian blur (per-pixel gradients are noisy; 0 = none); each map is divided by its maximum.
    """
    from scipy.ndimage import gaussian_filter

    a = np.asarray(attributions, dtype=np.float32)
    if a.ndim == 4:
        a = a.sum(axis=-1)
    if a.ndim != 3:
        raise ValueError(
            f"attributions must be (n, height, width) or (n, height, width, channels), got {a.shape}"
        )
    if sign not in ("absolute", "positive"):
        raise ValueError(f"sign must be 'absolute' or 'positive', got {sign!r}")
    a = np.abs(a) if sign == "absolute" else np.maximum(a, 0)
    if smooth > 0:
        a = gaussian_filter(a, sigma=(0, smooth, smooth))
    return _normalise(a)


# ----------------------------------------------------------------------------------------------------------------
# Checks of heat maps: pointing game and model randomisation
# ----------------------------------------------------------------------------------------------------------------
def pointing_game(heatmaps: np.ndarray, masks: np.ndarray) -> dict:
    """Does each heat map's peak fall inside its mask? Hit rate vs a random point (chapter 10; Zhang et al. 2016).

    ``heatmaps`` (n, h, w), ``masks`` (n, h, w) boolean (``data.region_masks``; its ``margin`` is the game's
    tolerance: a last-conv map of a 64-pixel image has 8-pixel cells). The peak is the first maximal pixel in
    reading order; a flat map (no peak) counts as a miss. Returns ``{"hit_rate", "random_baseline", "n", "hits"}``:
    the baseline is the mean fraction of the image the masks cover, the expected hit rate of a random point.
    """
    maps, masks = np.asarray(heatmaps, dtype=np.float64), np.asarray(masks)
    if maps.ndim != 3:
        raise ValueError(f"heatmaps must be (n, height, width), got shape {maps.shape}")
    if masks.shape != maps.shape:
        raise ValueError(
            f"heatmaps have shape {maps.shape} but masks have shape {masks.shape}; they must match"
        )
    if masks.dtype != bool:
        raise ValueError(f"masks must be boolean, got dtype {masks.dtype}")
    empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(axis=1))
    if len(empty):
        raise ValueError(
            f"{len(empty)} masks are empty (first: row {empty[0]}); keep only rows with a region"
        )
    flat = maps.reshape(len(maps), -1)
    peak = flat.argmax(axis=1)
    hits = masks.reshape(len(masks), -1)[np.arange(len(maps)), peak] & (flat.max(axis=1) > flat.min(axis=1))
    return {
        "hit_rate": float(hits.mean()),
        "random_baseline": float(masks.mean()),
        "n": len(hits),
        "hits": hits,
    }


def map_similarity(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of maps (n,): 1 = the same ranking of pixels (chapter 10).

    A flat map ranks nothing: its correlation is taken as 0.
    """
    from scipy.stats import rankdata

    a = np.asarray(maps_a, dtype=np.float64)
    b = np.asarray(maps_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"the maps must have the same shape (n, ...), got {a.shape} and {b.shape}")
    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.where(denom > 0, (ra * rb).sum(axis=1) / np.where(denom > 0, denom, 1.0), 0.0)


def _copy(net):
    """An independent copy of a Keras model with the same weights."""
    import keras

    copy = keras.models.clone_model(net)
    copy.set_weights(net.get_weights())
    for layer in _walk(copy):
        if hasattr(layer, "finalize_state"):  # Normalization layers recompute their mean and variance
            layer.finalize_state()
    return copy


def _reinitialise(layer, seed: int) -> None:
    for k, name in enumerate(("kernel", "bias")):
        var = getattr(layer, name, None)
        init = getattr(layer, f"{name}_initializer", None)
        if var is None or init is None:
            continue
        config = init.get_config()
        if "seed" in config:
            config["seed"] = seed + k  # a fresh draw, not the seed the model was built with
        var.assign(type(init).from_config(config)(var.shape, dtype=var.dtype))


def randomization_check(
    model: object,
    inputs: object,
    method: str | Callable = "grad_cam",
    class_index: int | Sequence[int] | None = None,
    *,
    mode: str = "cascade",
    threshold: float = 0.5,
    seed: int = 0,
    **kwargs: object,
) -> pd.DataFrame:
    """Model-randomisation sanity check (Adebayo et al., 2018): does the explanation depend on what was learnt?

    The maps of the trained model are compared with those of a copy whose weights are re-initialised: layer by
    layer from the output down (``mode="cascade"``, one row per layer, cumulative) or all at once (``"all"``).
    ``method``: "grad_cam", "integrated_gradients" (heat map by :func:`attribution_map`) or a function
    ``f(keras_model, inputs, class_index, image=...) -> maps (n, h, w)``, or a list of n 1-D score vectors of any
    lengths (e.g. the :func:`word_occlusion` scores of n notes, computed with ``keras_model.predict``); ``kwargs``
    go to it. The classes are those the trained model predicts (or ``class_index``), for both models.

    Returns a table: ``randomised`` (the layers re-initialised so far), ``spearman`` (mean rank correlation of the
    maps, :func:`map_similarity`) and ``differs`` (``spearman < threshold``): the check passes where the maps
    differ. An explanation that stays the same for a random model explains the image, not the model.
    """
    if mode not in ("cascade", "all"):
        raise ValueError(f"mode must be 'cascade' or 'all', got {mode!r}")
    methods = {"grad_cam": grad_cam, "integrated_gradients": integrated_gradients}
    if isinstance(method, str):
        if method not in methods:
            raise ValueError(f"method must be one of {list(methods)} or a function, got {method!r}")
        method = methods[method]
    net, own_image = _keras_model(model)
    arrays, image = _inputs(net, inputs, kwargs.pop("image", None) or own_image)

    def explain(keras_model) -> np.ndarray | list[np.ndarray]:
        maps = method(keras_model, arrays, classes, image=image, **kwargs)
        if isinstance(maps, list):  # one score vector per row, lengths may differ (the words of notes)
            return [np.asarray(m, dtype=np.float64).ravel() for m in maps]
        return attribution_map(maps) if np.ndim(maps) == 4 else np.asarray(maps)

    def similarity(a, b) -> np.ndarray:
        if isinstance(a, list):
            return np.array([map_similarity(u[None], v[None])[0] for u, v in zip(a, b, strict=True)])
        return map_similarity(a, b)

    n = len(arrays[image] if isinstance(arrays, dict) else arrays)
    classes = _classes(class_index, n, net.output_shape[-1])
    if classes is None:
        classes = np.asarray(net.predict(arrays, batch_size=256, verbose=0)).argmax(axis=1)
    trained = explain(net)
    copy = _copy(net)
    layers = [layer for layer in _walk(copy) if getattr(layer, "kernel", None) is not None][::-1]
    steps = [[layer] for layer in layers] if mode == "cascade" else [layers]
    rows, done = [], []
    for i, group in enumerate(steps):
        for layer in group:
            _reinitialise(layer, seed + 2 * i)
            done.append(layer.name)
        rho = similarity(trained, explain(copy))
        rows.append({"randomised": " + ".join(done) if mode == "cascade" else "all", "spearman": rho.mean()})
    table = pd.DataFrame(rows)
    table["differs"] = table["spearman"] < threshold
    return table


# ----------------------------------------------------------------------------------------------------------------
# Words: occlusion on the note, and the check against the generator's phrases
# ----------------------------------------------------------------------------------------------------------------
def word_occlusion(
    predict_proba: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    tokens: Sequence[str] | Sequence[Sequence[str]],
    kv: object,
    idf: Mapping[str, float] | None = None,
    *,
    weighting: str = "tfidf",
    blocks: Mapping[str, object] | None = None,
    text: str = "text",
    class_index: int | Sequence[int] | None = None,
) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
    """Each token of a note with the drop of the class probability when that token is left out (chapter 10).

    F_y is recomputed without the token by ``features.text.document_vectors(kv, ..., weighting, idf)``, the
    recipe that made the features; ``predict_proba`` is any fitted model that takes {modality: features}
    (``model.predict_proba``); ``blocks`` holds the other modalities, one row per note, and they stay as they
    are. ``class_index``: default the class predicted from the whole note. Score > 0: the token supports the
    class. A token without a word vector scores exactly 0 (F_y never saw it).

    ``tokens``: one note's tokens (returns [(token, score)]) or a list of notes (returns one such list per note,
    from a single ``predict_proba`` call: much faster than a call per note).
    """
    from crossmodal_lib.features.text import document_vectors

    if isinstance(tokens, str):
        raise ValueError("tokens must be a note's list of tokens (crossmodal_lib.preprocess.tokenize(note))")
    one = all(isinstance(t, str) for t in tokens)
    notes = [list(tokens)] if one else [list(t) for t in tokens]
    for i, note in enumerate(notes):
        if not note or not all(isinstance(t, str) for t in note):
            raise ValueError(f"note {i} must be a non-empty list of string tokens")
    others = {}
    for name, block in (blocks or {}).items():
        if name == text:
            raise ValueError(f"blocks must hold the other modalities; {text!r} is recomputed from the tokens")
        arr = np.asarray(block, dtype=np.float32)
        arr = arr[None] if one and arr.ndim == 1 else arr
        if len(arr) != len(notes):
            raise ValueError(f"{name} has {len(arr)} rows but there are {len(notes)} notes; one row per note")
        others[name] = arr
    # Row 0 of each note: the whole note; then the note without each token that has a vector.
    variants, owner, slots = [], [], []
    for i, note in enumerate(notes):
        known = [j for j, t in enumerate(note) if t in kv.key_to_index]
        slots.append((len(variants), known))
        variants += [note] + [note[:j] + note[j + 1 :] for j in known]
        owner += [i] * (1 + len(known))
    F_y = document_vectors(kv, variants, weighting=weighting, idf=idf)
    owner = np.asarray(owner)
    proba = np.asarray(predict_proba({**{k: v[owner] for k, v in others.items()}, text: F_y}))
    if proba.ndim != 2 or len(proba) != len(variants):
        raise ValueError(f"predict_proba returned shape {proba.shape}; expected ({len(variants)}, n_classes)")
    full = proba[[first for first, _ in slots]]
    classes = (
        full.argmax(axis=1) if class_index is None else _classes(class_index, len(notes), proba.shape[1])
    )
    out = []
    for i, (note, (first, known)) in enumerate(zip(notes, slots, strict=True)):
        scores = np.zeros(len(note))
        scores[known] = full[i, classes[i]] - proba[first + 1 : first + 1 + len(known), classes[i]]
        out.append([(t, float(v)) for t, v in zip(note, scores, strict=True)])
    return out[0] if one else out


class HighlightedText(str):
    """An HTML string that a notebook shows as HTML (``_repr_html_``)."""

    def _repr_html_(self) -> str:
        return str(self)


def highlight_words(attributions: Sequence[tuple[str, float]], scale: float | None = None) -> HighlightedText:
    """The note's tokens as HTML, red where a token supports the class, blue where it argues against (chapter 10).

    The colour's strength is |score| / ``scale`` (default: the note's largest |score|); hovering shows the score.
    A notebook cell that ends with it shows the coloured note; ``str(...)`` is the HTML.
    """
    scores = np.array([s for _, s in attributions], dtype=float)
    top = scale if scale is not None else (np.abs(scores).max() if len(scores) else 0.0)
    spans = []
    for token, score in attributions:
        alpha = 0.0 if top <= 0 else min(abs(score) / top, 1.0)
        rgb = "220, 50, 32" if score > 0 else "0, 90, 181"
        spans.append(
            f'<span title="{score:+.4f}" style="background-color: rgba({rgb}, {alpha:.2f}); '
            f'padding: 1px 2px; border-radius: 3px">{html.escape(token)}</span>'
        )
    return HighlightedText('<div style="line-height: 1.9">' + " ".join(spans) + "</div>")


def symptom_words(syndrome: str) -> frozenset[str]:
    """The tokens that express a syndrome in the cohort's notes and in no other phrase list (chapter 10).

    From ``data.note_phrases()`` through ``preprocess.tokenize``: "purulent sputum" gives ``purulent`` and
    ``sputum``; words shared with another syndrome or with the nonspecific complaints ("cough", "days") are left
    out, so a hit is a word that only this syndrome's phrases contain.
    """
    from crossmodal_lib.data import NOTE_FINDINGS, note_phrases
    from crossmodal_lib.preprocess.text import tokenize

    if syndrome not in NOTE_FINDINGS:
        raise ValueError(f"unknown syndrome {syndrome!r}; the notes have {list(NOTE_FINDINGS)}")
    words = {kind: {t for p in phrases for t in tokenize(p)} for kind, phrases in note_phrases().items()}
    others = set().union(*(w for kind, w in words.items() if kind != syndrome))
    return frozenset(words[syndrome] - others)


def word_hit_rate(attributions: Sequence[Sequence[tuple[str, float]]], words: set[str], k: int = 1) -> dict:
    """How often is one of a note's ``k`` top-scored tokens one of ``words``? vs ``k`` random tokens (chapter 10).

    Notes without any of ``words`` are skipped (counted in ``skipped``). The baseline is the expected hit rate of
    ``k`` tokens drawn at random from each note. Returns ``{"hit_rate", "random_baseline", "n", "skipped"}``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    hits, chance, skipped = [], [], 0
    for note in attributions:
        truth = [tok in words for tok, _ in note]
        m, n = sum(truth), len(truth)
        if m == 0:
            skipped += 1
            continue
        order = np.argsort([-s for _, s in note], kind="stable")[:k]
        hits.append(any(truth[i] for i in order))
        kk = min(k, n)
        chance.append(1 - math.comb(n - m, kk) / math.comb(n, kk))
    if not hits:
        raise ValueError("no note contains any of the words: nothing to score")
    return {
        "hit_rate": float(np.mean(hits)),
        "random_baseline": float(np.mean(chance)),
        "n": len(hits),
        "skipped": skipped,
    }


# ----------------------------------------------------------------------------------------------------------------
# Modalities: exact Shapley values and the gates of GatedFusion
# ----------------------------------------------------------------------------------------------------------------
def modality_shapley(
    predict_proba: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    blocks: Mapping[str, object],
    reference: Mapping[str, object],
    class_index: int | Sequence[int] | None = None,
) -> pd.DataFrame:
    """Exact Shapley values of the modalities for each row: how much each modality moves the probability (ch. 10).

    The players are the modalities of ``blocks`` ({"image": F_x, "text": F_y, ...}, any model's inputs, pixels
    included); a modality is absent when it is replaced by its mean over ``reference`` (the training rows), the
    convention of ``evaluate.modality_ablation``. All 2^M subsets are evaluated (M <= 10), one ``predict_proba``
    call each. Value = the probability of ``class_index`` (default: each row's predicted class with every modality).

    Returns one row per input row: a column per modality, ``base`` (no modality: the training means) and ``full``
    (every modality). Efficiency holds exactly: the modality columns sum to ``full - base``. Averages over rows:
    ``table[modalities].mean()`` (signed) or ``.abs().mean()`` (size).
    """
    from crossmodal_lib.fusion import check_blocks

    if not isinstance(blocks, Mapping) or not isinstance(reference, Mapping):
        raise TypeError(
            "blocks and reference must map modality names to arrays, e.g. {'image': F_x, 'text': F_y}"
        )
    names = list(blocks)
    if not 1 <= len(names) <= 10:
        raise ValueError(f"exact Shapley values need 1 to 10 modalities (2^M model calls), got {len(names)}")
    missing = [m for m in names if m not in reference]
    if missing:
        raise ValueError(f"reference has no training features for {missing}")
    ndims = {m: np.ndim(blocks[m]) for m in names}
    arrays = check_blocks(blocks, ndims)
    fill = {}
    for m in names:
        ref = check_blocks({m: reference[m]}, {m: ndims[m]})[m]
        if ref.shape[1:] != arrays[m].shape[1:]:
            raise ValueError(
                f"reference[{m!r}] has rows of shape {ref.shape[1:]} but {m} has {arrays[m].shape[1:]}"
            )
        fill[m] = np.broadcast_to(ref.mean(axis=0), arrays[m].shape)
    n, M = len(arrays[names[0]]), len(names)
    value, classes = {}, None
    for present in sorted(itertools.product((False, True), repeat=M), key=sum, reverse=True):  # all first
        proba = np.asarray(
            predict_proba({m: arrays[m] if p else fill[m] for m, p in zip(names, present, strict=True)})
        )
        if proba.ndim != 2 or len(proba) != n:
            raise ValueError(f"predict_proba returned shape {proba.shape}; expected ({n}, n_classes)")
        if classes is None:  # from the first call, the one with every modality
            classes = (
                proba.argmax(axis=1) if class_index is None else _classes(class_index, n, proba.shape[1])
            )
        value[present] = proba[np.arange(n), classes]
    phi = np.zeros((n, M))
    for j in range(M):
        for present in value:
            if not present[j]:
                s = sum(present)
                weight = math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M)
                phi[:, j] += weight * (value[(*present[:j], True, *present[j + 1 :])] - value[present])
    table = pd.DataFrame(phi, columns=names)
    table["base"] = value[(False,) * M]
    table["full"] = value[(True,) * M]
    return table


def modality_gates(model: object, blocks: Mapping[str, object]) -> pd.DataFrame:
    """GatedFusion's gate per modality and row, averaged over the hidden units; each row sums to 1 (chapter 10).

    A thin view of ``fusion.GatedFusion.gates`` as a table: what share of the fused representation each modality
    makes for this patient (a property of the model's mixing, not a contribution to the probability: compare with
    :func:`modality_shapley`).
    """
    if not hasattr(model, "gates"):
        raise TypeError(f"{type(model).__name__} has no gates; only fusion.GatedFusion has")
    return pd.DataFrame({name: z.mean(axis=1) for name, z in model.gates(blocks).items()})


# ----------------------------------------------------------------------------------------------------------------
# A cohort variant with a shortcut, and a picture
# ----------------------------------------------------------------------------------------------------------------
def marker_shortcut_data(
    n_patients: int = 200,
    label: str = "pneumonia",
    rate: float = 0.9,
    other_rate: float = 0.05,
    seed: int = 0,
    image_size: int = 64,
) -> dict:
    """A small cohort whose side marker goes with one label: a shortcut a CNN learns (chapter 10).

    Generated in memory in a few seconds (``CohortConfig(marker_rate_by_label=...)``): images of ``label`` carry
    the marker with probability ``rate``, the others with ``other_rate``; patients, findings, notes and labels are
    those of the default variant with the same seed. Returns ``images`` float32 (n, size, size, 1) in [0, 1],
    ``y`` (class indices of ``classes``), ``split``, ``ids``, ``marker`` (bool per image) and ``regions`` (the
    rows of ``finding_regions.csv`` for these images; the marker's with ``data.region_masks(..., "marker")``).
    """
    from crossmodal_lib.data import CLASSES, CohortConfig, generate_cohort
    from crossmodal_lib.preprocess.image import prepare_images

    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; the cohort has {list(CLASSES)}")
    rates = tuple(rate if c == label else other_rate for c in CLASSES)
    config = CohortConfig(n_patients=n_patients, seed=seed, image_size=image_size, marker_rate_by_label=rates)
    with warnings.catch_warnings():
        # The generator imports tqdm.auto, which warns in a notebook without ipywidgets about a progress bar that
        # is never shown here (and prints a site-packages path into the notebook's output).
        warnings.filterwarnings("ignore", message="IProgress not found")
        cohort = generate_cohort(config, progress=False, chest_only=True)
    ids = [row["id"] for row in cohort["manifest"]]
    regions = pd.DataFrame(cohort["regions"])
    marked = set(regions.loc[regions["finding"] == "marker", "id"])
    return {
        "images": prepare_images(np.stack([cohort["images"][i] for i in ids]), size=image_size),
        "y": np.array([CLASSES.index(row["label"]) for row in cohort["manifest"]]),
        "classes": CLASSES,
        "split": np.array([row["split"] for row in cohort["manifest"]]),
        "ids": np.array(ids),
        "marker": np.array([i in marked for i in ids]),
        "regions": regions,
    }


def plot_heatmap(
    image: np.ndarray, heatmap: np.ndarray, mask: np.ndarray | None = None, ax=None, title: str = ""
):
    """One image in gray with its heat map over it, the map's peak (+) and the true region's outline (chapter 10).

    The film is drawn the course's way (``course.draw_film``: crisp pixels; ``course.film_grid`` gives the panels).
    """
    from crossmodal_lib.course import BOX_COLOR, draw_film, film_grid

    if ax is None:
        ax = film_grid(1, 1)[1][0, 0]
    img = np.asarray(image).squeeze()
    heat = np.asarray(heatmap)
    if heat.shape != img.shape:
        raise ValueError(f"the heat map has shape {heat.shape} but the image {img.shape}")
    draw_film(ax, img, title=title)
    ax.imshow(heat, cmap="inferno", alpha=0.45, vmin=0, vmax=1, interpolation="nearest")
    if mask is not None:
        ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors=BOX_COLOR, linewidths=1)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    ax.plot(x, y, "+", color="lime", markersize=10, markeredgewidth=2)
    return ax
