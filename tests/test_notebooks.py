"""Structure of every chapter: executed top to bottom, outputs stored, conventions kept, no copied library code.

nbval (run by `make test`) compares each notebook's outputs; these checks make sure there is something to compare
and that the notebook follows the course's conventions (../shared/COURSE_DESIGN.md, "Notebook conventions").
"""

import ast
import base64
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import crossmodal_lib
from crossmodal_lib import course
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


# Figures (crossmodal_lib/course.py, "Figure convention"). The notebooks are committed with their outputs and read
# on GitHub, so they must stay light: a learner clones all of them, a classroom of 30 clones them at once, and
# GitHub's notebook viewer slows down and then gives up on large files. Chapter 10, with the most figures, is about
# 0.95 MB and the course about 3.4 MB (2026-12): the limits below leave a half of that as margin, enough for a few
# more figures, not for a chapter of unreadable thumbnails or a figure saved at twice the dpi.
MAX_NOTEBOOK_BYTES = 1_500_000
MAX_COURSE_BYTES = 5_000_000
MAX_FIGURE_BYTES = 250_000  # one PNG; the largest, chapter 10's twelve heat maps, is about 150 KB
# Widest stored figure: MAX_FIGURE_INCHES at FIGURE_DPI, plus the few pixels "bbox_inches=tight" may add.
MAX_FIGURE_PX = course.MAX_FIGURE_INCHES * course.FIGURE_DPI + 20


def figures(nb):
    """(code cell number, output) for every stored matplotlib figure."""
    for i, c in enumerate((c for c in cells(nb, "code") if source(c).strip()), 1):
        for out in c["outputs"]:
            if "".join(out.get("data", {}).get("text/plain", "")).startswith("<Figure size"):
                yield i, out


def test_the_course_stays_light():
    total = sum(p.stat().st_size for p in NOTEBOOKS)
    assert total < MAX_COURSE_BYTES, f"the notebooks hold {total / 1e6:.1f} MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stays_light_and_its_figures_fit_the_page(path):
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{size / 1e6:.2f} MB: show fewer, legible figures (course.py)"
    for i, out in figures(json.loads(path.read_text())):
        data = out["data"]
        assert set(data) == {"image/png", "text/plain"}, f"code cell {i}: figures are stored as PNG only"
        assert not out.get("metadata", {}).get("image/png"), f"code cell {i}: a retina or resized figure"
        png = base64.b64decode(data["image/png"])
        width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR chunk: width, then height
        assert width <= MAX_FIGURE_PX, (
            f"code cell {i}: a figure {width} px wide, wider than the notebook column"
        )
        assert len(png) < MAX_FIGURE_BYTES, f"code cell {i}: a {len(png) // 1000} KB figure"


def grey_imshow_calls(text: str) -> list[int]:
    """Lines of ``imshow`` calls that draw a grey image (a film) themselves: grey colour map or none given."""
    lines = []
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "imshow"
        ):
            cmap = next((k.value for k in node.keywords if k.arg == "cmap"), None)
            if cmap is None or (
                isinstance(cmap, ast.Constant) and str(cmap.value).startswith(("gray", "grey"))
            ):
                lines.append(node.lineno)
    return lines


def test_grey_imshow_calls_are_found():
    assert grey_imshow_calls('ax.imshow(x, cmap="gray")\nplt.imshow(x)\nax.imshow(k, cmap="RdBu_r")') == [
        1,
        2,
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_films_are_shown_the_course_way(path):
    """A film goes through course.show_films / draw_film (or explain.plot_heatmap), never a cell's own imshow:
    one piece of code keeps every film large, crisp and with its findings marked."""
    nb = json.loads(path.read_text())
    for i, c in enumerate((c for c in cells(nb, "code") if source(c).strip()), 1):
        text = "\n".join(line for line in source(c).splitlines() if not line.lstrip().startswith(("%", "!")))
        assert not grey_imshow_calls(text), f"code cell {i} draws a film with its own imshow: use show_films"
