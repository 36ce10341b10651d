"""The cohort's movement question: a short clip of the patient walking + the record (chapter 08).

Everything here is synthetic. Each visit gets a 16-frame, 32x32 grayscale clip of a stylised figure walking across
the frame (a silhouette: head, trunk, arms, legs), drawn from a gait model, and a short record (history and
symptoms). The label needs both (see ``motion_label``):

* stroke          = a limp (asymmetric gait)            AND a stroke history in the record (sudden one-sided weakness)
* osteoarthritis  = a limp                              AND joint pain in the record (hip or knee pain, stiffness)
* parkinsonism    = a shuffling gait or a tremor        AND parkinsonian signs in the record (slowness, small writing)
* normal          = anything else (a limp after a sprained ankle, knee pain with a normal gait, ...)

The same limp has two causes that only the record tells apart; the same record fits a normal walk.
"""

from __future__ import annotations

import numpy as np

from crossmodal_lib.data.synthetic import choice, pick_phrases, typo

MOTION_CLASSES = ("normal", "parkinsonism", "stroke", "osteoarthritis")
MOVEMENTS = ("normal_gait", "shuffling", "limp", "tremor")
RECORD_FINDINGS = ("parkinsonian", "stroke_history", "joint_pain")
VIDEO_FRAMES = 16
VIDEO_SIZE = 32
VIDEO_FPS = 8
# What each class needs: the movements that can show it and the record finding that explains them.
_CAUSES = {
    "stroke": (("limp",), "stroke_history"),
    "osteoarthritis": (("limp",), "joint_pain"),
    "parkinsonism": (("shuffling", "tremor"), "parkinsonian"),
}


def motion_label(movement: str, record: dict[str, bool]) -> str:
    """The movement question's rule: a movement AND the record finding that explains it (in this priority order)."""
    for label, (movements, finding) in _CAUSES.items():
        if movement in movements and record[finding]:
            return label
    return "normal"


def draw_motion_findings(
    rng: np.random.Generator, intended: str, distractor_rate: float
) -> tuple[str, dict[str, bool]]:
    """The clip's movement and the record's findings for one visit whose intended class is ``intended``.

    Distractors make each modality ambiguous alone: a visit meant to be normal often shows an abnormal movement
    (with no explaining record), and the record often carries another class's finding (with no matching movement).
    """
    if intended == "normal":
        movement = choice(rng, MOVEMENTS[1:]) if rng.random() < distractor_rate * 0.6 else "normal_gait"
    else:
        movements = _CAUSES[intended][0]
        movement = movements[0] if len(movements) == 1 or rng.random() < 0.6 else movements[1]
    record = {name: False for name in RECORD_FINDINGS}
    if intended != "normal":
        record[_CAUSES[intended][1]] = True
    for label, (movements, finding) in _CAUSES.items():
        if label == intended or record[finding]:
            continue
        # A record finding that would explain this clip's movement would change the label: never a distractor.
        if rng.random() < distractor_rate * 0.5 and movement not in movements:
            record[finding] = True
    return movement, record


def figure_profile(rng: np.random.Generator) -> dict[str, float]:
    """A patient's body and walk, kept across visits: height in pixels, walking speed, cadence, brightness."""
    return {
        "height": rng.uniform(19, 25),
        "speed": rng.uniform(0.7, 1.0),
        "period": rng.uniform(7, 9),
        "brightness": rng.uniform(0.75, 0.95),
    }


def _segments_to_frame(segments: list[tuple], heads: tuple, size: int, blur: float) -> np.ndarray:
    """Draw thick anti-aliased segments ((x0, y0, x1, y1, half-width)) and a head (x, y, r) on a size x size frame."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    ink = np.zeros((size, size))
    for x0, y0, x1, y1, w in segments:
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        d = np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
        ink = np.maximum(ink, np.clip(w + 0.5 - d, 0, 1) ** blur)
    hx, hy, hr = heads
    ink = np.maximum(ink, np.clip(hr + 0.5 - np.hypot(xx - hx, yy - hy), 0, 1))
    return ink


def render_clip(
    rng: np.random.Generator, movement: str, profile: dict[str, float], frames: int = VIDEO_FRAMES
) -> np.ndarray:
    """A clip of the figure walking across the frame, uint8 (frames, VIDEO_SIZE, VIDEO_SIZE), for one movement.

    The gait model: hips swing as sin(phase) and knees bend in the swing phase; a *shuffling* gait has short steps,
    a stooped trunk, little arm swing and a quicker cadence; a *limp* swings one leg much less and dips the body
    on it (an asymmetric rhythm); a *tremor* is a normal walk whose hands shake from frame to frame.
    """
    size = VIDEO_SIZE
    h = profile["height"] * rng.uniform(0.96, 1.04)
    thigh, shin, trunk, upper_arm, forearm = 0.25 * h, 0.24 * h, 0.3 * h, 0.17 * h, 0.16 * h
    head_r = 0.085 * h
    period = profile["period"] * rng.uniform(0.92, 1.08)
    hip_amp, knee_amp, arm_amp, lean = np.radians(24), np.radians(40), np.radians(22), np.radians(3)
    speed = profile["speed"] * rng.uniform(0.9, 1.1)
    bad_leg_amp, dip = 1.0, 0.0
    if movement == "shuffling":
        hip_amp, knee_amp, arm_amp = np.radians(rng.uniform(6, 9)), np.radians(10), np.radians(4)
        lean, period, speed = np.radians(rng.uniform(14, 22)), period * 0.7, speed * 0.45
    elif movement == "limp":
        bad_leg_amp, dip, speed = rng.uniform(0.25, 0.45), rng.uniform(1.0, 1.6), speed * 0.75
    elif movement == "tremor":
        hip_amp *= 0.85
    direction = 1.0 if rng.random() < 0.5 else -1.0
    ground = size - 2.5 + rng.normal(0, 0.4)
    x_start = size / 2 - direction * speed * frames / 2 + rng.normal(0, 1.5)
    phase0 = rng.uniform(0, 2 * np.pi)
    tremor_phase = rng.uniform(0, 2 * np.pi)
    background = rng.uniform(0.08, 0.25)
    clip = np.empty((frames, size, size), dtype=np.uint8)
    for f in range(frames):
        phase = 2 * np.pi * f / period + phase0
        hip_x = x_start + direction * speed * f
        swing = (np.sin(phase), np.sin(phase + np.pi))
        amps = (hip_amp, hip_amp * bad_leg_amp)
        # The body dips when it stands on the bad leg (half of the cycle), as in an antalgic gait.
        hip_y = ground - (thigh + shin) * 0.97 + dip * max(0.0, np.sin(phase + np.pi / 2))
        segments = []
        for leg in range(2):
            a = amps[leg] * swing[leg]
            knee_bend = (
                knee_amp * (bad_leg_amp if leg == 1 else 1.0) * max(0.0, np.sin(phase + np.pi * leg - 0.6))
            )
            kx, ky = hip_x + direction * thigh * np.sin(a), hip_y + thigh * np.cos(a)
            fx = kx + direction * shin * np.sin(a - knee_bend)
            fy = min(ky + shin * np.cos(a - knee_bend), ground)
            segments += [(hip_x, hip_y, kx, ky, 1.1), (kx, ky, fx, fy, 0.9)]
        sx, sy = hip_x + direction * trunk * np.sin(lean), hip_y - trunk * np.cos(lean)
        segments.append((hip_x, hip_y, sx, sy, 1.3))
        for arm in range(2):
            a = arm_amp * swing[1 - arm]  # each arm swings with the opposite leg
            ex, ey = sx + direction * upper_arm * np.sin(a), sy + upper_arm * np.cos(a)
            bend = np.radians(20)
            if movement == "tremor":
                bend += np.radians(28) * np.sin(np.pi * f + tremor_phase + arm)  # about 4 Hz at 8 frames/s
            hx, hy = ex + direction * forearm * np.sin(a + bend), ey + forearm * np.cos(a + bend)
            segments += [(sx, sy, ex, ey, 0.8), (ex, ey, hx, hy, 0.7)]
        head = (sx + direction * head_r * np.sin(lean) * 1.5, sy - head_r * 1.3, head_r)
        ink = _segments_to_frame(segments, head, size, blur=1.0)
        frame = background + (profile["brightness"] - background) * ink
        # No sensor noise: it would make every GIF as large as the raw frames; the figures vary instead.
        clip[f] = (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)
    return clip


# --------------------------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------------------------
RECORD_POSITIVE = {
    "parkinsonian": (
        "family notice he moves more slowly",
        "handwriting has become small",
        "voice softer over the last year",
        "slowness getting out of a chair",
        "reduced facial expression",
        "hands shake at rest",
        "difficulty turning in bed",
    ),
    "stroke_history": (
        "sudden weakness of the {side} leg last month",
        "admitted with a stroke in {year}",
        "left-sided weakness after a CVA",
        "right facial droop since TIA",
        "residual {side} hemiparesis",
        "MRI showed an infarct",
    ),
    "joint_pain": (
        "{side} hip pain on walking",
        "knee pain worse after rest",
        "morning stiffness of the {side} knee",
        "osteoarthritis of the hip on x-ray",
        "groin pain when climbing stairs",
        "uses a stick for knee pain",
    ),
}
RECORD_NEGATIVE = {
    "parkinsonian": ("no tremor at rest", "writing unchanged", "no slowness of movement"),
    "stroke_history": ("no previous stroke", "no focal weakness", "no history of TIA"),
    "joint_pain": ("no joint pain", "hips and knees pain-free", "no morning stiffness"),
}
RECORD_NONSPECIFIC = (
    "two falls this year",
    "worried about balance",
    "tires after a short walk",
    "sprained {side} ankle last week",
    "back ache",
    "poor sleep",
    "lives alone, walks to the shops",
    "daughter worried about memory",
)


def write_record(rng: np.random.Generator, record: dict[str, bool]) -> str:
    """The movement clinic's record: reason, history and symptoms (with negations), and irrelevant sentences."""
    sentences = pick_phrases(rng, record, RECORD_POSITIVE, RECORD_NEGATIVE, RECORD_NONSPECIFIC)
    sentences = [
        s.format(side=("left", "right")[rng.integers(2)], year=2015 + int(rng.integers(0, 8)))
        for s in (sentences[i] for i in rng.permutation(len(sentences)))
    ]
    reason = choice(rng, ("gait assessment", "falls clinic", "walking difficulty", "mobility review"))
    body = "; ".join(sentences) + "." if sentences else "no new complaints."
    return typo(rng, f"Movement clinic: {reason}. History: {body}")
