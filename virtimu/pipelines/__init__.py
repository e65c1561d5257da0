"""Library side of the sim-to-real pipelines in ``pipelines/`` (shared helpers and study code)."""
