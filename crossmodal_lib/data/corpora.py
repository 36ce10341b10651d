"""Real text corpora and where the optional real data lives (chapters 03 and 06).

The course runs on its synthetic cohort alone. Beside the repository, developers and CI may keep small real
public datasets in ``../shared/data/real`` (never committed to the course); :func:`real_data_dir` is the one place
that finds them (override with the environment variable ``CROSSMODAL_REAL_DATA``).

:func:`read_corpus` reads any external text corpus (one document per line, or one CSV column) as a list of
documents, and :func:`load_iu_xray_reports` the Indiana University chest X-ray reports (OpenI), so that Word2Vec
can be trained on real radiology language with the course's own pipeline::

    from crossmodal_lib.preprocess import tokenize_all
    from crossmodal_lib.features import train_word2vec
    kv = train_word2vec(tokenize_all(load_iu_xray_reports()))

This module reads files only (``data`` imports nothing else of the library).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

REAL_DATA_ENV = "CROSSMODAL_REAL_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]  # the same folder as crossmodal_lib.course.REPO_ROOT
IU_XRAY_REPORTS = Path("iu_xray") / "indiana_reports.csv"
PNEUMONIAMNIST = Path("medmnist") / "pneumoniamnist_28.npz"


def default_real_data_dir() -> Path:
    """Where the real data is looked for: ``$CROSSMODAL_REAL_DATA``, else ``<repo>/../shared/data/real``."""
    env = os.environ.get(REAL_DATA_ENV, "").strip()
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "real"


def real_data_dir() -> Path | None:
    """The real-data folder if it exists, else None (a learner's clone has none). Chapter 06."""
    folder = default_real_data_dir()
    return folder if folder.is_dir() else None


def real_data_path(relative: str | os.PathLike) -> Path:
    """The path of one real-data file; FileNotFoundError (naming where it looked) when it is absent. Chapter 06."""
    path = default_real_data_dir() / relative
    if not path.exists():
        raise FileNotFoundError(
            f"real-data file {path} not found: the real datasets live beside the repository in ../shared/data/real "
            f"(or set {REAL_DATA_ENV}); the course itself does not need them"
        )
    return path


def read_corpus(
    path: str | os.PathLike,
    column: str | Sequence[str] | None = None,
    sep: str = ". ",
) -> list[str]:
    """An external text corpus as a list of documents (chapter 03).

    * ``column=None``: a plain text file, one document per non-empty line;
    * ``column="findings"`` (or several columns): a CSV file; the named columns of each row are joined with
      ``sep`` (empty or missing cells are skipped) and rows with no text at all are dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} does not exist")
    if column is None:
        with open(path, encoding="utf-8", errors="replace") as fh:
            docs = [line.strip() for line in fh if line.strip()]
    else:
        columns = [column] if isinstance(column, str) else list(column)
        if not columns:
            raise ValueError(f"read_corpus({path.name}): column list is empty")
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=True)
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a readable CSV file: {err}") from err
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"{path} has no column(s) {missing}; it has {list(df.columns)}")
        docs = []
        for row in df[columns].itertuples(index=False):
            parts = [str(v).strip() for v in row if isinstance(v, str) and str(v).strip()]
            if parts:
                docs.append(_join(parts, sep))
    if not docs:
        raise ValueError(f"corpus {path} holds no text")
    return docs


def _join(parts: list[str], sep: str) -> str:
    """Join sentences without doubling a full stop ("Clear lungs." + "No effusion" -> "Clear lungs. No effusion")."""
    out = parts[0]
    for part in parts[1:]:
        out = (out + " " + part) if out.endswith((".", "!", "?", ";")) else (out + sep + part)
    return out


def load_iu_xray_reports(path: str | os.PathLike | None = None) -> list[str]:
    """The IU X-ray reports (findings + impression, 3,851 rows; ~3,800 with text) as a list of texts. Chapter 03.

    ``path`` defaults to ``iu_xray/indiana_reports.csv`` under :func:`real_data_dir`. De-identified words appear
    as ``XXXX`` in the source; they are kept (the tokenizer makes them the token ``xxxx``).
    """
    path = real_data_path(IU_XRAY_REPORTS) if path is None else Path(path)
    return read_corpus(path, column=["findings", "impression"])
