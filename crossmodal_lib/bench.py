"""Benchmarks of the course (``make bench``; chapter 06): timings, the cohort's results, and real data.

``python -m crossmodal_lib.bench [--out DIR]`` writes ``bench.json`` and ``bench.md`` (default ``.bench/``) with

1. the run time of every chapter in fast mode (read from ``.bench/notebook_times.json`` when ``make test`` left
   one, else measured by executing each notebook with nbclient);
2. the cohort's image-only / text-only / fusion metrics with confidence intervals (``crossmodal_lib.pipeline``,
   fast mode, into a temporary folder);
3. the course's image recipe (:class:`crossmodal_lib.features.image_recipe.ImageRecipe`) on the real
   PneumoniaMNIST (28x28 chest radiographs) beside the MedMNIST v2 reference results, and its test AUC against
   the training-set size (stratified subsets of 300, 600, 1200 images: ``size_curve``), when
   ``../shared/data/real`` is there (:func:`crossmodal_lib.data.corpora.real_data_dir`);
4. ECG-only, report-only and fused macro ROC-AUC over PTB-XL's 5 diagnostic superclasses on the first 500
   records there (official split; the recipe is :func:`crossmodal_lib.signal_text.ptbxl_superclass_benchmark`),
   with the full-dataset leaderboard's best figure quoted as context, not as a comparable number.

``python -m crossmodal_lib.bench --npz PATH [--name DermaMNIST]`` runs the same recipe on any MedMNIST-layout
``.npz`` (keys ``{train,val,test}_{images,labels}``; grayscale or RGB; binary, multi-class or multi-label) and
prints it beside that data set's MedMNIST v2 rows (the data set is read from the file name, e.g.
``dermamnist_28.npz``, or ``--name``).

Each part runs in its own Python process: the course pins TensorFlow to one thread (reproducible notebooks),
while the image benchmarks may use more (``--threads``), and TensorFlow fixes its threads at start-up.

The recipe chooses its input size, training length, snapshot window and test-time views itself, on the training
size, the machine's measured speed (``--budget``: CPU seconds of training per seed) and the validation split, and
reports its choices per seed; the decision threshold is chosen on the validation split only
(:func:`choose_threshold`), never on test labels. The training length follows the measured speed, so a slower
machine trains for fewer epochs (the report gives the epochs beside the seconds); other programs on the same
machine do not, since the budget counts CPU time. Threads: TensorFlow uses
``--threads`` (default 2, both cores of the course's reference machine) for these parts only; the benchmark is
not a notebook output, so the bit-level differences between thread counts do not matter here. Measured on the
2-core machine (3 epochs, other processes running): 1 thread 49 s wall / 26 s CPU, 2 threads 26 s wall / 27 s
CPU, so two threads nearly halve the wall time for the same CPU work. CPU time is reported beside the wall time
so that runs on a busy machine stay comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crossmodal_lib.data.corpora import PNEUMONIAMNIST, default_real_data_dir, real_data_dir
from crossmodal_lib.data.medmnist import MEDMNIST_V2_SOURCE, medmnist_reference
from crossmodal_lib.data.ptbxl import PTBXL_SUBSET

# The image recipe lives in the library's features step (chapter 06); the benchmark only runs it. Its threshold
# rule and test-time views stay importable from here, where chapter 06 names them.
from crossmodal_lib.features.image_recipe import choose_threshold, contrast_images, zoom_images  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / ".bench"
NOTEBOOK_TIMES = "notebook_times.json"

REFERENCE_SOURCE = MEDMNIST_V2_SOURCE
PNEUMONIAMNIST_REFERENCE: dict[str, tuple[float, float]] = medmnist_reference("PneumoniaMNIST")
PTBXL_LEADERBOARD = "ptbxl_benchmark.md"  # beside the PTB-XL subset in the real-data folder
PTBXL_TASK = "diagnostic superclasses"


# ----------------------------------------------------------------------------------------------------------------
# MedMNIST files with the course's image recipe (features.image_recipe.ImageRecipe)
# ----------------------------------------------------------------------------------------------------------------

#: Training-set sizes of the small-data curve (stratified subsets of PneumoniaMNIST's training split).
SIZE_CURVE = (300, 600, 1200)
#: CPU seconds of training per seed (the recipe's ``time_budget``): about 3 minutes a seed in all on the idle
#: 2-core machine, where CPU and wall time agree.
DEFAULT_BUDGET = 150.0


def load_pneumoniamnist(path: str | os.PathLike | None = None) -> dict[str, dict[str, np.ndarray]]:
    """PneumoniaMNIST 28x28 from the real-data folder (or ``path``), via ``data.medmnist.load_medmnist``."""
    from crossmodal_lib.data.corpora import real_data_path
    from crossmodal_lib.data.medmnist import load_medmnist

    return load_medmnist(real_data_path(PNEUMONIAMNIST) if path is None else path)


def stratified_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` training rows with the classes in their proportions (a fixed draw for a given seed)."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    if not 0 < n < len(y):
        raise ValueError(f"a subset needs 0 < n < {len(y)} rows, got {n}")
    strata = y if y.ndim == 1 else None  # multi-label rows have no single class to stratify on
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=strata, random_state=seed)
    return np.sort(idx)


def run_seed(
    data: dict[str, dict[str, np.ndarray]], seed: int, budget: float = DEFAULT_BUDGET, **recipe
) -> dict:
    """One seed of the recipe on a MedMNIST-layout dict: test AUC / ACC (the threshold came from validation),
    wall and CPU seconds, and what the recipe chose (chapter 06). Test labels only score the final predictions."""
    from crossmodal_lib.features.image_recipe import ImageRecipe

    start, cpu_start = time.perf_counter(), time.process_time()
    model = ImageRecipe(time_budget=budget, seed=seed, **recipe)
    model.fit(data["train"]["images"], data["train"]["labels"], data["val"]["images"], data["val"]["labels"])
    test = model.score(data["test"]["images"], data["test"]["labels"])
    return {
        "seed": seed,
        "test_auc": test["auc"],
        "test_acc": test["acc"],
        "test_acc_at_half": test.get("acc_at_half"),
        "val_auc": model.chosen["val_auc"],
        "threshold": model.chosen["threshold"],
        "train_seconds": time.perf_counter() - start,  # fit and the test predictions
        "cpu_seconds": time.process_time() - cpu_start,  # all threads; independent of other load
        "chosen": model.chosen,
    }


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
    }


def medmnist_benchmark(
    path: str | os.PathLike,
    seeds: tuple[int, ...] = (0, 1, 2),
    name: str | None = None,
    budget: float = DEFAULT_BUDGET,
    verbose: bool = True,
    **recipe,
) -> dict:
    """The recipe on any MedMNIST-layout ``.npz`` over several seeds, beside that data set's MedMNIST v2 rows.

    ``name`` (else the file name, e.g. ``dermamnist_28.npz``) picks the reference rows; an unknown one gets none.
    """
    from crossmodal_lib.data.medmnist import (
        MEDMNIST_V2_SOURCE,
        load_medmnist,
        medmnist_name,
        medmnist_reference,
    )

    data = load_medmnist(path)
    dataset = medmnist_name(name or path)
    runs = []
    for seed in seeds:
        runs.append(run_seed(data, seed, budget, **recipe))
        if verbose:
            r = runs[-1]
            print(
                f"  seed {seed}: test AUC {r['test_auc']:.4f}  ACC {r['test_acc']:.4f}  "
                f"({r['chosen']['image_size']} px, {r['chosen']['epochs']:g} epochs, views {r['chosen']['views']})  "
                f"{r['train_seconds']:.0f} s wall, {r['cpu_seconds']:.0f} s CPU",
                flush=True,
            )
    reference = medmnist_reference(dataset) if dataset else {}
    sizes = " / ".join(f"{s} {len(data[s]['labels'])}" for s in ("train", "val", "test"))
    result = {
        "dataset": f"{dataset or name or Path(path).name} ({Path(path).name}; {sizes})",
        "task": runs[0]["chosen"]["task"],
        "budget_seconds": budget,
        "seeds": list(seeds),
        "runs": runs,
        **{k: _stats([r[k] for r in runs]) for k in ("test_auc", "test_acc", "train_seconds", "cpu_seconds")},
        "reference": {k: {"auc": v[0], "acc": v[1]} for k, v in reference.items()},
        "reference_source": MEDMNIST_V2_SOURCE if reference else f"no MedMNIST v2 rows for {name or path}",
    }
    if result["task"] == "binary":
        result["test_acc_at_half"] = _stats([r["test_acc_at_half"] for r in runs])
    return result


def pneumoniamnist_benchmark(
    seeds: tuple[int, ...] = (0, 1, 2),
    path: str | os.PathLike | None = None,
    budget: float = DEFAULT_BUDGET,
    verbose: bool = True,
) -> dict:
    """:func:`medmnist_benchmark` on the real-data folder's PneumoniaMNIST (``make bench``)."""
    from crossmodal_lib.data.corpora import real_data_path

    path = real_data_path(PNEUMONIAMNIST) if path is None else path
    return medmnist_benchmark(path, seeds, "PneumoniaMNIST", budget, verbose)


def size_curve(
    sizes: tuple[int, ...] = SIZE_CURVE,
    seeds: tuple[int, ...] = (0,),
    path: str | os.PathLike | None = None,
    budget: float = DEFAULT_BUDGET,
    verbose: bool = True,
) -> dict:
    """Test AUC / ACC against the training-set size: the recipe on stratified subsets of PneumoniaMNIST's training
    split (one fixed draw per size), validation and test splits whole (chapter 06, small data)."""
    data = load_pneumoniamnist(path)
    points = []
    for n in sizes:
        idx = stratified_subset(data["train"]["labels"], n)
        subset = {**data, "train": {k: v[idx] for k, v in data["train"].items()}}
        runs = [run_seed(subset, seed, budget) for seed in seeds]
        points.append(
            {
                "n_train": n,
                "runs": runs,
                **{
                    k: _stats([r[k] for r in runs])
                    for k in ("test_auc", "test_acc", "val_auc", "train_seconds")
                },
            }
        )
        if verbose:
            p = points[-1]
            print(
                f"  n={n}: test AUC {p['test_auc']['mean']:.4f}  ACC {p['test_acc']['mean']:.4f}", flush=True
            )
    return {
        "dataset": "PneumoniaMNIST 28x28, stratified training subsets",
        "seeds": list(seeds),
        "points": points,
    }


def reference_table_from_file(
    path: str | os.PathLike, dataset: str = "PneumoniaMNIST"
) -> dict[str, tuple[float, float]]:
    """One data set's rows (AUC, ACC) of the MedMNIST v2 benchmark table ``medmnist_v2_benchmark.md``.

    Used by the tests to check that the library's table (``data.medmnist.medmnist_reference``) matches the file.
    """
    rows: dict[str, tuple[float, float]] = {}
    header: list[str] | None = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| Methods"):
            header = cells[1:]
            continue
        if header is None or not line.startswith("|") or cells[0] == "AUC" or dataset not in header:
            continue
        col = 1 + 2 * header.index(dataset)
        rows[cells[0]] = (float(cells[col]), float(cells[col + 1]))
    if not rows:
        raise ValueError(f"{path} holds no {dataset} column")
    return rows


def ptbxl_leaderboard(path: str | os.PathLike) -> dict | None:
    """The best full-dataset macro AUC for PTB-XL's superclasses in ``ptbxl_benchmark.md``, with its source line.

    The file's table row for the task lists ``model 0.930(05); model 0.928; ...`` best first; the first entry is
    kept. ``None`` when the file or the row is missing.
    """
    path = Path(path)
    if not path.is_file():
        return None
    source, best = None, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# Source:"):
            source = line.lstrip("# ").strip()
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[0].startswith(PTBXL_TASK):
            entry = cells[1].split(";")[0].strip()
            model, _, score = entry.rpartition(" ")
            best = {"task": cells[0], "entry": entry, "model": model, "macro_auc": float(score.split("(")[0])}
    if best is None:
        return None
    title = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    return {**best, "source": source or title, "reference": title}


# ----------------------------------------------------------------------------------------------------------------
# Notebook timings and the cohort's pipeline
# ----------------------------------------------------------------------------------------------------------------


def notebook_times(out_dir: Path, notebooks_dir: Path | None = None) -> dict:
    """Seconds per chapter in fast mode: ``out_dir/notebook_times.json`` if ``make test`` wrote it for every
    chapter, else measured.

    Measuring executes each ``notebooks/*.ipynb`` with nbclient (CROSSMODAL_FAST=1, PYTHONHASHSEED=0, nothing
    written back), the way ``make notebooks`` runs them.
    """
    notebooks_dir = notebooks_dir or REPO_ROOT / "notebooks"
    paths = sorted(notebooks_dir.glob("*.ipynb"))
    stored = out_dir / NOTEBOOK_TIMES
    # notebooks/conftest.py writes {"measured_at": ..., "seconds": {path: s}} after every nbval run; it is used
    # only when that run covered every chapter.
    record = json.loads(stored.read_text(encoding="utf-8")) if stored.is_file() else {}
    times = {str(k): float(v) for k, v in record.get("seconds", {}).items()}
    if paths and {Path(k).name for k in times} >= {p.name for p in paths}:
        source = f"{stored.name} (nbval cell time, measured {record.get('measured_at', '?')})"
        return {"source": source, "seconds": times, "total_seconds": float(sum(times.values()))}
    import nbformat
    from nbclient import NotebookClient

    os.environ["CROSSMODAL_FAST"] = "1"  # the kernels inherit this process's environment
    os.environ["PYTHONHASHSEED"] = "0"
    times = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebooks_dir)}}
        )
        start = time.perf_counter()
        client.execute()
        times[path.name] = time.perf_counter() - start
        print(f"  {path.name}: {times[path.name]:.1f} s", flush=True)
    return {"source": "executed with nbclient", "seconds": times, "total_seconds": float(sum(times.values()))}


def cohort_results(data_dir: Path | None = None) -> dict:
    """Image-only, text-only and fusion metrics (with CIs) of the course pipeline on the cohort, fast mode."""
    from crossmodal_lib.course import COHORT_DIR
    from crossmodal_lib.data import load_findings
    from crossmodal_lib.pipeline import cohort_features, feature_probes, train

    data_dir = data_dir or COHORT_DIR
    generation = cohort_generation(data_dir) if data_dir == COHORT_DIR else {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(data_dir, Path(tmp) / "run", fast=True, cache_dir=Path(tmp) / "cache")
        seconds = time.perf_counter() - start
        # What F_x and F_y know of the hidden findings (chapters 02, 03): train's own features, from its cache.
        probes = None
        if (data_dir / "findings.csv").is_file():
            features = cohort_features(data_dir, fast=True, cache_dir=Path(tmp) / "cache")
            probes = feature_probes(features, load_findings(data_dir)).to_dict(orient="records")
    keep = ("best_fusion", "best_single", "classes", "counts")
    return {
        "seconds": seconds,
        **generation,
        "models": result["models"],
        **({"probes": probes} if probes else {}),
        **{k: result[k] for k in keep if k in result},
    }


#: The cohort's other questions (chapters 07-09) and the modalities ``train`` fuses for each (None: every one the
#: manifest has; the capstone adds age and sex).
QUESTION_MODALITIES = {
    "cardiac": None,
    "motion": None,
    "triage": ("image", "text", "ecg", "video", "tabular"),
}


def question_results() -> dict:
    """The course pipeline (``train``, fast mode) on the cardiac, movement and triage questions: every single
    modality and every fusion, test macro ROC-AUC with patient-bootstrap CIs (chapters 07-09). The triage question
    also gets chapter 09's staged model over the clinics' specialists (``pipeline.COHORT_SPECIALISTS``)."""
    from crossmodal_lib.data import cohort_dir
    from crossmodal_lib.pipeline import COHORT_SPECIALISTS, train

    results = {}
    for question, modalities in QUESTION_MODALITIES.items():
        specialists = None
        if question == "triage":
            specialists = {q: (cohort_dir(q), pair) for q, pair in COHORT_SPECIALISTS.items()}
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = train(
                cohort_dir(question),
                Path(tmp) / "run",
                fast=True,
                modalities=modalities,
                specialists=specialists,
            )
            seconds = time.perf_counter() - start
        results[question] = {
            "seconds": seconds,
            "models": result["models"],
            "summary": result["summary"],
            "specialists_own_question_roc_auc": result["specialists_own_question_roc_auc"],
        }
    return {"questions": results}


def findings_results(data_dir: Path | None = None, modes: tuple[bool, ...] = (True, False)) -> dict:
    """Chapter 14's findings-first model on the cohort, in fast and in full mode (``fast`` in ``modes``): what
    each specialist's features know (linear probes of the film specialist's ``"features"`` layer and of the pooled
    note features), each specialist's own answers against the hidden findings, and test accuracy and macro ROC-AUC
    of the staged model, of each specialist with the head, and of chapter 04's early fusion on the pipeline's
    features."""
    from crossmodal_lib import fusion
    from crossmodal_lib.course import COHORT_DIR
    from crossmodal_lib.data import IMAGE_FINDINGS, NOTE_FINDINGS, load_findings
    from crossmodal_lib.evaluate import linear_probe, macro_roc_auc
    from crossmodal_lib.pipeline import budget, cohort_features, finding_inputs, fit_finding_fusion

    data_dir = data_dir or COHORT_DIR
    out = {}
    for fast in modes:
        start = time.perf_counter()
        inputs = finding_inputs(data_dir, fast=fast)
        model = fit_finding_fusion(inputs, fast=fast)
        truth = inputs.frame[["id"]].merge(
            load_findings(data_dir), on="id", how="left", validate="one_to_one"
        )
        train, test = inputs.mask("train"), inputs.mask("test")
        y_train, y_test = inputs.y[train], inputs.y[test]
        F_image = model.specialists_["image"].transform(inputs.images)
        probes = {}
        for block, names in ((F_image, IMAGE_FINDINGS), (inputs.F_y, NOTE_FINDINGS)):
            t = truth[list(names)]
            probes |= linear_probe(block[train], t[train], block[test], t[test])["roc_auc"].to_dict()
        answers = model.specialist_probas(inputs.blocks("test"))
        own = {
            f: _auc(truth[f][test], answers[group][:, j])
            for group, names in (("image", IMAGE_FINDINGS), ("text", NOTE_FINDINGS))
            for j, f in enumerate(names)
        }
        with tempfile.TemporaryDirectory() as tmp:
            feats = cohort_features(data_dir, fast=fast, cache_dir=tmp, modalities=("image", "text"))
        early = fusion.EarlyFusion(epochs=budget("mlp", fast), patience=budget("mlp_patience", fast)).fit(
            feats.blocks("train"),
            y_train,
            validation_data=(feats.blocks("val"), inputs.y[inputs.mask("val")]),
        )
        probas = {
            "film specialist + head": model.with_head_on(["image"], inputs.blocks("train"), y_train),
            "note specialist + head": model.with_head_on(["text"], inputs.blocks("train"), y_train),
            "findings first": model,
        }
        probas = {name: m.predict_proba(inputs.blocks("test")) for name, m in probas.items()}
        probas["early fusion (chapter 04)"] = early.predict_proba(feats.blocks("test"))
        out["fast" if fast else "full"] = {
            "image_size": int(inputs.images.shape[1]),
            "epochs": model.specialists_["image"].chosen["epochs"],
            "probes": {k: round(float(v), 4) for k, v in probes.items()},
            "specialist_auc": {k: round(float(v), 4) for k, v in own.items()},
            "models": {
                name: {
                    "accuracy": round(float(np.mean(p.argmax(axis=1) == y_test)), 4),
                    "roc_auc": round(float(macro_roc_auc(y_test, p)), 4),
                }
                for name, p in probas.items()
            },
            "seconds": round(time.perf_counter() - start, 1),
        }
    return {"modes": out}


def _auc(truth: object, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(truth), score))


def cohort_generation(cohort_dir: Path) -> dict:
    """Time the default cohort's generation (the promise: under 30 s) and check it reproduces the committed files."""
    from crossmodal_lib.data.cohort import CHECKSUM_FILE, cohort_files, generate_cohort

    start = time.perf_counter()
    files = cohort_files(generate_cohort())
    seconds = time.perf_counter() - start
    same = files[CHECKSUM_FILE] == (cohort_dir / CHECKSUM_FILE).read_bytes()
    return {"generation_seconds": seconds, "generation_reproduces_committed": same}


# ----------------------------------------------------------------------------------------------------------------
# Report and command line
# ----------------------------------------------------------------------------------------------------------------


def _machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _notebook_lines(nb: dict) -> list[str]:
    lines = [f"Source: {nb['source']}.", "", "| notebook | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in nb["seconds"].items()]
    return lines + [f"| **total** | **{nb['total_seconds']:.1f}** |", ""]


def _cohort_lines(co: dict) -> list[str]:
    lines = ["| model | macro ROC-AUC [95% CI] | accuracy |", "|---|---|---:|"]
    for name, row in co["models"].items():
        low, high = row.get("roc_auc_ci", [float("nan")] * 2)
        auc, accuracy = row["roc_auc"], row.get("accuracy", float("nan"))
        lines.append(f"| {name} | {auc:.3f} [{low:.3f}, {high:.3f}] | {accuracy:.3f} |")
    lines += ["", f"Pipeline run time: {co['seconds']:.0f} s."]
    if "generation_seconds" in co:
        same = "reproduces" if co["generation_reproduces_committed"] else "DOES NOT reproduce"
        lines.append(
            f"Default cohort generation: {co['generation_seconds']:.1f} s; {same} the committed SHA256SUMS."
        )
    if co.get("probes"):
        lines += [
            "",
            "What the features know (linear probe per hidden finding, test ROC-AUC; chapters 02-03):",
            "",
            "| features | finding | ROC-AUC | prevalence |",
            "|---|---|---:|---:|",
        ]
        for row in co["probes"]:
            block = {"image": "F_x (image)", "text": "F_y (note)"}.get(row["modality"], row["modality"])
            lines.append(f"| {block} | {row['finding']} | {row['roc_auc']:.3f} | {row['prevalence']:.2f} |")
    return lines + [""]


def _findings_lines(fi: dict) -> list[str]:
    modes = fi["modes"]
    lines = [
        "| | "
        + " | ".join(f"{m} ({v['image_size']} px, {v['epochs']:g} epochs)" for m, v in modes.items())
        + " |",
        "|---|" + "---:|" * len(modes),
    ]
    first = next(iter(modes.values()))
    for name in first["models"]:
        cells = [
            f"{v['models'][name]['accuracy']:.3f} / {v['models'][name]['roc_auc']:.3f}"
            for v in modes.values()
        ]
        lines.append(f"| {name}: accuracy / macro ROC-AUC | " + " | ".join(cells) + " |")
    for key, what in (
        ("probes", "linear probe of the specialist's features"),
        ("specialist_auc", "specialist's answer"),
    ):
        for finding in first[key]:
            cells = [f"{v[key][finding]:.3f}" for v in modes.values()]
            lines.append(f"| {finding}: {what} | " + " | ".join(cells) + " |")
    seconds = ", ".join(f"{m} {v['seconds']:.0f} s" for m, v in modes.items())
    return lines + ["", f"Run time: {seconds}.", ""]


def _question_lines(qs: dict) -> list[str]:
    lines = []
    for question, result in qs["questions"].items():
        lines += [f"### {question} (`data/cohort/{question}`)", ""] + _cohort_lines(result)
        own = result.get("specialists_own_question_roc_auc")
        if own:
            lines += [
                "The stacked fusion's specialists (chapter 09), test macro ROC-AUC on their own question: "
                + ", ".join(f"{q} {auc:.3f}" for q, auc in own.items())
                + ".",
                "",
            ]
    return lines


def _choices(chosen: dict) -> str:
    """One seed's choices in a few words (the full record is in bench.json)."""
    if not chosen:
        return ""
    window = chosen["window"]
    views = ", ".join(chosen["views"]) or "none"
    return (
        f"{chosen['image_size']} px, {chosen['epochs']:g} epochs, snapshots {window['first_round']}-"
        f"{window['last_round']} of {chosen['rounds']}, views: {views}"
    )


def _medmnist_lines(pm: dict) -> list[str]:
    auc, acc, sec = pm["test_auc"], pm["test_acc"], pm["train_seconds"]
    cpu = pm.get("cpu_seconds", {"mean": float("nan")})
    binary = "test_acc_at_half" in pm
    how = (
        "threshold from val"
        if binary
        else {"multilabel": "ACC per label at 0.5"}.get(pm.get("task"), "argmax")
    )
    lines = [
        f"{pm.get('dataset', '')}" if "dataset" in pm else "",
        "",
        "| method | test AUC | test ACC |",
        "|---|---|---|",
        f"| **course CNN** (mean ± sd of {len(pm['runs'])} seed{'s' * (len(pm['runs']) > 1)}; {how}) | "
        f"**{auc['mean']:.3f} ± {auc['std']:.3f}** | **{acc['mean']:.3f} ± {acc['std']:.3f}** |",
    ]
    if binary:
        half = pm["test_acc_at_half"]
        lines.append(
            f"| course CNN, same runs, ACC at threshold 0.5 (argmax) | {auc['mean']:.3f} ± {auc['std']:.3f} | "
            f"{half['mean']:.3f} ± {half['std']:.3f} |"
        )
    lines += [f"| {name} | {v['auc']:.3f} | {v['acc']:.3f} |" for name, v in pm["reference"].items()]
    lines += [
        "",
        f"Reference rows: {pm['reference_source']}.",
        "",
        "| seed | test AUC | test ACC | threshold (val) | ACC at 0.5 | val AUC | wall s | CPU s | chosen on val |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in pm["runs"]:
        threshold = "–" if r.get("threshold") is None else f"{r['threshold']:.3f}"
        half = "–" if r.get("test_acc_at_half") is None else f"{r['test_acc_at_half']:.4f}"
        lines.append(
            f"| {r['seed']} | {r['test_auc']:.4f} | {r['test_acc']:.4f} | {threshold} | {half} | "
            f"{r['val_auc']:.4f} | {r['train_seconds']:.0f} | {r.get('cpu_seconds', float('nan')):.0f} | "
            f"{_choices(r.get('chosen', {}))} |"
        )
    return lines + [
        "",
        f"Time per seed (training, choices and test predictions): {sec['mean']:.0f} s (min {sec['min']:.0f}, "
        f"max {sec['max']:.0f}) with {pm.get('threads', '?')} TensorFlow thread(s) and a training budget of "
        f"{pm.get('budget_seconds', '?')} s; CPU time {cpu['mean']:.0f} s "
        f"(all threads; wall time grows when other processes share the CPUs: 1-minute load average "
        f"{pm.get('load_average_1min', '?')} at the end).",
        "",
    ]


def _size_curve_lines(sc: dict) -> list[str]:
    lines = [
        f"{sc['dataset']}; validation and test splits whole; seed(s) {', '.join(map(str, sc['seeds']))}.",
        "",
        "| training images | test AUC | test ACC | val AUC | wall s | chosen on val (first seed) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for p in sc["points"]:
        several = len(p["runs"]) > 1  # the sd only where there are several seeds
        auc, acc = (
            f"{v['mean']:.3f}" + (f" ± {v['std']:.3f}" if several else "")
            for v in (p["test_auc"], p["test_acc"])
        )
        lines.append(
            f"| {p['n_train']} | {auc} | {acc} | {p['val_auc']['mean']:.3f} | {p['train_seconds']['mean']:.0f} | "
            f"{_choices(p['runs'][0]['chosen'])} |"
        )
    return lines + [""]


def _ptbxl_lines(px: dict) -> list[str]:
    classes = px["classes"]
    n, ch = px["n"], px["choices"]
    lines = [
        f"{px['dataset']}: train {n['train']} / val {n['val']} / test {n['test']} ECGs. **500 records are not the "
        "full PTB-XL (21,799 records)**: the val and test folds hold a few to a few dozen ECGs per superclass.",
        "",
        "| model | val macro AUC | test macro AUC [95% CI] | " + " | ".join(classes) + " | C (val) |",
        "|---|---:|---|" + "---:|" * len(classes) + "---:|",
    ]
    for name, row in px["models"].items():
        low, high = row["test_auc_ci"]
        per = " | ".join(f"{row['test_auc_per_class'][c]:.3f}" for c in classes)
        lines.append(
            f"| {name} | {row['val_auc']:.3f} | {row['test_auc']:.3f} [{low:.3f}, {high:.3f}] | {per} | {row['C']:g} |"
        )
    tried = ", ".join(f"{k} {v:.3f}" for k, v in ch["ecg_val_auc"].items())
    epochs = ", ".join(f"{k}: best {v['best']} of {v['run']}" for k, v in ch["cnn_epochs"].items())
    lines += [
        "",
        f"Per-superclass columns: test AUC. CI: 95% percentile bootstrap, {px.get('bootstrap', '?')}.",
        "",
        "Chosen on the validation split only: "
        f"ECG input **{ch['leads']}** lead(s), rhythm features {'added' if ch['rhythm_features'] else 'not added'} "
        f"(ecg-only val macro AUC: {tried}); C from {ch['C_grid']}; CNN epochs by early stopping on the val loss "
        f"(max {ch['max_epochs']}; {epochs}). CNN target: {ch['single_label_rule']}. Text: {ch['text']}.",
        "",
        f"Time: {px['seconds']:.0f} s wall, {px.get('cpu_seconds', float('nan')):.0f} s CPU "
        f"with {px.get('threads', '?')} TensorFlow thread(s), seed {px['seed']}.",
        "",
    ]
    board = px.get("leaderboard")
    if board:
        lines += [
            f"Context, not comparable: the best full-dataset macro AUC for {board['task']} is "
            f"{board['entry']} (train folds 1-8 of all 21,799 records, test fold 10), from {board['reference']}; "
            f"{board['source']}. These figures come from 500 records, 1/40 of the data, and a test fold of "
            f"{n['test']} ECGs.",
            "",
        ]
    else:
        lines += ["Leaderboard context: ptbxl_benchmark.md not found beside the data.", ""]
    return lines


_SECTIONS = {
    "notebooks": ("## Chapters in fast mode (CROSSMODAL_FAST=1)", "seconds", _notebook_lines),
    "cohort": (
        "## Synthetic cohort: single modalities vs fusion (test split, fast mode)",
        "models",
        _cohort_lines,
    ),
    "questions": (
        "## The cohort's other questions: ECG + symptoms, video + record, all modalities (test split, fast mode)",
        "questions",
        _question_lines,
    ),
    "findings": (
        "## Findings first (chapter 14): weak labels from the report and the note, both modes (test split)",
        "modes",
        _findings_lines,
    ),
    "pneumoniamnist": (
        "## PneumoniaMNIST 28x28 (real data): the course's CNN vs MedMNIST v2",
        "runs",
        _medmnist_lines,
    ),
    "size_curve": (
        "## PneumoniaMNIST: test AUC against the training-set size (small data)",
        "points",
        _size_curve_lines,
    ),
    "npz": ("## A MedMNIST file (`--npz`): the course's CNN vs MedMNIST v2", "runs", _medmnist_lines),
    "ptbxl": ("## PTB-XL (first 500 records)", "models", _ptbxl_lines),
}


def markdown_report(report: dict) -> str:
    """The benchmark as markdown tables (what ``bench.md`` holds); parts not run are left out."""
    m = report.get("machine", {})
    lines = [
        "# crossmodal_lib benchmark",
        "",
        f"Machine: {m.get('cpus')} CPUs, Python {m.get('python')}, {m.get('platform')}.",
        "",
    ]
    for part, (title, key, render) in _SECTIONS.items():
        if part not in report:
            continue
        value = report[part]
        lines += [title, ""]
        lines += render(value) if isinstance(value, dict) and key in value else [f"Skipped: {value}", ""]
    return "\n".join(lines) + "\n"


def _set_threads(threads: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.experimental.enable_op_determinism()


def _run_part(part: str, args: argparse.Namespace) -> dict | str:
    """Run one part in this process (called in a child process by :func:`main`)."""
    if part == "notebooks":
        return notebook_times(Path(args.out))
    if part == "cohort":
        from crossmodal_lib.course import COHORT_DIR

        if not (COHORT_DIR / "manifest.csv").is_file():
            return f"no cohort at {COHORT_DIR} (run `make data`)"
        return cohort_results()
    if part == "questions":
        return question_results()
    if part == "findings":
        _set_threads(args.threads)
        return findings_results() | {"threads": args.threads}
    if part in ("pneumoniamnist", "size_curve", "npz"):
        if part != "npz" and real_data_dir() is None:
            return f"real data not found at {default_real_data_dir()} (set CROSSMODAL_REAL_DATA); skipped"
        _set_threads(args.threads)
        seeds, budget = tuple(args.seeds), args.budget
        if part == "pneumoniamnist":
            result = pneumoniamnist_benchmark(seeds=seeds, budget=budget)
        elif part == "size_curve":
            result = size_curve(tuple(args.sizes), seeds=seeds[:1], budget=budget)
        else:
            result = medmnist_benchmark(args.npz, seeds=seeds, name=args.name, budget=budget)
        result["threads"] = args.threads
        result["load_average_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        return result
    if part == "ptbxl":
        folder = real_data_dir()
        if folder is None:
            return f"real data not found at {default_real_data_dir()} (set CROSSMODAL_REAL_DATA); skipped"
        if not (folder / PTBXL_SUBSET).is_dir():
            return f"no PTB-XL subset at {folder / PTBXL_SUBSET}; skipped"
        from crossmodal_lib.signal_text import ptbxl_superclass_benchmark

        _set_threads(args.threads)
        result = ptbxl_superclass_benchmark(folder / PTBXL_SUBSET, seed=args.seeds[0])
        result["threads"] = args.threads
        result["leaderboard"] = ptbxl_leaderboard(folder / PTBXL_LEADERBOARD)
        return result
    raise ValueError(f"unknown part {part!r}")


PARTS = ("notebooks", "cohort", "questions", "findings", "pneumoniamnist", "size_curve", "ptbxl")


def main(argv: list[str] | None = None) -> int:
    """``python -m crossmodal_lib.bench [--out DIR] [--parts ...] [--seeds 0 1 2] [--threads 2] [--budget 150]
    [--npz PATH [--name NAME]]``."""
    parser = argparse.ArgumentParser(
        prog="python -m crossmodal_lib.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: .bench/)")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        help="which parts to run (default: all; with --npz: that file only)",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="image seeds (size curve and PTB-XL: the first)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="TensorFlow threads for the image parts and PTB-XL"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        help="CPU seconds of training per seed for the image recipe (default 150)",
    )
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=list(SIZE_CURVE), help="training-set sizes of the size curve"
    )
    parser.add_argument("--npz", help="run the image recipe on this MedMNIST-layout .npz file")
    parser.add_argument("--name", help="the MedMNIST data set of --npz, when its file name does not say")
    parser.add_argument(
        "--part", choices=(*PARTS, "npz"), help=argparse.SUPPRESS
    )  # internal: one part -> JSON
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error(f"--budget must be > 0 seconds, got {args.budget:g}")
    if args.npz:
        from crossmodal_lib.data.medmnist import load_medmnist

        try:  # a bad file fails here, with the loader's message, before any child process starts
            load_medmnist(args.npz)
        except (OSError, ValueError) as err:
            parser.error(str(err))
    parts = args.parts or ([] if args.npz else list(PARTS))
    parts += ["npz"] if args.npz else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part:  # child process
        result = _run_part(args.part, args)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    report: dict = {"machine": _machine()}
    for part in parts:
        print(f"== {part}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            child = Path(tmp) / f"{part}.json"
            cmd = [
                sys.executable,
                "-m",
                "crossmodal_lib.bench",
                "--part",
                part,
                "--json",
                str(child),
                "--out",
                str(out),
                "--threads",
                str(args.threads),
                "--seeds",
                *map(str, args.seeds),
                "--budget",
                str(args.budget),
                "--sizes",
                *map(str, args.sizes),
                *(["--npz", str(Path(args.npz).resolve())] if args.npz else []),
                *(["--name", args.name] if args.name else []),
            ]
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO_ROOT, check=False)
            if proc.returncode != 0 or not child.is_file():
                report[part] = f"failed (exit code {proc.returncode}); see the output above"
            else:
                report[part] = json.loads(child.read_text(encoding="utf-8"))
            print(f"   {part}: {time.perf_counter() - start:.0f} s", flush=True)
        if isinstance(report[part], str):
            print(f"   {report[part]}", flush=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = markdown_report(report)
    (out / "bench.md").write_text(md, encoding="utf-8")
    print(md)
    failed = [p for p in parts if isinstance(report[p], str) and report[p].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
