"""DICOM reading and writing (crossmodal_lib.data.dicom), on pydicom's bundled real scans and files we write."""

from __future__ import annotations

import hashlib

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import SecondaryCaptureImageStorage

from crossmodal_lib.data.dicom import (
    CT_WINDOWS,
    apply_window,
    read_dataset,
    read_dicom,
    read_dicom_values,
    write_dicom,
)

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")


def _image(shape=(32, 40), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_ct_small_rescale_gives_hounsfield_units():
    ds = pydicom.dcmread(CT)
    assert (ds.RescaleSlope, ds.RescaleIntercept) == (1, -1024)
    hu = read_dicom_values(CT)
    assert hu.shape == (128, 128)
    np.testing.assert_array_equal(hu, ds.pixel_array.astype(np.float64) - 1024.0)
    # A CT slice spans air/lung (far below 0 HU) to soft tissue and bone (above 0), inside the CT scale.
    assert -1024 <= hu.min() < -500
    assert 100 < hu.max() <= 3071
    assert -200 < np.median(hu) < 200


def test_ct_small_without_window_is_min_max_scaled():
    img = read_dicom(CT)
    assert img.dtype == np.float32 and img.shape == (128, 128)
    assert img.min() == 0.0 and img.max() == 1.0
    hu = read_dicom_values(CT)
    np.testing.assert_allclose(img, (hu - hu.min()) / (hu.max() - hu.min()), atol=1e-6)


@pytest.mark.parametrize("name", sorted(CT_WINDOWS))
def test_ct_windows_clip_below_and_above(name):
    center, width = CT_WINDOWS[name]
    hu = read_dicom_values(CT)
    img = read_dicom(CT, window=name)
    assert img.dtype == np.float32 and 0.0 <= img.min() and img.max() <= 1.0
    assert np.all(img[hu <= center - width / 2] == 0.0)
    assert np.all(img[hu > center + width / 2] == 1.0)
    inside = (hu > center - width / 2 + 1) & (hu < center + width / 2 - 1)
    # The DICOM linear window: (x - (c - 0.5)) / (w - 1) + 0.5.
    np.testing.assert_allclose(img[inside], (hu[inside] - (center - 0.5)) / (width - 1) + 0.5, atol=1e-5)
    np.testing.assert_array_equal(img, read_dicom(CT, window=(center, width)))


def test_lung_and_mediastinum_windows_differ():
    lung, soft = read_dicom(CT, window="lung"), read_dicom(CT, window="mediastinum")
    # The narrow mediastinal window saturates far more pixels than the wide lung window.
    saturated = lambda a: float(np.mean((a == 0) | (a == 1)))  # noqa: E731
    assert saturated(soft) > 1.5 * saturated(lung)  # measured: 0.32 vs 0.17 of the pixels


def test_mr_small_uses_the_file_window():
    ds = pydicom.dcmread(MR)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    img = read_dicom(MR)
    assert img.shape == (64, 64) and img.dtype == np.float32
    values = read_dicom_values(MR)  # MR has no rescale: values are the stored pixels
    np.testing.assert_array_equal(values, ds.pixel_array)
    np.testing.assert_allclose(img, apply_window(values, center, width), atol=1e-6)
    assert not np.allclose(img, read_dicom(MR, window="minmax"))


def test_window_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown window 'liver'"):
        read_dicom(CT, window="liver")
    with pytest.raises(ValueError, match="center, width"):
        read_dicom(CT, window=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="width must be > 0"):
        read_dicom(CT, window=(40, 0))


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_write_read_round_trip(tmp_path, bits, photometric):
    img = _image()
    path = write_dicom(img, tmp_path / "a.dcm", patient_id="P0001", bits=bits, photometric=photometric)
    back = read_dicom(path)
    assert back.shape == img.shape and back.dtype == np.float32
    assert np.abs(back - img).max() <= 0.5 / (2**bits - 1) + 1e-6
    ds = pydicom.dcmread(path)
    assert ds.file_meta.MediaStorageSOPClassUID == SecondaryCaptureImageStorage
    assert ds.SOPClassUID == SecondaryCaptureImageStorage
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.PatientID == "P0001" and ds.PhotometricInterpretation == photometric
    assert (ds.BitsAllocated, ds.BitsStored, ds.Rows, ds.Columns) == (bits, bits, 32, 40)


def test_monochrome1_is_stored_inverted_and_read_back_upright(tmp_path):
    img = np.zeros((16, 16), np.float32)
    img[4:8, 4:8] = 1.0  # a bright square on black
    path = write_dicom(img, tmp_path / "m1.dcm", patient_id="P1", photometric="MONOCHROME1")
    stored = pydicom.dcmread(path).pixel_array
    assert stored[0, 0] == 255 and stored[5, 5] == 0  # white background, dark square in the file
    back = read_dicom(path)
    assert back[0, 0] == 0.0 and back[5, 5] == 1.0  # shown upright: MONOCHROME1 inverted on reading


def test_write_is_deterministic(tmp_path):
    img = _image()
    a = write_dicom(img, tmp_path / "x" / "same.dcm", patient_id="P7")
    b = write_dicom(img, tmp_path / "y" / "same.dcm", patient_id="P7")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    c = write_dicom(img, tmp_path / "other.dcm", patient_id="P7")
    assert pydicom.dcmread(c).SOPInstanceUID != pydicom.dcmread(a).SOPInstanceUID
    assert pydicom.dcmread(c).StudyInstanceUID == pydicom.dcmread(a).StudyInstanceUID  # same patient's study


def test_write_accepts_uint8_and_uint16(tmp_path):
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_allclose(read_dicom(write_dicom(u8, tmp_path / "u8.dcm", "P")), u8 / 255.0, atol=1e-6)
    u16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257).astype(np.uint16)
    back = read_dicom(write_dicom(u16, tmp_path / "u16.dcm", "P", bits=16))
    np.testing.assert_allclose(back, u16 / 65535.0, atol=1e-6)


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros((2, 8, 8), np.float32), {}, "must be 2-D"),
        (np.full((8, 8), 1.5, np.float32), {}, r"within \[0, 1\]"),
        (np.full((8, 8), np.nan, np.float32), {}, "finite"),
        (np.zeros((8, 8), np.int32), {}, "dtype int32"),
        (np.zeros((8, 8), np.uint16), {"bits": 8}, "dtype uint16"),
        (np.zeros((8, 8), np.float32), {"bits": 12}, "bits must be 8 or 16"),
        (np.zeros((8, 8), np.float32), {"photometric": "RGB"}, "MONOCHROME1 or MONOCHROME2"),
        (np.zeros((8, 8), np.float32), {"patient_id": ""}, "patient_id"),
    ],
)
def test_write_rejects_bad_input(tmp_path, image, kwargs, message):
    kwargs = {"patient_id": "P1", **kwargs}
    with pytest.raises(ValueError, match=message):
        write_dicom(image, tmp_path / "bad.dcm", **kwargs)


def _multiframe(tmp_path, n_frames=3):
    path = write_dicom(_image((8, 8)), tmp_path / "single.dcm", patient_id="P9")
    ds = pydicom.dcmread(path)
    frames = np.stack([np.full((8, 8), 60 * i, np.uint8) for i in range(n_frames)])
    ds.set_pixel_data(frames, photometric_interpretation="MONOCHROME2", bits_stored=8)
    out = tmp_path / "multi.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out


def test_multiframe_is_refused_unless_a_frame_is_chosen(tmp_path):
    path = _multiframe(tmp_path)
    with pytest.raises(ValueError, match=r"multi\.dcm is a multi-frame DICOM with 3 frames; pass frame=i"):
        read_dicom(path)
    np.testing.assert_allclose(read_dicom(path, frame=2), 120 / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="frame 3 is out of range"):
        read_dicom(path, frame=3)


def test_bundled_real_multiframe_file():
    path = get_testdata_file("rtdose.dcm")  # a real 15-frame RT dose grid
    with pytest.raises(ValueError, match="15 frames"):
        read_dicom(path)
    frame = read_dicom(path, frame=0)
    assert frame.shape == (10, 10) and 0.0 <= frame.min() <= frame.max() <= 1.0


def test_missing_not_dicom_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.dcm does not exist"):
        read_dicom(tmp_path / "nope.dcm")
    text = tmp_path / "notes.dcm"
    text.write_text("patient has a cough\n")
    with pytest.raises(ValueError, match=r"notes\.dcm is not a DICOM file"):
        read_dicom(text)
    truncated = tmp_path / "truncated.dcm"
    with open(get_testdata_file("MR_truncated.dcm"), "rb") as fh:  # pydicom's file with pixel data cut short
        truncated.write_bytes(fh.read())
    with pytest.raises(ValueError, match=r"truncated\.dcm: cannot decode the pixel data"):
        read_dicom(truncated)
    # A valid file cut in the middle of its header.
    cut = tmp_path / "cut.dcm"
    with open(CT, "rb") as fh:
        cut.write_bytes(fh.read()[:300])
    with pytest.raises(ValueError, match=r"cut\.dcm"):
        read_dicom(cut)


def test_dataset_without_pixels_and_colour_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no pixel data"):
        read_dataset(get_testdata_file("rtplan.dcm"))
    with pytest.raises(ValueError, match="photometric interpretation RGB is not supported"):
        read_dicom(get_testdata_file("SC_rgb_small_odd.dcm"))


def test_cohort_images_round_trip_through_dicom(tmp_path):
    data = pytest.importorskip("crossmodal_lib.data")
    try:
        cohort = data.load_cohort()
    except (FileNotFoundError, OSError) as err:
        pytest.skip(f"the embedded cohort is not generated yet: {err}")
    rows = cohort[cohort["image"] != ""].head(5)
    assert len(rows) == 5
    for row in rows.itertuples():
        original = data.read_image(row.image)
        assert original.ndim == 2
        top = np.iinfo(original.dtype).max if np.issubdtype(original.dtype, np.integer) else 1.0
        scaled = original.astype(np.float64) / top
        path = write_dicom(scaled.astype(np.float32), tmp_path / f"{row.id}.dcm", patient_id=row.patient_id)
        assert pydicom.dcmread(path).PatientID == row.patient_id
        back = data.read_image(path)  # the lead's reader dispatches .dcm to read_dicom
        assert back.dtype == np.float32 and back.shape == original.shape
        assert np.abs(back - scaled).max() <= 0.5 / 255 + 1e-6
