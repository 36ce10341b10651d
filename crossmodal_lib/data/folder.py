"""The course's folder format for multimodal data, shared by the embedded cohort and a learner's own data.

Chapter 01 (the cohort) and chapter 06 (your own data). A dataset is a folder with a ``manifest.csv``::

    id,patient_id,label[,image][,text][,ecg][,video][,split][,report][,age][,sex][,visit]

with at least one modality column (``image``, ``text``, ``ecg``, ``video``). ``image``, ``ecg`` and ``video`` are
paths relative to the folder (images: PNG, JPEG, DICOM ``.dcm`` or ``.npy``; ECGs: ``.npy`` traces at ``ECG_HZ`` or
WFDB records ``.hea``, which carry their own rate; videos: animated ``.gif`` or ``.npy`` frames x height x width);
an empty cell means the modality is missing for that row. ``text`` is free text in UTF-8; empty means missing.
``split`` is train/val/test; when the column is absent, ``split_by_patient`` makes one.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("id", "patient_id", "label")
MODALITY_COLUMNS = ("image", "text", "ecg", "video")
OPTIONAL_COLUMNS = ("split", "report", "age", "sex", "visit")
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".npy")
ECG_SUFFIXES = (".npy", ".hea")
VIDEO_SUFFIXES = (".gif", ".npy")
FILE_SUFFIXES = {"image": IMAGE_SUFFIXES, "ecg": ECG_SUFFIXES, "video": VIDEO_SUFFIXES}
ECG_HZ = 100  # the cohort's sampling rate; an .npy trace carries no rate, so a folder's .npy ECGs are taken to be at it


def load_manifest(folder: str | Path, check_files: bool = True) -> pd.DataFrame:
    """Read and validate ``folder/manifest.csv``; image, ECG and video paths come back absolute ("" where missing).

    Every problem names the row (its line in the CSV and its id) so it can be fixed in the file.
    """
    folder = Path(folder)
    path = folder / "manifest.csv"
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a data folder needs a manifest.csv (see chapter 06)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: text is not valid UTF-8 ({exc.reason}); re-save the file as UTF-8"
        ) from exc
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a well-formed CSV: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path} lacks the column(s) {missing}; required: {list(REQUIRED_COLUMNS)}, found: {list(df.columns)}"
        )
    if not any(c in df.columns for c in MODALITY_COLUMNS):
        raise ValueError(
            f"{path} has no modality column; it needs at least one of {list(MODALITY_COLUMNS)}, "
            f"found: {list(df.columns)}"
        )
    if df.empty:
        raise ValueError(f"{path} has a header but no rows")

    def where(i: int) -> str:
        return f"{path.name} line {i + 2} (id {df.at[i, 'id']!r})"

    for col in ("id", "patient_id", "label"):
        blank = df.index[df[col].str.strip() == ""]
        if len(blank):
            raise ValueError(f"{where(blank[0])}: column {col!r} is empty ({len(blank)} row(s) like this)")
    dup = df.index[df["id"].duplicated()]
    if len(dup):
        raise ValueError(f"{where(dup[0])}: duplicate id {df.at[dup[0], 'id']!r} (ids must be unique)")
    if df["label"].nunique() < 2:
        raise ValueError(
            f"{path}: every row has the label {df['label'].iloc[0]!r}; a classifier needs >= 2 classes"
        )
    if "split" in df.columns:
        bad = df.index[~df["split"].isin(SPLITS)]
        if len(bad):
            raise ValueError(f"{where(bad[0])}: split {df.at[bad[0], 'split']!r} is not one of {SPLITS}")
        per_patient = df.groupby("patient_id")["split"].nunique()
        crossing = per_patient[per_patient > 1]
        if len(crossing):
            pid = crossing.index[0]
            splits = sorted(df.loc[df["patient_id"] == pid, "split"].unique())
            raise ValueError(
                f"{path}: patient {pid!r} appears in several splits {splits}; a patient must stay in one split "
                f"({len(crossing)} patient(s) like this)"
            )
    for col, suffixes in FILE_SUFFIXES.items():
        if col not in df.columns:
            continue
        resolved = []
        for i, rel in enumerate(df[col].str.strip()):
            if rel == "":
                resolved.append("")
                continue
            file = (folder / rel).resolve()
            if file.suffix.lower() not in suffixes:
                raise ValueError(f"{where(i)}: {col} {rel!r} has an unsupported type; use one of {suffixes}")
            if check_files and not file.is_file():
                raise FileNotFoundError(f"{where(i)}: {col} file {rel!r} not found in {folder}")
            resolved.append(str(file))
        df[col] = resolved
    return df


#: The cohort's clinical questions and their folders under ``data/cohort`` (the chest question is the top level).
QUESTIONS = {"chest": ".", "cardiac": "cardiac", "motion": "motion", "triage": "triage"}


def cohort_dir(question: str = "chest") -> Path:
    """The folder of one of the embedded cohort's questions (chapter 01: chest; 07: cardiac; 08: motion; 09: triage)."""
    if question not in QUESTIONS:
        raise ValueError(f"the cohort has no question {question!r}; it has {list(QUESTIONS)}")
    return (Path(__file__).resolve().parents[2] / "data" / "cohort" / QUESTIONS[question]).resolve()


def load_cohort(folder: str | Path | None = None, question: str = "chest") -> pd.DataFrame:
    """The embedded cohort (``data/cohort``, or a question's subfolder), loaded with ``load_manifest``; numbers typed."""
    df = load_manifest(cohort_dir(question) if folder is None else folder)
    for col in ("age", "visit"):
        df[col] = df[col].astype(int)
    return df


def load_findings(folder: str | Path | None = None, question: str = "chest") -> pd.DataFrame:
    """A cohort question's hidden ground truth per visit (``findings.csv``): for teaching, never a model input."""
    folder = cohort_dir(question) if folder is None else Path(folder)
    return pd.read_csv(folder / "findings.csv", dtype={"id": str, "label_rule": str})


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file as a 2-D array (or H×W×C for colour files), in the file's own dtype.

    PNG/JPEG through Pillow, ``.npy`` with ``allow_pickle=False``, DICOM through ``data.dicom.read_dicom``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"image {path} is not a plain numeric .npy array: {exc}") from exc
    elif suffix == ".dcm":
        from crossmodal_lib.data.dicom import read_dicom

        array = read_dicom(path)
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im.load()
                array = np.asarray(im)
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ValueError(f"image {path} is unreadable or corrupt: {exc}") from exc
    if array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(f"image {path} has shape {array.shape}; expected H×W or H×W×C")
    return array


def _row_name(index: object, row_id: str) -> str:
    """How an error names a manifest row: its line in manifest.csv (the header is line 1) and its id."""
    if isinstance(index, int | np.integer):
        return f"manifest.csv line {index + 2} (id {row_id!r})"
    return f"id {row_id!r}"


def read_images(df: pd.DataFrame) -> list[np.ndarray]:
    """Read the ``image`` file of every row of a loaded manifest; an error names the row and its id."""
    images = []
    for index, row_id, path in zip(df.index, df["id"], df["image"], strict=True):
        try:
            images.append(read_image(path))
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"{_row_name(index, row_id)}: {exc}") from exc
    return images


def read_ecg(path: str | Path, fs: float = ECG_HZ) -> np.ndarray:
    """Read one ECG as float32 ``(n_samples, n_leads)`` in millivolts (chapter 07).

    ``.npy`` (loaded with ``allow_pickle=False``; one trace or samples x leads) is taken to be at ``fs``; a WFDB
    record (``.hea`` with its ``.dat``, read with ``wfdb``) must have been recorded at ``fs``. NaN or infinite
    samples, an empty trace or a wrong rate raise ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ECG file {path} not found")
    if path.suffix.lower() == ".hea":
        import wfdb

        try:
            array, fields = wfdb.rdsamp(str(path.with_suffix("")))
        except Exception as exc:  # wfdb raises many types for a corrupt header or .dat
            raise ValueError(f"ECG record {path} is unreadable or corrupt: {exc}") from exc
        if not np.isclose(float(fields["fs"]), fs):
            raise ValueError(
                f"ECG record {path} is sampled at {fields['fs']} Hz, expected {fs} Hz; resample it"
            )
    else:
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"ECG file {path} is unreadable: {exc}") from exc
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number) or array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(
            f"ECG file {path} holds {array.dtype} of shape {array.shape}; expected numbers, (samples,) or (samples, leads)"
        )
    array = array.astype(np.float32).reshape(len(array), -1)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"ECG file {path} has {int(bad.sum())} NaN or infinite samples (first at sample {int(np.argwhere(bad)[0][0])})"
        )
    return array


def read_ecgs(df: pd.DataFrame, fs: float = ECG_HZ) -> np.ndarray:
    """The ``ecg`` file of every row of a loaded manifest as float32 ``(n, n_samples, n_leads)`` (chapter 07).

    Every trace must have the first row's length and number of leads; an error names the row and its id.
    """
    return _read_rows(df, "ecg", lambda path: read_ecg(path, fs=fs), "ECG", "samples, leads")


def read_video(path: str | Path) -> np.ndarray:
    """Read one clip as uint8 ``(frames, height, width)`` grayscale (chapter 08).

    An animated ``.gif`` through Pillow (every frame, converted to gray) or a ``.npy`` array (``allow_pickle=False``)
    of shape (frames, height, width) with values in 0-255. A corrupt file, another shape or NaN raise ValueError
    naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file {path} not found")
    if path.suffix.lower() == ".npy":
        try:
            clip = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"video {path} is unreadable: {exc}") from exc
        if not np.issubdtype(clip.dtype, np.number):
            raise ValueError(f"video {path} holds {clip.dtype}; expected numbers 0-255")
        if np.issubdtype(clip.dtype, np.floating) and not np.all(np.isfinite(clip)):
            raise ValueError(f"video {path} has NaN or infinite values")
        if clip.size and (clip.min() < 0 or clip.max() > 255):
            raise ValueError(f"video {path} has values outside 0-255 ({clip.min()} to {clip.max()})")
    else:
        from PIL import Image, ImageSequence, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                clip = np.stack([np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(im)])
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"video {path} is unreadable or corrupt: {exc}") from exc
    if clip.ndim != 3 or clip.size == 0:
        raise ValueError(f"video {path} has shape {clip.shape}; expected (frames, height, width) grayscale")
    return clip.astype(np.uint8)


def read_videos(df: pd.DataFrame) -> np.ndarray:
    """The ``video`` file of every row of a loaded manifest as uint8 ``(n, frames, height, width)`` (chapter 08).

    Every clip must have the first row's frames and size; an error names the row and its id.
    """
    return _read_rows(df, "video", read_video, "video", "frames, height, width")


def _read_rows(df: pd.DataFrame, column: str, read_one, what: str, axes: str) -> np.ndarray:
    """Read ``column``'s file of every row with ``read_one`` and stack them; every array must have the first row's
    shape. An error names the row (its manifest line and id)."""
    arrays: list[np.ndarray] = []
    for index, row_id, path in zip(df.index, df["id"], df[column], strict=True):
        where = _row_name(index, row_id)
        try:
            array = read_one(path)
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        if arrays and array.shape != arrays[0].shape:
            raise ValueError(
                f"{where}: {what} has shape {array.shape} ({axes}), the first row's has {arrays[0].shape}; "
                f"every {what} must have the same shape"
            )
        arrays.append(array)
    if not arrays:
        raise ValueError(f"no rows to read {column} files from")
    return np.stack(arrays)


def split_by_patient(
    df: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> pd.Series:
    """Assign train/val/test by patient, so no patient's visits are on both sides (chapter 01)."""
    from sklearn.model_selection import GroupShuffleSplit

    if "patient_id" not in df.columns:
        raise ValueError("split_by_patient needs a 'patient_id' column")
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    if df["patient_id"].nunique() < 3:
        raise ValueError(f"split_by_patient needs at least 3 patients, found {df['patient_id'].nunique()}")
    groups = df["patient_id"].to_numpy()
    idx = np.arange(len(df))
    train_frac, val_frac, test_frac = fractions
    rest, test = next(
        GroupShuffleSplit(n_splits=1, test_size=test_frac, random_state=seed).split(idx, groups=groups)
    )
    inner = GroupShuffleSplit(n_splits=1, test_size=val_frac / (train_frac + val_frac), random_state=seed)
    tr, va = next(inner.split(rest, groups=groups[rest]))
    split = np.empty(len(df), dtype=object)
    split[rest[tr]], split[rest[va]], split[test] = "train", "val", "test"
    return pd.Series(split, index=df.index, name="split")
