"""The benchmark's command line and report (crossmodal_lib.bench), and its recipe on a tiny stand-in."""

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
    assert "### cardiac (`data/cohort/cardiac`)" in md and "| ecg only | 0.740 [0.700, 0.780] | 0.600 |" in md
    assert (
        "specialists (chapter 09), test macro ROC-AUC on their own question: cardiac 0.947, motion 0.935."
        in md
    )
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


def _tiny_medmnist(seed: int = 0) -> dict:
    """A MedMNIST-shaped stand-in: 28x28 uint8 images where class 1 has a bright blob."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in (("train", 48), ("val", 24), ("test", 24)):
        labels = np.arange(n) % 2
        images = rng.integers(0, 120, size=(n, 28, 28), dtype=np.uint8)
        images[labels == 1, 8:20, 8:20] += 120
        data[split] = {"images": images, "labels": labels[:, None]}
    return data


def test_every_recipe_option_trains_end_to_end():
    """All the measured options of Recipe (most are off by default) still build and train."""
    recipe = bench.Recipe(
        image_size=32,
        filters=(4, 8),
        feature_dim=8,
        epochs=2,
        ensemble_last=2,
        zoom_direction="out",
        shear=0.1,
        sharpness=(0.1, 0.9),
        class_weight=False,
        weight_decay=1e-4,
        tta=True,
        tta_zoom=(0.9, 1.1),
        tta_contrast=(0.8, 1.2),
        stretch=True,
        label_smoothing=0.1,
    )
    result = bench.train_pneumoniamnist(_tiny_medmnist(), seed=0, recipe=recipe)
    assert result.test_scores.shape == (24,) and result.val_scores.shape == (24,)
    assert np.all((result.test_scores >= 0) & (result.test_scores <= 1))
    assert 0.0 < result.threshold < 1.0
    assert len(result.epoch_val_auc) == 2
    assert json.loads(json.dumps(result.summary()))["seed"] == 0


def test_recipe_refuses_an_ensemble_longer_than_training():
    with pytest.raises(ValueError, match="ensemble_last"):
        bench.train_pneumoniamnist(_tiny_medmnist(), recipe=bench.Recipe(epochs=2, ensemble_last=3))


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
