"""One recipe for an image classifier that adapts to the data at hand (chapters 02 and 06).

``ImageRecipe(time_budget=150).fit(x_train, y_train, x_val, y_val)`` trains the course's CNN
(:func:`crossmodal_lib.features.image.build_cnn`, with :func:`crossmodal_lib.preprocess.image.augmentation`) and
then answers ``predict_proba``, ``predict``, ``score`` and ``transform`` (F_x, the ``"features"`` layer), like a
scikit-learn estimator. Every setting that depends on the data is chosen by a rule, on the training size, the
machine's measured speed or the validation split, never on test labels; ``chosen`` says what was chosen and why:

* **task**: from the labels: ``(n,)`` with 2 classes is binary (softmax, a decision threshold from validation,
  :func:`choose_threshold`); more classes is multi-class (softmax, argmax); ``(n, k)`` 0/1 is multi-label (k sigmoid
  outputs, 0.5 each, as MedMNIST's evaluator scores it). Colour images keep their 3 channels.
* **input size and training length**: a short timed probe measures how many images a CPU-second the machine
  trains at each input side of ``sizes`` (largest first). The recipe takes the largest side at which
  ``time_budget`` affords at least ``min_epochs`` passes over the training set (upsampling a 28-px image lets the
  stride-2 first convolution keep its detail), else the smallest, and then trains for as many images as the
  budget affords there (at most ``max_epochs`` passes), with a cosine learning-rate decay over that length. After
  each round the rounds left are planned again at the speed measured so far. The budget is counted in the
  process's CPU time, so that other programs on the machine do not shorten training (see ``_clock``).
* **when to stop, and the snapshot window**: training runs in ``rounds`` chunks; after each, the weights are kept
  and the validation AUC is measured. Of the windows of consecutive rounds (1, 2, 4 or 8 of them, ending in the
  second half) whose averaged predictions score within one standard error of the best on validation, the one
  that ends latest (then the longest) is kept (ending before the last round is early stopping), and its weights
  are averaged into one model (a snapshot average; the CNN has no batch normalisation, so averaged weights need
  no recalibration, and one model predicts as fast as a single snapshot).
* **test-time views**: each candidate zoom and contrast view is scored alone on validation with the final model;
  the views that beat the plain image are kept, and predictions are averaged over the plain image and them (none
  if the average does not beat the plain image either). On large data sets, where every view costs many
  predictions, only the best few are kept (``view_share`` of the budget).
* **class weights**: binary tasks train with balanced class weights (the validation threshold then sets the
  operating point); multi-class tasks without, since their accuracy is an argmax under the data's own prior.

Large validation splits are subsampled to ``monitor_max`` images for these choices, to keep them cheap.

Measured on PneumoniaMNIST (2-core machine, 150 CPU-s budget; ``make bench`` reports the current figures): it
chose 84 px, about 23-24 epochs, the last 8 rounds and 8 views (4 zooms, contrast x1.1-1.4: the lower-contrast
views scored below the plain image on validation), test AUC 0.976 +- 0.002, ACC 0.919 (seeds 0-2). On
stratified subsets of its training split (seed 0): 300 images 0.955, 600 0.973, 1200 0.975: no collapse at small
size. At 300 images, stronger augmentation (x3) gave 0.953 and a half-width network 0.947 against 0.954 for the
recipe (then capped at 60 epochs), and training 400 epochs 0.957: small data sets gain from longer training, not
from those, hence ``max_epochs`` = 200 (the budget, not a size rule, decides). Averaging the window's weights or
its predictions gave the same test AUC (0.9537 and 0.9537 on 300 images; 0.9571 and 0.9574 at 400 epochs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

TASKS = ("binary", "multiclass", "multilabel")


def _clock() -> float:
    """The budget's clock: this process's CPU time (all threads). Other programs on the machine slow the wall
    clock, not this one, so the recipe trains as long on a busy machine as on an idle one; on an idle machine
    the two agree (measured with 2 threads on 2 cores: 155 s wall, 160 s CPU)."""
    return time.process_time()


# ----------------------------------------------------------------------------------------------------------------
# Metrics and the decision threshold (MedMNIST's evaluator: AUC and ACC per task)
# ----------------------------------------------------------------------------------------------------------------


def task_of(y: np.ndarray) -> str:
    """``"binary"``, ``"multiclass"`` or ``"multilabel"`` from the label array's shape and values."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return "multilabel"
    return "binary" if int(y.max()) <= 1 else "multiclass"


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def auc_of(task: str, y: np.ndarray, proba: np.ndarray) -> float:
    """ROC-AUC as MedMNIST reports it: binary on P(class 1); multi-class the mean one-vs-rest AUC over classes;
    multi-label the mean over labels (classes or labels with one value only in ``y`` are left out)."""
    if task == "binary":
        return _auc(y, proba[:, 1])
    columns = (y == c for c in range(proba.shape[1])) if task == "multiclass" else y.T
    return float(np.nanmean([_auc(np.asarray(t, int), proba[:, c]) for c, t in enumerate(columns)]))


def auc_standard_error(task: str, y: np.ndarray, proba: np.ndarray) -> float:
    """The standard error of :func:`auc_of` (Hanley & McNeil, 1982; for a mean over classes or labels, their
    errors combined as if independent). It sets how much better a choice must score to count as better."""
    if task == "binary":
        columns, scores = [np.asarray(y)], proba[:, 1:2]
    elif task == "multiclass":
        columns, scores = [y == c for c in range(proba.shape[1])], proba
    else:
        columns, scores = list(np.asarray(y).T), proba
    variances = []
    for c, t in enumerate(columns):
        n_pos, n_neg = int(np.sum(t)), int(len(t) - np.sum(t))
        if n_pos == 0 or n_neg == 0:
            continue
        a = _auc(np.asarray(t, int), scores[:, c])
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
        variances.append(max(var, 0.0))
    return float(np.sqrt(np.sum(variances)) / max(1, len(variances)))


def acc_of(task: str, y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> float:
    """Accuracy as MedMNIST reports it: binary at ``threshold`` on P(class 1); multi-class argmax; multi-label the
    mean over labels of the accuracy at 0.5."""
    if task == "binary":
        return float(np.mean((proba[:, 1] >= threshold) == y))
    if task == "multiclass":
        return float(np.mean(proba.argmax(axis=1) == y))
    return float(np.mean((proba >= 0.5) == y))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float:
    """The decision threshold on P(positive), chosen on the validation split only (chapter 06).

    A logistic regression on the logit of the score with balanced class weights (Platt scaling for a 50/50
    prior); the threshold is where it crosses 1/2. Every validation image contributes, not only the few at the
    edge of the classes, so the threshold does not jump from epoch to epoch the way the single best cut-off
    (Youden's J) does on a validation set the model almost separates, and it does not depend on the validation
    prevalence (74 % pneumonia in PneumoniaMNIST's validation split, 62.5 % in its test split).
    """
    from sklearn.linear_model import LogisticRegression

    y_val = np.asarray(y_val).astype(int)
    if set(np.unique(y_val)) != {0, 1}:
        raise ValueError("choose_threshold needs validation labels of both classes (0 and 1)")
    z = _logit(p_val)[:, None]
    lr = LogisticRegression(class_weight="balanced", C=1e4).fit(z, y_val)
    slope, intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if slope <= 0:
        raise ValueError("validation scores do not rank the classes (higher score, more negatives)")
    return float(1.0 / (1.0 + np.exp(intercept / slope)))


# ----------------------------------------------------------------------------------------------------------------
# Test-time views
# ----------------------------------------------------------------------------------------------------------------


def zoom_images(x: np.ndarray, factor: float) -> np.ndarray:
    """Images ``(n, h, w, c)`` magnified by ``factor`` about their centre, same size (chapter 06).

    ``factor > 1`` crops the centre and enlarges it; ``factor < 1`` pads with black (as ``RandomZoom`` with
    ``fill_mode="constant"`` does in training) and shrinks. Bilinear resampling.
    """
    import keras

    if factor <= 0:
        raise ValueError(f"zoom factor must be > 0, got {factor!r}")
    h, w = x.shape[1:3]
    if factor >= 1:
        ch, cw = round(h / factor), round(w / factor)
        top, left = (h - ch) // 2, (w - cw) // 2
        x = x[:, top : top + ch, left : left + cw]
    else:
        ph, pw = round(h * (1 / factor - 1) / 2), round(w * (1 / factor - 1) / 2)
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    return np.asarray(keras.ops.image.resize(x, (h, w), interpolation="bilinear"), dtype=np.float32)


def contrast_images(x: np.ndarray, factor: float) -> np.ndarray:
    """Images in [0, 1] with their contrast scaled by ``factor`` about each image's (and channel's) mean, as
    ``RandomContrast`` does in training (chapter 06)."""
    if factor <= 0:
        raise ValueError(f"contrast factor must be > 0, got {factor!r}")
    mean = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - mean) * factor + mean, 0.0, 1.0).astype(np.float32)


def view(x: np.ndarray, name: str) -> np.ndarray:
    """One test-time view by name: ``"plain"``, ``"zoom 1.1"`` or ``"contrast 1.2"``."""
    if name == "plain":
        return x
    kind, _, factor = name.partition(" ")
    if kind == "zoom":
        return zoom_images(x, float(factor))
    if kind == "contrast":
        return contrast_images(x, float(factor))
    raise ValueError(f"unknown view {name!r}; use 'plain', 'zoom <factor>' or 'contrast <factor>'")


# ----------------------------------------------------------------------------------------------------------------
# The recipe
# ----------------------------------------------------------------------------------------------------------------


def _check_split(x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise ValueError(
            f"{what} images have shape {x.shape}; expected (n, H, W), (n, H, W, 1) or (n, H, W, 3)"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} labels have dtype {y.dtype}; expected integer class indices or 0/1 labels")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise ValueError(f"{what} labels have shape {y.shape}; expected (n,), (n, 1) or (n, k) multi-label")
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} images but {len(y)} labels; they must match one to one")
    if len(x) == 0:
        raise ValueError(f"{what}: no images")
    if y.min() < 0 or (y.ndim == 2 and y.max() > 1):
        raise ValueError(
            f"{what} labels must be class indices >= 0 (or 0/1 per label), got {y.min()}..{y.max()}"
        )
    return x, y.astype(np.int64)


def _prepare(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Images -> float32 ``(n, size, size, channels)`` in [0, 1] with ``prepare_images``; colour images go through
    it one channel at a time, so that colour is kept."""
    from crossmodal_lib.preprocess.image import prepare_images

    if channels == 1:
        return prepare_images(x, size=size)
    return np.concatenate([prepare_images(x[..., c], size=size) for c in range(channels)], axis=-1)


@dataclass
class ImageRecipe:
    """The course's CNN with its data-dependent settings chosen on the data (chapter 06; see the module docstring).

    Fixed settings are the architecture's and the optimiser's; ``image_size`` or ``epochs`` set by hand switch
    off the probe for that choice (the tests use them to train in seconds). With both set, nothing depends on the
    machine's speed, so a run is reproducible: chapters 02-05 and ``train --data`` (``pipeline.cohort_features``)
    train it so, with chapter 01's augmentation (``augment_strength=1``, ``zoom=0``; on the cohort the stronger
    default, chosen on PneumoniaMNIST, gave image-only macro AUC 0.670 against 0.703 at 25 epochs).
    """

    time_budget: float = 150.0  # CPU seconds of training (probe and per-round validation included)
    seed: int = 0
    sizes: tuple[int, ...] = (84, 56, 28)  # input sides tried, largest first
    image_size: int | None = None  # None: chosen by the probe
    epochs: float | None = None  # passes over the training set; None: as many as the budget affords
    min_epochs: float = 20.0  # the largest side is taken only if the budget affords this many passes there
    max_epochs: float = 200.0  # never more passes than this, however small the data set (saves time)
    rounds: int = 24  # snapshots (and validation checks) over the training
    filters: tuple[int, ...] = (16, 32, 64)
    feature_dim: int = 64
    batch_size: int = 32
    learning_rate: float = 2e-3  # peak of a cosine decay to 5 % of it
    augment_strength: float = 2.0  # times the course's augmentation ranges (rotation, shift, contrast)
    zoom: float = 0.2  # RandomZoom range added after them (test-time zoom views mirror it)
    windows: tuple[int, ...] = (1, 2, 4, 8)  # snapshot window lengths tried on validation
    zoom_views: tuple[float, ...] = (0.8, 0.9, 1.1, 1.2)
    contrast_views: tuple[float, ...] = (0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.4)
    monitor_max: int = 5000  # validation images used for the choices (a fixed random subset when more)
    view_share: float = 0.05  # test-time views may cost this share of the budget on a validation-sized split
    verbose: bool = False
    chosen: dict = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, x_train, y_train, x_val, y_val) -> ImageRecipe:
        """Train on ``(x_train, y_train)``; every choice uses ``(x_val, y_val)`` only. Images as MedMNIST stores
        them (uint8 ``(n, H, W)`` or ``(n, H, W, 3)``) or anything ``prepare_images`` reads; labels ``(n,)``,
        ``(n, 1)`` or multi-label ``(n, k)``."""
        x_train, y_train, x_val, y_val = self._check_data(x_train, y_train, x_val, y_val)
        start, wall_start = _clock(), time.perf_counter()
        rng = np.random.default_rng(self.seed)
        mon = np.sort(rng.permutation(len(x_val))[: self.monitor_max])
        x_mon_raw, self._y_mon = x_val[mon], y_val[mon]

        size, samples, probe = self._plan(x_train, y_train, x_mon_raw)
        self.image_size_ = size
        x = _prepare(x_train, size, self.channels_)
        x_mon = _prepare(x_mon_raw, size, self.channels_)
        snapshots, mon_proba, seen, replanned = self._train(x, y_train, x_mon, samples, start, rng)
        mon_auc = [auc_of(self.task_, self._y_mon, p) for p in mon_proba]
        train_seconds = _clock() - start

        end, k, window_auc = self._choose_window(mon_proba)
        self.model_.set_weights(
            [np.mean(ws, axis=0) for ws in zip(*snapshots[end - k + 1 : end + 1], strict=True)]
        )
        views, view_auc, affordable_views = self._choose_views(x_mon, len(x_val))
        self.views_ = views
        p_mon = self._views_proba(x_mon)
        self.threshold_, threshold_rule = self._choose_threshold(p_mon)
        self.chosen = {
            "task": self.task_,
            "outputs": self.n_outputs_,
            "channels": self.channels_,
            "n_train": len(x_train),
            "n_val_used": len(mon),
            "image_size": size,
            "image_size_rule": probe["rule"],
            "probe_images_per_second": probe["images_per_second"],
            "epochs": round(seen / len(x), 2),
            "epochs_planned": round(samples / len(x), 2),
            "rounds": len(snapshots),
            "rounds_replanned": replanned,
            "round_val_auc": [round(a, 4) for a in mon_auc],
            "window": {"first_round": end - k + 2, "last_round": end + 1, "rounds": k},
            "window_val_auc": round(window_auc, 4),
            "averaged_model_val_auc": round(view_auc["plain"], 4),
            "view_val_auc": {name: round(a, 4) for name, a in view_auc.items()},
            "views": views,
            "views_affordable": affordable_views,
            "val_auc": round(auc_of(self.task_, self._y_mon, p_mon), 4),
            "class_weight": "balanced" if self.task_ == "binary" else None,
            "threshold": round(self.threshold_, 4) if self.task_ == "binary" else None,
            "threshold_rule": threshold_rule,
            "time_budget": self.time_budget,
            "train_cpu_seconds": round(train_seconds, 1),
            "cpu_seconds": round(_clock() - start, 1),
            "wall_seconds": round(time.perf_counter() - wall_start, 1),
        }
        return self

    def _check_data(self, x_train, y_train, x_val, y_val) -> tuple[np.ndarray, ...]:
        """Validate the four arrays and the settings; set the task, the number of outputs and of channels."""
        x_train, y_train = _check_split(x_train, y_train, "training")
        x_val, y_val = _check_split(x_val, y_val, "validation")
        self._check_settings()
        self.task_ = task_of(y_train)
        if y_val.shape[1:] != y_train.shape[1:]:
            raise ValueError(f"validation labels have shape {y_val.shape}; training labels {y_train.shape}")
        self.n_outputs_ = y_train.shape[1] if self.task_ == "multilabel" else max(2, int(y_train.max()) + 1)
        if self.task_ != "multilabel" and y_val.max() >= self.n_outputs_:
            raise ValueError(
                f"validation has class {y_val.max()}, unseen in training (0..{self.n_outputs_ - 1})"
            )
        if self.task_ == "binary" and len(np.unique(y_val)) < 2:
            raise ValueError("a binary task needs validation labels of both classes (for the threshold)")
        if x_val.shape[1:] != x_train.shape[1:]:
            raise ValueError(
                f"validation images have shape {x_val.shape[1:]}; training images {x_train.shape[1:]}"
            )
        self.channels_ = 3 if x_train.ndim == 4 and x_train.shape[-1] == 3 else 1
        return x_train, y_train, x_val, y_val

    def _train(self, x, y_train, x_mon, samples: float, start: float, rng) -> tuple[list, list, int, bool]:
        """Train in rounds (module docstring); return each round's weights and validation probabilities, the
        training images seen and whether the rounds were re-planned to end with the budget."""
        import keras

        n_rounds = min(self.rounds, max(1, int(samples // self.batch_size)))
        steps = max(1, int(samples // (n_rounds * self.batch_size)))  # per round, as planned
        keras.utils.set_random_seed(self.seed)
        self.model_, trainable = self._build(x.shape[1])
        class_weight = self._class_weight(y_train)
        cap = samples if self.epochs is not None else self.max_epochs * len(x)  # training images, at most
        order = rng.permutation(len(x))
        snapshots, mon_proba, seen, replanned = [], [], 0, False
        timed_images, timed_seconds = 0, 0.0
        for r in range(n_rounds):
            # Cosine decay of the learning rate over the rounds, to 5 % of its peak, one value per round.
            decay = 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (r + 0.5) / n_rounds))
            trainable.optimizer.learning_rate.assign(self.learning_rate * decay)
            while len(order) < seen + steps * self.batch_size:  # one more shuffled pass over the data
                order = np.concatenate([order, rng.permutation(len(x))])
            idx = order[seen : seen + steps * self.batch_size]
            seen += len(idx)
            round_start = _clock()
            trainable.fit(
                x[idx],
                self._fit_targets(y_train[idx]),
                batch_size=self.batch_size,
                epochs=1,
                shuffle=False,  # the order is already shuffled
                verbose=0,
                class_weight=class_weight,
            )
            fit_seconds = _clock() - round_start
            snapshots.append([w.copy() for w in self.model_.get_weights()])
            mon_proba.append(self._proba(self.model_, x_mon))
            elapsed = _clock() - start
            if self.verbose:
                auc = auc_of(self.task_, self._y_mon, mon_proba[-1])
                print(f"    round {r + 1}/{n_rounds}: val AUC {auc:.4f} ({elapsed:.0f} s)", flush=True)
            if r > 0:  # the first round also traced the model: its speed is not the machine's
                timed_images, timed_seconds = timed_images + len(idx), timed_seconds + fit_seconds
            if self.epochs is None and r < n_rounds - 1 and timed_seconds > 0:
                # The probe timed a few batches only: plan the rounds left again, at the speed measured so far,
                # so that the schedule ends with the budget (and within max_epochs).
                predict_seconds = _clock() - round_start - fit_seconds
                left = (self.time_budget - (_clock() - start)) / (n_rounds - r - 1) - predict_seconds
                affordable = int(left * timed_images / timed_seconds / self.batch_size)
                capped = int((cap - seen) / (n_rounds - r - 1) / self.batch_size)
                new_steps = max(1, min(affordable, capped))
                replanned |= new_steps != steps
                steps = new_steps
        return snapshots, mon_proba, seen, replanned

    def _check_settings(self) -> None:
        if self.time_budget <= 0:
            raise ValueError(f"time_budget must be > 0 seconds, got {self.time_budget!r}")
        if not self.sizes or min(self.sizes) < 16:
            raise ValueError(f"sizes must be input sides >= 16, got {self.sizes!r}")
        if self.rounds < 1 or not self.windows or min(self.windows) < 1:
            raise ValueError(f"rounds and windows must be >= 1, got {self.rounds!r}, {self.windows!r}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")

    def _plan(self, x_train, y_train, x_mon_raw) -> tuple[int, float, dict]:
        """Input side and number of training images (samples) for the budget: see the module docstring."""
        n = len(x_train)
        if self.image_size is not None and self.epochs is not None:
            return (
                self.image_size,
                self.epochs * n,
                {"rule": "set by hand", "images_per_second": {}, "seconds": 0.0},
            )
        start = _clock()
        sizes = [self.image_size] if self.image_size is not None else sorted(self.sizes, reverse=True)
        need = self.min_epochs * n  # training images the chosen side must afford
        speed: dict[int, float] = {}
        size, fits = sizes[-1], False
        for side in sizes:
            if (
                speed
            ):  # a smaller side trains at most (area ratio) times faster: skip it if even that cannot fit
                last = min(speed)
                if speed[last] * (last / side) ** 2 * self._budget_left(start, x_mon_raw) < need:
                    continue
            speed[side] = self._probe(side, x_train, y_train)
            if speed[side] * self._budget_left(start, x_mon_raw) >= need:
                size, fits = side, True
                break
        if size not in speed:
            speed[size] = self._probe(size, x_train, y_train)
        samples = speed[size] * self._budget_left(start, x_mon_raw)
        samples = self.epochs * n if self.epochs is not None else min(samples, self.max_epochs * n)
        if self.image_size is not None:
            rule = "set by hand"
        elif fits:
            rule = f"largest side at which the budget affords >= {self.min_epochs:g} epochs"
        else:
            rule = f"smallest side: no side affords {self.min_epochs:g} epochs in the budget"
        images_per_second = {str(side): round(v) for side, v in speed.items()}
        return (
            size,
            samples,
            {"rule": rule, "images_per_second": images_per_second, "seconds": _clock() - start},
        )

    def _budget_left(self, start: float, x_mon_raw) -> float:
        """Seconds left for training steps: the budget less the probe so far and the per-round validation."""
        per_round_predict = len(x_mon_raw) / 5000.0  # ~5000 images/s predicted at the largest side (measured)
        return max(0.0, self.time_budget - (_clock() - start) - self.rounds * per_round_predict)

    def _probe(self, side: int, x_train, y_train, short: int = 4, long: int = 16) -> float:
        """Training images per second at input side ``side``: a warm-up batch (it traces the model), then ``short``
        and ``long`` batches timed; the difference leaves out what every ``fit`` call costs whatever its length
        (at 28 px that overhead is worth dozens of batches)."""
        import keras

        rng = np.random.default_rng(self.seed + side)
        m = self.batch_size * long
        idx = rng.choice(len(x_train), size=m, replace=m > len(x_train))
        x = _prepare(x_train[idx], side, self.channels_)
        y = self._fit_targets(y_train[idx])
        keras.utils.set_random_seed(self.seed)
        _, trainable = self._build(side)
        seconds = []
        for batches in (1, short, long):
            start = _clock()
            n = batches * self.batch_size
            trainable.fit(x[:n], y[:n], batch_size=self.batch_size, verbose=0)
            seconds.append(_clock() - start)
        marginal = seconds[2] - seconds[1]
        if marginal <= 0:  # timer noise on a very fast machine: the plain rate instead
            return long * self.batch_size / seconds[2]
        return (long - short) * self.batch_size / marginal

    def _build(self, side: int):
        """The CNN (``build_cnn``; a sigmoid head for multi-label) and its training wrapper with augmentation."""
        import keras

        from crossmodal_lib.features.image import FEATURE_LAYER, build_cnn
        from crossmodal_lib.preprocess.image import augmentation

        shape = (side, side, self.channels_)
        outputs = 2 if self.task_ == "multilabel" else self.n_outputs_
        model = build_cnn(shape, outputs, self.feature_dim, self.seed, self.filters)
        if self.task_ == "multilabel":  # k independent yes/no outputs on the same features
            head = keras.layers.Dense(
                self.n_outputs_,
                activation="sigmoid",
                kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 101),
                name="probabilities",
            )
            model = keras.Model(model.inputs, head(model.get_layer(FEATURE_LAYER).output), name="image_cnn")
        inputs = keras.Input(shape=shape)
        augment = keras.Sequential(
            [
                augmentation(seed=self.seed, strength=self.augment_strength),
                keras.layers.RandomZoom(self.zoom, fill_mode="constant", seed=self.seed + 2, name="zoom"),
            ],
            name="augment",
        )
        trainable = keras.Model(inputs, model(augment(inputs)))
        loss = "binary_crossentropy" if self.task_ == "multilabel" else "sparse_categorical_crossentropy"
        trainable.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=loss)
        return model, trainable

    def _fit_targets(self, y: np.ndarray) -> np.ndarray:
        return y.astype(np.float32) if self.task_ == "multilabel" else y

    def _class_weight(self, y: np.ndarray) -> dict[int, float] | None:
        if self.task_ != "binary":
            return None
        counts = np.bincount(y, minlength=2)
        return {c: float(len(y) / (2 * counts[c])) for c in range(2)}

    def _proba(self, model, x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x, batch_size=512, verbose=0), dtype=np.float64)

    def _choose_threshold(self, p_mon: np.ndarray) -> tuple[float, str | None]:
        """Binary tasks: :func:`choose_threshold` on validation (0.5, with the reason, when the model does not rank
        the validation images); others: 0.5 (multi-label) or none needed (argmax)."""
        if self.task_ != "binary":
            return 0.5, None
        try:
            return choose_threshold(self._y_mon, p_mon[:, 1]), "choose_threshold"
        except ValueError as err:
            return 0.5, f"0.5 ({err})"

    def _choose_window(self, mon_proba: list[np.ndarray]) -> tuple[int, int, float]:
        """(last round, length, val AUC) of the snapshot window kept; windows end in the second half of training.

        One-standard-error rule: of the windows whose averaged predictions score within one standard error of the
        best on validation, the one that ends latest (then the longest) is kept, so that training stops early
        only when validation clearly says so, not on its noise.
        """
        scores = {}
        for end in range(len(mon_proba) // 2, len(mon_proba)):
            for k in (w for w in self.windows if w <= end + 1):
                proba = np.mean(mon_proba[end - k + 1 : end + 1], axis=0)
                scores[end, k] = (auc_of(self.task_, self._y_mon, proba), proba)
        best_auc, best_proba = max(scores.values(), key=lambda v: v[0])
        margin = auc_standard_error(self.task_, self._y_mon, best_proba)
        end, k = max(key for key, (auc, _) in scores.items() if auc >= best_auc - margin)
        return end, k, float(scores[end, k][0])

    def _choose_views(self, x_mon: np.ndarray, n_val: int) -> tuple[list[str], dict[str, float], int]:
        """Test-time views kept: each candidate alone must beat the plain image on validation, and their average
        with the plain image must too. Each view costs one more prediction of every image, so at most as many
        are kept (the best first) as predicting a split the size of validation affords in ``view_share`` of the
        budget: all of them on small data sets, a few on the largest."""
        names = [f"zoom {f:g}" for f in self.zoom_views] + [f"contrast {f:g}" for f in self.contrast_views]
        start = _clock()
        proba = {"plain": self._proba(self.model_, x_mon)}
        images_per_second = len(x_mon) / max(_clock() - start, 1e-6)
        proba.update({name: self._proba(self.model_, view(x_mon, name)) for name in names})
        score = {name: auc_of(self.task_, self._y_mon, p) for name, p in proba.items()}
        if self.image_size is not None and self.epochs is not None:
            affordable = len(names)  # set by hand: no choice may depend on the machine's speed
        else:
            affordable = int(self.view_share * self.time_budget * images_per_second / n_val)
        better = sorted((name for name in names if score[name] > score["plain"]), key=score.get, reverse=True)
        kept = sorted(better[:affordable], key=names.index)
        together = np.mean([proba[name] for name in ["plain", *kept]], axis=0)
        if kept and auc_of(self.task_, self._y_mon, together) <= score["plain"]:
            kept = []
        return kept, score, affordable

    def _views_proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([self._proba(self.model_, view(x, name)) for name in ["plain", *self.views_]], axis=0)

    # ------------------------------------------------------------------------------------------------ use
    def _ready(self, x) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ValueError(
                "this ImageRecipe is not fitted yet; call fit(x_train, y_train, x_val, y_val) first"
            )
        x = np.asarray(x)
        channels = 3 if x.ndim == 4 and x.shape[-1] == 3 else 1
        if channels != self.channels_:
            raise ValueError(f"images have {channels} channel(s); the recipe was fitted on {self.channels_}")
        return _prepare(x, self.image_size_, self.channels_)

    def predict_proba(self, x) -> np.ndarray:
        """Probabilities ``(n, classes)`` (binary: 2 columns), or ``(n, labels)`` for multi-label, averaged over
        the chosen test-time views."""
        return self._views_proba(self._ready(x))

    def predict(self, x) -> np.ndarray:
        """Binary: 1 where P(1) >= the validation threshold; multi-class: argmax; multi-label: P >= 0.5 per label."""
        proba = self.predict_proba(x)
        if self.task_ == "binary":
            return (proba[:, 1] >= self.threshold_).astype(np.int64)
        if self.task_ == "multiclass":
            return proba.argmax(axis=1)
        return (proba >= 0.5).astype(np.int64)

    def score(self, x, y) -> dict[str, float]:
        """``{"auc", "acc"}`` as MedMNIST's evaluator computes them (binary ACC at the validation threshold, plus
        ``"acc_at_half"`` at 0.5)."""
        x, y = _check_split(x, y, "scored")
        proba = self.predict_proba(x)
        out = {"auc": auc_of(self.task_, y, proba), "acc": acc_of(self.task_, y, proba, self.threshold_)}
        if self.task_ == "binary":
            out["acc_at_half"] = acc_of(self.task_, y, proba, 0.5)
        return out

    def transform(self, x) -> np.ndarray:
        """F_x: the averaged model's ``"features"`` layer for images ``x`` (plain view), shape (n, feature_dim)."""
        from crossmodal_lib.features.image import image_features

        return image_features(self.model_, self._ready(x))
