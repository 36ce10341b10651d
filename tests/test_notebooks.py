"""Structure of every chapter: executed top to bottom, outputs stored, conventions kept, no copied library code.

nbval (run by `make test`) compares each notebook's outputs; these checks make sure there is something to compare
and that the notebook follows the course's conventions (../shared/COURSE_DESIGN.md, "Notebook conventions").
"""

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import crossmodal_lib
from crossmodal_lib.testing import MARKER, cell_tolerance

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def library_function_names() -> set[str]:
    names = set()
    for mod in pkgutil.walk_packages(crossmodal_lib.__path__, "crossmodal_lib."):
        if mod.name.endswith("__main__"):
            continue
        source = Path(importlib.util.find_spec(mod.name).origin).read_text()
        names |= {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    return {n for n in names if not n.startswith("_")}


def cells(nb, kind):
    return [c for c in nb["cells"] if c["cell_type"] == kind]


def source(cell) -> str:
    return "".join(cell["source"])


def test_there_are_chapters():
    assert [p.name[:2] for p in NOTEBOOKS][:1] == ["00"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_and_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in cells(nb, "code") if source(c).strip()]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), "run it top to bottom once"
    assert any(c["outputs"] for c in code), "no stored outputs: nbval would compare nothing"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for i, c in enumerate(code, 1):
        for out in c["outputs"]:
            assert out["output_type"] != "error", f"code cell {i} stores an error"
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"/work/|/home/\w+/|/root/|/tmp/ipykernel|━", text), (
                f"cell {i}: machine path"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_chapter_conventions(path):
    nb = json.loads(path.read_text())
    markdown = "\n".join(source(c) for c in cells(nb, "markdown")).lower()
    first_code = source(next(c for c in cells(nb, "code") if source(c).strip()))
    assert "setup()" in first_code, "the first code cell runs the course setup"
    assert "synthetic" in markdown
    assert "minutes" in markdown and "prerequisite" in markdown
    assert "key points" in markdown
    solutions = [c for c in cells(nb, "code") if "solution" in c["metadata"].get("tags", [])]
    assert len(solutions) >= 3, "at least three exercises with solutions"
    assert all(c["metadata"].get("jupyter", {}).get("source_hidden") for c in solutions), "solutions hidden"
    assert all("assert" in source(c) for c in solutions), "each solution checks its own result"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_does_not_copy_library_code(path):
    """One piece of code per idea: a notebook never redefines a function or class the library holds."""
    nb = json.loads(path.read_text())
    library = library_function_names()
    defined = set()
    for c in cells(nb, "code"):
        text = "\n".join(line for line in source(c).splitlines() if not line.lstrip().startswith(("%", "!")))
        defined |= {
            n.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef | ast.ClassDef)
        }
    assert defined & library == set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_trained_output_markers_are_valid(path):
    """Each `# NBVAL_TRAINED_OUTPUT [name]` names a known tolerance and marks a cell that has output to compare."""
    nb = json.loads(path.read_text())
    for i, c in enumerate((c for c in cells(nb, "code") if source(c).strip()), 1):
        if MARKER in source(c):
            assert cell_tolerance(source(c)) is not None, f"code cell {i}: the marker must be a comment line"
            assert c["outputs"], f"code cell {i} is marked as trained output but prints nothing"
