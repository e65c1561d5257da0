"""Window features for the feature-based learners.

``spectral``: per-channel Welch power-spectral-density features (binned
PSD, spectral entropy, energy, spectral moments, dominant frequency).
``handcrafted``: time-domain statistics per channel and per triaxial
magnitude, pairwise axis correlations, plus the spectral features.
Both map windows ``X (N, L, C)`` to ``(N, F)`` float32 and a list of F names.
"""
