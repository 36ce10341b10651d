"""The course's embedded multimodal cohort: synthetic patients, visits, images, notes, reports and ECGs (chapter 00).

Everything here is synthetic and says so. The generator is deterministic: the same parameters and seed give the
same files, byte for byte (``make data`` checks it against ``data/cohort/SHA256SUMS``).

The diagnosis rule needs both modalities (see ``label_from_findings``):

* pneumonia      = lung opacity on the image  AND infection signs in the note (fever, purulent sputum, chills)
* heart_failure  = cardiomegaly on the image  AND congestion in the note (orthopnoea, leg oedema, weight gain)
* lung_mass      = nodule on the image        AND constitutional signs in the note (weight loss, haemoptysis)
* normal         = anything else (an opacity without infection signs is atelectasis; fever without opacity is a cold)

A documented fraction of labels (``label_noise``) is then replaced by a random other class.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter

from crossmodal_lib.data import cardiac, motion
from crossmodal_lib.data.folder import split_by_patient
from crossmodal_lib.data.synthetic import choice, draw_pairs, label_by_pairs, typo

CLASSES = ("normal", "pneumonia", "heart_failure", "lung_mass")
IMAGE_FINDINGS = ("opacity", "cardiomegaly", "effusion", "nodule")
NOTE_FINDINGS = ("infection", "congestion", "constitutional")
IMAGE_SIZES = (32, 64, 128, 256)
ECG_HZ = 100
ECG_SECONDS = 5
SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = (
    "id",
    "patient_id",
    "visit",
    "split",
    "image",
    "text",
    "report",
    "ecg",
    "age",
    "sex",
    "label",
)
FINDINGS_COLUMNS = ("id", *IMAGE_FINDINGS, *NOTE_FINDINGS, "label_rule", "label_noisy")
# Where each drawn finding is on the image (chapter 10's ground truth for explanations): a box per region, in
# fractions of the image (0 = top/left edge, 1 = bottom/right edge), so a mask can be made at any image size.
REGIONS_FILE = "finding_regions.csv"
REGION_KINDS = (*IMAGE_FINDINGS, "marker")
REGIONS_COLUMNS = ("id", "finding", "y0", "x0", "y1", "x1")
# Probability of a side marker on an image in the committed cohort, whatever the label.
MARKER_RATE = 0.2
# Where the generator wrote each identifier in a chest note (chapter 12's ground truth for de-identification):
# character offsets into the manifest's ``text``, text[start:end] == the identifier.
IDENTIFIERS_FILE = "identifiers.csv"
IDENTIFIERS_COLUMNS = ("id", "start", "end", "type", "text")
# The identifier types the notes contain, with the HIPAA Safe Harbor category (45 CFR 164.514(b)(2)) of each.
IDENTIFIER_TYPES = {
    "NAME": "names (of the patient, relatives, household members)",
    "DATE": "all elements of dates (except year) directly related to an individual",
    "AGE": "ages over 89",
    "PHONE": "telephone numbers",
    "EMAIL": "electronic mail addresses",
    "MRN": "medical record numbers",
    "ADDRESS": "geographic subdivisions smaller than a state (street address, city, ZIP code)",
    "HOSPITAL": "geographic subdivisions smaller than a state (a named hospital places the patient)",
}
# The other questions live in subfolders, each in the folder format (chapters 07-09); see the data card.
CARDIAC_COLUMNS = ("id", "patient_id", "visit", "split", "ecg", "text", "age", "sex", "label")
CARDIAC_FINDINGS_COLUMNS = (
    "id",
    *cardiac.TRACE_FINDINGS,
    *cardiac.SYMPTOM_FINDINGS,
    "label_rule",
    "label_noisy",
)
MOTION_COLUMNS = ("id", "patient_id", "visit", "split", "video", "text", "age", "sex", "label")
MOTION_FINDINGS_COLUMNS = ("id", "movement", *motion.RECORD_FINDINGS, "label_rule", "label_noisy")
# The capstone (chapter 09): which clinic must see the visit first, from every modality. Cardiac problems come
# first, then movement problems, then chest problems; "none" when no question's rule is positive.
TRIAGE_CLASSES = ("none", "chest", "cardiac", "movement")
TRIAGE_COLUMNS = (
    "id",
    "patient_id",
    "visit",
    "split",
    "image",
    "text",
    "ecg",
    "video",
    "age",
    "sex",
    "label",
)
TRIAGE_FINDINGS_COLUMNS = ("id", "chest_rule", "cardiac_rule", "movement_rule", "label_rule", "label_noisy")
CHECKSUM_FILE = "SHA256SUMS"


@dataclass(frozen=True)
class CohortConfig:
    """Parameters of the cohort; the defaults make the committed ``data/cohort``."""

    n_patients: int = 1000
    seed: int = 0
    image_size: int = 64
    max_visits: int = 4
    label_noise: float = 0.05
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    # Probability that a visit's intended class is each of CLASSES; defining findings are then drawn to match.
    class_prior: tuple[float, float, float, float] = (0.4, 0.2, 0.2, 0.2)
    # Probability that a visit carries one half of another disease's pair of findings (the distractors that make
    # each modality ambiguous on its own).
    distractor_rate: float = 0.95
    # The cardiac and movement questions: probability of each class of CARDIAC_CLASSES / MOTION_CLASSES.
    cardiac_prior: tuple[float, float, float, float] = (0.55, 0.15, 0.15, 0.15)
    motion_prior: tuple[float, float, float, float] = (0.55, 0.15, 0.15, 0.15)
    extra: dict = field(default_factory=dict, compare=False)
    # Probability of a side marker per label (CLASSES order); None: MARKER_RATE for every image, independent of the
    # label (the committed cohort). A label-dependent rate makes the marker a shortcut (chapter 10); such a
    # variant has the same patients, findings, notes and labels as the default, only the markers differ.
    marker_rate_by_label: tuple[float, float, float, float] | None = None

    def validate(self) -> None:
        if not isinstance(self.n_patients, int | np.integer) or self.n_patients < 1:
            raise ValueError(f"n_patients must be a whole number >= 1, got {self.n_patients!r}")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size!r}")
        if not 1 <= self.max_visits <= 20:
            raise ValueError(f"max_visits must be between 1 and 20, got {self.max_visits!r}")
        if not 0.0 <= self.label_noise < 0.5:
            raise ValueError(f"label_noise must be in [0, 0.5), got {self.label_noise!r}")
        if not 0.0 <= self.distractor_rate <= 1.0:
            raise ValueError(f"distractor_rate must be in [0, 1], got {self.distractor_rate!r}")
        fr = self.split_fractions
        if len(fr) != 3 or min(fr) <= 0 or abs(sum(fr) - 1.0) > 1e-9:
            raise ValueError(f"split_fractions must be three positive numbers summing to 1, got {fr!r}")
        if (
            len(self.class_prior) != len(CLASSES)
            or min(self.class_prior) < 0
            or abs(sum(self.class_prior) - 1) > 1e-9
        ):
            raise ValueError(f"class_prior must be {len(CLASSES)} non-negative numbers summing to 1")
        for name in ("cardiac_prior", "motion_prior"):
            prior = getattr(self, name)
            if len(prior) != 4 or min(prior) < 0 or abs(sum(prior) - 1) > 1e-9:
                raise ValueError(f"{name} must be 4 non-negative numbers summing to 1, got {prior!r}")
        rates = self.marker_rate_by_label
        if rates is not None and (len(rates) != len(CLASSES) or not all(0 <= r <= 1 for r in rates)):
            raise ValueError(
                f"marker_rate_by_label must be {len(CLASSES)} probabilities in [0, 1] (one per label of "
                f"{CLASSES}), got {rates!r}"
            )


# Each disease is a pair (image finding, note finding), in the rule's priority order.
_DEFINING = {
    "pneumonia": ("opacity", "infection"),
    "heart_failure": ("cardiomegaly", "congestion"),
    "lung_mass": ("nodule", "constitutional"),
}


def label_from_findings(f: dict[str, bool]) -> str:
    """The cohort's diagnosis rule: an image finding AND its matching note finding (in this priority order)."""
    return label_by_pairs(f, _DEFINING, default="normal")


# --------------------------------------------------------------------------------------------------------------
# Latent findings
# --------------------------------------------------------------------------------------------------------------
def _draw_findings(
    rng: np.random.Generator, intended: str, cfg: CohortConfig, chronic: dict
) -> dict[str, bool]:
    """Findings for one visit: the intended class's pair of findings, distractors (``draw_pairs``), effusion and
    the patient's chronic findings."""
    f = draw_pairs(rng, intended, _DEFINING, cfg.distractor_rate)
    # Effusion supports heart failure (and parapneumonic effusions occur) but is not part of the rule.
    p_effusion = {"heart_failure": 0.6, "pneumonia": 0.2}.get(intended, 0.08)
    f["effusion"] = bool(rng.random() < p_effusion)
    # Chronic findings of this patient (an old granuloma, a big heart) reappear on the image at every visit.
    for name in chronic:
        f[name] = True
    return f


# --------------------------------------------------------------------------------------------------------------
# Images: a chest-radiograph-like picture with anatomy, findings and acquisition variation
# --------------------------------------------------------------------------------------------------------------
def _ellipse(yy, xx, cy, cx, ry, rx, soft):
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) / soft, -50, 50)))


def _box(name: str, component: np.ndarray) -> dict:
    """The bounding box of where a drawn component reaches half its peak, in fractions of the image.

    Pixel i of the n-pixel drawing covers [i/n, (i+1)/n) of the image (the resampling to ``size`` keeps pixel
    edges), so the box is exact at the drawing's resolution.
    """
    n = component.shape[0]
    rows, cols = np.nonzero(component >= 0.5 * component.max())
    return {
        "finding": name,
        "y0": float(rows.min() / n),
        "x0": float(cols.min() / n),
        "y1": float((rows.max() + 1) / n),
        "x1": float((cols.max() + 1) / n),
    }


def render_image(
    rng: np.random.Generator,
    findings: dict[str, bool],
    anatomy: dict,
    size: int,
    marker_rate: float = MARKER_RATE,
    return_regions: bool = False,
) -> np.ndarray | tuple[np.ndarray, list[dict]]:
    """Draw one radiograph as uint8 (size, size). Coordinates are fractions of the image, so any size works.

    ``return_regions=True`` also returns where each finding (and the side marker) was drawn: a list of dicts
    ``{"finding", "y0", "x0", "y1", "x1"}``, the box (fractions of the image) where the finding's own shape reaches
    half its peak, after the patient's shift and rotation. Recording them draws no random number, so the image
    is the same either way.
    """
    regions = []
    n = 128  # draw at a fixed resolution, then resample: the same anatomy at every image_size
    yy, xx = np.mgrid[0:n, 0:n] / n
    # patient position: small shift and rotation per visit
    ang = rng.normal(0, 0.04)
    dy, dx = rng.normal(0, 0.015, size=2)
    yc, xc = yy - 0.5 - dy, xx - 0.5 - dx
    yy, xx = 0.5 + yc * np.cos(ang) - xc * np.sin(ang), 0.5 + yc * np.sin(ang) + xc * np.cos(ang)

    body = _ellipse(yy, xx, 0.55, 0.5, 0.52, 0.44 * anatomy["width"], 0.05)
    img = 0.55 * body
    lung_r = _ellipse(yy, xx, 0.47, 0.32, 0.30 * anatomy["height"], 0.14 * anatomy["width"], 0.08)
    lung_l = _ellipse(yy, xx, 0.47, 0.68, 0.30 * anatomy["height"], 0.14 * anatomy["width"], 0.08)
    lungs = np.clip(lung_r + lung_l, 0, 1)
    img -= 0.38 * lungs
    # ribs: bright arcs across the lung fields
    ribs = 0.5 + 0.5 * np.cos(2 * np.pi * (yy * 9.0 + 1.6 * (xx - 0.5) ** 2 + anatomy["rib_phase"]))
    img += 0.07 * lungs * ribs**4
    # spine and mediastinum
    img += 0.25 * _ellipse(yy, xx, 0.55, 0.5, 0.5, 0.05, 0.1)
    # heart: cardiothoracic ratio ~0.42 normally, ~0.58 with cardiomegaly; shifted to the patient's left (image right)
    ctr = anatomy["ctr"] + (0.16 if findings["cardiomegaly"] else 0.0) + rng.normal(0, 0.015)
    heart_rx = ctr * 0.44 * anatomy["width"]
    heart = _ellipse(yy, xx, 0.64, 0.53, 0.13, heart_rx, 0.08)
    img += 0.42 * heart
    if findings["cardiomegaly"]:
        regions.append(_box("cardiomegaly", heart))
    # diaphragm: bright below the lungs
    img += 0.25 * body * (1 / (1 + np.exp(-(yy - 0.78 - 0.03 * np.cos(6 * (xx - 0.5))) / 0.015)))
    if findings["opacity"]:
        side = 0.32 if rng.random() < 0.5 else 0.68
        cy, cx = rng.uniform(0.42, 0.68), side + rng.normal(0, 0.03)
        r = rng.uniform(0.06, 0.11)
        blob = np.exp(-(((yy - cy) ** 2 + ((xx - cx) / 1.3) ** 2) / (2 * r**2)))
        texture = gaussian_filter(rng.normal(0, 1, (n, n)), 2.0)
        img += rng.uniform(0.25, 0.4) * blob * lungs * (1 + 0.4 * texture)
        regions.append(_box("opacity", blob * lungs))
    if findings["effusion"]:
        level = rng.uniform(0.66, 0.74)
        sides = [(0.32, 0.3), (0.68, 0.3)] if rng.random() < 0.4 else [((0.32, 0.68)[rng.integers(2)], 0.3)]
        for cx, _ in sides:
            mask = _ellipse(yy, xx, 0.7, cx, 0.2, 0.16, 0.05) / (1 + np.exp(-(yy - level) / 0.02))
            img += 0.45 * mask * lungs
            regions.append(_box("effusion", mask * lungs))
    if findings["nodule"]:
        cy = rng.uniform(0.3, 0.6)
        cx = (0.26 if rng.random() < 0.5 else 0.74) + rng.normal(0, 0.02)
        r = rng.uniform(0.022, 0.032)
        nodule = _ellipse(yy, xx, cy, cx, r, r, 0.05) * lungs
        img += 0.3 * nodule
        regions.append(_box("nodule", nodule))
    # acquisition: exposure (contrast and brightness), a side marker sometimes, quantum noise
    img = anatomy["contrast"] * rng.uniform(0.85, 1.15) * img + rng.normal(0, 0.04)
    u = rng.random()
    if u < MARKER_RATE:  # the committed cohort's draws: a side is drawn exactly when its marker is
        left = rng.random() < 0.5
    else:  # a variant with more markers takes the side from u, so it draws no extra number
        left = int(u * 2**20) % 2 == 0
    if u < marker_rate:
        y0, x0 = int(n * 0.06), int(n * (0.06 if left else 0.86))
        img[y0 : y0 + 8, x0 : x0 + 6] = 0.95
        regions.append(
            {"finding": "marker", "y0": y0 / n, "x0": x0 / n, "y1": (y0 + 8) / n, "x1": (x0 + 6) / n}
        )
    img = gaussian_filter(img, 0.8)
    img = np.clip(img + rng.normal(0, 0.035, img.shape), 0, 1)
    small = Image.fromarray((img * 255).round().astype(np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    if return_regions:
        return np.asarray(small), regions
    return np.asarray(small)


# --------------------------------------------------------------------------------------------------------------
# Text: clinical notes and radiology reports
# --------------------------------------------------------------------------------------------------------------
FIRST_NAMES = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Ahmed",
    "Fatima",
    "Wei",
    "Mei",
    "Carlos",
    "Lucia",
    "Olu",
    "Amara",
    "Sven",
    "Ingrid",
    "Raj",
    "Priya",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Brown",
    "Miller",
    "Davis",
    "Martinez",
    "Nguyen",
    "Okafor",
    "Kowalski",
    "Rossi",
    "Schmidt",
    "Haddad",
    "Tanaka",
    "Patel",
    "Silva",
    "Andersson",
    "O'Brien",
    "Murphy",
    "Chen",
)
DOCTORS = ("Dr. A. Patel", "Dr. K. Osei", "Dr. M. Lindqvist", "Dr. R. Alvarez", "Dr. S. Cohen", "Dr. J. Park")

# Each syndrome: phrases when present (synonyms, abbreviations) and when absent (negations).
POSITIVE = {
    "infection": (
        "fever to {t}",
        "febrile since {d} days",
        "reports chills and rigors",
        "cough productive of green sputum",
        "purulent sputum",
        "high temp overnight",
        "pyrexia {t} at home",
        "yellow phlegm",
    ),
    "congestion": (
        "sleeps on {p} pillows",
        "orthopnoea",
        "PND most nights",
        "bilateral ankle swelling",
        "pitting LE edema",
        "weight up {k} kg this week",
        "legs swollen",
        "pedal oedema",
    ),
    "constitutional": (
        "unintentional weight loss of {k} kg",
        "coughing up blood",
        "haemoptysis x{d} days",
        "night sweats and wt loss",
        "lost {k} kg over {m} months",
        "blood-streaked sputum",
        "hemoptysis",
    ),
}
NEGATIVE = {
    "infection": ("denies fever", "afebrile", "no chills", "no sputum production", "no fevers or rigors"),
    "congestion": ("no orthopnea", "denies leg swelling", "no PND", "no peripheral edema", "weight stable"),
    "constitutional": (
        "denies weight loss",
        "no hemoptysis",
        "no night sweats",
        "appetite good, weight stable",
    ),
}
NONSPECIFIC = (
    "SOB on exertion",
    "dry cough",
    "feels tired",
    "mild chest tightness",
    "short of breath",
    "DOE climbing stairs",
    "fatigue",
    "cough for {d} days",
    "dyspnoea",
    "intermittent wheeze",
)
COMPLAINTS = (
    "shortness of breath",
    "cough",
    "feeling unwell",
    "chest discomfort",
    "follow-up",
    "breathlessness",
    "routine review",
    "tiredness",
)
HISTORY = (
    "HTN",
    "T2DM",
    "COPD",
    "asthma",
    "hypercholesterolaemia",
    "CKD stage 3",
    "AF",
    "hypothyroidism",
    "previous MI",
    "GERD",
    "osteoarthritis",
)
IRRELEVANT = (
    "Daughter present at bedside.",
    "Discussed flu vaccine.",
    "Pt asks about parking validation.",
    "Lives with spouse, independent with ADLs.",
    "Retired teacher.",
    "Allergic to penicillin (rash).",
    "Enjoys gardening.",
    "Interpreter not required.",
    "Social work referral declined.",
    "Dog at home.",
    "Prefers morning appointments.",
    "Next of kin updated.",
)
REPORT_POSITIVE = {
    "opacity": (
        "patchy opacity in the {side} {zone} zone",
        "airspace shadowing {side} {zone} zone",
        "{side} {zone} consolidation, could represent infection or atelectasis",
        "hazy {side} basal opacity",
    ),
    "cardiomegaly": (
        "cardiomegaly",
        "enlarged cardiac silhouette",
        "heart size increased, CTR about {ctr}",
        "cardiac silhouette appears enlarged (AP film)",
    ),
    "effusion": (
        "small {side} pleural effusion",
        "blunting of the {side} costophrenic angle",
        "possible small effusion",
    ),
    "nodule": (
        "{mm} mm nodule in the {side} {zone} zone",
        "rounded opacity {side} {zone} zone, ?nodule",
        "small {side} pulmonary nodule, CT suggested",
    ),
}
REPORT_NEGATIVE = {
    "opacity": ("no focal consolidation", "lungs are clear", "no airspace opacity"),
    "cardiomegaly": ("heart size normal", "cardiac silhouette within normal limits"),
    "effusion": ("no pleural effusion", "costophrenic angles clear"),
    "nodule": ("no suspicious nodule", "no mass lesion"),
}


def _fill(rng: np.random.Generator, phrase: str) -> str:
    return phrase.format(
        t=f"{rng.uniform(38.1, 39.8):.1f}C",
        d=int(rng.integers(2, 8)),
        p=int(rng.integers(2, 5)),
        k=int(rng.integers(2, 9)),
        m=int(rng.integers(2, 7)),
        side=("left", "right")[rng.integers(2)],
        zone=("lower", "mid", "upper")[rng.integers(3)],
        ctr=f"{rng.uniform(0.55, 0.65):.2f}",
        mm=int(rng.integers(6, 19)),
    )


def write_note(
    rng: np.random.Generator,
    f: dict[str, bool],
    patient: dict,
    visit_date: str,
    vitals: dict,
    id_rng: np.random.Generator | None = None,
) -> tuple[str, list[dict]]:
    """A free-text clinical note and where its identifiers are: ``(text, spans)`` (chapters 01 and 12).

    Identifiers (a header in one of several formats, and sentences about relatives, nurses, phone numbers,
    hospitals, addresses, dates, e-mail in the free text), complaint, symptoms (with negations), vitals, history,
    noise. ``spans`` are ``{"start", "end", "type", "text"}`` with ``text == note[start:end]``. The identifiers
    are drawn from ``id_rng`` (default: a stream of ``rng``'s next draw), so how they read never changes the
    clinical content, which ``rng`` draws exactly as before they were added.
    """
    parts = [
        f"Patient: {patient['name']}  MRN: {patient['mrn']}  DOB: {patient['dob']}",
        f"Seen {visit_date} by {choice(rng, DOCTORS)}.",
        f"CC: {choice(rng, COMPLAINTS)}.",
    ]
    symptoms = []
    for syndrome in NOTE_FINDINGS:
        if f[syndrome]:
            k = 1 + int(rng.random() < 0.5)
            symptoms += [_fill(rng, choice(rng, POSITIVE[syndrome])) for _ in range(k)]
        elif rng.random() < 0.55:
            symptoms.append(choice(rng, NEGATIVE[syndrome]))
    symptoms += [_fill(rng, choice(rng, NONSPECIFIC)) for _ in range(int(rng.integers(0, 3)))]
    order = rng.permutation(len(symptoms))
    parts.append(
        "HPI: " + "; ".join(symptoms[i] for i in order) + "." if symptoms else "HPI: no new complaints."
    )
    parts.append(
        f"Vitals: T {vitals['temp']:.1f} HR {vitals['hr']} RR {vitals['rr']} SpO2 {vitals['spo2']}% "
        f"BP {vitals['sbp']}/{vitals['dbp']}."
    )
    if patient["history"]:
        parts.append("PMH: " + ", ".join(patient["history"]) + ".")
    if patient["smoker"]:
        parts.append(f"Smoker, {patient['pack_years']} pack-years.")
    for _ in range(int(rng.integers(0, 4))):
        parts.insert(int(rng.integers(3, len(parts) + 1)), choice(rng, IRRELEVANT))
    # The first two parts were the old fixed header: still drawn and typed (the same draws of rng), then replaced.
    clinical = [[(typo(rng, p), None)] for p in parts][2:]
    id_rng = id_rng if id_rng is not None else np.random.default_rng(rng.integers(2**63))
    return _join_segments(_identifier_parts(id_rng, patient, visit_date, clinical))


_HOSPITALS = (
    "St Mary's Hospital",
    "Riverside General Hospital",
    "Northfield Clinic",
    "Lakeview Medical Centre",
    "Hillcrest Care Home",
    "Eastgate Infirmary",
)
_STREETS = ("Elm Street", "Station Road", "Oak Avenue", "Mill Lane", "Park Crescent", "High Street")
_TOWNS = ("Springfield", "Ashford", "Millbrook", "Westbury", "Fairview", "Kingsport")
_RELATIVES = ("daughter", "son", "wife", "husband", "sister", "brother", "neighbour")
_MAIL_DOMAINS = ("mail.com", "example.org", "post.net", "inbox.co.uk")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Sentences about the patient's people and places, written into the free text. {TYPE} is an identifier slot.
_IDENTIFIER_SENTENCES = (
    "Accompanied by {rel} {NAME}.",
    "Vitals taken by nurse {NAME}.",
    "{Rel} {NAME} can be reached on {PHONE}.",
    "Contact number {PHONE}.",
    "Referred from {HOSPITAL}.",
    "Previously admitted to {HOSPITAL} on {DATE}.",
    "Lives at {ADDRESS} with {rel}.",
    "Symptoms began {DATE}.",
    "Copy of results to {EMAIL}.",
    "Follow-up with Dr. {NAME} on {DATE}.",
)


def _date_text(rng: np.random.Generator, date: str, relative: bool = False) -> str:
    """One date in one of the formats clinicians write (ISO, US, day month, month day; or "last Tuesday")."""
    d = pd.Timestamp(date)
    if relative and rng.random() < 0.4:
        return f"last {choice(rng, _WEEKDAYS)}"
    formats = ("%Y-%m-%d", "%m/%d/%Y", "%d %B %Y", "%B %d, %Y", "%d-%b-%Y", "%d %B")
    return d.strftime(choice(rng, formats)).replace(" 0", " ")


def _identifier_parts(
    rng: np.random.Generator, patient: dict, visit_date: str, clinical: list[list]
) -> list[list[tuple[str, str | None]]]:
    """The note's parts as segments (text, identifier type or None): a header, then the clinical parts with
    identifier sentences among them (chapter 12)."""
    first, last = patient["name"].split(" ", 1)
    doctor = choice(rng, DOCTORS).removeprefix("Dr. ")
    style = int(rng.integers(3))
    if style == 0:
        name, dob, seen = patient["name"], patient["dob"], visit_date
        header = [[("Patient: ", None), (name, "NAME"), ("  MRN: ", None), (patient["mrn"], "MRN")]]
        header[0] += [("  DOB: ", None), (dob, "DATE")]
        header.append([("Seen ", None), (seen, "DATE"), (" by Dr. ", None), (doctor, "NAME"), (".", None)])
    else:
        name = f"{last}, {first}" if style == 1 else patient["name"]
        dob, seen = _date_text(rng, patient["dob"]), _date_text(rng, visit_date)
        sep = (" | MRN ", " | DOB ", "") if style == 1 else (" (MRN ", "), born ", ".")
        header = [[(name, "NAME"), (sep[0], None), (patient["mrn"], "MRN"), (sep[1], None), (dob, "DATE")]]
        header[0] += [(sep[2], None)] if sep[2] else []
        header.append(
            [("Clinic visit ", None), (seen, "DATE"), (", Dr. ", None), (doctor, "NAME"), (".", None)]
        )
    age = patient["age"] - (2024 - int(visit_date[:4]))
    if age > 89 and rng.random() < 0.8:  # an age over 89 is an identifier (Safe Harbor); younger ages are not
        header.append(
            [(str(age), "AGE"), (f"-year-old {'woman' if patient['sex'] == 'F' else 'man'}.", None)]
        )
    parts = header + clinical
    for _ in range(1 + int(rng.integers(3))):
        sentence = choice(rng, _IDENTIFIER_SENTENCES)
        rel = choice(rng, _RELATIVES)
        later = 1 if sentence.startswith("Follow-up") else -1
        values = {
            "rel": rel,
            "Rel": rel.capitalize(),
            "NAME": f"{choice(rng, FIRST_NAMES)} {choice(rng, LAST_NAMES)}",
            "PHONE": choice(rng, ("({0}) 555-{1:04d}", "555-{1:04d}", "+44 7700 {0}{2:03d}")).format(
                *(int(v) for v in rng.integers((200, 0, 0), (1000, 10000, 1000)))
            ),
            "HOSPITAL": choice(rng, _HOSPITALS),
            "DATE": _date_text(  # a follow-up lies ahead; "on last Tuesday" is not English
                rng,
                str(pd.Timestamp(visit_date) + pd.Timedelta(days=int(rng.integers(1, 400)) * later)),
                relative="on {DATE}" not in sentence,
            ),
            "ADDRESS": f"{int(rng.integers(1, 200))} {choice(rng, _STREETS)}, {choice(rng, _TOWNS)}",
            "EMAIL": f"{first.lower()}.{last.lower().replace(chr(39), '')}@{choice(rng, _MAIL_DOMAINS)}",
        }
        parts.insert(int(rng.integers(len(header) + 1, len(parts) + 1)), _fill_template(sentence, values))
    return parts


def _fill_template(sentence: str, values: dict[str, str]) -> list[tuple[str, str | None]]:
    """A sentence's segments: plain text, and each {SLOT} filled (an upper-case slot is an identifier type)."""
    segments = []
    for k, piece in enumerate(sentence.replace("}", "{").split("{")):
        if k % 2 == 0:
            segments.append((piece, None))
        else:
            segments.append((values[piece], piece if piece.isupper() else None))
    return [s for s in segments if s[0]]


def _join_segments(parts: list[list[tuple[str, str | None]]], sep: str = " ") -> tuple[str, list[dict]]:
    """Join the parts with ``sep``; record where each identifier segment landed."""
    text, spans = "", []
    for i, part in enumerate(parts):
        text += sep if i else ""
        for chunk, kind in part:
            if kind is not None:
                spans.append({"start": len(text), "end": len(text) + len(chunk), "type": kind, "text": chunk})
            text += chunk
    return text, spans


def write_report(rng: np.random.Generator, f: dict[str, bool]) -> str:
    """A hedged, sometimes incomplete radiology report of the image (a shortcut: see the data card)."""
    lines = [choice(rng, ("PA chest radiograph.", "AP chest film.", "CXR, single view.", "Chest X-ray PA."))]
    for finding in IMAGE_FINDINGS:
        if f[finding]:
            if rng.random() < 0.85:  # a finding is sometimes missed
                lines.append(_fill(rng, choice(rng, REPORT_POSITIVE[finding])).capitalize() + ".")
        elif rng.random() < 0.5:
            lines.append(choice(rng, REPORT_NEGATIVE[finding]).capitalize() + ".")
    if not any(f[k] for k in IMAGE_FINDINGS) and rng.random() < 0.5:
        lines.append("No acute cardiopulmonary process.")
    if rng.random() < 0.3:
        lines.append("Clinical correlation recommended.")
    return " ".join(lines)


def note_phrases() -> dict[str, tuple[str, ...]]:
    """The note generator's phrase lists, placeholders ("{t}", "{k}" ...) removed, by kind (chapter 10).

    Keys: each syndrome of NOTE_FINDINGS (the phrases that say it is present), ``"no_<syndrome>"`` (its
    negations) and ``"nonspecific"`` (complaints that point to no syndrome). Chapter 10 checks word attributions
    against them: the truth of which words express a syndrome.
    """
    blank = {key: "" for key in ("t", "d", "p", "k", "m")}
    out = {s: tuple(" ".join(p.format(**blank).split()) for p in POSITIVE[s]) for s in NOTE_FINDINGS}
    out |= {f"no_{s}": NEGATIVE[s] for s in NOTE_FINDINGS}
    out["nonspecific"] = tuple(" ".join(p.format(**blank).split()) for p in NONSPECIFIC)
    return out


# --------------------------------------------------------------------------------------------------------------
# ECG: a short single-lead trace (chapter 07 pairs it with the symptom text)
# --------------------------------------------------------------------------------------------------------------
def render_ecg(rng: np.random.Generator, hr: int, atrial_fibrillation: bool) -> np.ndarray:
    """A 5-s lead-II-like trace at 100 Hz in millivolts: P-QRS-T beats, baseline wander, noise."""
    t = np.arange(ECG_HZ * ECG_SECONDS) / ECG_HZ
    rr = 60.0 / hr
    beats, time = [], rng.uniform(0, rr)
    while time < ECG_SECONDS + 1:
        beats.append(time)
        time += rr * (rng.uniform(0.6, 1.4) if atrial_fibrillation else rng.normal(1, 0.02))
    sig = np.zeros_like(t)
    for b in beats:
        if not atrial_fibrillation:
            sig += 0.15 * np.exp(-((t - b + 0.16) ** 2) / (2 * 0.02**2))  # P wave
        sig += -0.1 * np.exp(-((t - b + 0.03) ** 2) / (2 * 0.008**2))  # Q
        sig += 1.1 * np.exp(-((t - b) ** 2) / (2 * 0.01**2))  # R
        sig += -0.2 * np.exp(-((t - b - 0.03) ** 2) / (2 * 0.01**2))  # S
        sig += 0.3 * np.exp(-((t - b - 0.25) ** 2) / (2 * 0.04**2))  # T
    if atrial_fibrillation:
        sig += 0.05 * np.sin(2 * np.pi * rng.uniform(5, 7) * t + rng.uniform(0, 6.3))  # fibrillatory waves
    sig += 0.1 * np.sin(2 * np.pi * rng.uniform(0.15, 0.4) * t + rng.uniform(0, 6.3))  # baseline wander
    sig += rng.normal(0, 0.02, t.shape)
    return sig.astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# The cohort
# --------------------------------------------------------------------------------------------------------------
def _patient(rng: np.random.Generator, index: int) -> dict:
    age = int(np.clip(rng.normal(62, 14), 19, 95))
    birth_year = 2024 - age
    history = sorted({choice(rng, HISTORY) for _ in range(int(rng.integers(0, 4)))})
    return {
        "patient_id": f"p{index + 1:04d}",
        "name": f"{choice(rng, FIRST_NAMES)} {choice(rng, LAST_NAMES)}",
        "mrn": f"{rng.integers(10**7, 10**8)}",
        "dob": f"{birth_year}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
        "age": age,
        "sex": ("F", "M")[rng.integers(2)],
        "smoker": bool(rng.random() < 0.3),
        "pack_years": int(rng.integers(5, 60)),
        "history": history,
        "anatomy": {
            "width": rng.uniform(0.9, 1.08),
            "height": rng.uniform(0.92, 1.06),
            "ctr": rng.uniform(0.38, 0.46),
            "rib_phase": rng.uniform(0, 1),
            "contrast": rng.uniform(0.85, 1.15),
        },
    }


def _vitals(rng: np.random.Generator, f: dict[str, bool]) -> dict:
    temp = rng.normal(38.4, 0.5) if f["infection"] else rng.normal(36.9, 0.35)
    hr = int(rng.normal(96 if f["infection"] or f["congestion"] else 76, 12))
    return {
        "temp": float(temp),
        "hr": int(np.clip(hr, 45, 160)),
        "rr": int(np.clip(rng.normal(20 if f["infection"] else 16, 3), 10, 36)),
        "spo2": int(np.clip(rng.normal(93 if f["opacity"] or f["congestion"] else 97, 2), 80, 100)),
        "sbp": int(rng.normal(132, 15)),
        "dbp": int(rng.normal(80, 9)),
    }


def generate_cohort(
    config: CohortConfig | None = None,
    progress: bool | None = None,
    chest_only: bool = False,
    lang: str = "en",
) -> dict:
    """Generate the cohort in memory: rows for the manifests and findings, images, ECGs and clips as arrays.

    Chapter 00/01. Returns ``{"manifest": [dict], "findings": [dict], "regions": [dict], "images": {id: array},
    "ecgs": {id: array},
    "cardiac": [dict], "cardiac_findings": [dict], "cardiac_ecgs": {id: array}, "motion": [dict],
    "motion_findings": [dict], "clips": {id: array}, "triage": [dict], "triage_findings": [dict], "identifiers": [dict]}``; "identifiers" are the rows of ``identifiers.csv`` (where
    each chest note names a person, place, date or number: chapter 12); "regions" are
    the rows of ``finding_regions.csv`` (where ``render_image`` drew each finding and side marker).
    The cardiac and movement questions draw from their own random streams (seeded by the visit and the patient),
    so adding them left every file of the chest question byte for byte as it was; ``chest_only=True`` skips them
    (their lists stay empty) and gives the same chest question, in a third of the time.
    ``lang="zh"`` writes the chest notes and reports in Chinese (``chinese.write_note_zh``, chapter 03's section on
    Chinese notes): the same random draws, so the same visits, findings, labels and images as ``lang="en"``.
    """
    from tqdm.auto import tqdm

    from crossmodal_lib.data import chinese

    chinese.check_lang(lang)
    note_writer = chinese.write_note_zh if lang == "zh" else write_note
    report_writer = chinese.write_report_zh if lang == "zh" else write_report
    cfg = config or CohortConfig()
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    manifest, findings_rows, images, ecgs, regions, identifiers = [], [], {}, {}, [], []
    others: dict = {key: [] for key in ("cardiac", "cardiac_findings", "motion", "motion_findings")}
    others |= {"cardiac_ecgs": {}, "clips": {}}
    show = cfg.n_patients >= 2000 if progress is None else progress
    visit_counter = 0
    for p in tqdm(range(cfg.n_patients), desc="patients", disable=not show):
        patient = _patient(rng, p)
        n_visits = int(min(cfg.max_visits, rng.geometric(0.55)))
        intended = CLASSES[rng.choice(len(CLASSES), p=cfg.class_prior)]
        # Chronic conditions keep their image finding across visits (so a visit-level split leaks the patient).
        chronic = {}
        if intended == "heart_failure" or rng.random() < 0.1:
            chronic["cardiomegaly"] = True
        if intended == "lung_mass":
            chronic["nodule"] = True
        year, day = 2019 + int(rng.integers(0, 4)), int(rng.integers(1, 200))
        walker = _walker(cfg, p, patient["age"])
        for v in range(n_visits):
            if v > 0 and rng.random() < 0.5:  # half of the follow-up visits are for something else
                intended = CLASSES[rng.choice(len(CLASSES), p=cfg.class_prior)]
            f = _draw_findings(rng, intended, cfg, chronic)
            rule = label_from_findings(f)
            label, noisy = rule, False
            if rng.random() < cfg.label_noise:
                label = choice(rng, [c for c in CLASSES if c != rule])
                noisy = True
            visit_counter += 1
            vid = f"v{visit_counter:05d}"
            day += int(rng.integers(20, 300))
            date = np.datetime64(f"{year}-01-01") + np.timedelta64(day, "D")
            vitals = _vitals(rng, f)
            rates = cfg.marker_rate_by_label
            marker_rate = MARKER_RATE if rates is None else rates[CLASSES.index(label)]
            images[vid], drawn = render_image(
                rng, f, patient["anatomy"], cfg.image_size, marker_rate=marker_rate, return_regions=True
            )
            regions += [{"id": vid, **region} for region in drawn]
            af = bool((f["congestion"] and rng.random() < 0.4) or rng.random() < 0.05)
            ecgs[vid] = render_ecg(rng, vitals["hr"], af)
            # The identifiers come from the visit's own stream: their wording leaves every other draw as it was.
            note, spans = note_writer(
                rng, f, patient, str(date), vitals, np.random.default_rng([cfg.seed, 4, visit_counter])
            )
            identifiers += [{"id": vid, **span} for span in spans]
            manifest.append(
                {
                    "id": vid,
                    "patient_id": patient["patient_id"],
                    "visit": v + 1,
                    "split": "",
                    "image": f"images/{vid}.png",
                    "text": note,
                    "report": report_writer(rng, f),
                    "ecg": f"ecg/{vid}.npy",
                    "age": patient["age"] - (2024 - int(str(date)[:4])),
                    "sex": patient["sex"],
                    "label": label,
                }
            )
            findings_rows.append(
                {
                    "id": vid,
                    **{k: int(f[k]) for k in (*IMAGE_FINDINGS, *NOTE_FINDINGS)},
                    "label_rule": rule,
                    "label_noisy": int(noisy),
                }
            )
            if not chest_only:
                _other_questions(cfg, manifest[-1], visit_counter, walker, others)
    # Patient-level split: every visit of a patient lands in the same split.
    split = split_by_patient(pd.DataFrame(manifest), cfg.split_fractions, cfg.seed)
    for row, name in zip(manifest, split, strict=True):
        row["split"] = name
    for question in () if chest_only else ("cardiac", "motion"):
        for row, chest_row in zip(others[question], manifest, strict=True):
            row["split"] = chest_row["split"]
    triage, triage_findings = ([], []) if chest_only else _triage(cfg, manifest, findings_rows, others)
    return {
        "manifest": manifest,
        "findings": findings_rows,
        "regions": regions,
        "identifiers": identifiers,
        "images": images,
        "ecgs": ecgs,
        **others,
        "triage": triage,
        "triage_findings": triage_findings,
        "config": cfg,
    }


def _noisy(rng: np.random.Generator, rule: str, classes: tuple[str, ...], rate: float) -> tuple[str, bool]:
    """The label: the rule's answer, or with probability ``rate`` a random other class (label noise)."""
    if rng.random() < rate:
        return choice(rng, [c for c in classes if c != rule]), True
    return rule, False


def _walker(cfg: CohortConfig, index: int, age: int) -> dict:
    """A patient's body and walk for the movement question, from the patient's own random stream.

    A movement disorder is chronic: a patient's first intended movement class is kept at half of the follow-ups.
    Osteoarthritis is commoner with age (its prior doubles from 70 years, taken from the normal class).
    """
    rng = np.random.default_rng([cfg.seed, 2, index])
    prior = np.array(cfg.motion_prior, dtype=float)
    if age >= 70:
        shift = min(prior[3], prior[0])
        prior[3], prior[0] = prior[3] + shift, prior[0] - shift
    return {"rng": rng, "profile": motion.figure_profile(rng), "prior": prior / prior.sum(), "chronic": None}


def _other_questions(cfg: CohortConfig, row: dict, visit_number: int, walker: dict, out: dict) -> None:
    """The cardiac and movement questions of one visit (chapters 07-08), appended to ``out``."""
    vid = row["id"]
    common = {k: row[k] for k in ("id", "patient_id", "visit", "split")}
    demographics = {"age": row["age"], "sex": row["sex"]}
    # Cardiac: the visit's own stream.
    rng = np.random.default_rng([cfg.seed, 1, visit_number])
    intended = cardiac.CARDIAC_CLASSES[rng.choice(4, p=cfg.cardiac_prior)]
    f = cardiac.draw_cardiac_findings(rng, intended, cfg.distractor_rate)
    rule = cardiac.cardiac_label(f)
    label, noisy = _noisy(rng, rule, cardiac.CARDIAC_CLASSES, cfg.label_noise)
    out["cardiac_ecgs"][vid] = cardiac.render_cardiac_ecg(rng, f, row["age"])
    note = cardiac.write_symptom_note(rng, f)
    out["cardiac"].append({**common, "ecg": f"ecg/{vid}.npy", "text": note, **demographics, "label": label})
    out["cardiac_findings"].append(
        {"id": vid, **{k: int(f[k]) for k in f}, "label_rule": rule, "label_noisy": int(noisy)}
    )
    # Movement: the patient's stream (body, chronic disorder), so the same figure walks at every visit.
    rng = walker["rng"]
    if walker["chronic"] is None or rng.random() < 0.5:
        intended = motion.MOTION_CLASSES[rng.choice(4, p=walker["prior"])]
        walker["chronic"] = walker["chronic"] or intended
    else:
        intended = walker["chronic"]
    movement, record = motion.draw_motion_findings(rng, intended, cfg.distractor_rate)
    rule = motion.motion_label(movement, record)
    label, noisy = _noisy(rng, rule, motion.MOTION_CLASSES, cfg.label_noise)
    out["clips"][vid] = motion.render_clip(rng, movement, walker["profile"])
    out["motion"].append(
        {
            **common,
            "video": f"video/{vid}.gif",
            "text": motion.write_record(rng, record),
            **demographics,
            "label": label,
        }
    )
    out["motion_findings"].append(
        {
            "id": vid,
            "movement": movement,
            **{k: int(record[k]) for k in motion.RECORD_FINDINGS},
            "label_rule": rule,
            "label_noisy": int(noisy),
        }
    )


def _triage(cfg: CohortConfig, manifest: list[dict], findings: list[dict], others: dict) -> tuple[list, list]:
    """The capstone question (chapter 09): which clinic first, from the three questions' rules.

    Its note is the visit's whole record: the chest note, the cardiac symptoms and the movement record.
    """
    rows, truth = [], []
    for i, row in enumerate(manifest):
        chest, heart = findings[i]["label_rule"], others["cardiac_findings"][i]["label_rule"]
        walk = others["motion_findings"][i]["label_rule"]
        rule = "cardiac" if heart != "normal" else "movement" if walk != "normal" else "chest"
        rule = "none" if rule == "chest" and chest == "normal" else rule
        rng = np.random.default_rng([cfg.seed, 3, i])
        label, noisy = _noisy(rng, rule, TRIAGE_CLASSES, cfg.label_noise)
        vid = row["id"]
        record = " ".join((row["text"], others["cardiac"][i]["text"], others["motion"][i]["text"]))
        rows.append(
            {
                **{k: row[k] for k in ("id", "patient_id", "visit", "split")},
                "image": f"../{row['image']}",
                "text": record,
                "ecg": f"../cardiac/ecg/{vid}.npy",
                "video": f"../motion/video/{vid}.gif",
                "age": row["age"],
                "sex": row["sex"],
                "label": label,
            }
        )
        truth.append(
            {
                "id": vid,
                "chest_rule": chest,
                "cardiac_rule": heart,
                "movement_rule": walk,
                "label_rule": rule,
                "label_noisy": int(noisy),
            }
        )
    return rows, truth


def _csv_bytes(rows: list[dict], columns: tuple[str, ...]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def gif_bytes(clip: np.ndarray, fps: int = motion.VIDEO_FPS) -> bytes:
    """A grayscale clip (frames, H, W) uint8 as an animated GIF: lossless for 8-bit gray, opens in any browser."""
    frames = [Image.fromarray(frame) for frame in clip]
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=1000 // fps,
        loop=0,
        optimize=False,
    )
    return buf.getvalue()


def cohort_files(cohort: dict) -> dict[str, bytes]:
    """Every file of the cohort folder as bytes, keyed by relative path (the checksum file included)."""
    files = {
        "manifest.csv": _csv_bytes(cohort["manifest"], MANIFEST_COLUMNS),
        "findings.csv": _csv_bytes(cohort["findings"], FINDINGS_COLUMNS),
        REGIONS_FILE: _csv_bytes(cohort["regions"], REGIONS_COLUMNS),
        IDENTIFIERS_FILE: _csv_bytes(cohort["identifiers"], IDENTIFIERS_COLUMNS),
    }
    for vid in sorted(cohort["images"]):
        files[f"images/{vid}.png"] = _png_bytes(cohort["images"][vid])
        files[f"ecg/{vid}.npy"] = _npy_bytes(cohort["ecgs"][vid])
    files["cardiac/manifest.csv"] = _csv_bytes(cohort["cardiac"], CARDIAC_COLUMNS)
    files["cardiac/findings.csv"] = _csv_bytes(cohort["cardiac_findings"], CARDIAC_FINDINGS_COLUMNS)
    files["motion/manifest.csv"] = _csv_bytes(cohort["motion"], MOTION_COLUMNS)
    files["motion/findings.csv"] = _csv_bytes(cohort["motion_findings"], MOTION_FINDINGS_COLUMNS)
    files["triage/manifest.csv"] = _csv_bytes(cohort["triage"], TRIAGE_COLUMNS)
    files["triage/findings.csv"] = _csv_bytes(cohort["triage_findings"], TRIAGE_FINDINGS_COLUMNS)
    for vid in sorted(cohort["clips"]):
        files[f"cardiac/ecg/{vid}.npy"] = _npy_bytes(cohort["cardiac_ecgs"][vid])
        files[f"motion/video/{vid}.gif"] = gif_bytes(cohort["clips"][vid])
    files[CHECKSUM_FILE] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    ).encode()
    return files


def read_checksums(folder: str | Path) -> dict[str, str]:
    """Parse ``SHA256SUMS`` (the ``sha256sum`` format) into {relative path: hex digest}."""
    path = Path(folder) / CHECKSUM_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the cohort folder has no checksum manifest")
    sums = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise ValueError(f"{path}, line {n}: not a 'sha256  path' line: {line!r}")
        sums[name] = digest
    return sums


def verify_cohort(folder: str | Path) -> list[str]:
    """Compare a cohort folder with its SHA256SUMS; return the problems found (empty list = valid)."""
    folder = Path(folder)
    problems = []
    for name, digest in read_checksums(folder).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: content differs from SHA256SUMS")
    return problems


def load_finding_regions(folder: str | Path | None = None) -> pd.DataFrame:
    """Where the findings and side markers are on the cohort's images (``finding_regions.csv``; chapter 10).

    One row per drawn region: ``id, finding, y0, x0, y1, x1``, a box in fractions of the image (``finding`` is
    one of REGION_KINDS; a visit with an effusion on both sides has two rows). Hidden ground truth, like
    ``findings.csv``: for checking explanations, never a model input.
    """
    from crossmodal_lib.data.folder import cohort_dir

    path = (cohort_dir() if folder is None else Path(folder)) / REGIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: this cohort folder has no record of the finding regions")
    return pd.read_csv(path, dtype={"id": str, "finding": str})


def region_masks(
    regions: pd.DataFrame | list[dict],
    ids: list[str] | np.ndarray | pd.Series,
    size: int,
    findings: str | tuple[str, ...] | None = None,
    margin: float = 0.0,
) -> np.ndarray:
    """Boolean masks (len(ids), size, size) of the regions of each visit, at any image size (chapter 10).

    A pixel is in the mask when its square overlaps a region's box (so even a small nodule covers a pixel at
    size 32). ``findings`` keeps only those kinds (default: every kind but "marker"); ``margin`` grows every box
    by that fraction of the image on each side (the pointing game's tolerance). A visit without such a region
    gets an all-False mask.
    """
    frame = pd.DataFrame(regions, columns=list(REGIONS_COLUMNS)) if isinstance(regions, list) else regions
    missing = [c for c in REGIONS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"regions lack the columns {missing}; load them with load_finding_regions()")
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a whole number >= 1, got {size!r}")
    if findings is None:
        findings = IMAGE_FINDINGS
    findings = (findings,) if isinstance(findings, str) else tuple(findings)
    unknown = [f for f in findings if f not in REGION_KINDS]
    if unknown:
        raise ValueError(f"unknown finding {unknown}; the regions record {list(REGION_KINDS)}")
    rows_of: dict[str, list[int]] = {}
    for i, vid in enumerate(ids):
        rows_of.setdefault(str(vid), []).append(i)  # an id may be asked for more than once
    masks = np.zeros((sum(map(len, rows_of.values())), size, size), dtype=bool)
    edges = np.arange(size + 1) / size
    for r in frame[frame["finding"].isin(findings) & frame["id"].isin(rows_of)].itertuples():
        y0, x0, y1, x1 = r.y0 - margin, r.x0 - margin, r.y1 + margin, r.x1 + margin
        rows = (edges[1:] > y0) & (edges[:-1] < y1)  # pixel [k/size, (k+1)/size) overlaps [y0, y1)
        cols = (edges[1:] > x0) & (edges[:-1] < x1)
        masks[rows_of[r.id]] |= rows[:, None] & cols[None, :]
    return masks


def write_cohort(
    out: str | Path,
    config: CohortConfig | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    lang: str = "en",
) -> Path:
    """Generate the cohort and write it to ``out`` (manifest.csv, findings.csv, finding_regions.csv, images/, ecg/,
    the other questions' subfolders, SHA256SUMS).

    Files already in ``out`` that would change are never replaced silently: without ``overwrite=True`` the call
    stops and names them. ``lang="zh"``: the chest notes and reports in Chinese (see ``generate_cohort``).
    """
    out = Path(out)
    files = cohort_files(generate_cohort(config, progress=progress, lang=lang))
    changed = [
        name for name, data in files.items() if (out / name).exists() and (out / name).read_bytes() != data
    ]
    if changed and not overwrite:
        listing = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise FileExistsError(
            f"{out}: {len(changed)} existing file(s) differ from what this generation makes ({listing}); "
            "pass overwrite=True (--overwrite) to replace them"
        )
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    return out


def save_sample_figure(folder: str | Path, path: str | Path, per_class: int = 4) -> Path:
    """The data card's figure: a few images per class with the start of their note (``data/cohort_samples.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crossmodal_lib.data.folder import load_manifest, read_image

    df = load_manifest(folder)
    fig, axes = plt.subplots(len(CLASSES), per_class, figsize=(2.6 * per_class, 2.9 * len(CLASSES)))
    for r, label in enumerate(CLASSES):
        rows = df[df["label"] == label].head(per_class)
        for c, (_, row) in enumerate(rows.iterrows()):
            ax = axes[r, c]
            ax.imshow(read_image(row["image"]), cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"{row['id']} · {label}", fontsize=8)
            hpi = row["text"].split("HPI: ")[-1][:70]
            ax.set_xlabel("\n".join(hpi[i : i + 35] for i in range(0, len(hpi), 35)), fontsize=6.5)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Synthetic cohort: sample images and notes (HPI excerpt) per label", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
