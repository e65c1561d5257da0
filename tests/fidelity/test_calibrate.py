"""Device-noise calibration: recover a known device model from static segments; the real HAPT fit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.fidelity.helpers import CHANNELS, LABEL_MAP, static_recording
from virtimu.fidelity.calibrate import (
    device_yaml_text,
    fit_noise,
    load_device_yaml,
    quantisation_step,
    static_segments,
    write_device_yaml,
)
from virtimu.sensors.noise import DeviceModel
from virtimu.types import Recording

ROOT = Path(__file__).resolve().parents[2]
HAPT = ROOT.parent / "shared" / "data" / "hapt"
SHIPPED = ROOT / "virtimu" / "assets" / "noise" / "hapt_fitted.yaml"

TRUE = {"acc": {"noise_density": 0.01, "bias_std": 0.1, "full_scale": 19.62, "lsb": 0.01},
        "gyro": {"noise_density": 0.002, "bias_std": 0.01}}


@pytest.fixture(scope="module")
def fitted():
    model = DeviceModel.from_dict(TRUE)
    recs = [static_recording(f"r{i:02d}", seed=i, model=model, seg_s=10.0, walk_peak=15.0) for i in range(30)]
    return fit_noise(recs, progress=False), recs


def test_static_segments_are_trimmed_runs_of_static_labels() -> None:
    rec = static_recording("a", 0, DeviceModel(), fs=50.0, seg_s=10.0)
    segs = static_segments(rec, trim_s=1.0, min_s=5.0)
    assert [s.activity for s in segs] == ["STANDING", "SITTING", "LAYING", "LAYING"]
    assert all(s.n_samples == 400 for s in segs)  # 10 s minus 2 x 1 s at 50 Hz
    labels = np.asarray(rec.labels)
    assert all(set(labels[s.start - 50:s.stop + 50].tolist()) == {labels[s.start]} for s in segs)
    assert static_segments(rec, trim_s=3.0, min_s=5.0) == []  # 4 s left: too short
    assert static_segments(rec, activities=("walking",), trim_s=0.0, min_s=1.0)[0].activity == "WALKING"


def test_recovers_white_noise_density(fitted) -> None:
    fit, _ = fitted
    for kind in ("acc", "gyro"):
        k = fit.kinds[kind]
        assert [a.white_method for a in k.axes] == ["allan"] * 3  # pure white noise has a -1/2 slope
        assert k.noise_density == pytest.approx(TRUE[kind]["noise_density"], rel=0.05)
        assert all(a.white_density_psd == pytest.approx(TRUE[kind]["noise_density"], rel=0.08) for a in k.axes)


def test_recovers_bias_spread_quantisation_and_range(fitted) -> None:
    fit, _ = fitted
    acc, gyro = fit.kinds["acc"], fit.kinds["gyro"]
    # 30 recordings x 4 postures: sampling error of a std ~ 1/sqrt(2n)
    assert acc.bias_std == pytest.approx(0.1, rel=0.25)
    assert gyro.bias_std == pytest.approx(0.01, rel=0.25)
    assert np.linalg.norm(acc.bias_offset["waist"]) < 0.08  # zero-mean biases: no device offset
    assert acc.quantisation_step == pytest.approx(0.01, rel=1e-4) and gyro.quantisation_step is None
    assert acc.saturated and acc.observed_max == pytest.approx(19.62, rel=1e-6) and not gyro.saturated
    assert fit.n_segments == 120 and fit.n_recordings == 30


def test_device_model_from_fit_reproduces_the_noise(fitted) -> None:
    fit, _ = fitted
    model = fit.to_device_model(base="smartphone", name="unit")
    assert model.name == "unit"
    assert model.acc.noise_density == pytest.approx(fit.kinds["acc"].noise_density)
    assert model.acc.lsb == pytest.approx(0.01, rel=1e-4) and model.acc.bits is None
    assert model.acc.full_scale == pytest.approx(19.62, rel=1e-6)
    assert model.gyro.full_scale == DeviceModel.preset("smartphone").gyro.full_scale  # not clipped: preset kept
    assert model.gyro.bias_walk <= fit.kinds["gyro"].bias_walk_upper
    assert model.mag == DeviceModel.preset("smartphone").mag
    # refit data generated with the fitted model: same white density
    again = fit_noise([static_recording(f"s{i}", 100 + i, model, seg_s=10.0) for i in range(10)], progress=False)
    assert again.kinds["gyro"].noise_density == pytest.approx(fit.kinds["gyro"].noise_density, rel=0.08)


def test_yaml_round_trip_and_comments(fitted, tmp_path: Path) -> None:
    fit, _ = fitted
    model = fit.to_device_model(base="smartphone", name="unit")
    path = write_device_yaml(tmp_path / "dev.yaml", model, fit, base="smartphone")
    text = path.read_text()
    assert "UPPER BOUND" in text and "bias instability" in text
    back = load_device_yaml(path)
    assert back == model
    assert DeviceModel.from_dict(yaml.safe_load(device_yaml_text(model))) == model
    bad = tmp_path / "bad.yaml"
    bad.write_text("acc: {noise_sigma: 1}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*noise_sigma"):
        load_device_yaml(bad)


def test_quantisation_step_detection() -> None:
    rng = np.random.default_rng(0)
    q = np.round(rng.normal(0, 1, 5000) / 0.05) * 0.05
    assert quantisation_step(q) == pytest.approx(0.05)
    assert quantisation_step(rng.normal(0, 1, 5000)) is None


def test_no_static_segments_is_an_error() -> None:
    rec = Recording(signals=np.zeros((100, 6), np.float32), channels=list(CHANNELS),
                    units=["m/s^2"] * 3 + ["rad/s"] * 3, fs=50.0, source="t", name="x",
                    labels=np.ones(100, np.int16), label_map=dict(LABEL_MAP))
    with pytest.raises(ValueError, match="no static segments"):
        fit_noise([rec], progress=False)


def test_mixed_rates_are_refused() -> None:
    a = static_recording("a", 0, DeviceModel(), fs=50.0, seg_s=8.0)
    b = static_recording("b", 1, DeviceModel(), fs=100.0, seg_s=8.0)
    with pytest.raises(ValueError, match="100.0 Hz"):
        fit_noise([a, b], progress=False)


@pytest.mark.slow
@pytest.mark.skipif(not (HAPT / "RawData").is_dir(), reason="real HAPT data not present (../shared/data/hapt)")
def test_real_hapt_fit_and_shipped_yaml() -> None:
    from virtimu.datasets.base import load_dataset

    fit = fit_noise(load_dataset("hapt", HAPT), progress=False)
    acc, gyro = fit.kinds["acc"], fit.kinds["gyro"]
    assert fit.n_segments == 360 and fit.n_recordings == 60  # exp21 (user 10) holds no static posture
    # ADC steps of the Galaxy S II as recorded (HAPT README: ~1.4e-3 g and 3.1e-4 rad/s)
    assert acc.quantisation_step == pytest.approx(1.389e-3 * 9.80665, rel=0.01)
    assert gyro.quantisation_step == pytest.approx(3.054e-4, rel=0.01)
    assert acc.saturated and acc.observed_max == pytest.approx(2 * 9.80665, rel=0.01)
    # plausible phone magnitudes (upper bounds, body sway included)
    assert 1e-3 < acc.noise_density < 3e-2 and 1e-4 < gyro.noise_density < 5e-3
    assert 0.02 < acc.bias_std < 0.5 and 5e-4 < gyro.bias_std < 0.05
    shipped = load_device_yaml(SHIPPED)
    model = fit.to_device_model(base="smartphone", name="hapt-fitted")
    assert shipped == model, "virtimu/assets/noise/hapt_fitted.yaml is stale: run scripts/fit_hapt_noise.py"
