"""Load PTB-XL 12-lead ECGs, their reports and diagnostic superclasses (chapter 07: ECG + report text).

PTB-XL (Wagner et al., Scientific Data 7:154, 2020; CC BY 4.0; PhysioNet, doi:10.13026/x4td-x982) is a folder::

    ptbxl_database.csv    one row per ECG: ecg_id, patient_id, age, sex, report, scp_codes, strat_fold, ...
    scp_statements.csv    one row per SCP code: diagnostic flag, diagnostic_class (NORM/MI/STTC/CD/HYP), ...
    records100/...        WFDB records at 100 Hz (``filename_lr``), records500/... at 500 Hz (``filename_hr``)

:func:`load_ptbxl` reads the table (``scp_codes`` parsed with ``ast.literal_eval``, never ``eval`` or pickle),
:func:`read_ptbxl_signals` the signals in millivolts, :func:`superclass_matrix` the 5 labels as a multi-hot matrix
and :func:`official_split` the recommended train/val/test split. The signals are read with ``wfdb``, imported only
where needed. This module reads files only (``data`` imports nothing else of the library).
"""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
PTBXL_LEADS: tuple[str, ...] = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
# The first 500 records at 100 Hz, under crossmodal_lib.data.corpora.real_data_dir() (tests and `make bench`).
PTBXL_SUBSET = Path("ptbxl_subset")
DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"
FILENAME_COLUMNS = {100: "filename_lr", 500: "filename_hr"}
REQUIRED_COLUMNS = ("patient_id", "scp_codes", "strat_fold")
TRAIN_FOLDS, VAL_FOLD, TEST_FOLD = tuple(range(1, 9)), 9, 10


def load_ptbxl(folder: str | os.PathLike, sampling_rate: int = 100) -> pd.DataFrame:
    """The PTB-XL table, indexed by ``ecg_id``, ready for labels and signals. Chapter 07.

    Added to the columns of ``ptbxl_database.csv``:

    * ``scp_codes`` parsed into a dict ``{code: likelihood}`` (anything else raises ValueError naming the ecg_id);
    * ``superclasses``: the sorted tuple of diagnostic superclasses (the PTB-XL recipe: each code whose
      ``scp_statements.diagnostic`` is 1, mapped to its ``diagnostic_class``, whatever its likelihood; codes
      that are not diagnostic or not in ``scp_statements.csv`` add nothing, so a record may have none);
    * ``record_path``: the absolute WFDB record path (no extension) at ``sampling_rate`` (100 Hz ->
      ``filename_lr``, 500 Hz -> ``filename_hr``). The files are checked when :func:`read_ptbxl_signals` reads them.
    """
    if sampling_rate not in FILENAME_COLUMNS:
        raise ValueError(
            f"sampling_rate {sampling_rate!r} is not available in PTB-XL; use one of {list(FILENAME_COLUMNS)}"
        )
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"PTB-XL folder {folder} does not exist")
    database = _read_csv(folder, DATABASE_CSV, index_col="ecg_id")
    statements = _read_csv(folder, STATEMENTS_CSV, index_col=0)
    path = folder / DATABASE_CSV
    filename_column = FILENAME_COLUMNS[sampling_rate]
    missing = [c for c in (*REQUIRED_COLUMNS, filename_column) if c not in database.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; it has ecg_id and {list(database.columns)}")
    if database.empty:
        raise ValueError(f"{path} has a header but no rows")
    duplicated = database.index[database.index.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{path}: ecg_id {_plain(duplicated[0])!r} appears more than once (ecg_ids must be unique)"
        )
    for col in ("diagnostic", "diagnostic_class"):
        if col not in statements.columns:
            raise ValueError(
                f"{folder / STATEMENTS_CSV} lacks the column {col!r}; it has {list(statements.columns)}"
            )
    diagnostic = statements.loc[
        pd.to_numeric(statements["diagnostic"], errors="coerce") == 1, "diagnostic_class"
    ]
    unknown = diagnostic[~diagnostic.isin(SUPERCLASSES)]
    if len(unknown):
        raise ValueError(
            f"{folder / STATEMENTS_CSV}: diagnostic code {unknown.index[0]!r} has diagnostic_class "
            f"{unknown.iloc[0]!r}, not one of {SUPERCLASSES}"
        )
    to_class = diagnostic.to_dict()

    df = database.copy()
    df["scp_codes"] = [_parse_scp_codes(text, ecg_id) for ecg_id, text in df["scp_codes"].items()]
    df["superclasses"] = [
        tuple(sorted({to_class[c] for c in codes if c in to_class})) for codes in df["scp_codes"]
    ]
    filenames = df[filename_column]
    blank = filenames.index[filenames.isna() | (filenames.astype(str).str.strip() == "")]
    if len(blank):
        raise ValueError(
            f"{path}: ecg_id {_plain(blank[0])!r} has no {filename_column} ({len(blank)} row(s) like this)"
        )
    df["record_path"] = [str((folder / name.strip()).resolve()) for name in filenames.astype(str)]
    df.attrs["sampling_rate"] = sampling_rate
    return df


def _read_csv(folder: Path, name: str, index_col: str | int) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} is missing from the PTB-XL folder {folder}: it needs {DATABASE_CSV} and {STATEMENTS_CSV} "
            "(download PTB-XL from PhysioNet)"
        )
    try:
        return pd.read_csv(path, index_col=index_col)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path} is not a readable CSV file (with an {index_col!r} column): {err}") from err


def _parse_scp_codes(text: object, ecg_id: object) -> dict[str, float]:
    """One ``scp_codes`` cell, e.g. ``"{'NORM': 100.0, 'SR': 0.0}"``, as a dict; literals only, never code."""
    where = f"{DATABASE_CSV}: ecg_id {_plain(ecg_id)!r}: scp_codes"
    if not isinstance(text, str):
        raise ValueError(f"{where} is empty; expected a dict literal like {{'NORM': 100.0}}")
    try:
        codes = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
        raise ValueError(
            f"{where} {text[:80]!r} is not a Python dict literal ({type(err).__name__})"
        ) from err
    if not isinstance(codes, dict):
        raise ValueError(
            f"{where} {text[:80]!r} is a {type(codes).__name__}, not a dict of code -> likelihood"
        )
    for code, value in codes.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not isinstance(code, str) or not number or not math.isfinite(value):
            raise ValueError(f"{where} has the entry {code!r}: {value!r}; expected str -> finite number")
    return {code: float(value) for code, value in codes.items()}


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value, so messages read ``ecg_id 2``, not ``ecg_id np.int64(2)``."""
    return value.item() if isinstance(value, np.generic) else value


def superclass_matrix(df: pd.DataFrame) -> np.ndarray:
    """The ``superclasses`` column as an ``(n, 5)`` uint8 multi-hot matrix, columns in SUPERCLASSES order. Chapter 07."""
    if "superclasses" not in df.columns:
        raise ValueError("superclass_matrix needs the 'superclasses' column that load_ptbxl adds")
    out = np.zeros((len(df), len(SUPERCLASSES)), dtype=np.uint8)
    column = {name: j for j, name in enumerate(SUPERCLASSES)}
    for i, (ecg_id, classes) in enumerate(df["superclasses"].items()):
        for name in classes:
            if name not in column:
                raise ValueError(
                    f"ecg_id {_plain(ecg_id)!r}: superclass {name!r} is not one of {SUPERCLASSES}"
                )
            out[i, column[name]] = 1
    return out


def read_ptbxl_signals(df: pd.DataFrame, leads: list[str] | tuple[str, ...] | None = None) -> np.ndarray:
    """The ECGs of ``df``'s rows as float32 ``(n, n_samples, n_leads)`` in millivolts, read with wfdb. Chapter 07.

    ``leads`` picks leads by name (case-insensitive, e.g. ``["II"]`` or ``["aVR"]``); ``None`` keeps all of
    them in the records' order (PTBXL_LEADS in PTB-XL), which must then be the same for every record. Every
    record must have the same sampling rate (the one ``load_ptbxl`` was asked for) and length; a missing or
    corrupt file, an unknown lead or a difference raises an error naming the ecg_id. Invalid samples are NaN.
    """
    import wfdb

    if "record_path" not in df.columns:
        raise ValueError("read_ptbxl_signals needs the 'record_path' column that load_ptbxl adds")
    if len(df) == 0:
        raise ValueError("read_ptbxl_signals got no rows")
    if isinstance(leads, str):
        leads = [leads]
    expected_fs = df.attrs.get("sampling_rate")
    out: np.ndarray | None = None
    first: dict = {}
    first_id: object = None
    for i, (ecg_id, path) in enumerate(df["record_path"].items()):
        where = f"ecg_id {_plain(ecg_id)!r} ({path})"
        try:
            signal, fields = wfdb.rdsamp(str(path))
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{where}: record file missing: {err}") from err
        except Exception as err:  # wfdb raises many types for a corrupt header or .dat
            raise ValueError(
                f"{where}: record is unreadable or corrupt ({type(err).__name__}: {err})"
            ) from err
        names = [str(n) for n in fields["sig_name"]]
        if leads is None:
            picked = list(range(len(names)))
        else:
            upper = [n.upper() for n in names]
            unknown = [lead for lead in leads if str(lead).upper() not in upper]
            if unknown or not leads:
                raise ValueError(
                    f"{where}: unknown lead(s) {unknown if leads else '[] (none asked)'}; it has {names}"
                )
            picked = [upper.index(str(lead).upper()) for lead in leads]
        units = {str(fields["units"][j]) for j in picked}
        if {u.lower() for u in units} != {"mv"}:
            raise ValueError(f"{where}: signal units are {sorted(units)}, expected mV")
        current = {"fs": fields["fs"], "length": signal.shape[0]}
        if leads is None:
            current["leads"] = names
        if i == 0:
            if expected_fs is not None and not math.isclose(float(fields["fs"]), float(expected_fs)):
                raise ValueError(
                    f"{where}: sampling rate {fields['fs']} Hz, but the table was loaded for {expected_fs} Hz"
                )
            first, first_id = current, ecg_id
            out = np.empty((len(df), signal.shape[0], len(picked)), dtype=np.float32)
        else:
            for key, value in current.items():
                if value != first[key]:
                    raise ValueError(
                        f"{where}: {key} {_plain(value)!r} differs from ecg_id {_plain(first_id)!r}'s {_plain(first[key])!r}; "
                        "every record must have the same sampling rate, length and leads"
                    )
        out[i] = signal[:, picked]
    return out


def official_split(df: pd.DataFrame) -> pd.Series:
    """The recommended PTB-XL split from ``strat_fold``: folds 1-8 train, 9 val, 10 test. Chapter 07.

    The folds are stratified by label and keep each patient in one fold, so the split is by patient too. On a
    subset (the first 500 records in ``../shared/data/real``) each fold holds only ~10% of the records, so the
    val and test parts are small (tens of ECGs, a few for the rarer superclasses): wide confidence intervals.
    """
    if "strat_fold" not in df.columns:
        raise ValueError("official_split needs the 'strat_fold' column of ptbxl_database.csv")
    folds = pd.to_numeric(df["strat_fold"], errors="coerce")
    bad = df.index[~folds.isin(range(1, 11))]
    if len(bad):
        raise ValueError(
            f"ecg_id {_plain(bad[0])!r}: strat_fold {_plain(df.at[bad[0], 'strat_fold'])!r} is not an integer 1-10 "
            f"({len(bad)} row(s) like this)"
        )
    split = np.where(folds == TEST_FOLD, "test", np.where(folds == VAL_FOLD, "val", "train"))
    return pd.Series(split, index=df.index, name="split")
