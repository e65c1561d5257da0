"""Sim-to-real experiment scripts: each module has ``main(argv=None)`` and a YAML config in pipelines/configs/."""
