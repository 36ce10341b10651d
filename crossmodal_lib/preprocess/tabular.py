"""Age and sex as a modality of their own: F_t (chapter 09).

A clinician reads the ECG of an 80-year-old differently from a 20-year-old's; the capstone gives the fusion models
the same context. ``prepare_tabular`` is the recipe: age z-scored with the training rows' mean and standard
deviation (so no test information leaks), sex as 1 for F and 0 for M.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TABULAR_FEATURES = ("age_z", "sex_female")


def prepare_tabular(df: pd.DataFrame, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """F_t: float32 (n, 2) = (age z-scored on ``fit_rows``, 1 if sex is F else 0), see ``TABULAR_FEATURES``.

    Rows whose age or sex is blank get zeros (the pipeline imputes them and flags them missing). An age that is
    not a number in 0-120 or a sex other than F/M raises ValueError naming the row and its id.
    """
    for col in ("age", "sex"):
        if col not in df.columns:
            raise ValueError(f"tabular features need an {col!r} column; found {list(df.columns)}")
    age_text, sex = df["age"].astype(str).str.strip(), df["sex"].astype(str).str.strip().str.upper()
    present = (age_text != "") & (sex != "")
    age = pd.to_numeric(age_text.where(present, "0"), errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(present.to_numpy()):
        where = f"row {i} (id {df['id'].iloc[i]!r})" if "id" in df.columns else f"row {i}"
        if not 0 <= age[i] <= 120:  # NaN (not a number) fails this too
            raise ValueError(f"{where}: age {age_text.iloc[i]!r} is not a number of years in 0-120")
        if sex.iloc[i] not in ("F", "M"):
            raise ValueError(f"{where}: sex {df['sex'].iloc[i]!r} is not F or M")
    fit = present.to_numpy() if fit_rows is None else np.asarray(fit_rows, dtype=bool) & present.to_numpy()
    if not fit.any():
        raise ValueError("no row to fit the age scaling on (every fit row lacks age or sex)")
    mean, sd = age[fit].mean(), age[fit].std() or 1.0
    out = np.zeros((len(df), 2), dtype=np.float32)
    rows = present.to_numpy()
    out[rows, 0] = (age[rows] - mean) / sd
    out[rows, 1] = (sex[rows] == "F").astype(np.float32)
    return out
