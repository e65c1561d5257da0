"""`virtimu ingest hapt` on the real UCI HAPT copy beside the project (skipped when absent)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.cli import main
from virtimu.store import RecordingStore

HAPT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hapt"


@pytest.mark.slow
@pytest.mark.skipif(not (HAPT / "RawData").is_dir(), reason="real HAPT copy not found at ../shared/data/hapt")
def test_ingest_real_hapt_counts(tmp_path: Path, capsys) -> None:
    out = tmp_path / "real.zarr"
    assert main(["ingest", "hapt", str(HAPT), "--out", str(out), "--quiet"]) == 0
    assert "61 recordings written" in capsys.readouterr().out
    store = RecordingStore(out, mode="r")
    rows = store.summary()
    assert rows[0]["recordings"] == 61 and rows[0]["frames"] == 1_122_772
    subjects = {store.read("hapt", n).subject for _, n in store.list("hapt")}
    assert len(subjects) == 30
    labels = rows[0]["labels"]
    assert labels["WALKING"] == 122091 and labels["LIE_TO_STAND"] == 10867  # samples per activity (data README)
    rec = store.read("hapt", "exp01_user01")
    acc = rec.select(["waist/acc_x", "waist/acc_y", "waist/acc_z"])
    static = np.isin(rec.labels, [4, 5, 6])
    assert abs(np.median(np.linalg.norm(acc[static], axis=1)) / 9.81 - 1) < 0.05
    # windows in the UCI HAR label space from the ingested store
    assert main(["windows", str(out), "--length", "128", "--overlap", "0.5", "--purity", "1.0", "--drop-null",
                 "--label-map", "uci_har6", "--name", "uci6", "--quiet"]) == 0
    from virtimu.store.windows import WindowStore

    counts = WindowStore(out, mode="r").read("uci6").class_counts()
    assert set(counts) == {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"}
    assert 9000 < sum(counts.values()) < 11000
