"""The learner edition of the course: the notebooks without their solutions (README, "For instructors").

    python -m crossmodal_lib.learner --out learner        # or: make learner

Each exercise in a chapter is a markdown cell ("**Exercise N (...)**"), a code cell for the learner
(``# Your code here.``) and the solution: a code cell tagged ``solution``, collapsed by default. The learner edition
is a copy of every ``NN_*.ipynb`` with the solution cells removed and the learner cells' outputs and execution counts
cleared; every other cell keeps its source and stored outputs, since learners read a chapter before they run it.
Where an exercise has no learner cell, an empty ``# Your code here.`` cell takes the solution's place.
Nothing but the notebooks is copied, and nothing is written into the course's own notebooks folder.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from crossmodal_lib.course import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
SOLUTION_TAG = "solution"
EXERCISE_PATTERN = re.compile(r"\*\*Exercise\s+\d+")
LEARNER_PLACEHOLDER = "# Your code here."


def is_solution(cell: dict) -> bool:
    """True for a hidden solution cell (a code cell tagged ``solution``)."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def is_exercise(cell: dict) -> bool:
    """True for an exercise's markdown cell (it holds a bold "**Exercise N" heading)."""
    return cell.get("cell_type") == "markdown" and bool(EXERCISE_PATTERN.search(cell.get("source", "")))


# The course's sentence about the hidden solutions, and what the learner edition says instead.
SOLUTIONS_SENTENCE = "Solutions are hidden below each exercise (click the cell to show it); each solution checks its own result."
LEARNER_SENTENCE = (
    "This is the learner edition: the solutions are in the course's own notebooks (`notebooks/`)."
)


def learner_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[str, int]]:
    """The learner copy of one notebook and its counts: ``solutions_removed``, ``cells_cleared``, ``cells_added``."""
    out = copy.deepcopy(nb)  # the source notebook stays as it was read
    cells: list = []
    counts = {"solutions_removed": 0, "cells_cleared": 0, "cells_added": 0}
    # Learner cells: the code cells after an exercise's markdown cell, up to its solution or the next markdown
    # cell (a clean-up cell after the last solution is course code, not the learner's).
    in_exercise = learner_cell_seen = False
    for cell in out.cells:
        if is_solution(cell):
            counts["solutions_removed"] += 1
            if in_exercise and not learner_cell_seen:
                cells.append(_placeholder(cell))
                counts["cells_added"] += 1
            in_exercise = False
            continue
        if cell.cell_type == "markdown":
            in_exercise, learner_cell_seen = is_exercise(cell), False
            cell.source = cell.source.replace(SOLUTIONS_SENTENCE, LEARNER_SENTENCE)
        elif cell.cell_type == "code" and in_exercise:
            cell.outputs, cell.execution_count = [], None
            counts["cells_cleared"] += 1
            learner_cell_seen = True
        cells.append(cell)
    out.cells = cells
    return out, counts


def _placeholder(solution: dict) -> nbformat.NotebookNode:
    """An empty learner cell, with an id derived from the solution's so that the output is reproducible."""
    cell = nbformat.v4.new_code_cell(LEARNER_PLACEHOLDER)
    if "id" in solution:
        cell.id = f"{solution['id']}-learner"[:64]
    else:
        del cell["id"]  # notebooks older than nbformat 4.5 have no cell ids
    return cell


def write_learner_edition(src_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> dict:
    """Write the learner edition of every ``NN_*.ipynb`` in ``src_dir`` into ``out_dir`` (README, "For instructors").

    Refuses to write into ``src_dir`` itself, and into a non-empty ``out_dir`` unless ``overwrite`` is set (then
    only the notebooks of the same names are replaced; other files in ``out_dir`` stay). Returns a report:
    ``notebooks`` (paths written), ``overwritten`` (those that replaced a file), and per notebook name
    ``solutions_removed``, ``exercise_cells_cleared`` and ``learner_cells_added``.
    """
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"source notebooks folder {src} does not exist or is not a folder")
    sources = sorted(src.glob(NOTEBOOK_GLOB))
    if not sources:
        raise FileNotFoundError(f"source notebooks folder {src} holds no {NOTEBOOK_GLOB} notebooks")
    if out.resolve() == src.resolve():
        raise ValueError(
            f"output folder {out} is the source notebooks folder: the learner edition would delete the solutions;"
            " choose another folder"
        )
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output folder {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output folder {out} is not empty; pass overwrite=True (--overwrite) to replace its notebooks,"
            " or choose an empty folder"
        )
    # Build every notebook first: a notebook that fails to read or validate writes nothing.
    editions = []
    for path in sources:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:  # not JSON, not a notebook: name the file
            raise ValueError(f"{path} cannot be read as a notebook: {error}") from error
        edition, counts = learner_notebook(nb)
        nbformat.validate(edition)
        editions.append((path.name, edition, counts))
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "notebooks": [],
        "overwritten": [],
        "solutions_removed": {},
        "exercise_cells_cleared": {},
        "learner_cells_added": {},
    }
    for name, edition, counts in editions:
        target = out / name
        if target.exists():
            report["overwritten"].append(str(target))
        nbformat.write(edition, target)
        report["notebooks"].append(str(target))
        report["solutions_removed"][name] = counts["solutions_removed"]
        report["exercise_cells_cleared"][name] = counts["cells_cleared"]
        report["learner_cells_added"][name] = counts["cells_added"]
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m crossmodal_lib.learner --out DIR [--overwrite] [--src DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m crossmodal_lib.learner",
        description="Write the learner edition of the course: the notebooks without their solution cells.",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write the notebooks into")
    parser.add_argument(
        "--src", type=Path, default=NOTEBOOKS_DIR, help=f"course notebooks folder (default: {NOTEBOOKS_DIR})"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace notebooks of the same names in a non-empty --out"
    )
    args = parser.parse_args(argv)
    try:
        report = write_learner_edition(args.src, args.out, overwrite=args.overwrite)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in report["overwritten"]:
        print(f"replaced {path}")
    removed = sum(report["solutions_removed"].values())
    cleared = sum(report["exercise_cells_cleared"].values())
    added = sum(report["learner_cells_added"].values())
    print(
        f"wrote {len(report['notebooks'])} learner notebooks to {args.out}: {removed} solutions removed,"
        f" {cleared} exercise cells cleared, {added} empty exercise cells added"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
