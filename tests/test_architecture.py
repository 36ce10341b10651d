"""The library's imports point forward only, along the course's spine (COURSE_DESIGN.md, "Layout")."""

import ast
from pathlib import Path

import pytest

import crossmodal_lib

SPINE = [
    "data",
    "preprocess",
    "features",
    "fusion",
    "evaluate",
    "explain",
    "signal_text",
    "quality",
    "privacy",
    "pipeline",
    "federated",
    "distributed",
]
ROOT = Path(crossmodal_lib.__file__).parent


def step_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "crossmodal_lib" and parts[1] in SPINE else None


@pytest.mark.parametrize("step", SPINE)
def test_a_step_imports_only_earlier_steps(step):
    files = sorted((ROOT / step).rglob("*.py")) if (ROOT / step).is_dir() else [ROOT / f"{step}.py"]
    allowed = set(SPINE[: SPINE.index(step) + 1])
    if step == "evaluate":
        allowed.discard("fusion")  # evaluation scores predictions; it never needs a fusion model's internals
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                target = step_of(name)
                assert target is None or target in allowed, f"{file.name} imports {name} (a later step)"
