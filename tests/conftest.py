"""Shared fixtures: a tiny cohort generated once per test session (the library's own generator, small n), and
the real-data folder (../shared/data/real), which tests marked ``real`` need: where it is absent they skip with the
reason, and in CI (``CI=true``) they fail instead, since CI has it."""

import pytest
from real_data import require_real_data

from crossmodal_lib.data import CohortConfig, write_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    """A 12-patient cohort folder in the course's manifest format (32x32 images)."""
    folder = tmp_path_factory.mktemp("tiny_cohort")
    return write_cohort(folder, CohortConfig(n_patients=12, seed=3, image_size=32))


@pytest.fixture(scope="module")
def real():
    return require_real_data()
