"""The dataset registry, resampling with gaps, ingest into a store and fetch from a local URL."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from virtimu.cli import main
from virtimu.datasets.base import DatasetFormatError, DatasetInfo, register, resample_recording
from virtimu.datasets.fetch import ChecksumError, fetch
from virtimu.datasets.ingest import ingest
from virtimu.store import RecordingStore
from virtimu.types import Recording

TOY = DatasetInfo(name="toy-test", title="toy", fs=100.0, sites=("waist",), label_space="uci_har6",
                  licence="CC0", url="file://", layout="<subject>.txt: one value per line", citation="-",
                  instructions="make it yourself")


@register(TOY)
def _load_toy(path: Path):
    for f in sorted(path.glob("*.txt")):
        rows = []
        for i, line in enumerate(f.read_text().splitlines(), start=1):
            try:
                rows.append(float(line))
            except ValueError:
                raise DatasetFormatError(f, f"not a number: {line!r}", line=i, field="value") from None
        x = np.array(rows)
        yield Recording(signals=np.stack([x, x, x], 1), channels=["waist/acc_x", "waist/acc_y", "waist/acc_z"],
                        units=["m/s^2"] * 3, fs=100.0, source="toy-test", name=f.stem, subject=f.stem,
                        labels=np.ones(len(x), dtype=np.int64), label_map={0: "null", 1: "WALKING"})


def _write_toy(folder: Path, n: int = 400) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(n) / 100.0
    for s in ("s1", "s2"):
        (folder / f"{s}.txt").write_text("\n".join(f"{v:.6f}" for v in np.sin(2 * np.pi * 2.0 * t)))
    return folder


def test_resample_keeps_sine_and_marks_gaps() -> None:
    t = np.arange(1000) / 100.0
    x = np.sin(2 * np.pi * 2.0 * t)
    sig = np.stack([x, x], 1)
    sig[500:505] = np.nan
    rec = Recording(signals=sig, channels=["a/acc_x", "a/acc_y"], units=["m/s^2"] * 2, fs=100.0, source="s", name="r",
                    labels=(t > 5).astype(np.int64), label_map={0: "null", 1: "x"})
    out = resample_recording(rec, 50.0)
    assert out.fs == 50.0 and out.n_frames == 500 and out.provenance["resampled_from_hz"] == 100.0
    y = out.signals[:, 0]
    good = np.isfinite(y)
    assert not good[250] and good[100] and good[400]  # the gap stays a gap, far frames are valid
    t2 = np.arange(500) / 50.0
    ok = good & (np.arange(500) > 10) & (np.arange(500) < 490)
    np.testing.assert_allclose(y[ok], np.sin(2 * np.pi * 2.0 * t2[ok]), atol=0.02)
    assert out.labels[0] == 0 and out.labels[-1] == 1


def test_ingest_writes_resumes_and_reports_bad_files(tmp_path: Path) -> None:
    raw = _write_toy(tmp_path / "raw")
    store = tmp_path / "real.zarr"
    rep = ingest("toy-test", raw, store, fs=50.0, progress=False)
    assert sorted(rep.written) == ["s1", "s2"] and rep.frames == 400 and rep.subjects == {"s1", "s2"}
    rec = RecordingStore(store, mode="r").read("toy-test", "s1")
    assert rec.fs == 50.0 and rec.label_map[1] == "WALKING"
    again = ingest("toy-test", raw, store, progress=False)
    assert sorted(again.skipped) == ["s1", "s2"] and not again.written
    (raw / "s3.txt").write_text("1.0\nbanana\n")
    with pytest.raises(DatasetFormatError, match=r"s3.txt, line 2, field 'value'"):
        ingest("toy-test", raw, store, progress=False)
    assert [n for _, n in RecordingStore(store, mode="r").list()] == ["s1", "s2"]


def test_cli_ingest_and_data_list(tmp_path: Path, capsys) -> None:
    raw = _write_toy(tmp_path / "raw")
    assert main(["ingest", "toy-test", str(raw), "--out", str(tmp_path / "r.zarr"), "--quiet"]) == 0
    assert "2 recordings written" in capsys.readouterr().out
    assert main(["ingest", "no-such-set", str(raw), "--out", str(tmp_path / "r.zarr")]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["data", "list"]) == 0
    assert "toy-test" in capsys.readouterr().out


def test_fetch_from_local_url_with_checksum(tmp_path: Path, monkeypatch) -> None:
    src = _write_toy(tmp_path / "src")
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"toy/{f.name}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    import virtimu.datasets.base as base

    info = DatasetInfo(**{**TOY.__dict__, "download_url": archive.as_uri(), "sha256": digest})
    monkeypatch.setitem(base._REGISTRY, "toy-test", (info, _load_toy))
    folder = fetch("toy-test", tmp_path / "dl", progress=False)
    assert folder == tmp_path / "dl" / "toy-test" and (folder / "toy" / "s1.txt").exists()
    assert fetch("toy-test", tmp_path / "dl", progress=False) == folder  # reused, not downloaded again
    bad = DatasetInfo(**{**info.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(base._REGISTRY, "toy-test", (bad, _load_toy))
    with pytest.raises(ChecksumError, match="does not match"):
        fetch("toy-test", tmp_path / "dl2", progress=False)
    assert not (tmp_path / "dl2" / "toy-test").exists() and not list((tmp_path / "dl2").glob(".toy*"))
    monkeypatch.setitem(base._REGISTRY, "toy-test", (TOY, _load_toy))
    assert fetch("toy-test", tmp_path / "dl3", progress=False) is None  # no URL: instructions only


def test_resample_orientation_channels_stay_rotations() -> None:
    from virtimu.rotations import axis_angle_to_matrix

    t = np.arange(300) / 60.0
    R = axis_angle_to_matrix(np.outer(2.5 * t, [0.0, 0.6, 0.8]))  # 2.5 rad/s about a tilted axis
    chans = [f"s/rot_{i}{j}" for i in range(3) for j in range(3)]
    rec = Recording(signals=R.reshape(-1, 9), channels=chans, units=["1"] * 9, fs=60.0, source="s", name="r")
    out = resample_recording(rec, 25.0)
    R2 = out.signals.reshape(-1, 3, 3).astype(np.float64)
    np.testing.assert_allclose(np.einsum("tij,tkj->tik", R2, R2), np.broadcast_to(np.eye(3), R2.shape), atol=1e-5)
    t2 = np.arange(out.n_frames) / 25.0
    np.testing.assert_allclose(R2, axis_angle_to_matrix(np.outer(2.5 * t2, [0.0, 0.6, 0.8])), atol=1e-5)
