"""virtimu: virtual IMU data from human motion capture for activity recognition."""

__version__ = "0.1.0"
