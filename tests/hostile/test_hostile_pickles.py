"""Pickles carrying code (property-based): every protocol and opcode route to a callable outside the
allow-list is refused by `virtimu.io.pickles.restricted_load` before anything runs; random and
truncated pickles end in PickleReadError / UnsafePickleError, never another exception."""
from __future__ import annotations

import builtins
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("hypothesis")  # a dev dependency
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.helpers import bounded, fresh_dir
from virtimu.body.files import load_body_model
from virtimu.io.pickles import PickleReadError, UnsafePickleError, restricted_load


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile_pickles")


def _payloads(sentinel: Path) -> list[tuple[object, tuple]]:
    """(callable, args): each call would create ``sentinel`` (or worse)."""
    s = str(sentinel)
    return [
        (os.system, (f"touch '{s}'",)),
        (builtins.eval, (f"open({s!r}, 'w')",)),
        (builtins.exec, (f"open({s!r}, 'w').close()",)),
        (builtins.open, (s, "w")),
        (subprocess.Popen, (["touch", s],)),
        (subprocess.check_call, (["touch", s],)),
        (shutil.copy, (__file__, s)),
        (Path.touch, (sentinel,)),
        (np.save, (s, np.zeros(1))),
        (getattr, (sentinel, "touch")),
        (__import__, ("os",)),
        (pickle.loads, (b"\x80\x04K\x01.",)),
    ]


class _Reduce:
    """An object whose pickle calls ``func(*args)`` on load."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


containers = st.sampled_from(["bare", "list", "dict", "tuple", "nested", "model"])


def _wrap(kind: str, evil: object) -> object:
    if kind == "bare":
        return evil
    if kind == "list":
        return [1, 2.5, evil]
    if kind == "dict":
        return {"v_template": np.zeros((3, 3)), "evil": evil}
    if kind == "tuple":
        return (np.arange(3), evil)
    if kind == "nested":
        return {"a": [{"b": (1, [evil])}]}
    return {"v_template": np.zeros((4, 3)), "J_regressor": sp.csc_matrix(np.eye(4)), "f": [evil]}


@bounded(60)
@given(index=st.integers(0, 11), protocol=st.integers(0, pickle.HIGHEST_PROTOCOL), kind=containers)
def test_reduce_payloads_are_refused_before_running(work, index, protocol, kind):
    folder = fresh_dir(work)
    sentinel = folder / "PWNED"
    func, args = _payloads(sentinel)[index]
    blob = pickle.dumps(_wrap(kind, _Reduce(func, args)), protocol=protocol)
    path = folder / "model.pkl"
    path.write_bytes(blob)
    with pytest.raises(UnsafePickleError) as info:
        restricted_load(path, what="SMPL body model")
    assert str(path) in str(info.value) and "refusing to unpickle global" in str(info.value)
    assert not sentinel.exists()


#: Globals a hand-made pickle may name (Python 2 and 3 spellings, dotted names, private helpers).
EVIL_GLOBALS = [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("__builtin__", "eval"), ("builtins", "eval"),
    ("builtins", "exec"), ("builtins", "compile"), ("builtins", "getattr"), ("builtins", "__import__"),
    ("builtins", "open"), ("builtins", "type"), ("builtins", "object.__subclasses__"),
    ("builtins", "dict.__class__"), ("subprocess", "Popen"), ("subprocess", "getoutput"),
    ("importlib", "import_module"), ("pickle", "loads"), ("_pickle", "loads"), ("numpy", "load"),
    ("numpy", "ndarray.__reduce__"), ("numpy.lib.npyio", "load"), ("numpy.testing", "rundocs"),
    ("copy_reg", "add_extension"), ("copyreg", "__newobj__"), ("scipy.sparse", "load_npz"),
    ("scipy.sparse._csc", "csc_matrix.__init__"), ("collections", "namedtuple"), ("functools", "partial"),
    ("operator", "attrgetter"), ("codecs", "decode"), ("_codecs", "decode"), ("webbrowser", "open"),
    ("runpy", "run_path"), ("ctypes", "CDLL"), ("torch", "load"), ("virtimu.io.pickles", "restricted_load"),
]


def _opcode_pickle(route: str, module: str, name: str, arg: str) -> bytes:
    """A hand-made pickle calling ``module.name(arg)`` by one opcode route."""
    m, n, a = module.encode(), name.encode(), arg.encode()

    def short(text: bytes) -> bytes:
        return b"\x8c" + bytes([len(text)]) + text

    if route == "global-reduce-p0":
        return b"c" + m + b"\n" + n + b"\n(V" + a + b"\ntR."
    if route == "global-reduce-p2":
        return b"\x80\x02c" + m + b"\n" + n + b"\nX" + len(a).to_bytes(4, "little") + a + b"\x85R."
    if route == "stack-global-p4":
        return b"\x80\x04" + short(m) + short(n) + b"\x93" + short(a) + b"\x85R."
    if route == "inst":
        return b"(V" + a + b"\ni" + m + b"\n" + n + b"\n."
    if route == "obj":
        return b"(c" + m + b"\n" + n + b"\nV" + a + b"\no."
    if route == "newobj":
        return b"\x80\x02c" + m + b"\n" + n + b"\nV" + a + b"\n\x85\x81."
    if route == "newobj-ex":
        return b"\x80\x04" + short(m) + short(n) + b"\x93" + short(a) + b"\x85}\x92."
    if route == "build":  # an allowed object whose BUILD state holds the evil global's result
        return b"\x80\x02cbuiltins\nobject\n)R}X\x01\x00\x00\x00xc" + m + b"\n" + n + b"\nV" + a + b"\n\x85Rsb."
    if route == "in-dict":
        return b"\x80\x02}X\x01\x00\x00\x00kc" + m + b"\n" + n + b"\nV" + a + b"\n\x85Rs."
    if route == "reconstructor":  # copyreg._reconstructor applied to a class that is not a chumpy stub
        return b"ccopy_reg\n_reconstructor\n(c" + m + b"\n" + n + b"\ncbuiltins\nobject\nNtR."
    raise AssertionError(route)


ROUTES = ["global-reduce-p0", "global-reduce-p2", "stack-global-p4", "inst", "obj", "newobj", "newobj-ex",
          "build", "in-dict", "reconstructor"]


@bounded(80)
@given(route=st.sampled_from(ROUTES), target=st.sampled_from(EVIL_GLOBALS),
       as_file=st.booleans())
def test_hand_made_opcode_routes_are_refused(work, route, target, as_file):
    folder = fresh_dir(work)
    sentinel = folder / "PWNED"
    blob = _opcode_pickle(route, *target, f"touch {sentinel}")
    source: object
    if as_file:
        source = folder / "evil.pkl"
        source.write_bytes(blob)
    else:
        import io

        source = io.BytesIO(blob)
    with pytest.raises(UnsafePickleError) as info:
        restricted_load(source, what="SMPL body model")
    assert "refusing to unpickle global" in str(info.value)
    assert not sentinel.exists()


def _valid_model_pickle() -> bytes:
    model = {"v_template": np.random.default_rng(0).normal(size=(20, 3)), "f": np.zeros((4, 3), np.uint32),
             "J_regressor": sp.csc_matrix(np.eye(3, 20)), "kintree_table": np.zeros((2, 3), np.int64),
             "bs_style": "lbs", "names": ["pelvis", "hip", "knee"]}
    return pickle.dumps(model, protocol=2)


VALID_MODEL = _valid_model_pickle()


@bounded(60)
@given(data=st.data())
def test_truncated_and_corrupted_pickles_end_in_clear_errors(work, data):
    blob = bytearray(VALID_MODEL)
    if data.draw(st.booleans()):
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
        expect_error = True
    else:
        for _ in range(data.draw(st.integers(1, 6))):
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
        expect_error = False
    path = fresh_dir(work) / "model.pkl"
    path.write_bytes(bytes(blob))
    try:
        restricted_load(path, what="SMPL body model")
    except (PickleReadError, UnsafePickleError) as exc:
        assert str(path) in str(exc)
    else:
        assert not expect_error, "a truncated pickle loaded"


@bounded(60)
@given(blob=st.binary(min_size=0, max_size=200))
def test_random_bytes_never_escape_as_other_exceptions(blob):
    import io

    try:
        restricted_load(io.BytesIO(blob), what="SMPL body model")
    except (PickleReadError, UnsafePickleError):
        pass


def test_body_model_loader_refuses_code(work):
    folder = fresh_dir(work)
    sentinel = folder / "PWNED"
    path = folder / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Reduce(os.system, (f"touch '{sentinel}'",))}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refusing to unpickle global 'posix.system'"):
        load_body_model(path)
    assert not sentinel.exists()
