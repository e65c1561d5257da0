"""Synthetic-vs-real fidelity and device-noise calibration.

* `virtimu.fidelity.fidelity`: synthesise the sensors of a real recording
  (DIP-IMU layout) from its ground-truth poses and report per-sensor,
  per-axis correlation and RMSE, raw and after a fitted constant rotation.
* `virtimu.fidelity.allan`: overlapping Allan deviation and noise-term fits
  (pure functions).
* `virtimu.fidelity.calibrate`: fit a `virtimu.sensors.noise.DeviceModel`
  to static segments of real recordings and write it as YAML.
* `virtimu.fidelity.cli`: the ``virtimu fidelity`` and
  ``virtimu calibrate-noise`` commands.
"""
