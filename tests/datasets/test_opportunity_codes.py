"""Opportunity's raw label codes (up to 5408512) reach the int16 store as compact codes, recoverably."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.datasets.test_opportunity import _dataset, _table, _write_dat
from virtimu.cli import main
from virtimu.datasets.base import load_dataset
from virtimu.datasets.ingest import ingest
from virtimu.datasets.opportunity import raw_label_codes
from virtimu.labels.compact import CompactCodes, compact_codes, raw_codes_from_provenance
from virtimu.labels.maps import UnknownLabelError, get_label_map, get_label_space, opportunity_code
from virtimu.store import RecordingStore
from virtimu.store.windows import WindowStore

RAW = get_label_space("opportunity_raw")


def test_compact_numbering_is_a_bijection_with_null_first() -> None:
    cc = compact_codes("opportunity_raw")
    assert len(cc.space) == len(RAW) == 90 and cc.space.null_code == 0 and cc.to_raw[0] == RAW.null_code
    assert cc.to_raw.max() == 5_408_512 and len(cc.to_raw) - 1 <= np.iinfo(np.int16).max
    assert np.all(np.diff(cc.to_raw) > 0)  # raw order kept: the numbering depends on the space only
    raw = np.array(sorted(RAW.codes))
    codes = cc.encode(raw)
    assert codes.dtype == np.int64 and sorted(codes.tolist()) == list(range(90))
    assert np.array_equal(cc.decode(codes), raw)
    assert all(cc.space.name_of(int(c)) == RAW.name_of(int(r)) for c, r in zip(codes, raw))  # names kept
    with pytest.raises(UnknownLabelError, match="3000000"):
        cc.encode(np.array([0, 3_000_000]))
    with pytest.raises(UnknownLabelError, match="90"):
        cc.decode(np.array([90]))
    assert compact_codes("opportunity_raw") is cc


def test_compact_codes_of_any_space() -> None:
    cc = CompactCodes.of(get_label_space("dip5"))
    assert cc.space.codes == get_label_space("dip5").codes  # already compact: unchanged
    prov = cc.provenance()
    assert prov["label_space"] == "dip5" and prov["raw_codes"]["3"] == 3
    with pytest.raises(ValueError, match="raw_codes"):
        raw_codes_from_provenance(np.zeros(3, dtype=int), {"labels": "something else"})


def test_loader_writes_compact_codes_with_raw_names(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    rec = next(iter(load_dataset("opportunity", root)))
    assert rec.labels.max() < 90 and rec.labels.min() >= 0
    # the frames of the file: Stand, Walk, Walk + Drink from Cup, Open Door 1, null
    loco = np.zeros(60)
    loco[:20], loco[20:40] = 1, 2
    gest = np.zeros(60)
    gest[25:35], gest[40:50] = 407521, 406516
    want_raw = opportunity_code(loco, gest)
    assert np.array_equal(raw_label_codes(rec), want_raw)
    assert [rec.label_map[int(c)] for c in rec.labels] == [RAW.name_of(int(c)) for c in want_raw]
    assert rec.provenance["labels"]["label_space"] == "opportunity_raw"
    assert rec.provenance["labels"]["codes"] == "compact"


def test_ingest_round_trip_keeps_names_and_raw_codes(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    loaded = {r.name: r for r in load_dataset("opportunity", root)}
    report = ingest("opportunity", root, tmp_path / "s.zarr", progress=False)
    assert len(report.written) == 2
    store = RecordingStore(tmp_path / "s.zarr", mode="r")
    for src, name in store.list():
        got, want = store.read(src, name), loaded[name]
        assert np.array_equal(got.labels, want.labels) and got.label_map == want.label_map
        assert np.array_equal(raw_label_codes(got), raw_label_codes(want))  # from the stored provenance (str keys)
    s1 = store.read("opportunity", "S1-ADL1")
    drink = {c for c, n in s1.label_map.items() if n == "Walk + Drink from Cup"}
    assert int(np.isin(s1.labels, list(drink)).sum()) == 10


def test_resampled_load_keeps_valid_compact_codes(tmp_path: Path) -> None:
    T = 300
    loco = np.repeat([1, 2, 5], T // 3)
    gest = np.where(np.arange(T) % 100 < 50, 404519, 0)
    _write_dat(tmp_path / "S3-ADL2.dat", _table(T, loco=loco, gest=gest))
    (rec,) = load_dataset("opportunity", tmp_path, fs=25.0)
    names = {rec.label_map[int(c)] for c in np.unique(rec.labels)}
    assert names <= {RAW.name_of(int(c)) for c in np.unique(opportunity_code(loco, gest))}
    assert "Lie + Close Drawer 1" in names


def test_windows_label_map_opportunity14_on_an_ingested_store(tmp_path: Path, capsys) -> None:
    T = 300
    loco = np.repeat([1, 2, 4], T // 3)
    gest = np.where((np.arange(T) >= 100) & (np.arange(T) < 200), 407521, 0)
    _write_dat(tmp_path / "d" / "S1-ADL1.dat", _table(T, loco=loco, gest=gest))
    _write_dat(tmp_path / "d" / "S2-ADL1.dat", _table(T, loco=loco, gest=gest, seed=2))
    store = tmp_path / "s.zarr"
    assert main(["ingest", "opportunity", str(tmp_path / "d"), "--out", str(store), "--quiet"]) == 0
    assert main(["windows", str(store), "--length", "30", "--overlap", "0", "--label-map", "opportunity14",
                 "--drop-null", "--name", "opp", "--quiet"]) == 0
    ws = WindowStore(store, mode="r").read("opp")
    assert set(ws.class_counts()) == {"stand", "walk_drink_from_cup", "sit"}
    lm = get_label_map("opportunity_raw", "opportunity14")
    assert ws.label_map == lm.dst.label_map()
