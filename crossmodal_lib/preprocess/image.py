"""Image preprocessing: one array format for every CNN of the course, and training-time augmentation (chapter 01).

``prepare_images`` turns images of any size, bit depth and colour into a float32 batch ``(n, size, size, 1)`` in
[0, 1]; ``augmentation`` returns the Keras preprocessing layers that perturb training images (rotation, shift,
contrast). Both are what chapter 02's CNN expects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# ITU-R BT.601 luma weights: the usual RGB -> grayscale conversion (Pillow's "L" mode uses the same).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _to_unit_gray(img: np.ndarray, index: int) -> np.ndarray:
    """One image -> 2-D float32 in [0, 1]; errors name the image's index."""
    img = np.asarray(img)
    if img.dtype == object or not (np.issubdtype(img.dtype, np.number) or img.dtype == bool):
        raise ValueError(f"image {index} has dtype {img.dtype}; expected numbers")
    if img.ndim == 3 and img.shape[-1] in (1, 3, 4):
        if img.shape[-1] == 1:
            img = img[..., 0]
        else:  # RGB or RGBA: the alpha channel is dropped, colour becomes luminance
            info_max = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else None
            gray = img[..., :3].astype(np.float32) @ _LUMA
            img = gray if info_max is None else gray / np.float32(info_max)
            return _to_unit_gray(img, index)
    if img.ndim != 2:
        raise ValueError(
            f"image {index} has shape {img.shape}; expected 2-D (height, width) or 3-D (height, width, channels) "
            "with 1, 3 or 4 channels"
        )
    if img.size == 0:
        raise ValueError(f"image {index} has shape {img.shape}; it holds no pixels")
    if img.dtype == bool:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.integer):
        # Integer images: scale by the dtype's range (uint8 /255, uint16 /65535), so exposure differences stay.
        info = np.iinfo(img.dtype)
        return ((img.astype(np.float64) - info.min) / (info.max - info.min)).astype(np.float32)
    img = img.astype(np.float32)
    if not np.all(np.isfinite(img)):
        raise ValueError(f"image {index} contains NaN or infinite values")
    lo, hi = float(img.min()), float(img.max())
    if lo >= 0.0 and hi <= 1.0:
        return img  # already in [0, 1]: keep the exposure as it is
    if hi == lo:
        return np.zeros_like(img)
    return (img - lo) / (hi - lo)  # any other float range: min-max to [0, 1]


def prepare_images(images: Sequence[np.ndarray] | np.ndarray, size: int = 64) -> np.ndarray:
    """Images of any size/bit depth/colour -> float32 ``(n, size, size, 1)`` in [0, 1] (chapter 01).

    * intensity: integer images are divided by their dtype's range (uint8 by 255, uint16 by 65535); float images
      already in [0, 1] are kept; other float images are min-max scaled per image;
    * colour: RGB(A) becomes grayscale (luma weights, alpha dropped);
    * size: images that are not ``size`` x ``size`` are resized with ``keras.ops.image.resize`` (bilinear,
      antialiased), without keeping the aspect ratio (a chest film is close to square).

    A 3-D array is read as a batch of 2-D images ``(n, height, width)``; a 4-D array as ``(n, height, width, c)``.
    """
    if not isinstance(size, int | np.integer) or size < 8:
        raise ValueError(f"size must be a whole number >= 8, got {size!r}")
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            raise ValueError(
                f"images has shape {images.shape}: one 2-D image, not a batch; pass [image] or image[None]"
            )
        if images.ndim not in (3, 4):
            raise ValueError(
                f"images has shape {images.shape}; expected (n, height, width) or (n, height, width, c)"
            )
    if len(images) == 0:
        raise ValueError("images is empty: nothing to prepare")
    grays = [_to_unit_gray(img, i) for i, img in enumerate(images)]
    out = np.empty((len(grays), size, size, 1), dtype=np.float32)
    to_resize: dict[tuple[int, int], list[int]] = {}
    for i, g in enumerate(grays):
        if g.shape == (size, size):
            out[i, ..., 0] = g
        else:
            to_resize.setdefault(g.shape, []).append(i)
    if to_resize:
        import keras

        for shape in sorted(to_resize):  # one resize call per distinct input shape
            idx = to_resize[shape]
            batch = np.stack([grays[i] for i in idx])[..., None]
            resized = keras.ops.image.resize(batch, (size, size), interpolation="bilinear", antialias=True)
            out[idx] = np.clip(keras.ops.convert_to_numpy(resized), 0.0, 1.0)
    return out


def augmentation(seed: int = 0, flip: bool = False, strength: float = 1.0, zoom: bool = False):
    """Keras preprocessing layers that perturb training images: rotation, shift, contrast (chapter 01).

    They perturb images in training (inside ``model.fit``) and pass them through unchanged at inference
    (``predict``, ``evaluate``). Called directly, Keras 3's random layers default to training mode: write
    ``aug(x, training=True)`` or ``aug(x, training=False)`` to say which you mean.
    Ranges are small because chest films are taken in a standard position: about +-5 degrees of rotation,
    +-5 % shift, +-20 % contrast (times ``strength``). ``zoom=True`` adds +-10 % zoom; it is off by default
    because each geometric layer is a separate image resampling, and on one CPU thread these cost about as
    much as the small CNN's own training step.

    No horizontal flip by default: a flipped chest film puts the heart on the right (dextrocardia, a rare
    anomaly), so a flip does not make another plausible patient; and any left/right finding ("left lower zone
    opacity") would no longer match the note. ``flip=True`` adds it anyway, for the chapter's experiment.
    """
    import keras

    if strength <= 0:
        raise ValueError(f"strength must be > 0, got {strength!r}")
    s = float(strength)
    layers = [
        keras.layers.RandomRotation(0.015 * s, fill_mode="constant", seed=seed, name="rotate"),
        keras.layers.RandomTranslation(0.05 * s, 0.05 * s, fill_mode="constant", seed=seed + 1, name="shift"),
        keras.layers.RandomContrast(
            min(0.2 * s, 0.9), value_range=(0.0, 1.0), seed=seed + 3, name="contrast"
        ),
    ]
    if zoom:
        layers.insert(2, keras.layers.RandomZoom(0.1 * s, fill_mode="constant", seed=seed + 2, name="zoom"))
    if flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal", seed=seed + 4, name="flip"))
    return keras.Sequential(layers, name="augmentation")
