"""``virtimu fidelity`` / ``virtimu calibrate-noise`` end to end, and the fitted device YAML in ``virtimu synth``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import virtimu.cli
from tests.fidelity.helpers import dip_sequence, static_recording, write_py2_pickle
from virtimu.fidelity.calibrate import load_device_yaml
from virtimu.io.amass import write_amass
from virtimu.sensors.noise import DeviceModel
from virtimu.store import RecordingStore

SHIPPED = Path(__file__).resolve().parents[2] / "virtimu" / "assets" / "noise" / "hapt_fitted.yaml"


def test_commands_are_registered() -> None:
    assert "virtimu.fidelity.cli" in virtimu.cli.EXTENSIONS


def test_fidelity_command_writes_report(tmp_path: Path, capsys) -> None:
    seq, _ = dip_sequence(T=120, seed=0, offset_deg=10.0, noise=0.02)
    write_py2_pickle(seq, tmp_path / "DIP_IMU" / "s_01" / "01.pkl")
    out = tmp_path / "report"
    rc = virtimu.cli.main(["fidelity", str(tmp_path), "--sensors", "left_wrist,head", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| acc (m/s^2) |" in text and "| left_wrist |" in text
    d = json.loads((out / "fidelity.json").read_text())
    assert d["summary"]["acc_r_aligned"] > 0.99 and d["settings"]["gt_up"] == "y"
    assert (out / "fidelity.md").read_text().startswith("Fidelity over 1 recordings")


def test_fidelity_command_errors(tmp_path: Path, capsys) -> None:
    assert virtimu.cli.main(["fidelity", str(tmp_path / "nowhere")]) == 2
    assert "no such file" in capsys.readouterr().err
    seq, _ = dip_sequence(T=60, seed=0)
    write_py2_pickle(seq, tmp_path / "DIP_IMU" / "s_01" / "01.pkl")
    assert virtimu.cli.main(["fidelity", str(tmp_path), "--sensors", "elbowpit", "--quiet"]) == 2
    assert "unknown DIP sensor sites ['elbowpit']" in capsys.readouterr().err


def test_calibrate_noise_from_a_store(tmp_path: Path, capsys) -> None:
    model = DeviceModel.from_dict({"acc": {"noise_density": 0.01, "bias_std": 0.05, "lsb": 0.01},
                                   "gyro": {"noise_density": 0.002, "bias_std": 0.005}})
    store = RecordingStore(tmp_path / "real.zarr")
    for i in range(6):
        store.write(static_recording(f"r{i}", i, model, seg_s=8.0))
    out, js = tmp_path / "dev.yaml", tmp_path / "fit.json"
    rc = virtimu.cli.main(["calibrate-noise", str(tmp_path / "real.zarr"), "--store", "--out", str(out),
                           "--json", str(js), "--name", "lab-phone", "--quiet"])
    assert rc == 0
    assert "upper bound" in capsys.readouterr().out
    fitted = load_device_yaml(out)
    assert fitted.name == "lab-phone"
    assert fitted.acc.noise_density == pytest.approx(0.01, rel=0.1)
    assert fitted.acc.lsb == pytest.approx(0.01, rel=1e-4)
    d = json.loads(js.read_text())
    assert d["n_recordings"] == 6 and len(d["kinds"]["gyro"]["adev"][0]) == 3


def test_calibrate_noise_errors(tmp_path: Path, capsys) -> None:
    assert virtimu.cli.main(["calibrate-noise", str(tmp_path / "nowhere")]) == 2
    assert virtimu.cli.main(["calibrate-noise", str(tmp_path), "--base", "walkman"]) == 2
    assert "unknown device preset" in capsys.readouterr().err
    assert virtimu.cli.main(["calibrate-noise", str(tmp_path), "--dataset", "nosuch", "--quiet"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_shipped_hapt_model_drives_synthesis(tmp_path: Path) -> None:
    """The fitted YAML is a device model that ``virtimu synth`` applies (here through --config)."""
    fps = 50.0
    T = 200
    poses = np.zeros((T, 156))
    poses[:, 0] = np.pi / 2  # standing still
    folder = tmp_path / "amass" / "Sub" / "s0"
    folder.mkdir(parents=True)
    write_amass(folder / "still_poses.npz", poses, np.zeros((T, 3)) + [0, 0, 0.9], np.zeros(16), fps,
                gender="neutral")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"device": yaml.safe_load(SHIPPED.read_text())}))
    out = tmp_path / "s.zarr"
    rc = virtimu.cli.main(["synth", "--amass", str(tmp_path / "amass"), "--preset", "hapt", "--fps", "50",
                           "--signals", "acc,gyro", "--config", str(cfg), "--out", str(out), "--workers", "1",
                           "--quiet"])
    assert rc == 0
    store = RecordingStore(out, mode="r")
    rec = store.read(*store.list()[0])
    assert rec.attrs["config"]["device"]["name"] == "hapt-fitted"
    model = load_device_yaml(SHIPPED)
    acc = rec.signals[:, :3].astype(np.float64)
    steps = acc / model.acc.lsb
    assert np.abs(steps - np.round(steps)).max() < 1e-2  # quantised to the measured ADC step
    gyro = rec.signals[:, 3:].astype(np.float64)
    expected = model.gyro.noise_density * np.sqrt(fps / 2)  # per-sample white std of a still sensor
    assert np.std(gyro - gyro.mean(axis=0), axis=0) == pytest.approx([expected] * 3, rel=0.3)
