"""Shared fixtures: a tiny cohort generated once per test session (the library's own generator, small n), and
the real-data folder (../shared/data/real), which tests marked ``real`` need: where it is absent they skip with the
reason, and in CI (``CI=true``) they fail instead, since CI has it."""

import os

import pytest

from crossmodal_lib.data import CohortConfig, write_cohort
from crossmodal_lib.data.corpora import REAL_DATA_ENV, default_real_data_dir, real_data_dir


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    """A 12-patient cohort folder in the course's manifest format (32x32 images)."""
    folder = tmp_path_factory.mktemp("tiny_cohort")
    return write_cohort(folder, CohortConfig(n_patients=12, seed=3, image_size=32))


def require_real_data():
    """The real-data folder; skips the test where it is absent, fails it in CI."""
    folder = real_data_dir()
    if folder is None:
        reason = f"real data not found at {default_real_data_dir()} (set {REAL_DATA_ENV} to its folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}: real-data tests must run in CI")
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="module")
def real():
    return require_real_data()
