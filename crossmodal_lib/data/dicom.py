"""Read and write DICOM images (chapter 06: real formats).

A DICOM file is a list of tagged data elements (patient, study, series, acquisition, image) followed by the
pixel data. The stored integers are not yet what a radiologist sees; three steps turn them into a picture:

1. the **modality LUT** (``RescaleSlope`` / ``RescaleIntercept``): stored value -> physical value (Hounsfield
   units for CT), ``value = slope * stored + intercept``;
2. the **VOI LUT / window** (``WindowCenter`` / ``WindowWidth``): the range of physical values that is spread over
   the grey levels (everything below the window is black, everything above is white);
3. the **photometric interpretation**: ``MONOCHROME2`` shows low values dark; ``MONOCHROME1`` (common for
   radiographs) shows them bright, so it is inverted.

:func:`read_dicom` does the three steps with pydicom's own functions and returns a float32 image in [0, 1], the
course's image convention. :func:`write_dicom` writes a 2-D image as a valid Secondary Capture DICOM file (how the
course exports its synthetic cohort to the format a hospital archive uses). This module needs only pydicom and
NumPy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

# Common CT windows (centre, width) in Hounsfield units; the standard radiology presets.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "soft_tissue": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}

WindowArg = tuple[float, float] | str | None


def _first(value: object) -> float:
    """WindowCenter / WindowWidth may hold several alternatives (VM > 1): the first one is the default view."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return float(value[0])
    return float(value)  # type: ignore[arg-type]


def _window_dataset(center: float, width: float, function: str = "LINEAR") -> Dataset:
    """A minimal VOI LUT module so that pydicom's ``apply_windowing`` maps the window onto 0..65535."""
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 16
    voi.PixelRepresentation = 0
    voi.WindowCenter = float(center)
    voi.WindowWidth = float(width)
    voi.VOILUTFunction = function
    return voi


def dicom_window(ds: Dataset) -> tuple[float, float] | None:
    """The file's own default window ``(center, width)``, or None when it has none. Chapter 06."""
    if ds.get("WindowCenter") is None or ds.get("WindowWidth") is None:
        return None
    return _first(ds.WindowCenter), _first(ds.WindowWidth)


def apply_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Map physical values through a window onto [0, 1] (DICOM PS3.3 C.11.2.1.2, via pydicom). Chapter 06.

    ``function`` is the file's VOI LUT Function: ``LINEAR`` (default), ``LINEAR_EXACT`` or ``SIGMOID``.
    """
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width}")
    if function.upper() == "LINEAR" and width < 1:
        function = "LINEAR_EXACT"  # the LINEAR formula needs width >= 1 (it uses width - 1)
    out = apply_windowing(
        np.asarray(values, dtype=np.float64), _window_dataset(center, width, function.upper())
    )
    return (out / 65535.0).astype(np.float32)


def _minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.float32)
    return ((values - lo) / (hi - lo)).astype(np.float32)


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read a DICOM file's data elements with clear errors (missing file, not DICOM, no pixel data). Chapter 06."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DICOM file {path} does not exist")
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as err:
        raise ValueError(f"{path} is not a DICOM file (no 'DICM' header): {err}") from err
    except Exception as err:  # truncated or otherwise unreadable headers raise many different errors
        raise ValueError(f"{path} is a corrupt DICOM file: {type(err).__name__}: {err}") from err
    if "PixelData" not in ds:
        raise ValueError(f"{path} holds no pixel data (SOP class {ds.get('SOPClassUID', 'unknown')})")
    return ds


def _frame_values(path: Path, frame: int | None) -> tuple[Dataset, np.ndarray]:
    """The dataset and one frame's physical values (stored pixels through the modality LUT)."""
    ds = read_dataset(path)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(
            f"{path}: photometric interpretation {photometric or 'missing'} is not supported; "
            "the course reads grayscale (MONOCHROME1/MONOCHROME2) images"
        )
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames > 1 and frame is None:
        raise ValueError(
            f"{path} is a multi-frame DICOM with {n_frames} frames; pass frame=i (0..{n_frames - 1}) to read one"
        )
    if frame is not None and not 0 <= frame < n_frames:
        raise ValueError(f"{path}: frame {frame} is out of range (the file has {n_frames} frame(s))")
    try:
        stored = ds.pixel_array
    except Exception as err:  # missing decoder plugin, truncated pixel data, bad group 0028 values
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown transfer syntax")
        name = getattr(syntax, "name", syntax)
        raise ValueError(f"{path}: cannot decode the pixel data ({name}): {err}") from err
    if n_frames > 1:
        stored = stored[frame]
    if stored.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D grayscale frame, got pixel array of shape {stored.shape}")
    return ds, np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)


def read_dicom_values(path: str | os.PathLike, frame: int | None = None) -> np.ndarray:
    """The physical values of a grayscale DICOM image: stored pixels through RescaleSlope/Intercept. Chapter 06.

    For CT these are Hounsfield units (air about -1000, water 0, bone several hundred and more); float64.
    """
    return _frame_values(Path(path), frame)[1]


def read_dicom(
    path: str | os.PathLike,
    window: WindowArg = None,
    frame: int | None = None,
) -> np.ndarray:
    """Read a grayscale DICOM image as a float32 2-D array in [0, 1]. Chapter 06.

    Steps: stored pixels -> modality LUT (RescaleSlope/Intercept) -> window -> MONOCHROME1 inversion.

    ``window``: None uses the file's own VOI (its WindowCenter/WindowWidth, else its VOI LUT Sequence, else the
    image's min-max range); ``(center, width)`` in the physical unit (HU for CT) or a name of :data:`CT_WINDOWS`
    sets it explicitly; ``"minmax"`` forces min-max scaling. A multi-frame file is refused unless ``frame`` picks
    one frame (0-based).
    """
    path = Path(path)
    ds, values = _frame_values(path, frame)
    photometric = str(ds.PhotometricInterpretation).upper()
    if isinstance(window, str) and window != "minmax":
        if window not in CT_WINDOWS:
            raise ValueError(
                f"unknown window {window!r}; use one of {sorted(CT_WINDOWS)}, 'minmax' or (center, width)"
            )
        window = CT_WINDOWS[window]
    if window == "minmax":
        image = _minmax(values)
    elif window is not None:
        if isinstance(window, str) or len(window) != 2:
            raise ValueError(f"window must be (center, width), a preset name or 'minmax', got {window!r}")
        center, width = window
        image = apply_window(values, center, width)
    elif dicom_window(ds) is not None:
        center, width = dicom_window(ds)  # type: ignore[misc]
        image = apply_window(values, center, width, str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR"))
    elif ds.get("VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        image = (np.asarray(apply_voi(values, ds), dtype=np.float64) / (2**bits - 1)).astype(np.float32)
    else:
        image = _minmax(values)
    if photometric == "MONOCHROME1":
        image = 1.0 - image
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def write_dicom(
    image: np.ndarray,
    path: str | os.PathLike,
    patient_id: str,
    *,
    patient_name: str | None = None,
    bits: int = 8,
    photometric: str = "MONOCHROME2",
    modality: str = "OT",
    study_description: str = "Synthetic cohort (crossmodal_lib course)",
    series_description: str = "",
    instance_number: int = 1,
    uid_seed: str | None = None,
) -> Path:
    """Write a 2-D grayscale image as a Secondary Capture DICOM file; returns the path. Chapter 06.

    ``image``: float in [0, 1] (scaled to the full 8- or 16-bit range), or uint8 / uint16 stored as is.
    The file carries a window covering the full stored range, so :func:`read_dicom` gives the image back (up to
    quantisation). UIDs are derived from ``uid_seed`` (default: patient id and file name), so writing the same
    image twice gives byte-identical files. ``photometric="MONOCHROME1"`` stores inverted values (as many
    radiograph archives do); readers invert them back.
    """
    path = Path(path)
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(
            f"write_dicom: image for {path.name} must be 2-D (rows, columns), got shape {arr.shape}"
        )
    if bits not in (8, 16):
        raise ValueError(f"write_dicom: bits must be 8 or 16, got {bits}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"write_dicom: photometric must be MONOCHROME1 or MONOCHROME2, got {photometric!r}")
    if not patient_id:
        raise ValueError(f"write_dicom: patient_id for {path.name} is empty")
    dtype = np.uint8 if bits == 8 else np.uint16
    top = 2**bits - 1
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
            raise ValueError(f"write_dicom: float image for {path.name} must be finite and within [0, 1]")
        stored = np.round(arr * top).astype(dtype)
    elif arr.dtype in (np.uint8, np.uint16) and np.dtype(arr.dtype).itemsize * 8 <= bits:
        stored = arr.astype(dtype)
        if arr.dtype == np.uint8 and bits == 16:
            stored = stored * 257  # spread 0..255 over 0..65535
    else:
        raise ValueError(
            f"write_dicom: image for {path.name} has dtype {arr.dtype}; use float in [0, 1], uint8 or (bits=16) uint16"
        )
    if photometric == "MONOCHROME1":
        stored = (top - stored.astype(np.int64)).astype(dtype)

    seed = [uid_seed or f"{patient_id}/{path.name}"]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[*seed, "sop"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[patient_id, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[*seed, "series"])
    ds.PatientID = str(patient_id)
    ds.PatientName = patient_name if patient_name is not None else f"Synthetic^{patient_id}"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = int(instance_number)
    ds.ConversionType = "WSD"  # workstation: the image was made by software, not acquired
    ds.PatientOrientation = ""
    ds.set_pixel_data(
        stored, photometric_interpretation=photometric, bits_stored=bits, generate_instance_uid=False
    )
    # A window over the full stored range (LINEAR: centre - 0.5 and width - 1 map 0 -> 0 and top -> 1).
    ds.WindowCenter = 2 ** (bits - 1)
    ds.WindowWidth = 2**bits
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
