"""Accelerometer windows in g from recordings (resampled, per-sample labels) and from window sets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.selfpab.config import STANDARD_GRAVITY
from virtimu.selfpab.data import from_recordings, from_window_set, parse_channels, to_g
from virtimu.store import RecordingStore
from virtimu.store.windows import WindowStore
from virtimu.types import Recording, WindowSet

CHANNELS = ["back/acc_x", "back/acc_y", "back/acc_z", "right_thigh/acc_x", "right_thigh/acc_y",
            "right_thigh/acc_z", "back/gyro_x"]
UNITS = ["m/s^2"] * 6 + ["rad/s"]
LABEL_MAP = {0: "null", 1: "walking", 2: "sitting"}


def write_store(path: Path, fs: float = 100.0, seconds: float = 30.0, subjects=("1", "2")) -> Path:
    """A store with one 2-sensor recording per subject: 1 g on back x, walking then sitting."""
    rs = RecordingStore(path, mode="a")
    n = int(seconds * fs)
    t = np.arange(n) / fs
    for i, subject in enumerate(subjects):
        sig = np.zeros((n, len(CHANNELS)), dtype=np.float32)
        sig[:, 0] = STANDARD_GRAVITY
        sig[:, 3] = STANDARD_GRAVITY * (0.3 * np.sin(2 * np.pi * 2.0 * t))
        sig[:, 6] = 0.1
        labels = np.where(t < seconds / 2, 1, 2).astype(np.int64)
        labels[: int(fs)] = 0  # first second unlabelled
        if i == 1:
            sig[int(5 * fs):int(5 * fs) + 3, 2] = np.nan  # a short gap
        rs.write(Recording(signals=sig, channels=CHANNELS, units=UNITS, fs=fs, source="toy", name=f"rec{subject}",
                           labels=labels, label_map=LABEL_MAP, subject=subject))
    return path


def test_parse_channels():
    assert parse_channels("back/acc_*, right_thigh/acc_*") == ["back/acc_*", "right_thigh/acc_*"]
    assert parse_channels(None) is None
    with pytest.raises(ValueError):
        parse_channels(" , ")


def test_to_g_converts_and_rejects_other_signals():
    X = np.full((2, 3), STANDARD_GRAVITY)
    np.testing.assert_allclose(to_g(X, ["a/acc_x", "a/acc_y", "a/acc_z"], ["m/s^2", "m/s^2", "g"], "here"),
                               [[1.0, 1.0, STANDARD_GRAVITY]] * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="gyro_x"):
        to_g(X[:, :1], ["a/gyro_x"], ["rad/s"], "here")


def test_from_recordings_resamples_converts_and_labels(tmp_path):
    store = write_store(tmp_path / "s.zarr")
    d = from_recordings(store, "back/acc_*,right_thigh/acc_*", length=200, overlap=0.5, fs=50.0)
    assert d.channels == CHANNELS[:6] and d.fs == 50.0
    assert d.X.shape[1:] == (200, 6)
    np.testing.assert_allclose(d.X[:, :, 0], 1.0, atol=1e-3)  # 9.80665 m/s^2 -> 1 g, after 100 -> 50 Hz
    assert np.abs(d.X[:, 50:150, 3]).max() == pytest.approx(0.3, abs=0.01)  # 2 Hz survives the anti-alias filter
    per_rec = {r: int(np.sum(d.recording == r)) for r in np.unique(d.recording)}
    full = (1500 - 200) // 100 + 1  # 30 s at 50 Hz, windows of 200 every 100
    assert per_rec["toy/rec1"] == full and per_rec["toy/rec2"] < full  # windows over the gap dropped
    assert d.y_samples.shape == d.X.shape[:2] and d.label_map == LABEL_MAP
    first = np.flatnonzero((d.recording == "toy/rec1") & (d.start == 0))[0]
    assert d.y_samples[first, :50].tolist() == [0] * 50 and d.y_samples[first, 50] == 1
    assert d.y[first] == 0  # 150 of 200 samples walking: below the 0.8 purity -> null window label
    second = np.flatnonzero((d.recording == "toy/rec1") & (d.start == 100))[0]
    assert d.y[second] == 1
    sub = from_recordings(store, "back/acc_*", length=200, subjects=["2"])
    assert set(sub.subject.tolist()) == {"2"} and sub.X.shape[2] == 3


def test_from_recordings_errors_name_the_problem(tmp_path):
    store = write_store(tmp_path / "s.zarr")
    with pytest.raises(ValueError, match="matches no channel"):
        from_recordings(store, "waist/acc_*", length=200)
    with pytest.raises(ValueError, match="not an accelerometer"):
        from_recordings(store, "back/*", length=200)
    with pytest.raises(ValueError, match="no window"):
        from_recordings(store, "back/acc_*", length=10_000)
    with pytest.raises(ValueError, match="no recordings"):
        from_recordings(store, "back/acc_*", length=200, sources=["other"])


def test_from_window_set(tmp_path):
    store = tmp_path / "w.zarr"
    RecordingStore(store, mode="a")
    X = np.zeros((4, 100, 4), dtype=np.float32)
    X[..., 1] = STANDARD_GRAVITY
    ws = WindowSet(X=X, y=np.array([1, 2, 1, 0]), subject=np.array(["1", "1", "2", "2"]),
                   recording=np.array(["a/r"] * 4), start=np.arange(4) * 100, source=np.array(["a", "a", "a", "b"]),
                   channels=["waist/acc_x", "waist/acc_y", "waist/acc_z", "waist/gyro_x"],
                   units=["m/s^2", "m/s^2", "m/s^2", "rad/s"], fs=50.0, label_map=LABEL_MAP)
    WindowStore(store, mode="a").append("long", ws)
    d = from_window_set(store, "long", channels="waist/acc_*", sources=["a"])
    assert d.X.shape == (3, 100, 3) and d.y.tolist() == [1, 2, 1] and d.y_samples is None
    np.testing.assert_allclose(d.X[..., 1], 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="expects 25 Hz"):
        from_window_set(store, "long", channels="waist/acc_*", fs=25.0)
    with pytest.raises(ValueError, match="no window set"):
        from_window_set(store, "nope")
