"""Evaluation: data splits (`virtimu.evaluation.splits`) for training, validation and testing.

Splits are integer index arrays into a window set (``ws.subset(idx)``),
deterministic given a seed, so that an experiment's results JSON can record
the seed and reproduce its exact partition.
"""
