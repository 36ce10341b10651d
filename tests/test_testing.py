"""Tests of crossmodal_lib.testing: trained numbers may move within the tolerance, and nothing else may change.

The last test runs nbval itself on a small notebook, so it proves that the comparison `make test` uses is not blind:
a stored AUC off by 0.1, a changed word, or an unmarked cell off in the third decimal each fail.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from crossmodal_lib.testing import TOLERANCES, cell_tolerance, differences, split_numbers

NOTEBOOK_05 = Path(__file__).resolve().parent.parent / "notebooks" / "05_evaluation.ipynb"


def test_split_numbers_finds_numbers_not_names():
    text, numbers = split_numbers(
        "conv1 F_x2 a-b x=-0.5 (251, 64) [0.6  0.4] 97% <td>0.684</td> +0.129 1e-3."
    )
    assert numbers == ["-0.5", "251", "64", "0.6", "0.4", "97", "0.684", "+0.129", "1e-3"]
    assert text == "conv1 F_x2 a-b x=\0 (\0, \0) [\0 \0] \0% <td>\0</td> \0 \0."


def test_numbers_move_within_the_tolerance_and_no_further():
    stored = "gated fusion: macro ROC-AUC 0.813 (95% CI 0.769 to 0.850)"
    assert differences(stored, "gated fusion: macro ROC-AUC 0.801 (95% CI 0.758 to 0.853)") == []
    off = differences(stored, "gated fusion: macro ROC-AUC 0.713 (95% CI 0.769 to 0.850)")
    assert len(off) == 1 and "0.713 where 0.813 is stored" in off[0]
    assert differences(stored, "early fusion: macro ROC-AUC 0.813 (95% CI 0.769 to 0.850)")
    assert differences(stored, "gated fusion: macro ROC-AUC 0.813 (95% CI 0.769)")
    # Table columns widen with their numbers; the words and line breaks must stay.
    assert differences("[0.712 0.106]\nok", "[0.77  0.088]\nok") == []
    assert differences("[0.712 0.106]\nok", "[0.712 0.106] ok")


def test_the_coarse_tolerance_is_wider_and_still_bounded():
    assert differences("recall 0.334", "recall 0.477")
    assert differences("recall 0.334", "recall 0.477", TOLERANCES["coarse"]) == []
    assert differences("recall 0.334", "recall 0.634", TOLERANCES["coarse"])
    # A default cell still catches an AUC off by 0.1 anywhere in the range.
    for auc in (0.5, 0.8, 0.99):
        assert differences(f"AUC {auc:.3f}", f"AUC {auc - 0.1:.3f}")


def test_cell_tolerance_reads_the_marker_line():
    assert cell_tolerance("x = 1\nprint(x)") is None
    assert cell_tolerance("# NBVAL_TRAINED_OUTPUT\nprint(auc)") == TOLERANCES["default"]
    assert cell_tolerance("# NBVAL_TRAINED_OUTPUT coarse\nprint(recall)") == TOLERANCES["coarse"]
    assert cell_tolerance("print('# NBVAL_TRAINED_OUTPUT')") is None, "only a comment line is a marker"
    with pytest.raises(ValueError, match="one of \\['coarse', 'default'\\]"):
        cell_tolerance("# NBVAL_TRAINED_OUTPUT loose\nprint(auc)")


@pytest.mark.skipif(not NOTEBOOK_05.is_file(), reason="notebook 05 not present")
def test_a_changed_auc_in_a_stored_output_fails():
    """Chapter 05's stored lines: the same text with one AUC 0.1 lower fails; 0.01 lower passes."""
    nb = json.loads(NOTEBOOK_05.read_text())
    cell = next(
        c for c in nb["cells"] if c["cell_type"] == "code" and "fusion_gain']:+.3f" in "".join(c["source"])
    )
    stored = "".join(cell["outputs"][0]["text"])
    tolerance = cell_tolerance("".join(cell["source"]))
    auc = split_numbers(stored)[1][0]
    for shift, fails in ((0.1, True), (0.01, False)):
        changed = stored.replace(auc, f"{float(auc) - shift:.3f}", 1)
        assert bool(differences(stored, changed, tolerance)) is fails, shift


def _notebook_cell(source: str, stored: str):
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    return cell


def test_nbval_with_the_plugin_fails_real_changes_and_passes_moved_digits(tmp_path):
    cells = [
        ("# NBVAL_TRAINED_OUTPUT\nprint('macro ROC-AUC 0.801')", "macro ROC-AUC 0.813\n", "passed"),
        ("# NBVAL_TRAINED_OUTPUT\nprint('macro ROC-AUC 0.713')", "macro ROC-AUC 0.813\n", "failed"),
        ("# NBVAL_TRAINED_OUTPUT\nprint('micro ROC-AUC 0.813')", "macro ROC-AUC 0.813\n", "failed"),
        ("# NBVAL_TRAINED_OUTPUT coarse\nprint('recall 0.40')", "recall 0.30\n", "passed"),
        ("print('macro ROC-AUC 0.812')", "macro ROC-AUC 0.813\n", "failed"),
        ("print('macro ROC-AUC 0.813')", "macro ROC-AUC 0.813\n", "passed"),
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, (source, stored, _) in enumerate(cells, 1):
        cell = _notebook_cell(source, stored)
        cell.execution_count = i
        nb.cells.append(cell)
    path = tmp_path / "check.ipynb"
    nbformat.write(nb, path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "crossmodal_lib.testing"]
        + ["--nbval", "-rA", "-p", "no:xdist", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcome = {}
    for line in run.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED") and "::Cell " in rest:
            outcome[int(rest.split("::Cell ")[1].split()[0])] = word.lower()
    assert outcome == {i: expected for i, (_, _, expected) in enumerate(cells)}, run.stdout[-3000:]
    assert "0.713 where 0.813 is stored" in run.stdout, "the failure says which number moved too far"
