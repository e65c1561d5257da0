"""Hostile dataset files (property-based), for every real-dataset loader: one file of a small
dataset written in its published layout is truncated, has a field replaced by a hostile token
(NaN, inf, 1e999, text, an empty cell, a huge number ...), loses or gains a line, or has bytes
flipped.  Loading either gives sane recordings or raises DatasetFormatError naming a file of the
dataset; ingesting it writes only complete recordings equal to a clean ingest's."""
from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a dev dependency
from hypothesis import given
from hypothesis import strategies as st

from tests.datasets.test_dip import _py2_pickle, _sequence
from tests.datasets.test_hapt import SEGMENTS, small_experiments, write_hapt
from tests.datasets.test_harth import stamps, standing
from tests.datasets.test_harth import write_csv as write_harth_csv
from tests.datasets.test_jsifos import wrist
from tests.datasets.test_jsifos import write_csv as write_jsifos_csv
from tests.datasets.test_opportunity import _dataset as write_opportunity
from tests.datasets.test_pamap2 import make_rows, write_dat
from tests.datasets.test_uci_har import ACTIVITIES as UCI_ACTIVITIES
from tests.datasets.test_uci_har import signal, write_split
from tests.hostile.helpers import bounded, fresh_dir
from virtimu.datasets.base import DatasetFormatError, load_dataset
from virtimu.datasets.ingest import ingest
from virtimu.io.pickles import UnsafePickleError
from virtimu.store import RecordingStore


def _hapt(root: Path) -> Path:
    write_hapt(root / "hapt" / "RawData", small_experiments(), SEGMENTS)
    return root / "hapt"


def _uci_har(root: Path) -> Path:
    har = root / "UCI HAR Dataset"
    har.mkdir(parents=True)
    (har / "activity_labels.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(UCI_ACTIVITIES, 1)))
    write_split(har, "train", [(1, 5, signal(128 + 64, 0)), (3, 6, signal(128 + 64, 3))])
    write_split(har, "test", [(2, 4, signal(128 + 64, 4))])
    return har


def _pamap2(root: Path) -> Path:
    acts = np.array([0, 0, 1, 1, 2, 3, 24, 24, 17, 0, 5, 5])
    write_dat(root / "PAMAP2_Dataset" / "Protocol" / "subject101.dat", make_rows(len(acts), acts))
    write_dat(root / "PAMAP2_Dataset" / "Optional" / "subject105.dat", make_rows(5, 19))
    return root


def _dip(root: Path) -> Path:
    base = root / "DIP_IMU_and_Others" / "DIP_IMU"
    _py2_pickle(_sequence(30), base / "s_01" / "01.pkl")
    _py2_pickle(_sequence(20), base / "s_02" / "03.pkl")
    (base / "dip_activities.yaml").write_text("01: stretching_arms\n03: walking\n", encoding="utf-8")
    return root / "DIP_IMU_and_Others"


def _opportunity(root: Path) -> Path:
    return write_opportunity(root)


def _jsifos(root: Path) -> Path:
    n = 12
    names = ["lying_back"] * 4 + ["walking"] * 4 + ["standing"] * 4
    root.mkdir(parents=True)
    write_jsifos_csv(root / "S01.csv", 0.02 * np.arange(n), wrist(n, 1), names)
    write_jsifos_csv(root / "S02.csv", 0.02 * np.arange(n), wrist(n, 2), ["cycling"] * n)
    return root


def _harth(root: Path) -> Path:
    n = 12
    write_harth_csv(root / "harth" / "S006.csv", stamps(n), standing(n, 0), [6] * 6 + [7] * 6)
    write_harth_csv(root / "harth" / "S007.csv", stamps(n), standing(n, 1), [1] * n)
    return root


def _har70plus(root: Path) -> Path:
    n = 12
    write_harth_csv(root / "har70plus" / "501.csv", stamps(n), standing(n, 0), [1, 3, 4, 5, 6, 7, 8, 8, 8, 7, 6, 1])
    write_harth_csv(root / "har70plus" / "502.csv", stamps(n), standing(n, 1), [8] * n)
    return root


#: loader name -> writer of a small valid dataset (returns the folder given to the loader)
WRITERS: dict[str, Callable[[Path], Path]] = {
    "hapt": _hapt, "uci-har": _uci_har, "pamap2": _pamap2, "dip": _dip, "opportunity": _opportunity,
    "jsi-fos": _jsifos, "harth": _harth, "har70plus": _har70plus,
}
#: errors a loader may raise for a bad file (DIP files are pickles: code in them is refused)
ERRORS: dict[str, tuple[type[BaseException], ...]] = {name: (DatasetFormatError,) for name in WRITERS}
ERRORS["dip"] = (DatasetFormatError, UnsafePickleError)

HOSTILE_TOKENS = ["", "nan", "NaN", "inf", "-inf", "1e999", "-1e999", "abc", "0x1F", "１２", "1,5", "--1",
                  "9" * 400, "1e-400", "\x00", "\u00a0", "None", "[]", "2019-13-45 25:61:61.000", "-0",
                  "4294967297", "-32769", "1.5", "99999999999999999999"]


#: Loaders whose recordings the store cannot hold (none: Opportunity's large raw
#: codes are stored as compact codes, virtimu.labels.compact).
NOT_INGESTIBLE: set[str] = set()


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, tuple[Path, Path, RecordingStore | None]]:
    """Per loader: the clean dataset folder, its parent, and a store holding its clean ingest."""
    out = {}
    for name, write in WRITERS.items():
        base = tmp_path_factory.mktemp(f"clean_{name}")
        folder = write(base / "data")
        store = None
        if name not in NOT_INGESTIBLE:
            ingest(name, folder, base / "ref.zarr", progress=False)
            store = RecordingStore(base / "ref.zarr", mode="r")
        out[name] = (folder, base / "data", store)
    return out


def test_opportunity_recordings_can_be_ingested(clean, tmp_path):
    folder = clean["opportunity"][0]
    ingest("opportunity", folder, tmp_path / "s.zarr", progress=False)
    assert RecordingStore(tmp_path / "s.zarr", mode="r").list()


def _data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _mutate_text(text: str, rnd: random.Random, kind: str) -> str:
    lines = text.split("\n")
    i = rnd.randrange(len(lines))
    if kind == "token":
        sep = "," if "," in lines[i] else " "
        cells = lines[i].split(sep)
        cells[rnd.randrange(len(cells))] = rnd.choice(HOSTILE_TOKENS)
        lines[i] = sep.join(cells)
    elif kind == "drop-line":
        del lines[i]
    elif kind == "dup-line":
        lines.insert(i, lines[i])
    elif kind == "extra-cell":
        lines[i] += rnd.choice([",", " "]) + rnd.choice(HOSTILE_TOKENS)
    elif kind == "junk-line":
        lines.insert(i, rnd.choice(HOSTILE_TOKENS) + " " + rnd.choice(HOSTILE_TOKENS))
    return "\n".join(lines)


def _mutate(path: Path, kind: str, seed: int) -> None:
    """Apply one hostile change to ``path`` in place."""
    rnd = random.Random(seed)
    blob = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(blob[:rnd.randrange(len(blob))])
    elif kind == "flip":
        data = bytearray(blob)
        for _ in range(rnd.randint(1, 6)):
            data[rnd.randrange(len(data))] ^= rnd.randint(1, 255)
        path.write_bytes(bytes(data))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:  # a binary file (DIP pickle): truncate instead
            path.write_bytes(blob[:rnd.randrange(len(blob))])
            return
        path.write_text(_mutate_text(text, rnd, kind), encoding="utf-8")


def _dip_hostile_pickle(path: Path, seed: int) -> None:
    """Replace a DIP sequence by a pickle with hostile arrays (NaN/inf, wrong shapes, dtypes, types)."""
    rnd = random.Random(seed)
    seq = _sequence(10)
    key = rnd.choice(["imu_acc", "imu_ori", "gt"])
    choice = rnd.randrange(6)
    if choice == 0:
        seq[key] = np.full_like(seq[key], np.inf)
    elif choice == 1:
        seq[key] = np.zeros((10, 3))
    elif choice == 2:
        seq[key] = np.array(["a", "b"])
    elif choice == 3:
        seq[key] = "not an array"
    elif choice == 4:
        del seq[key]
    else:
        seq[key] = np.zeros((0,) + seq[key].shape[1:])
    _py2_pickle(seq, path)


KINDS = ["truncate", "flip", "empty", "token", "token", "token", "drop-line", "dup-line", "extra-cell", "junk-line"]


def _assert_sane(recs) -> None:
    for r in recs:
        assert r.signals.ndim == 2 and r.signals.shape[1] == len(r.channels) == len(r.units)
        assert r.fs > 0 and np.isfinite(r.fs)
        assert r.labels is None or (r.labels.shape == (r.n_frames,) and r.labels.dtype.kind in "iu")


def _check(name: str, folder: Path, data_root: Path, bad: Path) -> None:
    try:
        recs = list(load_dataset(name, folder))
    except ERRORS[name] as exc:
        msg = str(exc)
        named = [p.name for p in _data_files(data_root)] + [p.name for p in data_root.rglob("*") if p.is_dir()]
        assert bad.name in msg or any(n in msg for n in named) or str(folder) in msg, msg
    else:
        _assert_sane(recs)


@pytest.mark.parametrize("name", sorted(WRITERS))
@bounded(25)
@given(data=st.data())
def test_hostile_files_load_or_fail_clearly(clean, tmp_path_factory, name, data):
    folder, data_root, _ = clean[name]
    work = fresh_dir(tmp_path_factory.getbasetemp() / f"hostile_{name}")
    copy = work / "data"
    shutil.copytree(data_root, copy)
    files = _data_files(copy)
    bad = data.draw(st.sampled_from(files))
    seed = data.draw(st.integers(0, 2**31 - 1))
    if name == "dip" and bad.suffix == ".pkl" and data.draw(st.booleans()):
        _dip_hostile_pickle(bad, seed)
    else:
        _mutate(bad, data.draw(st.sampled_from(KINDS)), seed)
    _check(name, copy / folder.relative_to(data_root), copy, bad)


@pytest.mark.parametrize("name", sorted(set(WRITERS) - NOT_INGESTIBLE))
@bounded(6)
@given(data=st.data())
def test_failed_ingest_writes_only_complete_clean_recordings(clean, tmp_path_factory, name, data):
    folder, data_root, ref = clean[name]
    work = fresh_dir(tmp_path_factory.getbasetemp() / f"ingest_{name}")
    copy = work / "data"
    shutil.copytree(data_root, copy)
    bad = data.draw(st.sampled_from(_data_files(copy)))
    _mutate(bad, data.draw(st.sampled_from(["truncate", "token", "empty", "junk-line"])),
            data.draw(st.integers(0, 2**31 - 1)))
    store_path = work / "s.zarr"
    try:
        ingest(name, copy / folder.relative_to(data_root), store_path, progress=False)
    except ERRORS[name]:
        store = RecordingStore(store_path, mode="r")
        for key in store.list():  # whatever was written before the bad file: complete and clean
            got, want = store.read(*key), ref.read(*key)
            assert np.array_equal(got.signals, want.signals, equal_nan=True), key
            assert got.labels is None or np.array_equal(got.labels, want.labels), key
        assert not list(store_path.rglob(".tmp-*"))
