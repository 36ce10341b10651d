"""The benchmark's command line and report (crossmodal_lib.bench), with the image recipe on tiny MedMNIST-layout
files (the recipe itself: tests/test_image_recipe.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossmodal_lib import bench


def _fake_report() -> dict:
    run = {
        "seed": 0,
        "test_auc": 0.97,
        "test_acc": 0.91,
        "test_acc_at_half": 0.88,
        "val_auc": 0.99,
        "threshold": 0.2,
        "train_seconds": 100.0,
        "cpu_seconds": 180.0,
    }
    stats = {"mean": 0.9, "std": 0.01, "min": 0.89, "max": 0.91}
    return {
        "machine": {"cpus": 2, "python": "3.11", "platform": "Linux"},
        "notebooks": {"source": "test", "seconds": {"01_x.ipynb": 12.5}, "total_seconds": 12.5},
        "cohort": {
            "seconds": 60.0,
            "models": {"image only": {"roc_auc": 0.7, "roc_auc_ci": [0.65, 0.75], "accuracy": 0.5}},
            "probes": [
                {"modality": "image", "finding": "nodule", "roc_auc": 0.612, "prevalence": 0.63, "n_test": 9}
            ],
        },
        "questions": {
            "questions": {
                "cardiac": {
                    "seconds": 30.0,
                    "models": {"ecg only": {"roc_auc": 0.74, "roc_auc_ci": [0.7, 0.78], "accuracy": 0.6}},
                },
                "triage": {
                    "seconds": 90.0,
                    "models": {
                        "stacked fusion": {"roc_auc": 0.88, "roc_auc_ci": [0.85, 0.91], "accuracy": 0.7}
                    },
                    "specialists_own_question_roc_auc": {"cardiac": 0.947, "motion": 0.935},
                },
            }
        },
        "findings": {
            "modes": {
                mode: {
                    "image_size": size,
                    "epochs": epochs,
                    "probes": {"nodule": nodule},
                    "specialist_auc": {"nodule": nodule - 0.1},
                    "models": {"findings first": {"accuracy": accuracy, "roc_auc": 0.9}},
                    "seconds": 30.0,
                }
                for mode, size, epochs, nodule, accuracy in (
                    ("fast", 64, 15, 0.6, 0.67),
                    ("full", 128, 60, 0.88, 0.83),
                )
            }
        },
        "pneumoniamnist": {
            "runs": [run],
            "test_auc": stats,
            "test_acc": stats,
            "test_acc_at_half": stats,
            "train_seconds": {"mean": 100.0, "std": 0.0, "min": 100.0, "max": 100.0},
            "reference": {k: {"auc": a, "acc": b} for k, (a, b) in bench.PNEUMONIAMNIST_REFERENCE.items()},
            "reference_source": bench.REFERENCE_SOURCE,
            "threads": 2,
        },
    }


def test_markdown_report_has_every_part():
    md = bench.markdown_report(_fake_report())
    assert "| 01_x.ipynb | 12.5 |" in md and "**total**" in md
    assert "| image only | 0.700 [0.650, 0.750] | 0.500 |" in md
    assert "| F_x (image) | nodule | 0.612 | 0.63 |" in md
    assert "### cardiac (`data/cohort/cardiac`)" in md and "| ecg only | 0.740 [0.700, 0.780] | 0.600 |" in md
    assert (
        "specialists (chapter 09), test macro ROC-AUC on their own question: cardiac 0.947, motion 0.935."
        in md
    )
    assert "| | fast (64 px, 15 epochs) | full (128 px, 60 epochs) |" in md
    assert "| findings first: accuracy / macro ROC-AUC | 0.670 / 0.900 | 0.830 / 0.900 |" in md
    assert "| nodule: linear probe of the specialist's features | 0.600 | 0.880 |" in md
    assert "| Google AutoML Vision | 0.991 | 0.946 |" in md and "| ResNet-18 (28) | 0.944 | 0.854 |" in md
    assert "| 0 | 0.9700 | 0.9100 | 0.200 | 0.8800 | 0.9900 | 100 | 180 |" in md


def test_markdown_report_says_what_was_skipped():
    md = bench.markdown_report(
        {"machine": {}, "notebooks": "no notebooks", "cohort": "no cohort", "pneumoniamnist": "x"}
    )
    assert md.count("Skipped:") == 3


def test_reference_rows_are_the_published_ones():
    ref = bench.PNEUMONIAMNIST_REFERENCE
    assert ref["ResNet-18 (28)"] == (0.944, 0.854) and ref["ResNet-50 (28)"] == (0.948, 0.854)
    assert ref["AutoKeras"] == (0.947, 0.878) and ref["Google AutoML Vision"] == (0.991, 0.946)


def test_reference_table_parser(tmp_path):
    md = tmp_path / "t.md"
    md.write_text(
        "## part 1\n| Methods | PathMNIST | PneumoniaMNIST |\n| AUC | ACC | AUC | ACC |\n"
        "| ResNet-18 (28) | 0.983 | 0.907 | 0.944 | 0.854 |\n## part 2\n| Methods | BloodMNIST |\n"
        "| ResNet-18 (28) | 0.998 | 0.958 |\n"
    )
    assert bench.reference_table_from_file(md) == {"ResNet-18 (28)": (0.944, 0.854)}


def test_cli_uses_stored_notebook_times_and_skips_missing_real_data(tmp_path, monkeypatch):
    chapters = sorted((bench.REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert chapters, "the course has notebooks"
    seconds = {f"notebooks/{p.name}": 10.0 for p in chapters}
    (tmp_path / "notebook_times.json").write_text(
        json.dumps({"measured_at": "2026-01-01T00:00:00", "seconds": seconds})
    )
    monkeypatch.setenv("CROSSMODAL_REAL_DATA", str(tmp_path / "none"))
    assert bench.main(["--out", str(tmp_path), "--parts", "notebooks", "pneumoniamnist"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["notebooks"]["total_seconds"] == pytest.approx(10.0 * len(chapters))
    assert "real data not found" in report["pneumoniamnist"]
    md = (tmp_path / "bench.md").read_text()
    assert f"| notebooks/{chapters[0].name} | 10.0 |" in md and "Skipped: real data not found" in md


def test_choose_threshold_refuses_inverted_scores():
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    with pytest.raises(ValueError, match="do not rank"):
        bench.choose_threshold(y, np.r_[np.full(50, 0.9), np.full(50, 0.1)] + np.linspace(0, 0.01, 100))


def test_markdown_report_leaves_out_parts_not_run():
    md = bench.markdown_report(
        {"machine": {}, "notebooks": {"source": "x", "seconds": {}, "total_seconds": 0.0}}
    )
    assert "Chapters in fast mode" in md and "PneumoniaMNIST" not in md and "cohort" not in md


def _write_npz(path, task: str = "multiclass", rgb: bool = True, **override):
    """A tiny MedMNIST-layout file: uint8 images, (n, 1) labels (or (n, k) multi-label)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 48), ("val", 24), ("test", 24)):
        shape = (n, 28, 28, 3) if rgb else (n, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 255, size=shape, dtype=np.uint8)
        labels = rng.integers(0, 2, size=(n, 4)) if task == "multilabel" else (np.arange(n) % 3)[:, None]
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_every_medmnist_2d_set_has_its_reference_rows():
    from crossmodal_lib.data.medmnist import MEDMNIST_2D, medmnist_name, medmnist_reference

    assert len(MEDMNIST_2D) == 12
    for name in MEDMNIST_2D:
        rows = medmnist_reference(name)
        assert len(rows) == 7 and all(0.4 < auc <= 1 and 0.4 < acc <= 1 for auc, acc in rows.values())
    assert medmnist_reference("dermamnist")["ResNet-18 (28)"] == (0.917, 0.735)
    assert medmnist_name("/x/chestmnist_28.npz") == "ChestMNIST" and medmnist_name("my_scans.npz") is None
    with pytest.raises(ValueError, match="unknown MedMNIST"):
        medmnist_reference("CatsMNIST")


@pytest.mark.real
def test_library_reference_table_matches_the_published_file(real):
    from crossmodal_lib.data.medmnist import MEDMNIST_2D, medmnist_reference

    for name in MEDMNIST_2D:
        assert bench.reference_table_from_file(real / "medmnist_v2_benchmark.md", name) == medmnist_reference(
            name
        )


def test_stratified_subset_keeps_the_class_mix():
    y = np.r_[np.zeros(250, int), np.ones(750, int)]
    idx = bench.stratified_subset(y, 300)
    assert len(idx) == len(set(idx)) == 300 and y[idx].mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_array_equal(idx, bench.stratified_subset(y, 300))  # a fixed draw
    with pytest.raises(ValueError, match="subset"):
        bench.stratified_subset(y, 1000)


def test_markdown_report_shows_a_multiclass_file_and_the_size_curve():
    chosen = {
        "image_size": 56,
        "epochs": 12.5,
        "rounds": 24,
        "window": {"first_round": 17, "last_round": 24, "rounds": 8},
        "views": ["zoom 0.9"],
    }
    run = {"seed": 0, "test_auc": 0.93, "test_acc": 0.75, "test_acc_at_half": None, "val_auc": 0.94}
    run.update(threshold=None, train_seconds=150.0, cpu_seconds=280.0, chosen=chosen)
    stats = {"mean": 0.9, "std": 0.01, "min": 0.89, "max": 0.91}
    report = {
        "machine": {},
        "npz": {
            "dataset": "DermaMNIST (dermamnist_28.npz; train 7007 / val 1003 / test 2005)",
            "task": "multiclass",
            "runs": [run],
            **{k: stats for k in ("test_auc", "test_acc", "train_seconds", "cpu_seconds")},
            "reference": {"ResNet-18 (28)": {"auc": 0.917, "acc": 0.735}},
            "reference_source": "MedMNIST v2",
        },
        "size_curve": {
            "dataset": "PneumoniaMNIST 28x28, stratified training subsets",
            "seeds": [0],
            "points": [
                {
                    "n_train": 300,
                    "runs": [run],
                    **{k: stats for k in ("test_auc", "test_acc", "val_auc", "train_seconds")},
                }
            ],
        },
    }
    md = bench.markdown_report(report)
    assert "DermaMNIST (dermamnist_28.npz" in md and "| ResNet-18 (28) | 0.917 | 0.735 |" in md
    assert (
        "| 0 | 0.9300 | 0.7500 | – | – | 0.9400 | 150 | 280 | 56 px, 12.5 epochs, snapshots 17-24 of 24" in md
    )
    assert "argmax" in md and "ACC at threshold 0.5" not in md
    assert "| 300 | 0.900 | 0.900 | 0.900 |" in md


def test_cli_runs_the_recipe_on_any_medmnist_file(tmp_path):
    """``--npz``: end to end on a tiny RGB multi-class file, in a child process, with a 3-second budget."""
    npz = _write_npz(tmp_path / "dermamnist_28.npz")
    args = ["--npz", str(npz), "--out", str(tmp_path), "--seeds", "0", "--budget", "3", "--threads", "1"]
    assert bench.main(args) == 0
    result = json.loads((tmp_path / "bench.json").read_text())["npz"]
    assert result["task"] == "multiclass" and result["dataset"].startswith("DermaMNIST")
    assert result["reference"]["ResNet-18 (28)"] == {"auc": 0.917, "acc": 0.735}
    chosen = result["runs"][0]["chosen"]
    assert chosen["channels"] == 3 and chosen["image_size"] in (84, 56, 28) and chosen["outputs"] == 3
    assert "| ResNet-18 (28) | 0.917 | 0.735 |" in (tmp_path / "bench.md").read_text()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"val_labels": None}, "lacks the MedMNIST key(s) ['val_labels']"),
        ({"test_labels": np.zeros((5, 1), np.uint8)}, "test_images holds 24 images but test_labels 5"),
        ({"train_images": np.zeros((48, 28, 28), np.float32)}, "train_images has dtype float32"),
    ],
)
def test_cli_names_what_is_wrong_with_a_file(tmp_path, capsys, override, message):
    path = _write_npz(tmp_path / "x.npz", **override)
    if "val_labels" in override:  # a missing key: write the file again without it
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files if k != "val_labels"}
        np.savez(path, **arrays)
    with pytest.raises(SystemExit):
        bench.main(["--npz", str(path), "--out", str(tmp_path)])
    assert message in capsys.readouterr().err


def test_contrast_images_scales_the_spread_about_each_images_mean():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.4, 0.6, size=(3, 8, 8, 1)).astype(np.float32)
    x[1] += 0.2  # a brighter image: its own mean is the centre
    y = bench.contrast_images(x, 1.5)
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), atol=1e-6)
    np.testing.assert_allclose(y.std(axis=(1, 2, 3)), 1.5 * x.std(axis=(1, 2, 3)), rtol=1e-5)
    strong = bench.contrast_images(x, 10.0)
    assert strong.min() == 0.0 and strong.max() == 1.0  # clipped to the images' range
    with pytest.raises(ValueError, match="contrast factor"):
        bench.contrast_images(x, 0.0)


def test_zoom_images_magnifies_about_the_centre():
    x = np.zeros((2, 40, 40, 1), np.float32)
    x[:, 18:22, 18:22] = 1.0  # a 4x4 square in the centre: area 16
    for factor in (0.5, 0.8, 1.25, 2.0):
        z = bench.zoom_images(x, factor)
        assert z.shape == x.shape and z.dtype == np.float32
        assert z.sum(axis=(1, 2, 3)) == pytest.approx([16 * factor**2] * 2, rel=0.25)
        assert z[0, 20, 20, 0] > 0.5  # the centre stays the centre
    np.testing.assert_allclose(bench.zoom_images(x, 1.0), x, atol=1e-6)
    with pytest.raises(ValueError, match="zoom factor"):
        bench.zoom_images(x, 0.0)
