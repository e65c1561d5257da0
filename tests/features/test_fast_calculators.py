"""Vectorised change_quantiles against tsfresh's own implementation (the reference)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tsfresh")

from tsfresh.feature_extraction import feature_calculators as fc  # noqa: E402
from tsfresh.utilities.string_manipulation import convert_to_output_format  # noqa: E402

from virtimu.features.fast_calculators import change_quantiles, output_name  # noqa: E402
from virtimu.features.tsfresh_features import (  # noqa: E402
    TsfreshConfig,
    extract_tsfresh,
    tsfresh_settings,
)


def series() -> np.ndarray:
    """Awkward series: noise, quantised values (ties at the quantile edges), constants, short ramps."""
    rng = np.random.default_rng(7)
    rows = [rng.standard_normal(60) for _ in range(6)]
    rows += [np.round(rng.standard_normal(60) * 2) for _ in range(4)]    # many ties
    rows += [np.full(60, 3.0), np.r_[np.zeros(30), np.ones(30)], np.arange(60.0) ** 2]
    rows += [np.tile([0.0, 1.0], 30), rng.integers(0, 3, 60).astype(float)]
    return np.array(rows)


def test_change_quantiles_matches_tsfresh() -> None:
    params = tsfresh_settings("efficient", 60)["change_quantiles"]
    params = params + [{"ql": 0.2, "qh": 0.8, "isabs": True, "f_agg": "median"},
                       {"ql": 0.0, "qh": 1.0, "isabs": False, "f_agg": "std"}]
    S = series()
    fast = change_quantiles(S, params)
    ref = np.array([[fc.change_quantiles(s, **p) for p in params] for s in S])
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-12)
    assert np.count_nonzero(ref) > ref.size // 4     # the comparison is not all zeros


def test_output_name_matches_tsfresh() -> None:
    for p in tsfresh_settings("efficient", 60)["change_quantiles"][:6]:
        assert output_name("change_quantiles", p) == "change_quantiles__" + convert_to_output_format(p)


def test_extraction_with_and_without_fast_path_agree() -> None:
    X = np.moveaxis(series()[:12].reshape(6, 2, 60), 1, 2).astype(np.float32)   # (6, 60, 2)
    settings = {"change_quantiles": tsfresh_settings("efficient", 60)["change_quantiles"], "mean": None}
    F1, n1 = extract_tsfresh(X, 50.0, None, TsfreshConfig(settings, workers=1, progress=False, fast=True))
    F0, n0 = extract_tsfresh(X, 50.0, None, TsfreshConfig(settings, workers=1, progress=False, fast=False))
    assert n1 == n0 and len(n1) == 2 * (60 + 1)
    np.testing.assert_allclose(F1, F0, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="finite"):
        change_quantiles(np.array([[0.0, np.nan, 1.0]]), settings["change_quantiles"][:1])
