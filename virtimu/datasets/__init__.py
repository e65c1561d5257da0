"""Real IMU datasets as sources of the same Recording type (see base.py)."""
