"""Step 0 of the course: the data (chapters 00, 01 and 06). Imports nothing else of ``crossmodal_lib``."""

from crossmodal_lib.data.cardiac import CARDIAC_CLASSES
from crossmodal_lib.data.cohort import (
    CLASSES,
    IMAGE_FINDINGS,
    NOTE_FINDINGS,
    TRIAGE_CLASSES,
    CohortConfig,
    generate_cohort,
    label_from_findings,
    verify_cohort,
    write_cohort,
)
from crossmodal_lib.data.folder import (
    QUESTIONS,
    cohort_dir,
    load_cohort,
    load_findings,
    load_manifest,
    read_ecg,
    read_ecgs,
    read_image,
    read_images,
    read_video,
    read_videos,
    split_by_patient,
)
from crossmodal_lib.data.motion import MOTION_CLASSES
from crossmodal_lib.data.ptbxl import (
    PTBXL_LEADS,
    SUPERCLASSES,
    load_ptbxl,
    official_split,
    read_ptbxl_signals,
    superclass_matrix,
)

__all__ = [
    "CARDIAC_CLASSES",
    "CLASSES",
    "MOTION_CLASSES",
    "QUESTIONS",
    "TRIAGE_CLASSES",
    "cohort_dir",
    "read_video",
    "read_videos",
    "IMAGE_FINDINGS",
    "NOTE_FINDINGS",
    "PTBXL_LEADS",
    "SUPERCLASSES",
    "CohortConfig",
    "generate_cohort",
    "label_from_findings",
    "load_cohort",
    "load_findings",
    "load_manifest",
    "load_ptbxl",
    "official_split",
    "read_ecg",
    "read_ecgs",
    "read_image",
    "read_images",
    "read_ptbxl_signals",
    "split_by_patient",
    "superclass_matrix",
    "verify_cohort",
    "write_cohort",
]
