"""Prints how long each notebook took under nbval, and keeps the figures for `make bench`.

`make test` runs the notebooks twice, the second time with oneDNN on (other arithmetic, as on another processor);
only the first pass's times are kept for `make bench`.
"""

import json
import os
import time
from collections import defaultdict
from pathlib import Path

_seconds: dict[str, float] = defaultdict(float)
# oneDNN on or another TensorFlow thread count: not the arithmetic the stored outputs and the timings were made with.
OTHER_NUMERICS = (
    os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" or os.environ.get("CROSSMODAL_THREADS", "1") != "1"
)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    mode = "fast mode, other arithmetic" if OTHER_NUMERICS else "fast mode"
    terminalreporter.section(f"notebook run times ({mode})")
    for path, secs in sorted(_seconds.items()):
        terminalreporter.write_line(f"{secs:7.1f} s  {path}")
    total = sum(_seconds.values())
    terminalreporter.write_line(f"{total:7.1f} s  total (cell time; kernel start-up not included)")
    if OTHER_NUMERICS:
        return
    out = Path(__file__).resolve().parent.parent / ".bench"
    out.mkdir(exist_ok=True)
    record = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": dict(sorted(_seconds.items()))}
    (out / "notebook_times.json").write_text(json.dumps(record, indent=2))
