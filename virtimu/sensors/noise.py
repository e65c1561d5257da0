"""Optional device model: noise, bias, bias drift, saturation and quantisation.

Applied to clean synthetic signals of kind 'acc', 'gyro' and 'mag' (picked
from the channel name, ``<site>/acc_x`` -> 'acc'); orientation channels
('rot', 'quat') and any other kind pass through untouched.

Per channel, in this order (x = clean signal, k = frame, dt = 1 / fs):

1. constant bias ``b0 ~ N(0, bias_std²)``, one draw per channel per call;
2. bias random walk ``w_k = w_{k-1} + N(0, bias_walk² dt)``, ``w_0 = 0``
   (variance ``bias_walk² t`` at time t; ``bias_walk`` in units/√s);
3. white noise ``n_k ~ N(0, σ²)`` with ``σ = noise_std`` (units, per
   sample) or ``σ = noise_density · √(fs / 2)`` (density in units/√Hz over
   the Nyquist band, the datasheet convention);
4. saturation: clip to ``[-full_scale, +full_scale]``;
5. quantisation: round to a multiple of ``lsb``, or of
   ``2 · full_scale / 2**bits`` when ``bits`` is given, then clip again.

Random draws are deterministic for a given integer seed: each (kind, error
term) pair has its own stream derived from ``(seed, kind, term)``, so
turning one term on or off does not change the others' draws.
Everything is off by default (``DeviceModel()`` is the identity).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from virtimu.sensors.signals import signal_kind

logger = logging.getLogger(__name__)

#: Signal kinds a device model perturbs, in the order their streams are numbered.
NOISY_KINDS: tuple[str, ...] = ("acc", "gyro", "mag")

_G = 9.81  # m/s² per g, the value used for GRAVITY
_DEG = np.pi / 180.0


@dataclass
class SensorErrors:
    """Error model of one signal kind (all values in that kind's SI unit).

    noise_std: white noise standard deviation per sample.
    noise_density: white noise density in units/√Hz (alternative to noise_std;
        per-sample std = density · √(fs/2)).
    bias_std: std of the constant bias, one draw per channel per recording.
    bias_walk: bias random-walk intensity in units/√s.
    full_scale: symmetric range; readings saturate at ±full_scale (None: no limit).
    bits: ADC resolution over the full 2·full_scale span (needs full_scale).
    lsb: quantisation step (alternative to bits).
    """

    noise_std: float = 0.0
    noise_density: float = 0.0
    bias_std: float = 0.0
    bias_walk: float = 0.0
    full_scale: float | None = None
    bits: int | None = None
    lsb: float | None = None

    def __post_init__(self) -> None:
        for name in ("noise_std", "noise_density", "bias_std", "bias_walk"):
            value = float(getattr(self, name))
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"SensorErrors.{name} must be a finite value >= 0, got {getattr(self, name)!r}")
            setattr(self, name, value)
        if self.noise_std > 0 and self.noise_density > 0:
            raise ValueError("SensorErrors: give noise_std or noise_density, not both")
        for name in ("full_scale", "lsb"):
            value = getattr(self, name)
            if value is not None:
                if not (np.isfinite(value) and value > 0):
                    raise ValueError(f"SensorErrors.{name} must be > 0 or None, got {value!r}")
                setattr(self, name, float(value))
        if self.bits is not None:
            if int(self.bits) != self.bits or not 1 <= self.bits <= 64:
                raise ValueError(f"SensorErrors.bits must be an integer in [1, 64] or None, got {self.bits!r}")
            if self.full_scale is None:
                raise ValueError("SensorErrors.bits needs full_scale (the step is 2*full_scale / 2**bits)")
            if self.lsb is not None:
                raise ValueError("SensorErrors: give bits or lsb, not both")
            self.bits = int(self.bits)

    def white_std(self, fs: float) -> float:
        """Per-sample white-noise std at sampling rate fs (Hz)."""
        if self.noise_density > 0:
            return self.noise_density * float(np.sqrt(fs / 2.0))
        return self.noise_std

    @property
    def step(self) -> float | None:
        """Quantisation step in signal units, or None."""
        if self.lsb is not None:
            return self.lsb
        if self.bits is not None and self.full_scale is not None:
            return 2.0 * self.full_scale / 2.0 ** self.bits
        return None

    def is_identity(self) -> bool:
        """True when this model leaves signals unchanged."""
        return (self.noise_std == 0 and self.noise_density == 0 and self.bias_std == 0
                and self.bias_walk == 0 and self.full_scale is None and self.step is None)


def _errors_from_dict(d: dict[str, Any] | SensorErrors | None, base: SensorErrors, where: str) -> SensorErrors:
    if d is None:
        return base
    if isinstance(d, SensorErrors):
        return d
    if not isinstance(d, dict):
        raise TypeError(f"device model {where!r}: expected a mapping of error terms, got {type(d).__name__}")
    d = dict(d)
    if "range" in d:  # friendlier YAML spelling
        d["full_scale"] = d.pop("range")
    valid = {f.name for f in fields(SensorErrors)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ValueError(f"device model {where!r}: unknown keys {unknown}; valid keys: {sorted(valid)}")
    return replace(base, **d)


@dataclass
class DeviceModel:
    """Error models per signal kind; ``DeviceModel()`` changes nothing.

    name: preset name or 'custom'.  Build from YAML/JSON with ``from_dict``,
    record with ``to_dict``.
    """

    acc: SensorErrors = field(default_factory=SensorErrors)
    gyro: SensorErrors = field(default_factory=SensorErrors)
    mag: SensorErrors = field(default_factory=SensorErrors)
    name: str = "custom"

    def is_identity(self) -> bool:
        """True when no kind is perturbed (apply_device_model returns a plain copy)."""
        return all(getattr(self, k).is_identity() for k in NOISY_KINDS)

    def errors(self, kind: str) -> SensorErrors | None:
        """The error model of a signal kind, or None for kinds left untouched."""
        return getattr(self, kind) if kind in NOISY_KINDS else None

    @classmethod
    def preset(cls, name: str) -> DeviceModel:
        """A named preset: 'none', 'smartphone' or 'xsens' (see ``PRESETS``)."""
        if name not in PRESETS:
            raise KeyError(f"unknown device preset {name!r}; valid presets: {sorted(PRESETS)}")
        return PRESETS[name]()

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DeviceModel:
        """Build from a mapping such as a parsed YAML block.

        ``{'preset': 'smartphone', 'acc': {'noise_std': 0.03}}`` starts from a
        preset and overrides single terms; without 'preset' it starts from
        'none'.  ``None`` or ``{}`` gives the identity model.  Each kind's
        mapping takes the fields of ``SensorErrors`` ('range' is accepted for
        'full_scale').
        """
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise TypeError(f"device model: expected a mapping, got {type(d).__name__}")
        valid = {"preset", "name", *NOISY_KINDS}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ValueError(f"device model: unknown keys {unknown}; valid keys: {sorted(valid)}")
        preset = d.get("preset", "none")
        model = cls.preset(preset)
        overrides = {k: _errors_from_dict(d.get(k), getattr(model, k), k) for k in NOISY_KINDS}
        changed = any(k in d for k in NOISY_KINDS)
        name = d.get("name", f"{preset}+custom" if changed else model.name)
        return cls(name=name, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (YAML/JSON friendly) that ``from_dict`` reads back."""
        return {"name": self.name, **{k: asdict(getattr(self, k)) for k in NOISY_KINDS}}


def _preset_none() -> DeviceModel:
    return DeviceModel(name="none")


def _preset_smartphone() -> DeviceModel:
    """Typical consumer MEMS phone IMU (order-of-magnitude values, not one datasheet).

    acc: ±2 g range as assumed for the Galaxy S II of UCI HAR/HAPT, 16-bit,
    ~0.02 m/s² noise, ~0.05 m/s² residual bias (typical after factory trim).
    gyro: ±2000 °/s (a common phone full-scale setting), 16-bit,
    ~0.005 rad/s noise, ~0.01 rad/s residual bias.
    mag: AK8975-class compass (AKM datasheet MS1187-E-02, table 8.3:
    ±1229 µT, 0.3 µT/LSB, 13-bit), ~0.4 µT noise, ~2 µT residual hard-iron bias.
    """
    return DeviceModel(
        name="smartphone",
        acc=SensorErrors(noise_std=0.02, bias_std=0.05, bias_walk=1e-3, full_scale=2 * _G, bits=16),
        gyro=SensorErrors(noise_std=0.005, bias_std=0.01, bias_walk=1e-4, full_scale=2000 * _DEG, bits=16),
        mag=SensorErrors(noise_std=0.4, bias_std=2.0, full_scale=1229.0, lsb=0.3),
    )


def _preset_xsens() -> DeviceModel:
    """Research-grade IMU like the Xsens MTw Awinda (typical values, calibrated float output).

    acc: ±16 g, noise density ~200 µg/√Hz; gyro: ±2000 °/s, ~0.01 °/s/√Hz;
    mag: ±1.9 G = ±190 µT, ~0.2 mG/√Hz = 0.02 µT/√Hz (figures as commonly
    listed for the MTw Awinda; treat as typical).  Small residual biases;
    no quantisation (the device outputs calibrated floats).
    """
    return DeviceModel(
        name="xsens",
        acc=SensorErrors(noise_density=200e-6 * _G, bias_std=0.02, bias_walk=2e-4, full_scale=16 * _G),
        gyro=SensorErrors(noise_density=0.01 * _DEG, bias_std=0.2 * _DEG, bias_walk=2e-5, full_scale=2000 * _DEG),
        mag=SensorErrors(noise_density=0.02, bias_std=0.5, full_scale=190.0),
    )


#: Named presets.
PRESETS = {"none": _preset_none, "smartphone": _preset_smartphone, "xsens": _preset_xsens}

_TERMS = {"bias": 0, "walk": 1, "white": 2}


def _rng(seed: int, kind: str, term: str) -> np.random.Generator:
    return np.random.default_rng([seed, NOISY_KINDS.index(kind), _TERMS[term]])


def apply_device_model(signals: np.ndarray, channels: list[str], fs: float, model: DeviceModel,
                       seed: int) -> np.ndarray:
    """Apply a device model to clean signals.

    signals: (T, C) in SI units (see ``SIGNAL_UNITS``); channels: C names
    ``<site>/<kind>_<axis>``; fs: sampling rate in Hz; seed: integer seed
    (deterministic output for equal inputs and seed).
    Returns a new (T, C) float64 array; channels of kinds other than
    'acc', 'gyro', 'mag' are returned unchanged.
    """
    x = np.array(signals, dtype=np.float64, copy=True)
    if x.ndim != 2:
        raise ValueError(f"apply_device_model: signals must be (T, C), got shape {x.shape}")
    if len(channels) != x.shape[1]:
        raise ValueError(f"apply_device_model: {len(channels)} channel names for {x.shape[1]} signal columns")
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"apply_device_model: fs must be a positive rate in Hz, got {fs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"apply_device_model: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    T = x.shape[0]
    kinds = [signal_kind(c) for c in channels]
    for kind in NOISY_KINDS:
        err = model.errors(kind)
        cols = [i for i, k in enumerate(kinds) if k == kind]
        if not cols or err is None or err.is_identity():
            continue
        n = len(cols)
        y = x[:, cols]
        if err.bias_std > 0:
            y += _rng(seed, kind, "bias").normal(0.0, err.bias_std, size=n)
        if err.bias_walk > 0 and T > 1:
            steps = _rng(seed, kind, "walk").normal(0.0, err.bias_walk * np.sqrt(1.0 / fs), size=(T - 1, n))
            y[1:] += np.cumsum(steps, axis=0)
        std = err.white_std(fs)
        if std > 0:
            y += _rng(seed, kind, "white").normal(0.0, std, size=(T, n))
        if err.full_scale is not None:
            np.clip(y, -err.full_scale, err.full_scale, out=y)
        step = err.step
        if step is not None:
            y = np.round(y / step) * step
            if err.full_scale is not None:
                np.clip(y, -err.full_scale, err.full_scale, out=y)
        x[:, cols] = y
        logger.debug("device model %s: %d %s channels perturbed", model.name, n, kind)
    return x
