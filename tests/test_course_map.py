"""The course map's minutes are each chapter's own: README, chapter 00's map and the chapter headers agree.

A learner plans with the README or chapter 00, an instructor with instructors.md; all of them quote the learner
minutes that each chapter states in its header ("**Time.** About N minutes ...").
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def header_minutes(path: Path) -> int:
    """The minutes a chapter's header states."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"][:3] if c["cell_type"] == "markdown")
    found = re.findall(r"\*\*Time[.:]\*\*\s+about (\d+) minutes", markdown, flags=re.IGNORECASE)
    assert len(found) == 1, (
        f"{path.name}: the header states its learner minutes once ('**Time.** About N minutes')"
    )
    return int(found[0])


def map_minutes(text: str) -> dict[str, int]:
    """Chapter number -> minutes in a course-map table (the last column of each row)."""
    rows = re.findall(r"^\| (\d\d) \|.*\| (\d+) \|$", text, flags=re.MULTILINE)
    return {number: int(minutes) for number, minutes in rows}


def test_readme_course_map_lists_every_chapter_with_its_own_minutes():
    readme = map_minutes((ROOT / "README.md").read_text(encoding="utf-8"))
    assert list(readme) == [p.name[:2] for p in NOTEBOOKS], "every chapter once, in order"
    for path in NOTEBOOKS:
        assert readme[path.name[:2]] == header_minutes(path), f"README's minutes for {path.name}"


def test_chapter_00_course_map_matches_the_readme():
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    readme = map_minutes((ROOT / "README.md").read_text(encoding="utf-8"))
    assert map_minutes(text) == readme
