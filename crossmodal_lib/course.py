"""The one-line setup every notebook runs first (chapter 00), and small helpers for the notebooks.

    from crossmodal_lib.course import setup
    course = setup()          # seeds, one CPU thread, quiet logging, fast mode

Fast mode (fewer epochs, smaller searches) is read from one environment variable, ``CROSSMODAL_FAST``:
``make test`` and ``make notebooks`` set it to 1, so the stored notebook outputs are fast-mode outputs;
a learner who starts ``make lab`` gets the full runs.
"""

from __future__ import annotations

import inspect
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FAST_ENV_VAR = "CROSSMODAL_FAST"
# TensorFlow threads per kernel: 1 keeps a machine's digits the same run after run. Another count changes the
# arithmetic, as another processor does; the stored outputs must still match (README, "Tests on your machine").
THREADS_ENV_VAR = "CROSSMODAL_THREADS"
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
COHORT_DIR = DATA_DIR / "cohort"


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

    # Small figures keep the committed notebooks light and readable on GitHub.
    mpl.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5), "savefig.dpi": 72})
    return Course(seed=seed, fast=fast_mode(), data_dir=DATA_DIR, cohort_dir=COHORT_DIR)


def show_source(obj: object) -> None:
    """Print the library's own source of ``obj``, so a chapter shows the one copy of the code it teaches."""
    print(inspect.getsource(obj).rstrip())


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
