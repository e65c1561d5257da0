"""Hostile AMASS files (property-based): truncation, corruption, NaN/inf, wrong dtypes and shapes,
forged huge sizes, unicode paths.  Every case reads correctly or raises AmassFormatError naming the
file (and the field), and synthesis of a bad file leaves the store unchanged."""
from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a dev dependency
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.hostile.helpers import bounded, fresh_dir, snapshot
from virtimu.io.amass import AmassFormatError, find_amass_files, read_amass, write_amass
from virtimu.sensors.placement import load_site_table, resolve_sites
from virtimu.sensors.synth import SynthConfig
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS, SynthJob, synth_one

T = 6
#: Fields a hostile value may replace, and the names an error about them may carry.
FIELDS = {
    "poses": ("'poses'",),
    "trans": ("'trans'",),
    "betas": ("'betas'",),
    "mocap_framerate": ("'mocap_framerate'", "'mocap_frame_rate'"),
    "gender": ("'gender'",),
}


def _valid_fields() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"poses": rng.normal(scale=0.2, size=(T, 156)), "trans": rng.normal(size=(T, 3)),
            "betas": np.zeros(16), "mocap_framerate": np.array(120.0), "gender": np.array("female"),
            "dmpls": np.zeros((T, 8))}


def _write(path: Path, fields: dict[str, np.ndarray], compressed: bool) -> Path:
    with open(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **fields)
    return path


def _valid_bytes(compressed: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **_valid_fields())
    return buf.getvalue()


VALID = {False: _valid_bytes(False), True: _valid_bytes(True)}


def check_motion_or_error(path: Path, fields_named: tuple[str, ...] = ()) -> None:
    """read_amass either returns a sane Motion or raises AmassFormatError naming the file (and a field)."""
    try:
        m = read_amass(path, root=path.parent)
    except AmassFormatError as exc:
        msg = str(exc)
        assert str(path) in msg, msg
        if fields_named:
            assert any(f in msg for f in fields_named), msg
        return
    n = m.poses.shape[0]
    assert n >= 1 and m.poses.shape == (n, len(m.joint_names), 3) and m.trans.shape == (n, 3)
    assert np.isfinite(m.poses).all() and np.isfinite(m.trans).all() and np.isfinite(m.betas).all()
    assert np.isfinite(m.fps) and m.fps > 0 and m.gender in ("male", "female", "neutral")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile_amass")


hostile_dtypes = st.sampled_from(["<f8", "<f4", ">f8", "<i2", "<i8", "<u1", "?", "<c16", "<U4", "S3", "<M8[s]",
                                  "<m8[ms]"])
hostile_arrays = hnp.arrays(dtype=hostile_dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                                           max_side=5))


@st.composite
def poisoned_valid(draw, key: str) -> np.ndarray:
    """The valid value of ``key`` with one element replaced by NaN or +-inf."""
    value = _valid_fields()[key].astype(np.float64)
    assume(value.size > 0)
    flat = value.reshape(-1)
    flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return flat.reshape(value.shape)


@bounded(60)
@given(key=st.sampled_from(sorted(FIELDS)), data=st.data(), compressed=st.booleans())
def test_hostile_field_values(work, key, data, compressed):
    numeric = key in ("poses", "trans", "betas", "mocap_framerate")
    options = [hostile_arrays, st.just(np.array([{"code": "os.system('true')"}], dtype=object)),
               st.just(None)]  # None: the field is missing
    if numeric:
        options.append(poisoned_valid(key))
    value = data.draw(st.one_of(*options))
    fields = _valid_fields()
    if value is None:
        del fields[key]
    else:
        fields[key] = value
    path = _write(fresh_dir(work) / "seq_poses.npz", fields, compressed)
    check_motion_or_error(path, FIELDS[key])
    if value is not None and numeric and value.dtype.kind == "f" and not np.isfinite(value).all():
        with pytest.raises(AmassFormatError, match="non-finite"):
            read_amass(path, root=path.parent)


@bounded(60)
@given(compressed=st.booleans(), data=st.data())
def test_truncated_files(work, compressed, data):
    blob = VALID[compressed]
    cut = data.draw(st.integers(0, len(blob) - 1))
    path = fresh_dir(work) / "cut_poses.npz"
    path.write_bytes(blob[:cut])
    with pytest.raises(AmassFormatError) as info:
        read_amass(path, root=path.parent)
    assert str(path) in str(info.value)


@bounded(60)
@given(compressed=st.booleans(), data=st.data())
def test_corrupted_bytes(work, compressed, data):
    blob = bytearray(VALID[compressed])
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    path = fresh_dir(work) / "flip_poses.npz"
    path.write_bytes(bytes(blob))
    check_motion_or_error(path)


def _forged_npz(path: Path, key: str, shape: tuple[int, ...], dtype: str, payload: bytes) -> Path:
    """An npz whose member ``key`` has a .npy header declaring ``shape`` but only ``payload`` as data."""
    fields = _valid_fields()
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in fields.items():
            buf = io.BytesIO()
            if name == key:
                np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
                buf.write(payload)
            else:
                np.lib.format.write_array(buf, value)
            zf.writestr(f"{name}.npy", buf.getvalue())
    return path


@bounded(40)
@given(key=st.sampled_from(["poses", "trans", "betas"]),
       shape=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=3).map(tuple),
       dtype=st.sampled_from(["<f8", "<f4", "<i8"]), payload=st.binary(max_size=64))
def test_forged_huge_declared_sizes(work, key, shape, dtype, payload):
    declared = int(np.prod([int(n) for n in shape], dtype=object)) * np.dtype(dtype).itemsize
    assume(declared > len(payload))
    path = _forged_npz(fresh_dir(work) / "forged_poses.npz", key, shape, dtype, payload)
    with pytest.raises(AmassFormatError) as info:
        read_amass(path, root=path.parent)
    assert str(path) in str(info.value) and f"'{key}'" in str(info.value)


def test_field_larger_than_the_limit_is_refused_before_reading(work, monkeypatch):
    from virtimu.io import amass

    monkeypatch.setattr(amass, "MAX_FIELD_BYTES", 100)
    path = _write(fresh_dir(work) / "big_poses.npz", _valid_fields(), compressed=True)
    with pytest.raises(AmassFormatError, match=r"field 'poses': .*MAX_FIELD_BYTES"):
        read_amass(path, root=path.parent)


def test_raw_non_npy_member_is_a_format_error(work):
    path = fresh_dir(work) / "raw_poses.npz"
    _write(path, {k: v for k, v in _valid_fields().items() if k != "poses"}, compressed=False)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("poses", b"not an npy member")
    with pytest.raises(AmassFormatError, match="field 'poses'"):
        read_amass(path, root=path.parent)


path_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                    min_size=1, max_size=16).filter(lambda s: s not in (".", "..") and s.strip() == s)


@bounded(30)
@given(folder=path_text, stem=path_text)
def test_unicode_paths_are_read_and_named(work, folder, stem):
    assume(len(folder.encode()) < 100 and len(stem.encode()) < 100)
    root = fresh_dir(work)
    path = root / folder / f"{stem}_poses.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    f = _valid_fields()
    write_amass(path, f["poses"], f["trans"], f["betas"], 120.0, "female")
    assert find_amass_files(root) == [path]
    motion = read_amass(path, root=root)
    assert motion.name == f"{folder}/{stem}_poses"


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory) -> tuple[SynthJob, Path]:
    """A store holding one synthesised demo clip, and the job that wrote it."""
    base = tmp_path_factory.mktemp("hostile_synth")
    job = SynthJob(store=str(base / "s.zarr"), sites=resolve_sites("wrist,thigh,head", load_site_table(None)),
                   config=SynthConfig(fps=30.0, signals=("acc",)), source="amass", root=str(DEMO_MOTIONS))
    assert synth_one(str(DEMO_MOTIONS / "standing.npz"), job)[0] == "written"
    return job, base / "s.zarr"


@bounded(25)
@given(data=st.data())
def test_bad_files_fail_clearly_and_leave_the_store_unchanged(work, synth_store, data):
    job, store = synth_store
    before = snapshot(store)
    blob = VALID[data.draw(st.booleans())]
    kind = data.draw(st.sampled_from(["truncated", "nan", "huge"]))
    folder = fresh_dir(work)
    path = folder / "bad_poses.npz"
    if kind == "truncated":
        path.write_bytes(blob[:data.draw(st.integers(0, len(blob) - 1))])
    elif kind == "nan":
        fields = _valid_fields()
        fields["trans"] = data.draw(poisoned_valid("trans"))
        _write(path, fields, compressed=True)
    else:
        _forged_npz(path, "poses", (10**12, 156), "<f8", b"")
    status, message, frames = synth_one(str(path), dataclasses.replace(job, root=str(folder)))
    assert (status, frames) == ("failed", 0)
    assert message.startswith("AmassFormatError: AMASS file") and str(path) in message
    assert snapshot(store) == before


@bounded(5)
@given(stem=path_text)
def test_unicode_names_round_trip_through_synthesis_and_store(work, synth_store, stem):
    assume(len(stem.encode()) < 100)
    job, store = synth_store
    root = fresh_dir(work)
    path = root / "Ünïcode" / f"{stem}_poses.npz"
    path.parent.mkdir()
    m = read_amass(DEMO_MOTIONS / "standing.npz")
    write_amass(path, m.poses[:20], m.trans[:20], m.betas, m.fps, m.gender)
    status, name, _ = synth_one(str(path), dataclasses.replace(job, root=str(work)))
    assert (status, name) == ("written", f"{root.name}/Ünïcode/{stem}_poses")
    s = RecordingStore(store, mode="r")
    assert ("amass", name) in s.list() and s.read("amass", name).name == name
