"""Tests of crossmodal_lib.distributed (chapter 12): TF_CONFIG, input checks, and one worker vs two workers.

The two-worker runs start real worker processes on 127.0.0.1 (``MultiWorkerMirroredStrategy``); every launch is
bounded by ``run_workers``'s timeout, so a hung worker fails the test instead of blocking the suite.
"""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from synthetic_blocks import xor_blocks

from crossmodal_lib import distributed

# One worker and two workers compute the same global-batch gradients, summed in another order. Measured (2-core
# x86 machine, TF 2.21; the 2-worker run also with oneDNN on and 2 TF threads per worker, which changed nothing):
#   these synthetic data, 8 epochs (40 steps):  per-epoch loss 7e-08, weights 4e-08 (9e-08 after 100 epochs)
#   the chest cohort's features, 20 epochs:     per-epoch loss 1e-08 to 2e-08, weights 1e-07
#   the chest cohort's features, 60 epochs:     per-epoch loss 2e-07, weights 3e-05 (rounding grows with training)
# The tolerances below hold for short runs like the test's, with a margin of 100x (loss) and 1000x (weights). A
# real fault is far larger: dropout 0.3 (other masks per worker) moved the loss by 2e-02 and a weight by 6e-02.
LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-4
EPOCHS = 8
BATCH = 64  # global: 32 rows per worker with two workers
TIMEOUT = 150  # seconds per launch; the runs take 5-20 s on a 2-core machine (longer under load)


def _data(n=320, seed=0):
    return xor_blocks(n, dims=(32, 24), shift=2.0, seed=seed)


@pytest.fixture(scope="module")
def blocks_file(tmp_path_factory):
    blocks, y = _data()
    return distributed.save_blocks(tmp_path_factory.mktemp("distributed") / "blocks.npz", blocks, y)


@pytest.fixture(scope="module")
def one_worker(blocks_file, tmp_path_factory):
    """The baseline: one worker, started by the documented command line (on a blocks file)."""
    out = tmp_path_factory.mktemp("one_worker")
    command = [
        sys.executable,
        "-m",
        "crossmodal_lib.distributed",
        "--workers",
        "1",
        "--blocks",
        str(blocks_file),
    ]
    command += [
        "--out",
        str(out),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(BATCH),
        "--timeout",
        str(TIMEOUT),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT + 30)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 worker(s), global batch 64, 5 steps per epoch, 8 epochs" in done.stdout
    assert "wall time" in done.stdout
    return distributed.load_result(out)


# ------------------------------------------------------------------------------------------------ the cluster
def test_tf_config_names_every_worker_on_loopback():
    config = distributed.tf_config(2, 1, [23456, 23457])
    assert config == {
        "cluster": {"worker": ["127.0.0.1:23456", "127.0.0.1:23457"]},
        "task": {"type": "worker", "index": 1},
    }
    assert json.loads(json.dumps(config)) == config  # what goes into the TF_CONFIG variable


def test_cluster_spec_for_real_machines_and_bad_addresses():
    assert distributed.cluster_spec(["node1:12345", "node2:12345"]) == {
        "worker": ["node1:12345", "node2:12345"]
    }
    with pytest.raises(ValueError, match="'node1' must look like 'host:port'"):
        distributed.cluster_spec(["node1"])
    with pytest.raises(ValueError, match="must differ"):
        distributed.cluster_spec(["a:1", "a:1"])
    with pytest.raises(ValueError, match="non-empty list"):
        distributed.cluster_spec("node1:1")
    with pytest.raises(ValueError, match="one port per worker: 2 workers but 1 ports"):
        distributed.tf_config(2, 0, [23456])
    with pytest.raises(ValueError, match=r"index must be in 0\.\.1, got 2"):
        distributed.tf_config(2, 2, [1, 2])


def test_free_ports_are_distinct():
    ports = distributed.free_ports(3)
    assert len(set(ports)) == 3 and all(0 < p < 65536 for p in ports)


# ------------------------------------------------------------------------------------------------ the data
def test_blocks_file_round_trip_without_pickles(tmp_path):
    blocks, y = _data(n=40)
    path = distributed.save_blocks(tmp_path / "b.npz", blocks, y)
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["block_image", "block_text", "modalities", "n_classes", "y"]
    loaded, y_loaded, n_classes = distributed.load_blocks(path)
    assert list(loaded) == ["image", "text"] and n_classes == 4
    np.testing.assert_array_equal(loaded["text"], blocks["text"])
    np.testing.assert_array_equal(y_loaded, y)


def test_bad_input_is_refused_before_any_worker_starts(tmp_path):
    blocks, y = _data(n=40)
    with pytest.raises(ValueError, match="image has 40 rows but text has 39"):
        distributed.run_workers({"image": blocks["image"], "text": blocks["text"][:39]}, y, out_dir=tmp_path)
    with pytest.raises(ValueError, match="the features have 40 rows but y has 38"):
        distributed.run_workers(blocks, y[:38], out_dir=tmp_path)
    with pytest.raises(ValueError, match="pass the labels y"):
        distributed.run_workers(blocks, out_dir=tmp_path)
    with pytest.raises(ValueError, match="larger than the 40 rows"):
        distributed.run_workers(blocks, y, batch_size=64, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no feature file"):
        distributed.run_workers(tmp_path / "missing.npz")
    assert not list(tmp_path.glob("worker-*.log"))  # nothing was started


def test_train_worker_needs_tf_config(blocks_file, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match="TF_CONFIG is not set"):
        distributed.train_worker(blocks_file, tmp_path)


# ------------------------------------------------------------------------------------------------ failures
def test_a_failing_worker_stops_the_run_and_shows_its_error(blocks_file, tmp_path):
    with pytest.raises(distributed.WorkerError, match=r"(?s)worker \d .*failed.*CROSSMODAL_THREADS must be"):
        distributed.run_workers(
            blocks_file, env={"CROSSMODAL_THREADS": "zero"}, out_dir=tmp_path, timeout=TIMEOUT
        )


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the worker's watchdog uses SIGALRM (POSIX)")
def test_a_worker_alone_stops_itself_at_its_deadline(blocks_file, tmp_path):
    # Worker 0 of two, without worker 1: it waits for the cluster forever (and ignores SIGTERM) but its watchdog
    # ends it, so a launcher that dies leaves no worker behind.
    config = json.dumps(distributed.tf_config(2, 0, distributed.free_ports(2)))
    command = [sys.executable, "-m", "crossmodal_lib.distributed", "worker", "--data", str(blocks_file)]
    command += ["--out", str(tmp_path), "--epochs", "1", "--deadline", "6"]
    done = subprocess.run(
        command, env={**os.environ, "TF_CONFIG": config}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGALRM, done.stdout[-2000:] + done.stderr[-2000:]
    assert not (tmp_path / "result.npz").exists()


def test_a_run_past_its_timeout_stops_every_worker(blocks_file, tmp_path):
    with pytest.raises(TimeoutError, match=r"within 1 s.*worker 0, worker 1") as caught:
        distributed.run_workers(blocks_file, out_dir=tmp_path, timeout=1.0)
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", str(caught.value))]
    assert len(pids) == 2
    for pid in pids if os.name == "posix" else []:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped


# ------------------------------------------------------------------------------------------------ 1 vs 2 workers
def test_two_workers_match_one_worker(one_worker, blocks_file, tmp_path):
    # The two workers also run under other arithmetic (oneDNN on, two TF threads each; the baseline has the
    # package's default, oneDNN off, one thread), as on another processor: the tolerance must cover both.
    env = {"TF_ENABLE_ONEDNN_OPTS": "1", "CROSSMODAL_THREADS": "2"}
    two = distributed.run_workers(
        blocks_file, n_workers=2, epochs=EPOCHS, batch_size=BATCH, out_dir=tmp_path, timeout=TIMEOUT, env=env
    )
    assert (two["n_workers"], one_worker["n_workers"]) == (2, 1)
    assert two["steps_per_epoch"] == one_worker["steps_per_epoch"] == 320 // BATCH
    assert len(two["loss"]) == EPOCHS and two["loss"][-1] < 0.8 * two["loss"][0]  # it learns
    assert two["weight_names"] == one_worker["weight_names"]
    loss_diff = np.abs(two["loss"] - one_worker["loss"]).max()
    weight_diff = max(np.abs(a - b).max() for a, b in zip(two["weights"], one_worker["weights"], strict=True))
    assert loss_diff <= LOSS_TOLERANCE, f"per-epoch losses differ by {loss_diff:.3g}"
    assert weight_diff <= WEIGHT_TOLERANCE, f"weights differ by {weight_diff:.3g}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.npz", "worker-0.log", "worker-1.log"]
    assert "epoch 8/8" in (tmp_path / "worker-1.log").read_text()
