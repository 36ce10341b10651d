"""Notebook checks that hold on any machine: trained numbers are compared within a stated tolerance.

A model trained on another processor, OS or BLAS build prints other last digits (README, "Tests on your machine"):
a few epochs of SGD turn last-bit differences into the second or third decimal. So a notebook cell whose output
comes from training starts with the marker line

    # NBVAL_TRAINED_OUTPUT

and nbval compares its outputs with the stored ones in the way of pytest-doctestplus's ``FLOAT_CMP``: the text
around the numbers must match exactly (runs of spaces count as one, since table columns widen with their numbers),
and each number must lie within the tolerance of the stored one. Every other cell is compared exactly. A cell
whose numbers come from arg-max decisions, thresholds or grid choices (accuracy, recall, a chosen weight), which
jump in steps when one test visit changes class, names the wider tolerance: ``# NBVAL_TRAINED_OUTPUT coarse``.
What a chapter claims (fusion beats each single modality, an AUC lies in a range) is an ``assert`` in the cell.

``TOLERANCES`` is the one place to change how far trained numbers may move. The values come from measurement
(CHANGELOG, "Tests that pass on any machine"): the largest move of any number between two processors and under
oneDNN or two TensorFlow threads, with a margin; a macro AUC off by 0.1 still fails in a default cell.

The nbval hook below is a pytest plugin, loaded by ``-p crossmodal_lib.testing`` in pyproject.toml.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

MARKER = "NBVAL_TRAINED_OUTPUT"

# A number standing on its own, not part of a name (conv1, F_x2) or a longer token; its sign is kept where it is a
# sign (after a space, a bracket, "=", ":" or ","), not where it is a hyphen (x-1).
NUMBER = re.compile(r"(?<![\w.])(?:(?<![^\s(\[{=:,])[-+])?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")
SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Tolerance:
    """How far a trained number may move: ``|test - stored| <= atol + rtol * |stored|`` (as ``numpy.isclose``)."""

    atol: float
    rtol: float

    def allows(self, stored: float, test: float) -> bool:
        return abs(test - stored) <= self.atol + self.rtol * abs(stored)


TOLERANCES = {
    # Scores from probabilities (ROC-AUC, PR-AUC, Brier, losses, means): measured moves up to 0.044.
    "default": Tolerance(atol=0.06, rtol=0.02),
    # Arg-max metrics, thresholds, grid choices, feature statistics: measured moves up to 0.143 (and 0.3 of 1.4).
    "coarse": Tolerance(atol=0.15, rtol=0.15),
}


def split_numbers(text: str) -> tuple[str, list[str]]:
    """``text`` with every number replaced by a NUL character and runs of spaces by one, and the numbers."""
    return SPACES.sub(" ", NUMBER.sub("\0", text)), NUMBER.findall(text)


def differences(stored: str, test: str, tolerance: Tolerance = TOLERANCES["default"]) -> list[str]:
    """Why ``test`` does not match ``stored`` within ``tolerance``; an empty list when it does."""
    if stored == test:
        return []
    stored_text, stored_numbers = split_numbers(stored)
    test_text, test_numbers = split_numbers(test)
    if stored_text != test_text or len(stored_numbers) != len(test_numbers):
        return ["the text around the numbers differs (only numbers may move, within the tolerance)"]
    return [
        f"{t} where {s} is stored: more than {tolerance.atol} + {tolerance.rtol} x |{s}| apart"
        for s, t in zip(stored_numbers, test_numbers, strict=True)
        if not tolerance.allows(float(s), float(t))
    ]


def cell_tolerance(cell_source: str) -> Tolerance | None:
    """The tolerance a cell's marker line names (``# NBVAL_TRAINED_OUTPUT [name]``), or None for exact output."""
    for line in cell_source.splitlines():
        words = line.strip().lstrip("#").split()
        if line.lstrip().startswith("#") and words and words[0] == MARKER:
            name = words[1] if len(words) > 1 else "default"
            if name not in TOLERANCES or len(words) > 2:
                raise ValueError(
                    f"{line.strip()!r}: write '# {MARKER}' or '# {MARKER} NAME' with NAME one of {sorted(TOLERANCES)}"
                )
            return TOLERANCES[name]
    return None


def _text_fields(output) -> list[tuple[object, str]]:
    """(container, key) of every text in an nbval output: a stream's text, or a display's text MIME types."""
    if output.get("output_type") == "stream":
        return [(output, "text")]
    data = output.get("data", {})
    return [(data, key) for key, value in data.items() if key.startswith("text/") and isinstance(value, str)]


def accept_close_outputs(
    test: list, stored: list, tolerance: Tolerance, sanitize=str
) -> tuple[list, list[str]]:
    """A copy of ``test`` in which each text that matches its stored twin within ``tolerance`` is the stored text.

    nbval's exact comparison then passes where only numbers moved, and shows its usual diff elsewhere. Also
    returns why the other texts differ. Outputs pair by position and type, as nbval pairs them.
    """
    test = copy.deepcopy(test)
    problems = []
    for new, old in zip(test, stored, strict=False):
        if (new.get("output_type"), new.get("name")) != (old.get("output_type"), old.get("name")):
            continue
        for (new_box, key), (old_box, old_key) in zip(_text_fields(new), _text_fields(old), strict=False):
            if key != old_key:
                continue
            why = differences(sanitize(old_box[key]), sanitize(new_box[key]), tolerance)
            if why:
                problems += why
            else:
                new_box[key] = old_box[key]
    return test, problems


def pytest_configure(config) -> None:
    """Make nbval compare the cells marked ``# NBVAL_TRAINED_OUTPUT`` within their tolerance."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval is a dev extra; without it there are no notebook tests to change
        return
    if getattr(IPyNbCell.compare_outputs, "tolerant", False):
        return
    exact = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        tolerance = cell_tolerance(self.cell.source)
        if tolerance is None:
            return exact(self, test, ref, skip_compare)
        test, problems = accept_close_outputs(test, ref, tolerance, self.sanitize)
        same = exact(self, test, ref, skip_compare)
        if not same and problems:
            self.comparison_traceback += [f"trained output outside {tolerance}:"] + [
                f"  {p}" for p in problems
            ]
        return same

    compare_outputs.tolerant = True
    IPyNbCell.compare_outputs = compare_outputs
