"""The cohort's cardiac question: a 10-s ECG + the symptom note (chapter 07).

Everything here is synthetic. Each visit gets a 10-s single-lead (lead-II-like) ECG at 100 Hz and a short note of
cardiac symptoms. The label needs both (see ``cardiac_label``), like the chest rule:

* atrial_fibrillation = an irregular rhythm without P waves on the trace  AND palpitations in the note
* ischaemia           = ST depression (and flat or inverted T waves)       AND exertional chest pain in the note
* bradycardia         = a slow rate (36-48 bpm)                            AND syncope or dizzy spells in the note
* normal              = anything else (AF without palpitations is found by chance, not the cause of the visit;
                        palpitations with a regular trace are ectopics or anxiety; ...)

The question a clinician answers is "what explains this visit's complaint": a trace finding that does not explain
the symptoms, or symptoms that the trace does not explain, is labelled normal.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from crossmodal_lib.data.synthetic import choice, draw_pairs, label_by_pairs, pick_phrases, typo

CARDIAC_CLASSES = ("normal", "atrial_fibrillation", "ischaemia", "bradycardia")
# Each disease is a pair (trace finding, symptom finding), in the rule's priority order.
CARDIAC_PAIRS = {
    "atrial_fibrillation": ("irregular_rhythm", "palpitations"),
    "ischaemia": ("st_depression", "chest_pain"),
    "bradycardia": ("slow_rate", "syncope"),
}
TRACE_FINDINGS = tuple(pair[0] for pair in CARDIAC_PAIRS.values())
SYMPTOM_FINDINGS = tuple(pair[1] for pair in CARDIAC_PAIRS.values())
CARDIAC_ECG_SECONDS = 10
ECG_HZ = 100


def cardiac_label(f: dict[str, bool]) -> str:
    """The cardiac rule: a trace finding AND the symptom it explains (in this priority order)."""
    return label_by_pairs(f, CARDIAC_PAIRS, default="normal")


def draw_cardiac_findings(rng: np.random.Generator, intended: str, distractor_rate: float) -> dict[str, bool]:
    """Trace and symptom findings of one visit (``draw_pairs``: the intended pair plus halves of the others)."""
    return draw_pairs(rng, intended, CARDIAC_PAIRS, distractor_rate)


def _wave(t: np.ndarray, centre: float, width: float, height: float) -> np.ndarray:
    return height * np.exp(-((t - centre) ** 2) / (2 * width**2))


def render_cardiac_ecg(rng: np.random.Generator, f: dict[str, bool], age: int) -> np.ndarray:
    """A 10-s lead-II-like ECG at 100 Hz in millivolts, float32 (1000,), showing the visit's trace findings.

    Beats have P, Q, R, S and T waves whose heights vary a little from beat to beat. Sinus rhythm has heart-rate
    variability (a breathing rhythm plus jitter); atrial fibrillation has irregularly irregular RR intervals, no
    P waves and fibrillatory waves; a slow rate is 36-48 bpm; ischaemia depresses the ST segment and flattens or
    inverts the T wave. Every trace has baseline wander (breathing, movement), and some have bursts of muscle noise.
    """
    n = ECG_HZ * CARDIAC_ECG_SECONDS
    t = np.arange(n) / ECG_HZ
    af, slow = f["irregular_rhythm"], f["slow_rate"]
    if slow:
        rate = rng.uniform(36, 48)
    else:
        rate = rng.uniform(85, 130) if af else rng.uniform(58, 98) - 0.08 * max(age - 60, 0)
    rr_mean = 60.0 / rate
    breathing = rng.uniform(0.2, 0.33)  # Hz
    beats, time = [], rng.uniform(-rr_mean, 0)
    while time < CARDIAC_ECG_SECONDS + 1:
        beats.append(time)
        if af:
            rr = rr_mean * rng.uniform(0.55, 1.45)
        else:  # respiratory sinus arrhythmia: the heart speeds up on breathing in
            rr = rr_mean * (1 + 0.05 * np.sin(2 * np.pi * breathing * time) + rng.normal(0, 0.015))
        time += rr
    amplitude = rng.uniform(0.8, 1.5)  # body habitus and electrode placement
    st = -rng.uniform(0.12, 0.25) if f["st_depression"] else rng.normal(0, 0.015)
    t_height = rng.uniform(-0.2, 0.05) if f["st_depression"] else rng.uniform(0.2, 0.4)
    sig = np.zeros(n)
    for b in beats:
        qt = 0.4 * np.sqrt(min(rr_mean, 1.5))  # QT shortens as the rate rises (Bazett)
        if not af:
            sig += _wave(t, b - 0.16, 0.022, rng.uniform(0.1, 0.18))  # P
        sig += _wave(t, b - 0.03, 0.008, -0.1 * amplitude)  # Q
        sig += _wave(t, b, 0.011, amplitude * rng.uniform(0.95, 1.05))  # R
        sig += _wave(t, b + 0.035, 0.01, -0.25 * amplitude)  # S
        # ST segment: a plateau between S and T (zero unless ischaemic), then the T wave
        sig += st * expit((t - b - 0.06) / 0.01) * expit(-(t - b - qt + 0.08) / 0.02)
        sig += _wave(t, b + qt - 0.1, 0.045, t_height * rng.uniform(0.9, 1.1))  # T
    if af:
        sig += rng.uniform(0.03, 0.07) * np.sin(2 * np.pi * rng.uniform(5, 7) * t + rng.uniform(0, 6.3))
    sig += rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * breathing * t + rng.uniform(0, 6.3))  # baseline wander
    sig += rng.uniform(-0.3, 0.3) * (t / CARDIAC_ECG_SECONDS)  # slow drift
    if rng.random() < 0.3:  # a burst of muscle noise (the patient moved)
        start, length = rng.uniform(0, CARDIAC_ECG_SECONDS - 2), rng.uniform(0.5, 2)
        burst = (t > start) & (t < start + length)
        sig[burst] += rng.normal(0, rng.uniform(0.05, 0.12), int(burst.sum()))
    sig += rng.normal(0, 0.015, n)
    return sig.astype(np.float32)


SYMPTOM_POSITIVE = {
    "palpitations": (
        "palpitations",
        "heart racing at rest",
        "fluttering in the chest",
        "irregular heartbeat felt for {d} days",
        "skipped beats and pounding heart",
    ),
    "chest_pain": (
        "central chest pain on exertion",
        "crushing chest pain walking uphill",
        "tightness radiating to the left arm",
        "angina-like pain relieved by rest",
        "exertional chest pressure",
    ),
    "syncope": (
        "fainted at home",
        "collapsed without warning",
        "blackout lasting {d} minutes",
        "dizzy spells, nearly fainted",
        "syncopal episode",
    ),
}
SYMPTOM_NEGATIVE = {
    "palpitations": ("denies palpitations", "no racing heart", "no awareness of heartbeat"),
    "chest_pain": ("no chest pain", "denies chest tightness", "no exertional pain"),
    "syncope": ("no blackouts", "denies fainting", "no dizziness"),
}
SYMPTOM_NONSPECIFIC = (
    "tired lately",
    "anxious about work",
    "breathless on stairs",
    "indigestion after meals",
    "coffee {d} cups a day",
    "sleeping poorly",
    "ankles puffy in the evening",
)


def write_symptom_note(rng: np.random.Generator, f: dict[str, bool]) -> str:
    """The cardiac symptom note: reason, symptoms (with negations), nonspecific complaints. No heart rate: a
    written rate would give the bradycardia away without the trace (the chest notes' vitals are such a shortcut)."""
    symptoms = pick_phrases(rng, f, SYMPTOM_POSITIVE, SYMPTOM_NEGATIVE, SYMPTOM_NONSPECIFIC)
    symptoms = [symptoms[i].format(d=int(rng.integers(2, 6))) for i in rng.permutation(len(symptoms))]
    reason = choice(rng, ("cardiology review", "chest clinic referral", "GP referral", "ECG clinic"))
    body = "; ".join(symptoms) + "." if symptoms else "no cardiac symptoms."
    return typo(rng, f"Cardiac symptoms ({reason}): {body}")
