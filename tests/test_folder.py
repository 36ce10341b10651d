"""The folder format: every bad input a new user could bring gets an error naming the row and the problem."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossmodal_lib.__main__ import main
from crossmodal_lib.data import load_manifest, read_image, read_images, split_by_patient


@pytest.fixture()
def folder(tiny_cohort, tmp_path):
    """A private copy of the tiny cohort that a test may break."""
    return shutil.copytree(tiny_cohort, tmp_path / "data")


def rewrite(folder, edit):
    df = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    edit(df)
    df.to_csv(folder / "manifest.csv", index=False)


def test_loads_and_resolves_paths(folder):
    df = load_manifest(folder)
    assert len(df) > 12 and df["image"].map(lambda p: p.startswith(str(folder))).all()
    assert read_image(df["image"].iloc[0]).shape == (32, 32)


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_manifest(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="needs a manifest.csv"):
        load_manifest(tmp_path)


def test_wrong_columns(folder):
    def rename(df):
        df.columns = ["diagnosis" if c == "label" else c for c in df.columns]

    rewrite(folder, rename)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['label'\]"):
        load_manifest(folder)


def test_a_manifest_needs_a_modality_and_may_have_any_subset(folder):
    def drop(*columns):
        return lambda df: [df.pop(c) for c in columns]

    rewrite(folder, drop("text", "ecg"))
    assert "text" not in load_manifest(folder).columns  # images only: a valid data set
    rewrite(folder, drop("image"))
    with pytest.raises(
        ValueError, match=r"no modality column; it needs at least one of \['image', 'text', 'ecg', 'video'\]"
    ):
        load_manifest(folder)


def test_duplicate_ids(folder):
    def dup(df):
        df.loc[1, "id"] = df.loc[0, "id"]

    rewrite(folder, dup)
    with pytest.raises(ValueError, match=r"line 3 .*duplicate id"):
        load_manifest(folder)


def test_patient_in_two_splits(folder):
    def cross(df):
        first = df["patient_id"].value_counts().index[0]
        rows = df.index[df["patient_id"] == first]
        df.loc[rows[0], "split"], df.loc[rows[1], "split"] = "train", "test"

    rewrite(folder, cross)
    with pytest.raises(ValueError, match="appears in several splits"):
        load_manifest(folder)


def test_unknown_split_and_single_class(folder):
    rewrite(folder, lambda df: df.__setitem__("split", "training"))
    with pytest.raises(ValueError, match=r"split 'training' is not one of"):
        load_manifest(folder)
    rewrite(folder, lambda df: (df.__setitem__("split", "train"), df.__setitem__("label", "normal")))
    with pytest.raises(ValueError, match="needs >= 2 classes"):
        load_manifest(folder)


def test_missing_image_file_names_the_row(folder):
    df = load_manifest(folder)
    (folder / "images" / f"{df['id'].iloc[2]}.png").unlink()
    with pytest.raises(FileNotFoundError, match=rf"line 4 \(id '{df['id'].iloc[2]}'\): image file"):
        load_manifest(folder)


def test_corrupt_and_unsupported_images(folder, tmp_path):
    bad = folder / "images" / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="unreadable or corrupt"):
        read_image(bad)
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain numeric"):
        read_image(pickled)
    rewrite(folder, lambda df: df.__setitem__("image", "images/x.gif"))
    with pytest.raises(ValueError, match="unsupported type"):
        load_manifest(folder)


def test_non_utf8_text(folder):
    path = folder / "manifest.csv"
    path.write_bytes(path.read_bytes().replace(b"Patient:", "Patiént:".encode("latin-1"), 1))
    with pytest.raises(ValueError, match=r"line 2: text is not valid UTF-8"):
        load_manifest(folder)


def test_empty_cells_mean_missing_modality(folder):
    def blank(df):
        df.loc[0, "image"] = ""
        df.loc[1, "text"] = ""

    rewrite(folder, blank)
    df = load_manifest(folder)
    assert df.loc[0, "image"] == "" and df.loc[1, "text"] == ""


def test_split_by_patient_keeps_patients_together(folder):
    df = load_manifest(folder).drop(columns="split")
    split = split_by_patient(df, seed=1)
    assert set(split) <= {"train", "val", "test"} and (split == "train").any()
    assert (df.assign(split=split).groupby("patient_id")["split"].nunique() == 1).all()
    assert split.equals(split_by_patient(df, seed=1))
    with pytest.raises(ValueError, match="fractions"):
        split_by_patient(df, fractions=(0.5, 0.5, 0.5))


def test_cli_generate_verify_and_bad_parameters(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["generate", "--out", str(out), "--n", "3", "--image-size", "32"]) == 0
    assert main(["verify", str(out)]) == 0
    (out / "findings.csv").write_text("edited")
    assert main(["verify", str(out)]) == 1
    assert main(["generate", "--out", str(out), "--n", "3", "--image-size", "32"]) == 2
    assert "differ from what this generation makes" in capsys.readouterr().err
    assert main(["generate", "--out", str(tmp_path / "d"), "--image-size", "50"]) == 2
    assert "image_size must be one of" in capsys.readouterr().err


def test_read_images_names_the_row_of_a_corrupt_image(folder):
    df = load_manifest(folder)
    Path(df["image"].iloc[3]).write_bytes(b"garbage")
    with pytest.raises(
        ValueError, match=rf"manifest.csv line 5 \(id '{df['id'].iloc[3]}'\): image .* corrupt"
    ):
        read_images(df)
    assert len(read_images(df.iloc[:3])) == 3


# ---------------------------------------------------------------------------------------------------- ECG files
def test_ecgs_read_as_one_batch(folder):
    from crossmodal_lib.data import read_ecgs

    x = read_ecgs(load_manifest(folder))
    assert x.dtype == np.float32 and x.shape[0] > 12 and x.shape[2] == 1
    assert np.isfinite(x).all()


def _break_ecg(folder, row, array, name="broken.npy"):
    np.save(folder / "ecg" / name, array)
    rewrite(
        folder,
        lambda df: df.__setitem__("ecg", [f"ecg/{name}" if i == row else p for i, p in enumerate(df["ecg"])]),
    )


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (
            np.zeros(450, np.float32),
            r"line 5 \(id '.+'\): ECG has shape \(450, 1\) \(samples, leads\), the first row's has \(500, 1\)",
        ),
        (
            np.r_[np.zeros(10), np.nan, np.zeros(489)].astype(np.float32),
            r"line 5 .*1 NaN or infinite samples \(first at sample 10\)",
        ),
        (np.array(["a", "b"]), r"line 5 .*holds <U1 of shape \(2,\)"),
    ],
)
def test_a_bad_ecg_is_named_by_its_row(folder, array, message):
    from crossmodal_lib.data import read_ecgs

    _break_ecg(folder, 3, array)
    with pytest.raises(ValueError, match=message):
        read_ecgs(load_manifest(folder))


def test_missing_or_unsupported_ecg_files_are_named(folder):
    rewrite(folder, lambda df: df.__setitem__("ecg", ["ecg/nowhere.npy"] + list(df["ecg"][1:])))
    with pytest.raises(FileNotFoundError, match=r"line 2 \(id '.+'\): ecg file 'ecg/nowhere.npy' not found"):
        load_manifest(folder)
    rewrite(folder, lambda df: df.__setitem__("ecg", ["ecg/trace.csv"] + list(df["ecg"][1:])))
    with pytest.raises(ValueError, match=r"line 2 .*ecg 'ecg/trace.csv' has an unsupported type"):
        load_manifest(folder, check_files=False)


def test_wfdb_ecgs_must_have_the_expected_rate(folder):
    import wfdb

    from crossmodal_lib.data import read_ecgs

    trace = np.sin(np.linspace(0, 20, 500))[:, None]
    for name, fs in (("at100", 100), ("at250", 250)):
        wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["II"], p_signal=trace, write_dir=str(folder / "ecg"))
    rewrite(
        folder, lambda df: df.__setitem__("ecg", ["ecg/at100.hea", "ecg/at250.hea"] + list(df["ecg"][2:]))
    )
    df = load_manifest(folder)
    assert np.allclose(read_ecgs(df.head(1))[0, :, 0], trace[:, 0], atol=1e-3)
    with pytest.raises(ValueError, match=r"line 3 .*sampled at 250 Hz, expected 100 Hz"):
        read_ecgs(df)
