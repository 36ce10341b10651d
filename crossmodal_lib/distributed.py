"""Chapter 12: training the fusion model on several workers with ``tf.distribute.MultiWorkerMirroredStrategy``.

Platform-scale data is one of the article's trends, and a hospital network rarely trains on one machine. Here the
course's early fusion model, Z = MLP(F_x, F_y) (``fusion.build_mlp``), is trained by data-parallel workers: every
worker holds a copy of the model, computes the gradient of its share of each global batch, and an all-reduce sums
the shares, so every copy takes the same step. Nothing is served from a central "parameter server".

    python -m crossmodal_lib.distributed --workers 2 --out runs/distributed     # the cohort, two local workers

starts two worker processes on this machine (loopback addresses 127.0.0.1 only), each told its place in the
cluster by the ``TF_CONFIG`` environment variable (``tf_config``; ``cluster_spec`` shows the same for real
machines), trains, and prints the loss per epoch, the wall time and the validation scores.

Keras 3's ``model.fit`` does not support this strategy (keras-team/keras#20585: ``ValueError: Attempt to convert a
value (PerReplica...)``), so ``train_worker`` is the custom training loop that works, the one a learner needs on a
real cluster too:

    1. the model and its optimizer are built inside ``strategy.scope()`` (their variables become mirrored);
    2. the dataset is batched with the GLOBAL batch size and ``strategy.experimental_distribute_dataset`` hands
       each worker its part of every batch (sharding by DATA: every worker reads the same seeded shuffle);
    3. a ``tf.function`` step runs ``strategy.run`` on each worker: per-example losses are divided by the global
       batch size (``tf.nn.compute_average_loss``), so the all-reduced gradient is the global batch's mean;
    4. ``strategy.reduce(SUM)`` adds the workers' losses into the global batch's mean loss.

With the same seed and global batch size, one worker and two workers compute the same gradients summed in another
order: the results agree to float32 rounding (``run_workers``; the test states the tolerance). Dropout is off by
default: each worker draws its own dropout masks, so with dropout the two runs are equally valid but different
random draws, and cannot be compared number by number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from crossmodal_lib.fusion import check_blocks, check_labels

__all__ = [
    "HOST",
    "WorkerError",
    "cluster_spec",
    "free_ports",
    "load_blocks",
    "load_result",
    "main",
    "run_workers",
    "save_blocks",
    "tf_config",
    "train_worker",
]

#: Local workers listen on the loopback address only: nothing outside this machine can reach them.
HOST = "127.0.0.1"
#: What ``train_worker`` writes (the chief only) and ``run_workers`` reads back.
RESULT_FILE = "result.npz"
#: The feature blocks and labels the launcher hands to the workers (an .npz, never a pickle).
BLOCKS_FILE = "blocks.npz"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class WorkerError(RuntimeError):
    """A worker process failed; the message holds the tail of its log (chapter 12)."""


# ----------------------------------------------------------------------------------------------------------------
# The cluster: who the workers are and where they listen
# ----------------------------------------------------------------------------------------------------------------
def cluster_spec(hosts: Sequence[str]) -> dict[str, list[str]]:
    """The cluster part of ``TF_CONFIG``: ``{"worker": ["host:port", ...]}``, worker 0 first (chapter 12).

    On N real machines every machine gets the same cluster and its own index, e.g. on the second machine::

        TF_CONFIG='{"cluster": {"worker": ["node1:12345", "node2:12345"]}, "task": {"type": "worker", "index": 1}}'

    that is ``json.dumps({"cluster": cluster_spec(hosts), "task": {"type": "worker", "index": 1}})``. Worker 0 is
    the chief: the one that writes results.
    """
    if isinstance(hosts, str) or not hosts:
        raise ValueError(f"hosts must be a non-empty list of 'host:port' strings, got {hosts!r}")
    for address in hosts:
        host, _, port = str(address).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"worker address {address!r} must look like 'host:port' (port 1-65535)")
    if len(set(hosts)) != len(hosts):
        raise ValueError(f"worker addresses must differ, got {list(hosts)}")
    return {"worker": [str(address) for address in hosts]}


def tf_config(n_workers: int, index: int, ports: Sequence[int], host: str = HOST) -> dict:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of ``n_workers`` on this machine (chapter 12).

    >>> tf_config(2, 1, [23456, 23457])
    {'cluster': {'worker': ['127.0.0.1:23456', '127.0.0.1:23457']}, 'task': {'type': 'worker', 'index': 1}}

    Each worker process gets ``json.dumps`` of its dict in its environment before TensorFlow starts.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if len(ports) != n_workers:
        raise ValueError(f"need one port per worker: {n_workers} workers but {len(ports)} ports")
    if not 0 <= index < n_workers:
        raise ValueError(f"index must be in 0..{n_workers - 1}, got {index}")
    return {
        "cluster": cluster_spec([f"{host}:{int(port)}" for port in ports]),
        "task": {"type": "worker", "index": int(index)},
    }


def free_ports(n: int, host: str = HOST) -> list[int]:
    """``n`` distinct TCP ports that are free on ``host`` now (the system picks them; chapter 12)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))  # all n are held open together, so they differ
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# ----------------------------------------------------------------------------------------------------------------
# The data the workers read: an .npz of named feature blocks and labels
# ----------------------------------------------------------------------------------------------------------------
def _check_data(
    blocks: Mapping[str, object], y: object, n_classes: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    arrays = check_blocks(blocks)  # 2-D, finite, the same rows: "image has 120 rows but text has 119"
    labels = check_labels(y, len(next(iter(arrays.values()))), n_classes)
    return arrays, labels


def save_blocks(path: str | Path, blocks: Mapping[str, object], y: object, n_classes: int = 4) -> Path:
    """Write ``{modality: features}`` and labels ``y`` as an .npz the workers load with ``allow_pickle=False``.

    Chapter 12. Keys: ``modalities`` (the names, in order), ``block_<name>`` (float32), ``y`` (int64),
    ``n_classes``.
    """
    arrays, labels = _check_data(blocks, y, n_classes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        modalities=np.array(list(arrays)),
        y=labels,
        n_classes=np.int64(n_classes),
        **{f"block_{name}": arr for name, arr in arrays.items()},
    )
    return path


def load_blocks(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Read ``save_blocks``'s file back: ``(blocks, y, n_classes)``, checked as when saved (chapter 12)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no feature file at {path}; write one with save_blocks")
    with np.load(path, allow_pickle=False) as stored:
        missing = [key for key in ("modalities", "y", "n_classes") if key not in stored.files]
        if missing:
            raise ValueError(f"{path} lacks {missing}; write it with save_blocks")
        names = [str(name) for name in stored["modalities"]]
        absent = [name for name in names if f"block_{name}" not in stored.files]
        if absent:
            raise ValueError(f"{path} names modalities {absent} but holds no block for them")
        blocks = {name: stored[f"block_{name}"] for name in names}
        y, n_classes = stored["y"], int(stored["n_classes"])
    arrays, labels = _check_data(blocks, y, n_classes)
    return arrays, labels, n_classes


def load_result(out_dir: str | Path) -> dict:
    """The chief's ``result.npz`` in ``out_dir`` as a dict: ``loss`` (one mean per epoch), ``weights`` (the
    model's ``get_weights()`` order), ``weight_names``, ``n_workers``, ``global_batch_size``, ``steps_per_epoch``
    and ``train_s`` (the chief's training loop, seconds). Chapter 12."""
    path = Path(out_dir) / RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {RESULT_FILE} in {out_dir}: the chief (worker 0) did not finish")
    with np.load(path, allow_pickle=False) as stored:
        names = [str(name) for name in stored["weight_names"]]
        return {
            "loss": stored["loss"].astype(np.float64),
            "weights": [stored[f"weight_{i:03d}"] for i in range(len(names))],
            "weight_names": names,
            "n_workers": int(stored["n_workers"]),
            "global_batch_size": int(stored["global_batch_size"]),
            "steps_per_epoch": int(stored["steps_per_epoch"]),
            "train_s": float(stored["train_s"]),
        }


# ----------------------------------------------------------------------------------------------------------------
# One worker: the custom training loop
# ----------------------------------------------------------------------------------------------------------------
_STARTED = time.perf_counter()


def _clock() -> str:
    return f"{time.perf_counter() - _STARTED:.1f} s since start"


def _say(message: str) -> None:
    print(message, flush=True)  # the launcher keeps each worker's output in worker-<i>.log


def train_worker(
    data: str | Path,
    out_dir: str | Path,
    epochs: int = 20,
    batch_size: int = 64,
    seed: int = 0,
    hidden: int = 64,
    dropout: float = 0.0,
    learning_rate: float = 1e-3,
) -> dict | None:
    """Train Z = MLP(F_x, F_y, ...) as one worker of the cluster that ``TF_CONFIG`` describes (chapter 12).

    Run the same call in every worker process (``run_workers`` does). ``batch_size`` is the GLOBAL batch: with
    two workers each computes the gradient of half of it. The chief (worker 0) writes ``result.npz`` to
    ``out_dir`` (see ``load_result``) and returns the result; the other workers return None.
    """
    if "TF_CONFIG" not in os.environ:
        raise RuntimeError(
            "TF_CONFIG is not set: start the workers with run_workers, or set it in each worker's environment "
            "as tf_config() shows"
        )
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        index, n_workers = int(config["task"]["index"]), len(config["cluster"]["worker"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"TF_CONFIG must be JSON like tf_config()'s output, got {os.environ['TF_CONFIG']!r}"
        ) from exc
    from crossmodal_lib.course import tf_threads

    threads = tf_threads()  # CROSSMODAL_THREADS, 1 when unset: two workers must not fight over two cores
    blocks, y, n_classes = load_blocks(data)
    if not 1 <= batch_size <= len(y):
        raise ValueError(f"batch_size must be in 1..{len(y)} (the number of rows), got {batch_size}")

    import warnings

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    # tf.data's notice when a distributed dataset is iterated in a tf.function; it changes nothing here.
    warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data options")
    # Threads are fixed before TensorFlow's runtime starts, which creating the strategy does.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.experimental.enable_op_determinism()
    import keras

    from crossmodal_lib.fusion import build_mlp

    _say(f"worker {index}/{n_workers}: waiting for the cluster {config['cluster']['worker']} ({_clock()})")
    started = time.perf_counter()
    # RING: collective all-reduce over gRPC, what CPU workers use (NCCL is for GPUs).
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    replicas = strategy.num_replicas_in_sync
    _say(f"worker {index}: cluster of {replicas} up in {time.perf_counter() - started:.1f} s ({_clock()})")

    # 1. The model and its optimizer inside the strategy's scope: their variables are mirrored on every worker.
    keras.utils.set_random_seed(seed)  # the same initial weights and the same shuffle on every worker
    with strategy.scope():
        model = build_mlp(
            list(blocks.values()), n_classes, (hidden,), dropout, list(blocks), learning_rate, "early_fusion"
        )
        optimizer = model.optimizer  # build_mlp's Adam(learning_rate)
        optimizer.build(model.trainable_variables)  # its slots now, not inside a replica's step

    # 2. Global batches, the same seeded shuffle on every worker; DATA sharding splits each global batch.
    dataset = (
        tf.data.Dataset.from_tensor_slices((tuple(blocks.values()), y))
        .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)  # every step sees exactly batch_size rows
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dist_dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))

    # 3. One replica's step: its share of the global batch's mean loss, and the gradient of that share.
    def replica_step(inputs, labels):
        with tf.GradientTape() as tape:
            proba = model(inputs, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, proba)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch_size)
        gradients = tape.gradient(loss, model.trainable_variables)
        # apply_gradients all-reduces (sums) the workers' gradients, then every copy takes the same step
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    # 4. Every worker runs the step on its part; the workers' shares add up to the global batch's mean loss.
    @tf.function
    def train_step(inputs, labels):
        per_replica = strategy.run(replica_step, args=(inputs, labels))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    # A whole epoch in one tf.function: the loop over the distributed dataset runs in the graph, which halves the
    # time of these small steps (a Python loop pays for every step's hand-over between Python and TensorFlow).
    @tf.function
    def train_epoch(batches):
        total, steps = tf.constant(0.0, tf.float64), tf.constant(0, tf.int64)
        for inputs, labels in batches:
            total += tf.cast(train_step(inputs, labels), tf.float64)
            steps += 1
        return total / tf.cast(steps, tf.float64), steps

    history, steps = [], 0
    started = time.perf_counter()
    for epoch in range(epochs):
        mean_loss, steps = train_epoch(dist_dataset)
        history.append(float(mean_loss))
        _say(f"worker {index}: epoch {epoch + 1}/{epochs} loss {history[-1]:.4f} ({_clock()})")
    train_s = time.perf_counter() - started

    if index != 0:
        return None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = model.get_weights()
    tmp = out_dir / f".tmp-{os.getpid()}-{RESULT_FILE}"
    np.savez(
        tmp,
        loss=np.asarray(history, dtype=np.float64),
        weight_names=np.array([v.path for v in model.weights]),
        n_workers=np.int64(n_workers),
        global_batch_size=np.int64(batch_size),
        steps_per_epoch=np.int64(int(steps)),
        train_s=np.float64(train_s),
        **{f"weight_{i:03d}": np.asarray(w) for i, w in enumerate(weights)},
    )
    os.replace(tmp, out_dir / RESULT_FILE)  # the launcher never reads half a file
    _say(f"worker {index}: wrote {out_dir / RESULT_FILE} ({_clock()})")
    return load_result(out_dir)


# ----------------------------------------------------------------------------------------------------------------
# The launcher: start the workers, watch them, bound the time
# ----------------------------------------------------------------------------------------------------------------
def _worker_command(data: Path, out_dir: Path, settings: Mapping[str, object]) -> list[str]:
    command = [sys.executable, "-m", "crossmodal_lib.distributed", "worker", "--data", str(data)]
    command += ["--out", str(out_dir)]
    for key, value in settings.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    return command


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    kept = [line for line in text if line.strip()][-lines:]
    return "\n".join(f"    {line}" for line in kept) or "    (empty log)"


def _stop(processes: Sequence[subprocess.Popen]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def run_workers(
    data: Mapping[str, object] | str | Path,
    y: object | None = None,
    n_workers: int = 2,
    epochs: int = 20,
    batch_size: int = 64,
    out_dir: str | Path | None = None,
    timeout: float = 120.0,
    seed: int = 0,
    hidden: int = 64,
    dropout: float = 0.0,
    learning_rate: float = 1e-3,
    n_classes: int = 4,
    env: Mapping[str, str] | None = None,
) -> dict:
    """Train the early fusion MLP on ``n_workers`` local worker processes and return the chief's result (ch. 12).

    ``data``: ``{modality: features}`` with labels ``y`` (``n_classes`` classes), or the path of a ``save_blocks``
    file (which holds its labels and number of classes).
    Each worker is ``python -m crossmodal_lib.distributed worker ...`` with its own ``TF_CONFIG`` (free loopback
    ports); its output goes to ``out_dir/worker-<i>.log`` (a temporary folder, removed at the end, when
    ``out_dir`` is None). ``env`` adds environment variables for the workers (``{"TF_ENABLE_ONEDNN_OPTS": "1"}``,
    ``{"CROSSMODAL_THREADS": "2"}``); GPUs are hidden from them unless ``env`` sets ``CUDA_VISIBLE_DEVICES``.

    Returns ``load_result``'s dict plus ``wall_s`` (start of the first worker to the result, seconds) and
    ``out_dir``. A worker that fails stops them all and raises ``WorkerError`` with its log's tail; a run longer
    than ``timeout`` seconds stops them all and raises ``TimeoutError`` naming the workers still running.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if batch_size < n_workers:
        raise ValueError(f"the global batch_size ({batch_size}) must be at least n_workers ({n_workers})")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    if isinstance(data, (str, Path)):
        if y is not None:
            raise ValueError("pass y only with a mapping of blocks; a save_blocks file holds its labels")
        _, labels, _ = load_blocks(data)
    else:
        if y is None:
            raise ValueError("pass the labels y with the blocks")
        _, labels = _check_data(data, y, n_classes)
    if batch_size > len(labels):
        raise ValueError(f"batch_size ({batch_size}) is larger than the {len(labels)} rows: no full batch")

    temporary = out_dir is None
    out = Path(tempfile.mkdtemp(prefix="crossmodal-distributed-")) if temporary else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT_FILE).unlink(missing_ok=True)  # never return a previous run's result
    try:
        data_path = (
            Path(data)
            if isinstance(data, (str, Path))
            else save_blocks(out / BLOCKS_FILE, data, y, n_classes)
        )
        settings = {
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "hidden": hidden,
            "dropout": dropout,
            "learning_rate": learning_rate,
        }
        # Each worker also stops itself a little after the launcher would have stopped it.
        settings["deadline"] = timeout + 30
        command = _worker_command(data_path.resolve(), out.resolve(), settings)
        ports = free_ports(n_workers)
        base = dict(os.environ)
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), base.get("PYTHONPATH")]))
        base.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ info lines out of the logs
        base["CUDA_VISIBLE_DEVICES"] = ""  # local workers share the CPU; N copies on one GPU would not fit
        base.update(env or {})
        processes, logs = [], []
        started = time.perf_counter()
        try:
            for index in range(n_workers):
                worker_env = {**base, "TF_CONFIG": json.dumps(tf_config(n_workers, index, ports))}
                logs.append(out / f"worker-{index}.log")
                with open(logs[-1], "wb") as log:
                    processes.append(
                        subprocess.Popen(
                            command,
                            env=worker_env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                        )
                    )
            _watch(processes, logs, started + timeout, timeout)
        finally:
            _stop(processes)
        wall_s = time.perf_counter() - started
        result = load_result(out)
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)
    return {**result, "wall_s": wall_s, "out_dir": None if temporary else out}


def _exit_reason(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    import signal

    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _watch(
    processes: Sequence[subprocess.Popen], logs: Sequence[Path], deadline: float, timeout: float
) -> None:
    """Wait for every worker; raise at the first failure or at the deadline (the caller stops the rest)."""
    while True:
        codes = [proc.poll() for proc in processes]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            i = failed[0]
            raise WorkerError(
                f"worker {i} (pid {processes[i].pid}) failed ({_exit_reason(codes[i])}); all workers stopped. "
                f"The end of {logs[i]}:\n{_tail(logs[i])}"
            )
        if all(code == 0 for code in codes):
            return
        if time.perf_counter() > deadline:
            running = [i for i, code in enumerate(codes) if code is None]
            lines = "\n".join(
                f"  worker {i} (pid {processes[i].pid}), {logs[i]}:\n{_tail(logs[i], 3)}" for i in running
            )
            raise TimeoutError(
                f"the distributed run did not finish within {timeout:g} s; stopped the workers still running "
                f"({', '.join(f'worker {i}' for i in running)}). Their last lines:\n{lines}\n"
                "A worker stuck at 'waiting for the cluster' never met the others (a port in use, a worker that "
                "died); one stuck in an epoch is slow: raise timeout or lower epochs."
            )
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------
def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    parser.add_argument("--batch-size", type=int, default=64, help="the GLOBAL batch size (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=64, help="hidden units (default 64, as EarlyFusion)")
    parser.add_argument(
        "--dropout", type=float, default=0.0, help="dropout (default 0: see the module's docstring)"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)


def _exit_after(seconds: float) -> None:
    """A watchdog: end this process after ``seconds`` even if the launcher died and nobody kills it.

    A worker waiting for a peer that never comes blocks inside TensorFlow, holding Python's lock, and ignores
    SIGTERM (measured: still waiting after 10 minutes; a Python timer thread never ran). So ``run_workers`` kills
    with SIGKILL, and here the kernel ends the process: SIGALRM with its default action, which needs no Python.
    """
    import signal

    if hasattr(signal, "setitimer"):  # POSIX; on Windows only the launcher's timeout applies
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_REAL, seconds)


def _worker_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crossmodal_lib.distributed worker",
        description="One worker (run_workers starts these; TF_CONFIG says which one).",
    )
    parser.add_argument("--data", required=True, help="the save_blocks .npz")
    parser.add_argument("--out", required=True, help="where the chief writes result.npz")
    parser.add_argument("--deadline", type=float, help="seconds after which this worker exits on its own")
    _add_settings(parser)
    args = parser.parse_args(argv)
    if args.deadline:
        _exit_after(args.deadline)
    train_worker(
        args.data,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        hidden=args.hidden,
        dropout=args.dropout,
        learning_rate=args.learning_rate,
    )
    return 0


def _cohort_blocks(
    seed: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray, int]:
    """The chest cohort's image and text features (fast mode, the course's cache), training and validation rows."""
    from crossmodal_lib import pipeline
    from crossmodal_lib.course import REPO_ROOT
    from crossmodal_lib.data import cohort_dir

    features = pipeline.cohort_features(
        cohort_dir("chest"),
        fast=True,
        seed=seed,
        modalities=("image", "text"),
        cache_dir=REPO_ROOT / ".cache",
        verbose=True,  # "features loaded from the cache", or the encoders' training (a few minutes) the first time
    )
    return (
        features.blocks("train"),
        features.part("train")["y"],
        features.blocks("val"),
        features.part("val")["y"],
        len(features.classes),
    )


def _validation_scores(result: dict, train: dict, val: dict, y_val: np.ndarray, n_classes: int, args) -> dict:
    """Accuracy and macro ROC-AUC of the trained weights on the validation rows (rebuilt here, in one process)."""
    from crossmodal_lib.evaluate import macro_roc_auc
    from crossmodal_lib.fusion import build_mlp

    model = build_mlp(
        list(train.values()), n_classes, (args.hidden,), args.dropout, list(train), name="early_fusion"
    )
    model.set_weights(result["weights"])
    proba = np.asarray(model.predict(tuple(val.values()), batch_size=256, verbose=0), dtype=np.float64)
    return {
        "accuracy": float((proba.argmax(axis=1) == y_val).mean()),
        "macro_roc_auc": macro_roc_auc(y_val, proba),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crossmodal_lib.distributed --workers 2 --out DIR``: the cohort on local workers (chapter 12)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        return _worker_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m crossmodal_lib.distributed",
        description="Train the early fusion MLP with MultiWorkerMirroredStrategy on local worker processes.",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", required=True, help="folder for blocks.npz, worker logs and result.npz")
    parser.add_argument(
        "--blocks",
        help="a save_blocks .npz to train on instead of the chest cohort's image and text features",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before all workers are stopped")
    _add_settings(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    val = None
    if args.blocks:
        data, y, n_classes = args.blocks, None, None
    else:
        print("features of the chest cohort (fast mode, cached in .cache):", flush=True)
        data, y, val, y_val, n_classes = _cohort_blocks(args.seed)
    result = run_workers(
        data,
        y,
        n_workers=args.workers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        out_dir=out,
        timeout=args.timeout,
        seed=args.seed,
        hidden=args.hidden,
        dropout=args.dropout,
        learning_rate=args.learning_rate,
        n_classes=n_classes or 4,  # a --blocks file holds its own
    )
    loss = result["loss"]
    print(
        f"{result['n_workers']} worker(s), global batch {result['global_batch_size']}, "
        f"{result['steps_per_epoch']} steps per epoch, {len(loss)} epochs"
    )
    print("loss per epoch: " + " ".join(f"{v:.4f}" for v in loss))
    print(f"wall time {result['wall_s']:.1f} s (training loop {result['train_s']:.1f} s); results in {out}")
    if val is not None:
        scores = _validation_scores(result, data, val, y_val, n_classes, args)
        print(f"validation: accuracy {scores['accuracy']:.3f}, macro ROC-AUC {scores['macro_roc_auc']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
