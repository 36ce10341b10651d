"""Shared fixtures: a tiny cohort generated once per test session (the library's own generator, small n)."""

import pytest

from crossmodal_lib.data import CohortConfig, write_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    """A 12-patient cohort folder in the course's manifest format (32x32 images)."""
    folder = tmp_path_factory.mktemp("tiny_cohort")
    return write_cohort(folder, CohortConfig(n_patients=12, seed=3, image_size=32))
