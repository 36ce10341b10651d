"""A small two-modality data set for the fusion tests (chapters 04 and 12): only both modalities give the class."""

import numpy as np


def xor_blocks(
    n: int = 120, dims: tuple[int, int] = (6, 5), shift: float = 2.5, seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Four classes; the image block separates {0,1} from {2,3}, the text block {0,2} from {1,3}."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    F_x = rng.normal(size=(n, dims[0])).astype(np.float32)
    F_y = rng.normal(size=(n, dims[1])).astype(np.float32)
    F_x[:, 0] += shift * (y >= 2)
    F_y[:, 0] += shift * (y % 2)
    return {"image": F_x, "text": F_y}, y
