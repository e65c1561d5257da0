"""The command line end to end: demo motions, AMASS folders, resume, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from virtimu.cli import main
from virtimu.io.amass import write_amass
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS


def _amass_folder(root: Path, n: int = 3, fps: float = 120.0) -> Path:
    """A small AMASS-layout tree: <root>/SubSet/<subject>/<seq>_poses.npz (+ a shape.npz)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        T = int(fps * 1.5)
        t = np.arange(T) / fps
        poses = np.zeros((T, 156))
        poses[:, 0] = np.pi / 2
        poses[:, 3:66] = 0.2 * np.sin(2 * np.pi * 1.1 * t[:, None] + rng.uniform(0, 6, 63))
        trans = np.stack([0.8 * t, 0 * t, 0.95 + 0.02 * np.sin(7 * t)], axis=1)
        folder = root / "SubSet" / f"s{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        write_amass(folder / f"seq{i}_poses.npz", poses, trans, np.zeros(16), fps, gender="neutral")
    np.savez(root / "SubSet" / "s0" / "shape.npz", betas=np.zeros(16), gender="neutral")
    return root


def test_synth_demo_and_info(tmp_path: Path, capsys) -> None:
    demo_files = sorted(DEMO_MOTIONS.glob("*.npz"))
    assert len(demo_files) >= 8, "bundled demo motions missing (make motions)"
    out = tmp_path / "demo.zarr"
    assert main(["synth", "--out", str(out), "--workers", "1", "--quiet"]) == 0
    store = RecordingStore(out, mode="r")
    names = [n for _, n in store.list("demo")]
    assert len(names) == len(demo_files)
    rec = store.read("demo", names[0])
    assert rec.fs == 60.0
    assert rec.channels[0] == "left_wrist/acc_x" and "head/rot_22" in rec.channels
    assert rec.labels is not None and len(rec.label_map) >= 2
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    table = capsys.readouterr().out
    assert "demo" in table and str(len(demo_files)) in table
    assert main(["info", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["recordings"]
    assert rows[0]["recordings"] == len(demo_files)

    # label -> windows -> info: the demo pipeline end to end
    assert main(["label", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "synthetic12" in text and "walking" in text
    assert main(["windows", str(out), "--drop-null", "--filter", "default", "--quiet"]) == 0
    capsys.readouterr()
    from virtimu.store.windows import WindowStore

    ws = WindowStore(out, mode="r").read("default")
    assert ws.X.shape[1:] == (60, 45) and len(ws) > 50
    assert "null" not in ws.class_counts() and {"walking", "running", "standing"} <= set(ws.class_counts())
    # every window equals the recording's frames at its start
    rec = store.read("demo", "walking")
    i = int(np.flatnonzero(ws.recording == "demo/walking")[0])
    np.testing.assert_array_equal(ws.X[i], rec.signals[ws.start[i]:ws.start[i] + 60])
    assert main(["info", str(out)]) == 0
    table = capsys.readouterr().out
    assert "window set 'default'" in table and "walking" in table


def test_synth_amass_folder_resume_after_interruption(tmp_path: Path, monkeypatch) -> None:
    root = _amass_folder(tmp_path / "amass", n=3)
    out = tmp_path / "s.zarr"
    import virtimu.synthesis as synthesis

    real_write = RecordingStore.write
    calls = {"n": 0}

    def interrupted_write(self, rec, overwrite=False):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the run is stopped while writing the 2nd recording
        return real_write(self, rec, overwrite=overwrite)

    monkeypatch.setattr(synthesis.RecordingStore, "write", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        main(["synth", "--amass", str(root), "--out", str(out), "--workers", "1", "--quiet"])
    monkeypatch.setattr(synthesis.RecordingStore, "write", real_write)
    assert len(RecordingStore(out, mode="r").list()) == 1

    report = synthesis.run_synthesis(root, synthesis.SynthJob(
        store=str(out), sites=_sites("wrist,thigh,head"), config=synthesis.SynthConfig()), workers=1, progress=False)
    assert len(report.skipped) == 1 and len(report.written) == 2 and not report.failed
    store = RecordingStore(out, mode="r")
    assert [n for _, n in store.list("amass")] == ["SubSet/s0/seq0_poses", "SubSet/s0/seq2_poses", "SubSet/s1/seq1_poses"]
    rec = store.read("amass", "SubSet/s1/seq1_poses")
    assert rec.provenance["sub_dataset"] == "SubSet" and rec.subject == "s1"
    assert rec.n_frames == 90  # 1.5 s at 120 Hz -> 60 Hz: frames 0..89
    assert not list(Path(out).rglob(".tmp-*"))


def _sites(spec: str):
    from virtimu.sensors.placement import load_site_table, resolve_sites

    return resolve_sites(spec, load_site_table())


def test_two_workers_give_identical_recordings(tmp_path: Path) -> None:
    root = _amass_folder(tmp_path / "amass", n=3)
    assert main(["synth", "--amass", str(root), "--out", str(tmp_path / "a.zarr"), "--workers", "1", "--quiet"]) == 0
    assert main(["synth", "--amass", str(root), "--out", str(tmp_path / "b.zarr"), "--workers", "2", "--quiet"]) == 0
    a, b = RecordingStore(tmp_path / "a.zarr", mode="r"), RecordingStore(tmp_path / "b.zarr", mode="r")
    assert a.list() == b.list() and len(a.list()) == 3
    for src, name in a.list():
        np.testing.assert_array_equal(a.read(src, name).signals, b.read(src, name).signals)


def test_unknown_sensor_name_lists_valid_names(tmp_path: Path, capsys) -> None:
    rc = main(["synth", "--sensors", "wrist,elbowpit", "--out", str(tmp_path / "x.zarr"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "elbowpit" in err and "left_wrist" in err and "paper001" in err
    assert not (tmp_path / "x.zarr").exists()


def test_bad_amass_file_reported_and_not_written(tmp_path: Path, capsys) -> None:
    root = _amass_folder(tmp_path / "amass", n=1)
    bad = root / "SubSet" / "s0" / "broken_poses.npz"
    np.savez(bad, poses=np.zeros((10, 156)), gender="male", mocap_framerate=120.0)  # no trans
    out = tmp_path / "s.zarr"
    assert main(["synth", "--amass", str(root), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "1 failed" in text and "broken_poses.npz" in text and "trans" in text
    assert [n for _, n in RecordingStore(out, mode="r").list()] == ["SubSet/s0/seq0_poses"]


def test_presets_options_and_overrides(tmp_path: Path) -> None:
    root = _amass_folder(tmp_path / "amass", n=1)
    out = tmp_path / "h.zarr"
    rc = main(["synth", "--amass", str(root), "--preset", "hapt", "--fps", "50", "--signals", "acc,gyro",
               "--device", "smartphone", "--seed", "3", "--jitter-offset", "0.01", "--out", str(out),
               "--workers", "1", "--quiet", "span=2"])
    assert rc == 0
    store = RecordingStore(out, mode="r")
    rec = store.read(*store.list()[0])
    assert rec.fs == 50.0 and rec.channels == [f"waist/{k}_{a}" for k in ("acc", "gyro") for a in "xyz"]
    assert rec.attrs["config"]["span"] == 2 and rec.attrs["config"]["device"] == "smartphone"
    assert rec.attrs["jitter"]["offset_m"] == 0.01
    with pytest.raises(SystemExit, match="unknown synthesis settings"):
        main(["synth", "--amass", str(root), "--out", str(out), "bogus=1"])


def test_windows_label_map_and_channels(tmp_path: Path, capsys) -> None:
    out = tmp_path / "d.zarr"
    assert main(["synth", "--out", str(out), "--workers", "1", "--quiet", "--signals", "acc,gyro"]) == 0
    assert main(["label", str(out), "--quiet"]) == 0
    rc = main(["windows", str(out), "--channels", "right_thigh/acc_*", "--magnitude", "--length", "100",
               "--fs", "25", "--label-map", "hapt12", "--drop-null", "--name", "hapt", "--quiet"])
    assert rc == 0
    from virtimu.store.windows import WindowStore

    ws = WindowStore(out, mode="r").read("hapt")
    assert ws.channels == ["right_thigh/acc_x", "right_thigh/acc_y", "right_thigh/acc_z", "right_thigh/acc_mag"]
    assert ws.fs == 25.0 and ws.X.shape[1] == 100
    assert set(ws.class_counts()) <= {"WALKING", "SITTING", "STANDING", "LAYING"}
    assert "WALKING" in ws.class_counts()
    capsys.readouterr()
    assert main(["windows", str(out), "--channels", "nowhere/*", "--quiet"]) == 2
    assert "nowhere/*" in capsys.readouterr().err
