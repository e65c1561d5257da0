"""tsfresh window features: physics of a pure sine, names and shapes, parallel = serial, imputation, lazy import."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tsfresh")

from virtimu.features.spectral import spectral_features  # noqa: E402
from virtimu.features.tsfresh_features import (  # noqa: E402
    ColumnImputer,
    TsfreshConfig,
    extract_tsfresh,
    per_channel_names,
    require_tsfresh,
    tsfresh_settings,
)

FS = 25.0          # paper 000's rate
L = 100            # paper 000's window: 4 s
F0 = 2.5           # Hz: exactly 10 cycles per window (FFT bin 10)
AMP = 3.0
SINE_SETTINGS = {
    "abs_energy": None,
    "fft_coefficient": [{"coeff": k, "attr": "abs"} for k in range(L // 2 + 1)],
    "fft_aggregated": [{"aggtype": "centroid"}],
}


def sine_windows(n: int = 3, f0: float = F0, amp: float = AMP, n_channels: int = 2) -> np.ndarray:
    """(n, L, C): channel c holds amp·(c+1)·sin(2π f0 t + phase of the window)."""
    t = np.arange(L) / FS
    X = np.empty((n, L, n_channels), dtype=np.float32)
    for i in range(n):
        for c in range(n_channels):
            X[i, :, c] = amp * (c + 1) * np.sin(2 * np.pi * f0 * t + 0.7 * i)
    return X


def quiet(feature_set, workers: int = 1, chunk_size: int = 64) -> TsfreshConfig:
    return TsfreshConfig(feature_set=feature_set, workers=workers, chunk_size=chunk_size, progress=False)


def test_pure_sine_energy_and_dominant_frequency() -> None:
    X = sine_windows()
    F, names = extract_tsfresh(X, FS, ["s/acc_x", "s/acc_y"], quiet(SINE_SETTINGS))
    col = {n: i for i, n in enumerate(names)}
    for c, ch in enumerate(["s/acc_x", "s/acc_y"]):
        a = AMP * (c + 1)
        # integer number of cycles: sum of x^2 = A^2 L / 2
        np.testing.assert_allclose(F[:, col[f"{ch}__abs_energy"]], a**2 * L / 2, rtol=1e-4)
        fft = F[:, [col[f'{ch}__fft_coefficient__attr_"abs"__coeff_{k}'] for k in range(L // 2 + 1)]]
        peak = fft.argmax(axis=1)
        assert np.all(peak * FS / L == F0)                      # dominant frequency in Hz
        np.testing.assert_allclose(fft[:, 10], a * L / 2, rtol=1e-4)  # |rfft| of a sine = A L / 2
        np.testing.assert_allclose(F[:, col[f"{ch}__fft_aggregated__aggtype_\"centroid\""]], 10.0, atol=1e-3)
    # the PSD block agrees: Welch peak within one frequency step, power A^2/2
    spec, snames = spectral_features(X, FS, channels=["s/acc_x", "s/acc_y"])
    scol = {n: i for i, n in enumerate(snames)}
    assert np.all(np.abs(spec[:, scol["s/acc_x/dominant_freq"]] - F0) <= FS / 64)
    np.testing.assert_allclose(spec[:, scol["s/acc_x/spectral_energy"]], AMP**2 / 2, rtol=0.05)


def test_names_shapes_and_channel_order() -> None:
    X = sine_windows(n=4, n_channels=3)
    F, names = extract_tsfresh(X, FS, ["a", "b", "c"], quiet("minimal"))
    per = per_channel_names(tsfresh_settings("minimal", L), L)
    assert len(per) == 10 and "absolute_maximum" in per and "root_mean_square" in per
    assert F.shape == (4, 30) and F.dtype == np.float32
    assert names == [f"{ch}__{p}" for ch in "abc" for p in per]
    # channel c is (c+1) times channel a: the maxima scale accordingly
    mx = [names.index(f"{ch}__maximum") for ch in "abc"]
    np.testing.assert_allclose(F[:, mx[1]], 2 * F[:, mx[0]], rtol=1e-5)
    np.testing.assert_allclose(F[:, mx[2]], 3 * F[:, mx[0]], rtol=1e-5)
    # default channel names
    _, names0 = extract_tsfresh(X[:, :, :2], FS, None, quiet("minimal"))
    assert names0[0].startswith("ch0__") and names0[-1].startswith("ch1__")
    with pytest.raises(ValueError, match="channel names"):
        extract_tsfresh(X, FS, ["a"], quiet("minimal"))
    with pytest.raises(ValueError, match=r"\(N, L, C\)"):
        extract_tsfresh(X[0], FS, None, quiet("minimal"))


def test_feature_set_sizes() -> None:
    eff = tsfresh_settings("efficient", L)
    p000 = tsfresh_settings("paper000", L)
    assert "query_similarity_count" in eff and "query_similarity_count" not in p000
    assert max(p["coeff"] for p in p000["fft_coefficient"]) == L // 2
    n_eff, n_p000 = len(per_channel_names(eff, L)), len(per_channel_names(p000, L))
    # 4 coefficient kinds x (99 - 50) coefficients above Nyquist, plus the query feature
    assert n_eff - n_p000 == 4 * (99 - L // 2) + 1
    # paper 000: "around 2400 features" from 4 channels (tsfresh + 4 x 17 PSD features)
    assert 2300 <= 4 * n_p000 + 4 * 17 <= 2500
    assert set(tsfresh_settings("comprehensive", L)) > set(eff)
    with pytest.raises(ValueError, match="unknown tsfresh feature set"):
        tsfresh_settings("huge", L)
    with pytest.raises(ValueError, match="unknown set"):
        TsfreshConfig(feature_set="huge")


def test_parallel_equals_serial_and_duplicates() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 50, 2)).astype(np.float32)
    X[7] = X[2]  # a duplicate window
    F1, n1 = extract_tsfresh(X, FS, None, quiet("minimal", workers=1, chunk_size=3))
    F2, n2 = extract_tsfresh(X, FS, None, quiet("minimal", workers=2, chunk_size=3))
    assert n1 == n2
    np.testing.assert_array_equal(F1, F2)
    np.testing.assert_array_equal(F1[7], F1[2])
    assert not np.array_equal(F1[1], F1[2])


def test_column_imputer_uses_training_statistics() -> None:
    train = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, np.inf], [2.0, np.nan, 7.0], [np.inf, np.nan, -np.inf]],
                     dtype=np.float32)
    imp = ColumnImputer().fit(train)
    np.testing.assert_array_equal(imp.median_, [2.0, 0.0, 6.0])
    test = np.array([[np.nan, np.nan, np.nan], [np.inf, 1.0, -np.inf], [-np.inf, np.inf, 4.0]], dtype=np.float32)
    out = imp.transform(test)
    np.testing.assert_array_equal(out, [[2.0, 0.0, 6.0], [3.0, 1.0, 5.0], [1.0, 0.0, 4.0]])
    assert np.isfinite(imp.transform(train)).all()
    again = ColumnImputer.from_arrays(imp.arrays())
    np.testing.assert_array_equal(again.transform(test), out)
    with pytest.raises(ValueError, match="expected"):
        imp.transform(test[:, :2])


def test_missing_tsfresh_gives_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tsfresh", None)  # makes `import tsfresh` fail
    with pytest.raises(ImportError, match="pip install tsfresh"):
        require_tsfresh()
    with pytest.raises(ImportError, match="pip install tsfresh"):
        extract_tsfresh(sine_windows(), FS, None, quiet("minimal"))


def test_importing_virtimu_does_not_import_tsfresh() -> None:
    code = ("import sys, virtimu, virtimu.features.tsfresh_features, virtimu.models.features_learners; "
            "print('tsfresh' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False"
