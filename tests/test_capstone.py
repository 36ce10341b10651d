"""Unit tests of what chapter 09 (all modalities together) added to the library: the paired bootstrap."""

import numpy as np
import pytest

from crossmodal_lib import evaluate


def _proba(y, strength, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(y), 4))
    logits[np.arange(len(y)), y] += strength
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


Y = np.arange(200) % 4
GROUPS = np.repeat(np.arange(100), 2)  # two visits per patient


def test_a_model_against_itself_differs_by_zero():
    p = _proba(Y, 1.0, 0)
    d = evaluate.bootstrap_difference(Y, p, p, n_resamples=50, seed=0, groups=GROUPS)
    assert d["point"] == d["low"] == d["high"] == 0.0
    assert d["n_resamples"] == 50 and d["n_skipped"] == 0


def test_a_clearly_better_model_has_an_interval_above_zero():
    good, poor = _proba(Y, 3.0, 1), _proba(Y, 0.3, 2)
    d = evaluate.bootstrap_difference(Y, good, poor, n_resamples=100, seed=0, groups=GROUPS)
    assert 0 < d["low"] < d["point"] < d["high"]
    reverse = evaluate.bootstrap_difference(Y, poor, good, n_resamples=100, seed=0, groups=GROUPS)
    assert reverse["point"] == pytest.approx(-d["point"]) and reverse["high"] == pytest.approx(-d["low"])


def test_the_resamples_are_those_of_bootstrap_ci():
    """Same seed, same resamples: the paired point is the difference of the two models' points, and pairing makes
    the difference's interval no wider than what the two separate intervals allow."""
    a, b = _proba(Y, 1.0, 3), _proba(Y, 0.8, 4)
    d = evaluate.bootstrap_difference(Y, a, b, n_resamples=100, seed=7, groups=GROUPS)
    ci_a = evaluate.bootstrap_ci(Y, a, n_resamples=100, seed=7, groups=GROUPS)
    ci_b = evaluate.bootstrap_ci(Y, b, n_resamples=100, seed=7, groups=GROUPS)
    assert d["point"] == pytest.approx(ci_a["point"] - ci_b["point"])
    assert d["high"] - d["low"] <= (ci_a["high"] - ci_b["low"]) - (ci_a["low"] - ci_b["high"])


def test_other_metrics_and_bad_inputs():
    a, b = _proba(Y, 1.0, 5), _proba(Y, 1.0, 6)
    d = evaluate.bootstrap_difference(Y, a, b, metric=evaluate.macro_pr_auc, n_resamples=20)
    assert np.isfinite([d["low"], d["high"]]).all() and d["low"] <= d["high"] and d["n_skipped"] == 0
    five = np.hstack([b, np.zeros((len(Y), 1))])  # a fifth class that model A does not have
    with pytest.raises(ValueError, match="proba_a has shape"):
        evaluate.bootstrap_difference(Y, a, five)
    with pytest.raises(ValueError, match="proba_b"):
        evaluate.bootstrap_difference(Y, a, b[:-1])
    with pytest.raises(ValueError, match="groups"):
        evaluate.bootstrap_difference(Y, a, b, groups=GROUPS[:-1])
