"""The learner edition (crossmodal_lib.learner): the real notebooks without their solutions, nothing else changed."""

import ast
import copy as copy_module
import shutil

import nbformat
import pytest

from crossmodal_lib.learner import (
    LEARNER_SENTENCE,
    NOTEBOOK_GLOB,
    NOTEBOOKS_DIR,
    SOLUTIONS_SENTENCE,
    is_exercise,
    is_solution,
    main,
    write_learner_edition,
)

SOURCES = sorted(NOTEBOOKS_DIR.glob(NOTEBOOK_GLOB))


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """The learner edition of the course's notebooks: (report, {name: (source, learner notebook)}, folder)."""
    out = tmp_path_factory.mktemp("learner")
    report = write_learner_edition(NOTEBOOKS_DIR, out)
    pairs = {
        path.name: (nbformat.read(path, as_version=4), nbformat.read(out / path.name, as_version=4))
        for path in SOURCES
    }
    return report, pairs, out


def learner_cell_ids(nb) -> set[str]:
    """Ids of the code cells between an exercise's markdown cell and its solution (or the next markdown cell)."""
    ids, in_exercise = set(), False
    for cell in nb.cells:
        if is_solution(cell):
            in_exercise = False
        elif cell.cell_type == "markdown":
            in_exercise = is_exercise(cell)
        elif cell.cell_type == "code" and in_exercise:
            ids.add(cell.id)
    return ids


def solution_body(cell) -> str:
    """A solution's code without its marker lines (``# NBVAL_TRAINED_OUTPUT``)."""
    return "\n".join(line for line in cell.source.splitlines() if not line.startswith("# NBVAL_")).strip()


def test_the_course_has_notebooks_with_solutions():
    assert len(SOURCES) >= 10
    assert all(any(is_solution(c) for c in nbformat.read(p, as_version=4).cells) for p in SOURCES)


def test_every_notebook_and_nothing_else_is_written(edition):
    report, pairs, out = edition
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in SOURCES]  # no conftest.py, sanitize.cfg
    assert sorted(report["notebooks"]) == sorted(str(out / p.name) for p in SOURCES)
    assert report["overwritten"] == []


@pytest.mark.parametrize("name", [p.name for p in SOURCES])
def test_no_solution_survives(edition, name):
    report, pairs, _ = edition
    source, learner = pairs[name]
    solutions = [c for c in source.cells if is_solution(c)]
    assert not [c for c in learner.cells if is_solution(c)]
    assert not {c.id for c in solutions} & {c.id for c in learner.cells}
    assert report["solutions_removed"][name] == len(solutions)
    text = "\n".join(c.source for c in learner.cells)
    for cell in solutions:
        body = solution_body(cell)
        assert body and body not in text, f"{name}: the solution {cell.id} is still in the learner notebook"


@pytest.mark.parametrize("name", [p.name for p in SOURCES])
def test_every_exercise_is_followed_by_an_empty_learner_cell(edition, name):
    report, pairs, _ = edition
    source, learner = pairs[name]
    exercises = [c.id for c in source.cells if is_exercise(c)]
    assert [c.id for c in learner.cells if is_exercise(c)] == exercises
    for i, cell in enumerate(learner.cells):
        if is_exercise(cell):
            assert i + 1 < len(learner.cells), f"{name}: exercise {cell.id} is the last cell"
            nxt = learner.cells[i + 1]
            assert nxt.cell_type == "code", f"{name}: exercise {cell.id} has no code cell after it"
            assert nxt.outputs == [] and nxt.execution_count is None, f"{name}: cell {nxt.id} keeps outputs"


@pytest.mark.parametrize("name", [p.name for p in SOURCES])
def test_other_cells_are_unchanged(edition, name):
    report, pairs, _ = edition
    source, learner = pairs[name]
    kept = [c for c in source.cells if not is_solution(c)]
    kept_ids = [c.id for c in kept]
    learner_ids = learner_cell_ids(source)
    added = [c for c in learner.cells if c.id not in set(kept_ids)]
    assert len(added) == report["learner_cells_added"][name]
    assert all(c.source == "# Your code here." and c.outputs == [] for c in added)
    assert [c.id for c in learner.cells if c.id in set(kept_ids)] == kept_ids  # same cells, same order
    by_id = {c.id: c for c in learner.cells}
    for cell in kept:
        copy = by_id[cell.id]
        if cell.id in learner_ids:
            assert (copy.source, copy.metadata) == (cell.source, cell.metadata)
            assert copy.outputs == [] and copy.execution_count is None
        else:
            expected = copy_module.deepcopy(cell)
            if expected.cell_type == "markdown":  # the one sentence the edition rewrites
                expected.source = expected.source.replace(SOLUTIONS_SENTENCE, LEARNER_SENTENCE)
            assert copy == expected, f"{name}: cell {cell.id} differs from the course's"
    assert report["exercise_cells_cleared"][name] == len(learner_ids)
    assert learner.metadata == source.metadata


@pytest.mark.parametrize("name", [p.name for p in SOURCES])
def test_the_copy_is_a_valid_notebook(edition, name):
    nbformat.validate(edition[1][name][1])


@pytest.mark.parametrize("name", [p.name for p in SOURCES])
def test_no_cell_needs_a_name_only_a_solution_defines(edition, name):
    """Run All still works in the learner edition: no later course cell reads a variable a solution made."""
    source = edition[1][name][0]
    from_solutions: set[str] = set()
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        stored, loaded = set(), set()
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Name):
                (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                stored.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                stored |= {(a.asname or a.name).split(".")[0] for a in node.names}
        if is_solution(cell):
            from_solutions |= stored
        else:
            assert not (loaded & from_solutions) - stored, f"{name}: cell {cell.id} uses a solution's names"
            from_solutions -= stored


def test_refuses_the_source_folder(tmp_path):
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="source notebooks folder"):
            write_learner_edition(NOTEBOOKS_DIR, NOTEBOOKS_DIR, overwrite=overwrite)
        with pytest.raises(ValueError, match="source notebooks folder"):
            write_learner_edition(NOTEBOOKS_DIR, NOTEBOOKS_DIR / ".." / "notebooks", overwrite=overwrite)


def test_refuses_a_non_empty_folder_and_overwrite_keeps_other_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SOURCES[0], src)
    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("mine")
    (out / SOURCES[0].name).write_text("{}")
    with pytest.raises(FileExistsError, match="not empty"):
        write_learner_edition(src, out)
    assert (out / SOURCES[0].name).read_text() == "{}"
    report = write_learner_edition(src, out, overwrite=True)
    assert report["overwritten"] == [str(out / SOURCES[0].name)]
    assert (out / "my_notes.txt").read_text() == "mine"
    nbformat.validate(nbformat.read(out / SOURCES[0].name, as_version=4))


def test_refuses_a_folder_without_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no"):
        write_learner_edition(tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_learner_edition(tmp_path / "missing", tmp_path / "out")


def test_command_line(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SOURCES[0], src)
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "wrote 1 learner notebooks" in capsys.readouterr().out
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["--src", str(src), "--out", str(tmp_path / "out"), "--overwrite"]) == 0
    assert main(["--src", str(src), "--out", str(src), "--overwrite"]) == 1


def test_the_learner_edition_does_not_promise_hidden_solutions(tmp_path):
    from crossmodal_lib.learner import NOTEBOOKS_DIR

    source = "".join(p.read_text(encoding="utf-8") for p in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")))
    assert SOLUTIONS_SENTENCE in source  # the sentence the edition replaces is still the course's
    write_learner_edition(NOTEBOOKS_DIR, tmp_path / "learner")
    written = "".join(p.read_text(encoding="utf-8") for p in sorted((tmp_path / "learner").glob("*.ipynb")))
    assert SOLUTIONS_SENTENCE not in written and LEARNER_SENTENCE in written
