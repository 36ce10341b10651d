"""The one-line setup every notebook runs first (chapter 00), and small helpers for the notebooks.

    from crossmodal_lib.course import setup
    course = setup()          # seeds, one CPU thread, quiet logging, fast mode

Fast mode (fewer epochs, smaller searches) is read from one environment variable, ``CROSSMODAL_FAST``:
``make test`` and ``make notebooks`` set it to 1, so the stored notebook outputs are fast-mode outputs;
a learner who starts ``make lab`` gets the full runs.

Figure convention (every chapter; ``tests/test_notebooks.py`` checks it). Notebooks are read on GitHub with their
stored outputs, so a figure must be legible there and the notebook must stay light:

- Figures are stored as PNG at ``FIGURE_DPI`` = 72 dots per inch; plots default to ``FIGURE_SIZE`` (6 x 3.5 in).
- Films (and any image a prose sentence talks about) go through ``show_films`` (or ``film_grid`` and
  ``draw_film`` for a layout of a cell's own, ``explain.plot_heatmap`` for heat maps): a panel is
  ``FILM_INCHES`` = 2.5 in, so a 64-px film is drawn about 170 px wide (over 2.5 screen pixels per film pixel),
  with nearest-neighbour interpolation so that pixels stay crisp instead of being smoothed away.
- At most ``FILMS_PER_ROW`` = 4 films per row, and no figure wider than ``MAX_FIGURE_INCHES`` = 10 in (the width
  of a notebook column on GitHub and in JupyterLab); smaller images (32-px clip frames, feature maps) may use
  smaller panels at the same pixels per image pixel, so a strip of 8 frames still fits.
- What a film's caption claims must be visible: ``show_films(..., regions=..., zoom=True)`` outlines where each
  finding was drawn (``data.load_finding_regions``) and magnifies the smallest one (a nodule is 2 to 4 film pixels) in
  an inset.
- A committed notebook stays under ``tests/test_notebooks.py``'s size limit: show a few legible films rather than
  many small ones.
"""

from __future__ import annotations

import inspect
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FAST_ENV_VAR = "CROSSMODAL_FAST"
# TensorFlow threads per kernel: 1 keeps a machine's digits the same run after run. Another count changes the
# arithmetic, as another processor does; the stored outputs must still match (README, "Tests on your machine").
THREADS_ENV_VAR = "CROSSMODAL_THREADS"
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
COHORT_DIR = DATA_DIR / "cohort"

# The figure convention (module docstring). 72 dpi keeps PNGs small; panel sizes, not dpi, make films legible.
FIGURE_DPI = 72
FIGURE_SIZE = (6.0, 3.5)
FILM_INCHES = 2.5
FILMS_PER_ROW = 4
MAX_FIGURE_INCHES = 10.0
ZOOM_BELOW = 0.2  # zoom on a region only when its longer side is under this share of the film (13 of 64 px)
ZOOM_WINDOW = 0.25  # the inset shows this fraction of the film's side (16 of 64 pixels) ...
INSET_SIZE = 0.45  # ... in a square inset this fraction of the panel: about 5 screen pixels per film pixel
BOX_COLOR = "cyan"  # where a finding was drawn (chapter 10 uses the same colour for true regions)
ZOOM_COLOR = "yellow"  # the zoomed window and its inset


def fast_mode() -> bool:
    """True when ``CROSSMODAL_FAST`` is set to 1/true/yes (workshops and CI)."""
    return os.environ.get(FAST_ENV_VAR, "0").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Course:
    """What ``setup`` returns: the seed, the mode and where the data lives."""

    seed: int
    fast: bool
    data_dir: Path
    cohort_dir: Path

    def epochs(self, full: int, fast: int) -> int:
        """Pick the number of epochs (or any budget) for the current mode."""
        return fast if self.fast else full


def tf_threads() -> int:
    """TensorFlow's intra- and inter-op thread count: ``CROSSMODAL_THREADS``, 1 when unset."""
    value = os.environ.get(THREADS_ENV_VAR, "1").strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV_VAR} must be a whole number >= 1, got {value!r}")
    return int(value)


def setup(seed: int = 0, tensorflow: bool = True) -> Course:
    """Make a notebook reproducible: seeds, one intra-/inter-op thread, deterministic ops, quiet logs.

    One thread each is what made 1- and 2-core runs bit-identical (../NOTEBOOK_TESTING.md, fact 7); on the
    course's small models it costs no visible time. ``CROSSMODAL_THREADS`` changes the count (see ``tf_threads``).
    """
    random.seed(seed)
    np.random.seed(seed)
    np.set_printoptions(precision=4, suppress=True)
    if tensorflow:
        import keras
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(tf_threads())
            tf.config.threading.set_inter_op_parallelism_threads(tf_threads())
        except RuntimeError:
            pass  # TensorFlow already started in this kernel; threads are fixed from its first use.
        tf.get_logger().setLevel("ERROR")
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    import matplotlib as mpl

    # Small plots keep the committed notebooks light; films get larger panels (show_films, module docstring).
    mpl.rcParams.update(
        {
            "figure.dpi": FIGURE_DPI,
            "figure.figsize": FIGURE_SIZE,
            "savefig.dpi": FIGURE_DPI,
            "image.interpolation": "nearest",  # a film's own pixels, not a smoothed picture of them
        }
    )
    return Course(seed=seed, fast=fast_mode(), data_dir=DATA_DIR, cohort_dir=COHORT_DIR)


def show_source(obj: object) -> None:
    """Print the library's own source of ``obj``, so a chapter shows the one copy of the code it teaches."""
    print(inspect.getsource(obj).rstrip())


def film_grid(
    nrows: int = 1,
    ncols: int = FILMS_PER_ROW,
    panel: float = FILM_INCHES,
    *,
    title_lines: int = 1,
    suptitle: str = "",
) -> tuple[Any, np.ndarray]:
    """A figure of ``nrows`` x ``ncols`` film panels, ``panel`` inches each: ``(figure, axes)`` with axes 2-D.

    The layout half of ``show_films``, for cells that draw something of their own on films (chapter 10's heat
    maps). Each row gets room for ``title_lines`` lines of title above its films, and the figure for
    ``suptitle``, so the films keep their size. Refuses a grid wider than ``MAX_FIGURE_INCHES``: use more rows,
    not smaller films.
    """
    import matplotlib.pyplot as plt

    for name, value in (("nrows", nrows), ("ncols", ncols)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if not panel > 0:
        raise ValueError(f"panel must be a positive size in inches, got {panel!r}")
    if ncols * panel > MAX_FIGURE_INCHES + 1e-9:
        raise ValueError(
            f"{ncols} panels of {panel} in make a figure {ncols * panel:.1f} in wide, over the course's "
            f"{MAX_FIGURE_INCHES} in: use at most {int(MAX_FIGURE_INCHES // panel)} per row (more rows)"
        )
    # A 10-pt title line is about 0.19 in; the constrained layout then keeps the films square and full size.
    row = panel + 0.1 + 0.19 * title_lines
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(ncols * panel, nrows * row + (0.35 if suptitle else 0)),
        squeeze=False,
        layout="constrained",
    )
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    for ax in axes.flat:
        ax.set_xticks([])  # ticks off but the frame kept, so a row label (set_ylabel) still shows
        ax.set_yticks([])
    return fig, axes


def _film(image: object, name: str) -> np.ndarray:
    """A grayscale film as a 2-D array: (H, W) or (H, W, 1), as the cohort's loaders give them."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"{name} has shape {img.shape}: expected a 2-D grayscale image (H, W) or (H, W, 1)")
    return img


def _boxes(regions: object, name: str) -> np.ndarray:
    """One film's regions as a (k, 4) array of (y0, x0, y1, x1) fractions, checked to lie inside the image."""
    if regions is None:
        return np.zeros((0, 4))
    if hasattr(regions, "columns"):  # rows of finding_regions.csv (data.load_finding_regions)
        regions = regions[["y0", "x0", "y1", "x1"]]
    boxes = np.asarray(regions, dtype=float).reshape(-1, 4) if np.size(regions) else np.zeros((0, 4))
    for b in boxes:
        y0, x0, y1, x1 = b
        if not (0 <= y0 < y1 <= 1 and 0 <= x0 < x1 <= 1):
            raise ValueError(
                f"{name}: region (y0, x0, y1, x1) = {tuple(b.round(3).tolist())} is not a box inside the "
                "image: need 0 <= y0 < y1 <= 1 and 0 <= x0 < x1 <= 1 (fractions of the image, as in "
                "finding_regions.csv)"
            )
    return boxes


def _draw_box(ax, box: np.ndarray, shape: tuple[int, int], **style) -> None:
    """Outline a (y0, x0, y1, x1) box given in fractions, just outside it, so the finding itself stays uncovered."""
    from matplotlib.patches import Rectangle

    h, w = shape
    y0, x0, y1, x1 = box
    # Pixel k covers [k - 0.5, k + 0.5] in imshow's coordinates; the outline runs half a pixel outside that.
    ax.add_patch(
        Rectangle((x0 * w - 1, y0 * h - 1), (x1 - x0) * w + 1, (y1 - y0) * h + 1, fill=False, **style)
    )


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area shared by two (y0, x0, y1, x1) boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _zoom(ax, img: np.ndarray, boxes: np.ndarray, imshow: dict) -> None:
    """Magnify the smallest box in an inset, in the panel's corner that hides the least of the boxes."""
    from matplotlib.patches import Rectangle

    h, w = img.shape
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    if sides.min() > ZOOM_BELOW:
        return  # every region is big enough to see without help
    target = boxes[int(np.argmin(sides))]
    half = ZOOM_WINDOW / 2
    cy = np.clip((target[0] + target[2]) / 2, half, 1 - half)  # the window stays on the film
    cx = np.clip((target[1] + target[3]) / 2, half, 1 - half)
    window = np.array([cy - half, cx - half, cy + half, cx + half])
    corners = [
        np.array([y, x, y + INSET_SIZE, x + INSET_SIZE])
        for y in (0, 1 - INSET_SIZE)
        for x in (0, 1 - INSET_SIZE)
    ]
    # Never over the zoomed window itself; then as little of the other regions as possible.
    y0, x0, _, _ = min(
        corners,
        key=lambda c: (_overlap(c, window) > 0, sum(_overlap(c, b) for b in boxes), -_overlap(c, window)),
    )
    inset = ax.inset_axes([x0, 1 - y0 - INSET_SIZE, INSET_SIZE, INSET_SIZE])  # axes coordinates: y up
    inset.imshow(img, **imshow)
    for b in boxes:  # magnified, the outline half a pixel outside the box no longer touches the finding
        _draw_box(inset, b, img.shape, edgecolor=BOX_COLOR, linewidth=1)
    inset.set_xlim(window[1] * w - 0.5, window[3] * w - 0.5)
    inset.set_ylim(window[2] * h - 0.5, window[0] * h - 0.5)  # image rows grow downwards
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor(ZOOM_COLOR)
        spine.set_linewidth(1.5)
    # The window's outline on the film, in the inset's colour (no connector lines: they cross the film).
    ax.add_patch(
        Rectangle(
            (window[1] * w - 0.5, window[0] * h - 0.5),
            ZOOM_WINDOW * w,
            ZOOM_WINDOW * h,
            fill=False,
            edgecolor=ZOOM_COLOR,
            linewidth=1,
            linestyle="--",
        )
    )


def draw_film(
    ax,
    image: np.ndarray,
    *,
    title: str = "",
    regions: object = None,
    zoom: bool = False,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
) -> None:
    """Draw one film on ``ax`` the course's way: crisp pixels, ``regions`` outlined, the smallest one zoomed.

    The panel half of ``show_films``, for layouts of a cell's own (chapter 02's feature maps); the arguments
    are ``show_films``'s, for one film.
    """
    img, boxes = _film(image, "the film"), _boxes(regions, "the film")
    imshow = {"cmap": cmap, "vmin": vmin, "vmax": vmax, "interpolation": "nearest"}
    ax.imshow(img, **imshow)
    for b in boxes:
        _draw_box(ax, b, img.shape, edgecolor=BOX_COLOR, linewidth=1)
    if zoom and len(boxes):
        _zoom(ax, img, boxes, imshow)
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xticks([])  # ticks off but the frame kept, so a row label (set_ylabel) still shows
    ax.set_yticks([])


def show_films(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    regions: Sequence[object] | None = None,
    zoom: bool | Sequence[bool] = False,
    ncols: int = FILMS_PER_ROW,
    panel: float = FILM_INCHES,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    suptitle: str = "",
) -> tuple[Any, np.ndarray]:
    """Show films the course's way (module docstring): large panels, crisp pixels, findings outlined and zoomed.

    ``images``: 2-D arrays or (H, W, 1) arrays (a batch of shape (n, H, W[, 1]) works too), ``ncols`` per row.
    ``regions``: one item per film, None or the film's rows of ``finding_regions.csv``
    (``data.load_finding_regions``; any (k, 4) array of (y0, x0, y1, x1) fractions works), outlined in cyan.
    ``zoom``: for each film with regions, magnify the smallest one in an inset (True for all films, or one bool
    per film). ``vmin``/``vmax`` fix the grey scale (None: each film's own range). Returns ``(figure, axes)``,
    axes 2-D as ``film_grid`` gives them (chapters 00, 01, 06, 08, 10-12).
    """
    films = [_film(im, f"film {k}") for k, im in enumerate(images)]
    if not films:
        raise ValueError("no films to show")
    n = len(films)
    for name, given in (("titles", titles), ("regions", regions)):
        if given is not None and len(given) != n:
            raise ValueError(f"{len(given)} {name} for {n} films: give one per film (None or '' for none)")
    zooms = [bool(zoom)] * n if isinstance(zoom, bool | np.bool_) else [bool(z) for z in zoom]
    if len(zooms) != n:
        raise ValueError(f"{len(zooms)} zoom flags for {n} films: give one per film, or True/False for all")
    regions = [None] * n if regions is None else list(regions)
    for k in range(n):
        _boxes(regions[k], f"film {k}")  # every film checked before a figure is made
    if not isinstance(ncols, int | np.integer) or ncols < 1:
        raise ValueError(f"ncols must be a whole number >= 1, got {ncols!r}")
    titles = [""] * n if titles is None else [str(t or "") for t in titles]
    lines = max((t.count("\n") + 1 for t in titles if t), default=0)
    ncols = min(ncols, n)
    fig, axes = film_grid(-(-n // ncols), ncols, panel, title_lines=lines, suptitle=suptitle)
    for k, ax in enumerate(axes.flat):
        if k < n:
            draw_film(
                ax,
                films[k],
                title=titles[k],
                regions=regions[k],
                zoom=zooms[k],
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
            )
        else:
            ax.axis("off")
    return fig, axes


@dataclass(frozen=True)
class Check:
    """One line of the environment check: what was checked, whether it is fine, and how to fix it if not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_environment() -> list[Check]:
    """Chapter 00's setup check: Python, the packages pyproject.toml asks for, CPU/GPU, the cohort's checksums."""
    import importlib.metadata as md
    import platform
    import sys

    from packaging.requirements import Requirement

    reinstall = "run `make install` (or `pip install -e .`) from the course folder, then restart the kernel"
    checks = [
        Check(
            "python",
            sys.version_info >= (3, 10),
            platform.python_version(),
            "install Python 3.10 or newer and run `make lab` again",
        )
    ]
    for text in md.requires("crossmodal_lib") or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # another platform's package, or an extra
        try:
            version = md.version(req.name)
        except md.PackageNotFoundError:
            checks.append(Check(req.name, False, "not installed", reinstall))
            continue
        ok = req.specifier.contains(version, prereleases=True)
        checks.append(Check(req.name, ok, version, "" if ok else f"needs {req.specifier}: {reinstall}"))

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    checks.append(
        Check("device", True, f"{len(gpus)} GPU(s)" if gpus else "CPU only (the course is made for it)")
    )
    from crossmodal_lib.data import verify_cohort

    try:
        problems = verify_cohort(COHORT_DIR)
    except FileNotFoundError as exc:
        problems = [str(exc)]
    checks.append(
        Check(
            "cohort data",
            not problems,
            "all files match SHA256SUMS"
            if not problems
            else f"{len(problems)} problem(s), e.g. {problems[0]}",
            "" if not problems else "run `make data` (it regenerates data/cohort and verifies it)",
        )
    )
    return checks


def report_environment(checks: list[Check]) -> bool:
    """Print the checks as a table and what to fix; return True when everything is fine."""
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok ' if c.ok else 'FIX'}  {c.name:<{width}}  {c.detail}")
    failed = [c for c in checks if not c.ok]
    for c in failed:
        print(f"\n-> {c.name}: {c.fix}")
    return not failed
