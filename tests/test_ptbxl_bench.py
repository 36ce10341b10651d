"""The PTB-XL part of ``make bench``: the recipe (crossmodal_lib.signal_text) on the real subset, and its report."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from crossmodal_lib import bench
from crossmodal_lib.data.ptbxl import PTBXL_SUBSET, SUPERCLASSES
from crossmodal_lib.signal_text import MODEL_NAMES, ptbxl_superclass_benchmark, single_labels


@pytest.mark.real
def test_recipe_on_the_real_subset_fast(real):
    """Fast mode (at most 6 CNN epochs, 200 resamples): about 30 s on 2 cores.

    Measured (seed 0, fast): val / test macro AUC ecg 0.847 / 0.773, text 0.913 / 0.943, both 0.902 / 0.889;
    the floors below leave room for other thread counts and library versions.
    """
    r = ptbxl_superclass_benchmark(real / PTBXL_SUBSET, seed=0, fast=True)
    assert r["n"] == {"train": 353, "val": 81, "test": 66}
    assert list(r["models"]) == list(MODEL_NAMES)
    for row in r["models"].values():
        low, high = row["test_auc_ci"]
        values = [row["val_auc"], row["test_auc"], low, high, *row["test_auc_per_class"].values()]
        assert all(0.0 <= v <= 1.0 for v in values), row
        assert low <= row["test_auc"] <= high
        assert list(row["test_auc_per_class"]) == list(SUPERCLASSES)
    text, ecg, both = (r["models"][k]["test_auc"] for k in ("text only", "ecg only", "ecg + text"))
    assert text > 0.85  # the reports name the diagnosis: measured 0.943
    assert ecg > 0.65  # measured 0.773 after <= 6 epochs (0.859 with the full 30-epoch budget)
    assert both > 0.75  # measured 0.889
    ch = r["choices"]
    assert ch["leads"] in ("II", "all 12") and isinstance(ch["rhythm_features"], bool)
    assert set(ch["ecg_val_auc"]) == {"II", "II + rhythm", "all 12", "all 12 + rhythm"}
    assert set(ch["C"]) == set(MODEL_NAMES) and all(c in ch["C_grid"] for c in ch["C"].values())
    best = max(ch["ecg_val_auc"].values())
    chosen = ch["leads"] + (" + rhythm" if ch["rhythm_features"] else "")
    assert ch["ecg_val_auc"][chosen] == best  # the choice is the validation optimum
    assert all(1 <= e["best"] <= e["run"] <= 6 for e in ch["cnn_epochs"].values())


def test_single_labels_prefer_the_rarest_training_class():
    # columns NORM, MI, STTC, CD, HYP; training counts 4, 2, 2, 1, 1
    y = np.array(
        [[1, 0, 0, 0, 0], [1, 0, 0, 0, 1], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 0, 1, 0], [1, 0, 1, 0, 0]]
    )
    train = np.arange(6)
    # NORM+HYP -> HYP; MI+STTC (a tie) -> MI, the first column; no class -> 5 (none); NORM+MI+CD -> CD
    assert single_labels(y, train).tolist() == [0, 4, 1, 5, 3, 2]


def _small_ptbxl() -> dict:
    row = {
        "val_auc": 0.9,
        "test_auc": 0.91,
        "test_auc_ci": [0.85, 0.95],
        "test_auc_per_class": dict(zip(SUPERCLASSES, [0.9, 0.8, 0.85, 0.95, 0.7], strict=True)),
        "C": 0.1,
    }
    return {
        "dataset": "PTB-XL v1.0, first 500 records",
        "n": {"train": 353, "val": 81, "test": 66},
        "classes": list(SUPERCLASSES),
        "models": {name: dict(row) for name in MODEL_NAMES},
        "choices": {
            "leads": "all 12",
            "rhythm_features": False,
            "ecg_val_auc": {"II": 0.84, "all 12": 0.86},
            "cnn_epochs": {"II": {"best": 17, "run": 22}, "all 12": {"best": 12, "run": 17}},
            "max_epochs": 30,
            "C": dict.fromkeys(MODEL_NAMES, 0.1),
            "C_grid": [0.01, 0.1, 1.0, 10.0],
            "single_label_rule": "rarest",
            "text": "Word2Vec",
        },
        "bootstrap": "1000 resamples of the test patients",
        "seed": 0,
        "seconds": 42.0,
        "cpu_seconds": 31.0,
        "threads": 2,
        "leaderboard": {
            "task": "diagnostic superclasses (5: NORM/MI/STTC/CD/HYP)",
            "entry": "resnet1d_wang 0.930(05)",
            "model": "resnet1d_wang",
            "macro_auc": 0.93,
            "source": "Source: github.com/helme/ecg_ptbxl_benchmarking README.md",
            "reference": "PTB-XL benchmark (Strodthoff et al.)",
        },
    }


def test_markdown_section_renders_from_a_small_dict():
    md = bench.markdown_report({"machine": {}, "ptbxl": _small_ptbxl()})
    assert "## PTB-XL (first 500 records)" in md
    for name in MODEL_NAMES:
        assert (
            f"| {name} | 0.900 | 0.910 [0.850, 0.950] | 0.900 | 0.800 | 0.850 | 0.950 | 0.700 | 0.1 |" in md
        )
    assert "not the full PTB-XL" in md and "not comparable" in md
    assert "resnet1d_wang 0.930(05)" in md and "helme/ecg_ptbxl_benchmarking" in md
    assert "ECG input **all 12** lead(s)" in md and "42 s wall" in md
    skipped = bench.markdown_report({"machine": {}, "ptbxl": "real data not found at x; skipped"})
    assert "## PTB-XL (first 500 records)" in skipped and "Skipped: real data not found" in skipped


def test_leaderboard_parser(tmp_path):
    md = tmp_path / "ptbxl_benchmark.md"
    md.write_text(
        "# PTB-XL benchmark (Strodthoff et al.)\n# Source: github.com/x README.md\n| task | best |\n|---|---|\n"
        "| diagnostic (44) | a 0.937(08); b 0.936 |\n"
        "| diagnostic superclasses (5: NORM/MI/STTC/CD/HYP) | resnet1d_wang 0.930(05); xresnet1d101 0.928 |\n"
    )
    board = bench.ptbxl_leaderboard(md)
    assert board["entry"] == "resnet1d_wang 0.930(05)" and math.isclose(board["macro_auc"], 0.930)
    assert board["source"] == "Source: github.com/x README.md"
    assert bench.ptbxl_leaderboard(tmp_path / "absent.md") is None


def test_ptbxl_part_is_skipped_without_real_data(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSMODAL_REAL_DATA", str(tmp_path / "none"))
    result = bench._run_part("ptbxl", bench.argparse.Namespace(threads=1, seeds=[0], out=str(tmp_path)))
    assert isinstance(result, str) and "real data not found" in result


def test_only_the_benchmark_imports_the_recipe():
    """signal_text sits after evaluate on the spine (tests/test_architecture.py); only bench.py may use it."""
    importers = []
    for file in sorted(bench.REPO_ROOT.joinpath("crossmodal_lib").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(n.startswith("crossmodal_lib.signal_text") for n in names):
                importers.append(file.name)
    assert set(importers) == {"bench.py"}
