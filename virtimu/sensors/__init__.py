"""Virtual sensors: placement, signal physics, rate conversion, device model, synthesis.

Import the submodules directly (``virtimu.sensors.signals``,
``virtimu.sensors.resample``, ``virtimu.sensors.noise`` ...).
"""
