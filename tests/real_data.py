"""The real-data folder (../shared/data/real) for the tests marked ``real`` (used by conftest.py's ``real`` fixture).

A learner's clone has no such folder, so there the tests skip with the reason; CI (``CI=true``) has it, so there a
missing folder fails them instead of hiding them.
"""

import os

import pytest

from crossmodal_lib.data.corpora import REAL_DATA_ENV, default_real_data_dir, real_data_dir


def require_real_data():
    """The real-data folder; skips the test where it is absent, fails it in CI."""
    folder = real_data_dir()
    if folder is None:
        reason = f"real data not found at {default_real_data_dir()} (set {REAL_DATA_ENV} to its folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}: real-data tests must run in CI")
        pytest.skip(reason)
    return folder
