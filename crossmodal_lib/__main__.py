"""Command line: ``python -m crossmodal_lib {generate,data,verify,train,deidentify} ...`` (see README.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crossmodal_lib.course import COHORT_DIR, DATA_DIR


def _generate(args: argparse.Namespace) -> int:
    from crossmodal_lib.data import CohortConfig, verify_cohort, write_cohort

    cfg = CohortConfig(
        n_patients=args.n, seed=args.seed, image_size=args.image_size, label_noise=args.label_noise
    )
    out = write_cohort(
        args.out, cfg, overwrite=args.overwrite, progress=True if args.progress else None, lang=args.lang
    )
    problems = verify_cohort(out)
    if problems:
        raise ValueError(f"{out} does not match its own SHA256SUMS: {problems[:3]}")
    print(
        f"wrote the cohort (n_patients={cfg.n_patients}, seed={cfg.seed}, image_size={cfg.image_size}) to {out}"
    )
    return 0


def _data(args: argparse.Namespace) -> int:
    """Regenerate the committed cohort with the defaults, refuse silent changes, verify the checksums."""
    from crossmodal_lib.data import verify_cohort, write_cohort
    from crossmodal_lib.data.cohort import read_checksums, save_sample_figure

    committed = read_checksums(COHORT_DIR) if (COHORT_DIR / "SHA256SUMS").is_file() else {}
    write_cohort(COHORT_DIR, overwrite=args.overwrite)
    problems = verify_cohort(COHORT_DIR)
    if problems:
        raise ValueError(f"{COHORT_DIR} does not match SHA256SUMS: {problems[:5]}")
    if committed and read_checksums(COHORT_DIR) != committed:
        print("note: the regenerated cohort differs from the previous SHA256SUMS (you passed --overwrite)")
    save_sample_figure(COHORT_DIR, DATA_DIR / "cohort_samples.png")
    print(f"cohort in {COHORT_DIR} regenerated and verified against SHA256SUMS")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from crossmodal_lib.data import verify_cohort

    problems = verify_cohort(args.folder)
    for p in problems:
        print(f"  {p}")
    if problems:
        print(
            f"{args.folder}: {len(problems)} file(s) do not match SHA256SUMS; run `make data` to regenerate"
        )
        return 1
    print(f"{args.folder}: all files match SHA256SUMS")
    return 0


def _specialists(specs: list[str] | None) -> dict | None:
    """``NAME=DIR`` or ``NAME=DIR:MOD,MOD`` (repeated) -> {name: folder or (folder, modalities)}."""
    if not specs:
        return None
    out: dict = {}
    for spec in specs:
        name, sep, where = spec.partition("=")
        if not sep or not name or not where:
            raise ValueError(f"--specialist {spec!r}: write NAME=DIR or NAME=DIR:MODALITY,MODALITY")
        folder, _, modalities = where.partition(":")
        out[name] = (folder, modalities.split(",")) if modalities else folder
    return out


def _train(args: argparse.Namespace) -> int:
    from crossmodal_lib.pipeline import train

    result = train(
        args.data,
        args.out,
        overwrite=args.overwrite,
        fast=True if args.fast else None,
        seed=args.seed,
        modalities=args.modalities.split(",") if args.modalities else None,
        specialists=_specialists(args.specialist),
    )
    print(json.dumps(result.get("summary", result), indent=2, default=str)[:4000])
    print(f"metrics and figures written to {args.out}")
    return 0


def _deidentify(args: argparse.Namespace) -> int:
    from crossmodal_lib.privacy import deidentify_folder

    report = deidentify_folder(
        args.data, args.out, surrogates=args.surrogates, pseudonymise_ids=args.pseudonymise_ids
    )
    replaced = ", ".join(f"{kind} {n}" for kind, n in report["replaced"].items() if n)
    print(f"de-identified {report['notes']} notes ({replaced or 'no identifier found'})")
    print(f"DICOM files: {report['dicom_files']}, other files copied: {report['copied_files']}")
    for warning in report["burned_in_warnings"]:
        print(f"  check for burned-in text: {warning}")
    print(
        f"wrote the de-identified copy to {args.out} (not copied: {', '.join(report['skipped']) or 'nothing'})"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crossmodal_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="generate a synthetic cohort into a folder")
    g.add_argument("--out", required=True, type=Path, help="folder to write (manifest.csv, images/, ...)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--n", type=int, default=1000, help="number of patients (each has 1-4 visits)")
    g.add_argument("--image-size", type=int, default=64, help="32, 64, 128 or 256")
    g.add_argument("--label-noise", type=float, default=0.05)
    g.add_argument("--overwrite", action="store_true", help="replace existing files that differ")
    g.add_argument("--progress", action="store_true", help="always show a progress bar")
    g.add_argument(
        "--lang",
        choices=("en", "zh"),
        default="en",
        help="language of the chest notes and reports (zh: Chinese)",
    )
    g.set_defaults(func=_generate)

    d = sub.add_parser("data", help="regenerate the committed cohort (data/cohort) and verify its checksums")
    d.add_argument("--overwrite", action="store_true", help="replace committed files that differ")
    d.set_defaults(func=_data)

    v = sub.add_parser("verify", help="check a cohort folder against its SHA256SUMS")
    v.add_argument("folder", nargs="?", type=Path, default=COHORT_DIR)
    v.set_defaults(func=_verify)

    t = sub.add_parser("train", help="run the course pipeline on a data folder and write metrics")
    t.add_argument("--data", type=Path, default=COHORT_DIR, help="a folder in the course's manifest format")
    t.add_argument("--out", required=True, type=Path, help="run folder for metrics.json and figures")
    t.add_argument("--overwrite", action="store_true", help="allow a non-empty run folder")
    t.add_argument("--fast", action="store_true", help="fast mode (as CROSSMODAL_FAST=1)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--modalities", help="comma-separated, e.g. image,text (default: every modality the manifest has)"
    )
    t.add_argument(
        "--specialist",
        action="append",
        metavar="NAME=DIR[:MODS]",
        help="a question this one builds on (repeat it): adds the staged model of chapter 09, e.g. "
        "--specialist cardiac=data/cohort/cardiac --specialist motion=data/cohort/motion",
    )
    t.set_defaults(func=_train)

    de = sub.add_parser("deidentify", help="write a de-identified copy of a data folder (chapter 12)")
    de.add_argument("--data", required=True, type=Path, help="the folder to copy (it is never changed)")
    de.add_argument("--out", required=True, type=Path, help="a new or empty folder, outside --data")
    de.add_argument(
        "--surrogates", action="store_true", help="fake names and shifted dates instead of [NAME], [DATE] ..."
    )
    de.add_argument("--pseudonymise-ids", action="store_true", help="replace patient ids by keyed pseudonyms")
    de.set_defaults(func=_deidentify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
