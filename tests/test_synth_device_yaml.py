"""``virtimu synth --device FILE.yaml``: a fitted device model straight from its YAML file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import virtimu
from virtimu.cli import main
from virtimu.fidelity.calibrate import load_device_yaml
from virtimu.sensors.noise import DeviceModel
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS

FITTED = Path(virtimu.__file__).resolve().parent / "assets" / "noise" / "hapt_fitted.yaml"
MOTION = DEMO_MOTIONS / "standing.npz"


def _synth(out: Path, device: str) -> tuple:
    rc = main(["synth", "--amass", str(MOTION), "--preset", "hapt", "--fps", "50", "--signals", "acc,gyro",
               "--device", device, "--seed", "1", "--out", str(out), "--workers", "1", "--quiet"])
    assert rc == 0
    store = RecordingStore(out, mode="r")
    return store.read(*store.list()[0])


def test_fitted_device_yaml_is_used_and_recorded(tmp_path: Path) -> None:
    assert FITTED.is_file() and MOTION.is_file()
    fitted = load_device_yaml(FITTED)
    rec = _synth(tmp_path / "fitted.zarr", str(FITTED))
    ideal = _synth(tmp_path / "ideal.zarr", "none")
    device = rec.attrs["config"]["device"]
    # the provenance holds the fitted parameters themselves, not the file name
    assert isinstance(device, dict) and device["name"] == fitted.name == "hapt-fitted"
    assert DeviceModel.from_dict(device) == fitted
    assert device["acc"]["noise_density"] == pytest.approx(fitted.acc.noise_density)
    assert device["gyro"]["bias_std"] == pytest.approx(fitted.gyro.bias_std)
    assert ideal.attrs["config"]["device"] == "none"
    # the noise is applied: same motion, different signals; the acc difference is of the fitted size
    assert rec.signals.shape == ideal.signals.shape
    diff = rec.signals - ideal.signals
    assert not np.allclose(diff, 0.0)
    acc = [i for i, c in enumerate(rec.channels) if "/acc_" in c]
    assert 0.01 < float(np.abs(diff[:, acc]).mean()) < 5 * fitted.acc.bias_std + 0.1
    # values lie on the fitted quantisation grid of the accelerometer
    steps = rec.signals[:, acc] / fitted.acc.lsb
    assert np.allclose(steps, np.round(steps), atol=1e-3)


def test_missing_or_bad_device_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.zarr"
    with pytest.raises(SystemExit, match=r"nowhere\.yaml: no such device-model file"):
        main(["synth", "--amass", str(MOTION), "--device", str(tmp_path / "nowhere.yaml"), "--out", str(out)])
    bad = tmp_path / "bad.yml"
    bad.write_text("acc:\n  noise_sdt: 0.1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"bad\.yml"):
        main(["synth", "--amass", str(MOTION), "--device", str(bad), "--out", str(out)])
    assert not out.exists()


def test_device_yaml_path_in_a_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "synth.yaml"
    cfg.write_text(f"fps: 50\nsignals: acc\ndevice: {FITTED}\n", encoding="utf-8")
    out = tmp_path / "c.zarr"
    assert main(["synth", "--amass", str(MOTION), "--preset", "hapt", "--config", str(cfg), "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    store = RecordingStore(out, mode="r")
    rec = store.read(*store.list()[0])
    assert rec.attrs["config"]["device"]["name"] == "hapt-fitted"
