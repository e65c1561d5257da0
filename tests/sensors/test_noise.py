"""Device model: identity by default, seeded, statistics of each error term, saturation,
quantisation, orientation channels untouched, dict/YAML round trip."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from virtimu.sensors.noise import DeviceModel, SensorErrors, apply_device_model

FS = 100.0
CHANNELS = ["wrist/acc_x", "wrist/acc_y", "wrist/acc_z", "wrist/gyro_x", "wrist/gyro_y", "wrist/gyro_z",
            "wrist/mag_x", "wrist/mag_y", "wrist/mag_z", "wrist/rot_00", "wrist/rot_11", "wrist/quat_w"]


def _clean(T: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, len(CHANNELS)))
    x[:, 2] += 9.81
    x[:, 6:9] *= 20.0
    return x


def _only(kind: str, **terms) -> DeviceModel:
    return DeviceModel(**{kind: SensorErrors(**terms)})


def test_default_and_none_preset_are_identity():
    x = _clean()
    for model in (DeviceModel(), DeviceModel.preset("none"), DeviceModel.from_dict(None), DeviceModel.from_dict({})):
        assert model.is_identity()
        y = apply_device_model(x, CHANNELS, FS, model, seed=1)
        np.testing.assert_array_equal(y, x)
        assert y is not x


def test_seeded_reproducibility():
    x = _clean()
    model = DeviceModel.preset("smartphone")
    a = apply_device_model(x, CHANNELS, FS, model, seed=42)
    b = apply_device_model(x, CHANNELS, FS, model, seed=42)
    c = apply_device_model(x, CHANNELS, FS, model, seed=43)
    assert not model.is_identity()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[:, :9], c[:, :9])
    with pytest.raises(TypeError, match="seed"):
        apply_device_model(x, CHANNELS, FS, model, seed=None)


@pytest.mark.parametrize("preset", ["smartphone", "xsens"])
def test_orientation_channels_untouched(preset):
    x = _clean()
    y = apply_device_model(x, CHANNELS, FS, DeviceModel.preset(preset), seed=0)
    np.testing.assert_array_equal(y[:, 9:], x[:, 9:])
    assert np.all(np.any(y[:, :9] != x[:, :9], axis=0))  # every acc/gyro/mag channel changed


def test_kind_is_picked_from_channel_name():
    x = _clean()
    y = apply_device_model(x, CHANNELS, FS, _only("gyro", noise_std=0.1), seed=0)
    changed = np.any(y != x, axis=0)
    np.testing.assert_array_equal(changed, [c.split("/")[1].startswith("gyro") for c in CHANNELS])


def test_white_noise_std_and_density():
    T = 200_000
    x = np.zeros((T, 3))
    ch = ["s/acc_x", "s/acc_y", "s/acc_z"]
    y = apply_device_model(x, ch, FS, _only("acc", noise_std=0.05), seed=3)
    np.testing.assert_allclose(y.std(axis=0), 0.05, rtol=0.01)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=5 * 0.05 / np.sqrt(T))
    # no correlation between successive samples (white)
    r = np.mean(y[1:] * y[:-1], axis=0) / y.var(axis=0)
    assert np.all(np.abs(r) < 0.01)
    # density convention: std = density * sqrt(fs / 2)
    y = apply_device_model(x, ch, 200.0, _only("acc", noise_density=0.01), seed=3)
    np.testing.assert_allclose(y.std(axis=0), 0.01 * np.sqrt(100.0), rtol=0.01)


def test_constant_bias_one_draw_per_channel():
    C = 4000
    x = np.zeros((50, C))
    ch = [f"s{i}/mag_x" for i in range(C)]
    y = apply_device_model(x, ch, FS, _only("mag", bias_std=2.0), seed=4)
    np.testing.assert_array_equal(y, np.broadcast_to(y[0], y.shape))  # constant in time
    assert np.std(y[0]) == pytest.approx(2.0, rel=0.05)


def test_random_walk_variance_grows_linearly():
    C, T = 3000, 1001  # 10 s at 100 Hz
    x = np.zeros((T, C))
    ch = [f"s{i}/gyro_z" for i in range(C)]
    sigma = 0.02  # rad/s/sqrt(s)
    y = apply_device_model(x, ch, FS, _only("gyro", bias_walk=sigma), seed=5)
    np.testing.assert_array_equal(y[0], 0.0)
    times = np.array([1.0, 2.5, 5.0, 10.0])
    var = np.array([y[int(round(t * FS))].var() for t in times])
    np.testing.assert_allclose(var, sigma**2 * times, rtol=0.1)
    assert var[-1] / var[-2] == pytest.approx(2.0, rel=0.12)


def test_terms_use_independent_streams():
    """Adding a bias does not change the white-noise draws."""
    x = _clean()
    white = apply_device_model(x, CHANNELS, FS, _only("acc", noise_std=0.1), seed=6)
    both = apply_device_model(x, CHANNELS, FS, _only("acc", noise_std=0.1, bias_std=0.5), seed=6)
    diff = both[:, :3] - white[:, :3]
    np.testing.assert_allclose(diff, np.broadcast_to(diff[0], diff.shape), atol=1e-12)
    assert np.all(np.abs(diff[0]) > 0)
    # and acc and gyro channels with equal settings get different draws
    same = DeviceModel(acc=SensorErrors(noise_std=0.1), gyro=SensorErrors(noise_std=0.1))
    y = apply_device_model(np.zeros((100, 6)), CHANNELS[:6], FS, same, seed=6)
    assert np.abs(np.corrcoef(y[:, 0], y[:, 3])[0, 1]) < 0.5


def test_saturation_clips_exactly_at_range():
    x = np.linspace(-50.0, 50.0, 1001)[:, None].repeat(3, axis=1)
    ch = ["s/acc_x", "s/acc_y", "s/acc_z"]
    y = apply_device_model(x, ch, FS, _only("acc", full_scale=19.62), seed=0)
    assert y.max() == 19.62 and y.min() == -19.62
    inside = np.abs(x) <= 19.62
    np.testing.assert_array_equal(y[inside], x[inside])
    np.testing.assert_array_equal(y[x > 19.62], 19.62)


@pytest.mark.parametrize("terms, step", [
    ({"full_scale": 1.0, "bits": 8}, 2.0 / 256),
    ({"lsb": 0.3}, 0.3),
])
def test_quantisation_step(terms, step):
    x = np.random.default_rng(7).uniform(-0.99, 0.99, size=(2000, 3)) * (5.0 if "lsb" in terms else 1.0)
    ch = ["s/mag_x", "s/mag_y", "s/mag_z"]
    model = _only("mag", **terms)
    assert model.mag.step == pytest.approx(step)
    y = apply_device_model(x, ch, FS, model, seed=0)
    q = y / step
    np.testing.assert_allclose(q, np.round(q), atol=1e-9)
    assert np.max(np.abs(y - x)) <= step / 2 + 1e-12
    assert len(np.unique(np.round(q))) > 30  # a real staircase, not a constant


def test_smartphone_preset_saturates_at_two_g():
    x = np.zeros((100, 3))
    x[:, 2] = 3 * 9.81  # a 3 g impact
    y = apply_device_model(x, ["s/acc_x", "s/acc_y", "s/acc_z"], FS, DeviceModel.preset("smartphone"), seed=0)
    np.testing.assert_allclose(y[:, 2], 2 * 9.81)
    assert np.std(y[:, 0]) > 0.005  # noise present on the free axis


def test_dict_and_yaml_round_trip():
    model = DeviceModel.preset("xsens")
    again = DeviceModel.from_dict(yaml.safe_load(yaml.safe_dump(model.to_dict())))
    assert again == model
    custom = DeviceModel.from_dict(yaml.safe_load(
        "preset: smartphone\nacc:\n  noise_std: 0.03\n  range: 39.24\n"))
    assert custom.acc.noise_std == 0.03 and custom.acc.full_scale == 39.24 and custom.acc.bits == 16
    assert custom.gyro == DeviceModel.preset("smartphone").gyro
    assert custom.name == "smartphone+custom"


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match=r"unknown keys \['noise'\]"):
        DeviceModel.from_dict({"acc": {"noise": 0.1}})
    with pytest.raises(ValueError, match=r"unknown keys \['baro'\]"):
        DeviceModel.from_dict({"baro": {}})
    with pytest.raises(KeyError, match="valid presets"):
        DeviceModel.preset("iphone")
    with pytest.raises(ValueError, match="full_scale"):
        SensorErrors(bits=12)
    with pytest.raises(ValueError, match="not both"):
        SensorErrors(noise_std=0.1, noise_density=0.01)
    with pytest.raises(ValueError, match="bias_std"):
        SensorErrors(bias_std=-1.0)
    with pytest.raises(ValueError, match="channel names"):
        apply_device_model(np.zeros((5, 2)), ["a/acc_x"], FS, DeviceModel(), seed=0)
