"""Evaluation: data splits (`splits`), metrics (`metrics`), plots (`plots`) and run reports (`report`).

Splits are integer index arrays into a window set (``ws.subset(idx)``),
deterministic given a seed, so that an experiment's results JSON can record
the seed and reproduce its exact partition.
"""
