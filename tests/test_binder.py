"""The repository launches on Binder: binder/ follows repo2docker's documented layout (environment.yml + postBuild)
and installs the course the way ``make install`` does, with the Python of environment.yml and pyproject.toml.

repo2docker builds from binder/ when it exists and then ignores the top-level files. binder/environment.yml is
installed before the repository is copied in, so it must not name local files; binder/postBuild runs afterwards,
from the repository root, and does the local install (``-c constraints.txt -e ".[dev]"``).
"""

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from crossmodal_lib.course import REPO_ROOT

BINDER = REPO_ROOT / "binder"
POST_BUILD = BINDER / "postBuild"
# Configuration files repo2docker reads from binder/ (its documentation, "Configuration files").
REPO2DOCKER_FILES = {
    "environment.yml",
    "postBuild",
    "start",
    "apt.txt",
    "runtime.txt",
    "requirements.txt",
    "Project.toml",
    "install.R",
    "DESCRIPTION",
    "setup.py",
    "Pipfile",
    "Pipfile.lock",
    "Dockerfile",
    "default.nix",
    "README.md",
}


def conda_python(path: Path) -> str:
    """The Python version an environment file pins (``python=3.11`` gives ``3.11``)."""
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pins = [d for d in deps if isinstance(d, str) and re.fullmatch(r"python\s*=+\s*[\d.]+", d)]
    assert len(pins) == 1, f"{path}: expected one python=X.Y pin, found {pins}"
    return re.split(r"=+", pins[0])[-1].strip()


def command_args(text: str, command: str, also: str = "") -> list[str]:
    """The arguments after ``command`` (e.g. "-m pip install") on the one line of ``text`` that runs it (and
    holds ``also``)."""
    lines = [
        line
        for line in text.splitlines()
        if command in line and also in line and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1, f"expected one line running {command!r}, found {lines}"
    return shlex.split(lines[0].split(command, 1)[1])


def test_binder_folder_holds_only_repo2docker_files():
    assert BINDER.is_dir(), "binder/ is missing: Binder would build from the top-level environment.yml"
    assert (BINDER / "environment.yml").is_file() and POST_BUILD.is_file()
    unknown = {p.name for p in BINDER.iterdir()} - REPO2DOCKER_FILES
    assert not unknown, f"binder/ holds files repo2docker does not read: {sorted(unknown)}"
    # One environment per build: a Dockerfile or requirements.txt in binder/ would change the build pack.
    assert not {"Dockerfile", "requirements.txt", "Pipfile", "setup.py"} & {p.name for p in BINDER.iterdir()}


def test_post_build_is_an_executable_bash_script():
    mode = POST_BUILD.stat().st_mode
    assert mode & stat.S_IXUSR and os.access(POST_BUILD, os.X_OK), "binder/postBuild is not executable"
    text = POST_BUILD.read_text()
    assert "\r" not in text, "binder/postBuild has Windows line endings; bash would fail"
    assert text.startswith(("#!/bin/bash\n", "#!/usr/bin/env bash\n"))
    assert re.search(r"^set -[a-z]*e", text, re.M), "binder/postBuild must stop at the first failing command"
    subprocess.run(["bash", "-n", str(POST_BUILD)], check=True)  # syntax only


def test_post_build_installs_the_course_as_make_install_does():
    text = POST_BUILD.read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert 'cd "$(dirname "$0")/.."' in text, "binder/postBuild must run pip from the repository root"
    quiet = {"--quiet", "-q", "--no-cache-dir"}
    pip = [a for a in command_args(text, "-m pip install") if a not in quiet]
    make_pip = [a for a in command_args(makefile, "-m pip install", '".[dev]"') if a not in quiet]
    assert pip == make_pip == ["-c", "constraints.txt", "-e", ".[dev]"]
    kernel = command_args(text, "-m ipykernel install")
    assert kernel == [a for a in command_args(makefile, "-m ipykernel install") if a != ">/dev/null"]


def test_binder_environment_names_no_local_files():
    """repo2docker installs binder/environment.yml before it copies the repository: no -e ., -c or -r there."""
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "pip" in deps
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    local = [
        line for lines in pip_sections for line in lines if line.startswith(("-e", "-c", "-r", ".", "--"))
    ]
    assert not local, f"binder/environment.yml names local files {local}; install them in binder/postBuild"


def test_binder_python_matches_the_course():
    binder = conda_python(BINDER / "environment.yml")
    assert binder == conda_python(REPO_ROOT / "environment.yml")
    requires = re.search(r'^requires-python = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M)[1]
    assert Version(binder) in SpecifierSet(requires), f"Python {binder} outside requires-python {requires}"
    # The constraints were frozen on one Python: Binder must use that one, or pins may not resolve.
    frozen = re.search(r"Python (\d+\.\d+)", (REPO_ROOT / "constraints.txt").read_text().splitlines()[0])
    if frozen:
        assert binder == frozen.group(1), (
            f"constraints.txt was frozen on Python {frozen.group(1)}, not {binder}"
        )
