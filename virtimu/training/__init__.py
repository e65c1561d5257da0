"""Training loop, learner interface, checkpoints and transfer options for torch models."""
