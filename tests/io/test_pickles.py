"""Restricted unpickler: numpy/scipy/chumpy data loads, anything that runs code is refused."""
from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from tests.conftest import fake_chumpy

from virtimu.io.pickles import ChumpyStub, PickleReadError, UnsafePickleError, restricted_load, to_plain


# --------------------------------------------------------------------------- helpers


def _binstring(data: bytes) -> bytes:
    """Python 2 ``str`` opcode (BINSTRING: 'T' + 4-byte length)."""
    return b"T" + struct.pack("<i", len(data)) + data


def python2_pickle(values: np.ndarray, gender: str, scale: float) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) writes for
    ``{'poses': <float64 array>, 'gender': <str>, 'scale': <numpy.float64>, 'ids': set([7])}``
    with numpy 1.x:
    Python 2 ``str`` opcodes, ``__builtin__`` and ``numpy.core.multiarray`` names."""
    f8 = b"cnumpy\ndtype\n" + _binstring(b"f8") + b"K\x00K\x01\x87R(K\x03" + _binstring(b"<") \
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _binstring(b"b") + b"\x87R"
        + b"(K\x01K" + bytes([values.size]) + b"\x85" + f8 + b"\x89" + _binstring(values.astype("<f8").tobytes())
        + b"tb"
    )
    scalar = b"cnumpy.core.multiarray\nscalar\n" + f8 + _binstring(np.float64(scale).tobytes()) + b"\x86R"
    ids = b"c__builtin__\nset\n]K\x07a\x85R"
    return (b"\x80\x02}(" + _binstring(b"poses") + array + _binstring(b"gender") + _binstring(gender.encode())
            + _binstring(b"scale") + scalar + _binstring(b"ids") + ids + b"u.")


class Evil:
    """Unpickling this runs a shell command (the classic ``__reduce__`` attack)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_dict_round_trip(protocol):
    rng = np.random.default_rng(0)
    data = {
        "v": rng.normal(size=(5, 3)), "f": rng.integers(0, 5, size=(4, 3)).astype(np.uint32),
        "scalar": np.float32(1.25), "dtype": np.dtype("<i8"), "ids": {1, 2}, "raw": b"\x00\xff",
        "nested": [np.arange(3), ("x", 2.5)], "empty": np.zeros((0, 3)),
    }
    out = restricted_load(io.BytesIO(pickle.dumps(data, protocol=protocol)), what="test data")
    assert set(out) == set(data)
    np.testing.assert_array_equal(out["v"], data["v"])
    assert out["f"].dtype == np.uint32
    np.testing.assert_array_equal(out["f"], data["f"])
    assert out["scalar"] == np.float32(1.25) and out["scalar"].dtype == np.float32
    assert out["dtype"] == np.dtype("<i8")
    assert out["ids"] == {1, 2} and out["raw"] == b"\x00\xff"
    np.testing.assert_array_equal(out["nested"][0], np.arange(3))
    assert out["nested"][1] == ("x", 2.5)
    assert out["empty"].shape == (0, 3)


def test_os_system_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros(3), "x": Evil(f"touch {marker}")}, protocol=2))
    with pytest.raises(UnsafePickleError) as err:
        restricted_load(path, what="body model")
    msg = str(err.value)
    assert str(path) in msg and "system" in msg and "body model" in msg
    assert not marker.exists()


@pytest.mark.parametrize("func, args", [
    (eval, ("1 + 1",)),
    (subprocess.check_output, (["echo", "pwned"],)),
    (__import__, ("os",)),
    (np.load, ("/etc/passwd",)),  # a numpy function that is not on the allow-list
])
def test_other_code_refused(func, args):
    class Trick:
        def __reduce__(self):
            return (func, args)

    blob = pickle.dumps([Trick()], protocol=2)
    with pytest.raises(UnsafePickleError, match=func.__name__):
        restricted_load(io.BytesIO(blob), what="test data")


def test_refused_error_is_value_error():
    assert issubclass(UnsafePickleError, ValueError)
    assert issubclass(PickleReadError, ValueError)


def test_reconstructor_only_for_stub_classes():
    # copy_reg._reconstructor(numpy.ndarray, object, None): allowed names, but not a data class to rebuild.
    blob = b"ccopy_reg\n_reconstructor\n(cnumpy\nndarray\nc__builtin__\nobject\nNtR."
    with pytest.raises(UnsafePickleError, match="_reconstructor"):
        restricted_load(io.BytesIO(blob), what="test data")


def test_codecs_encode_only_latin1():
    blob = b"c_codecs\nencode\n(Vabc\nVrot13\ntR."
    with pytest.raises(UnsafePickleError, match="rot13"):
        restricted_load(io.BytesIO(blob), what="test data")


@pytest.mark.parametrize("protocol", [1, 2])  # 1 goes through copy_reg._reconstructor, 2 through NEWOBJ
def test_chumpy_objects_load_as_arrays(protocol):
    rng = np.random.default_rng(1)
    v = rng.normal(size=(6, 3))
    before = sys.modules.get("chumpy.ch")
    with fake_chumpy() as ch:
        blob = pickle.dumps({"v_template": ch.Ch(v), "weights": [ch.Ch(np.eye(2))],
                             "flat": ch.Reshape(ch.Ch(v), (18,))}, protocol=protocol)
    assert sys.modules.get("chumpy.ch") is before  # the fake classes are gone while loading
    assert b"chumpy.ch" in blob
    out = restricted_load(io.BytesIO(blob), what="body model")
    stub = out["v_template"]
    assert isinstance(stub, ChumpyStub) and stub.chumpy_class == "chumpy.ch.Ch"
    np.testing.assert_array_equal(stub.value, v)
    np.testing.assert_array_equal(np.asarray(stub), v)
    plain = to_plain(out)
    assert isinstance(plain["v_template"], np.ndarray)
    np.testing.assert_array_equal(plain["weights"][0], np.eye(2))
    np.testing.assert_array_equal(plain["flat"], v.reshape(18))


def test_chumpy_without_value_gives_clear_error():
    blob = b"\x80\x02cchumpy.ch_ops\ndot\n)\x81}X\x01\x00\x00\x00aK\x01sb."
    stub = restricted_load(io.BytesIO(blob), what="body model")
    with pytest.raises(PickleReadError, match="chumpy.ch_ops.dot"):
        to_plain(stub)


@pytest.mark.parametrize("fmt", ["csc", "csr"])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_scipy_sparse_round_trip(fmt, protocol):
    m = sp.random(30, 20, density=0.2, format=fmt, random_state=3)
    out = restricted_load(io.BytesIO(pickle.dumps({"J_regressor": m}, protocol=protocol)), what="body model")
    J = out["J_regressor"]
    assert type(J) is type(m)  # a real scipy matrix, not a stub
    np.testing.assert_array_equal(J.toarray(), m.toarray())
    np.testing.assert_allclose(J @ np.ones(20), m @ np.ones(20))


def test_scipy_sparse_old_module_path_and_state():
    # scipy < 1.8 pickles name scipy.sparse.csc.csc_matrix; very old ones store 'shape'.
    m = sp.random(8, 5, density=0.4, format="csc", random_state=4)
    blob = pickle.dumps(m, protocol=0)
    assert b"scipy.sparse._csc" in blob and b"V_shape\n" in blob
    blob = blob.replace(b"scipy.sparse._csc", b"scipy.sparse.csc").replace(b"V_shape\n", b"Vshape\n")
    out = restricted_load(io.BytesIO(blob), what="body model")
    assert isinstance(out, sp.csc_matrix)
    np.testing.assert_array_equal(out.toarray(), m.toarray())


def test_python2_pickle_loads(tmp_path):
    values = np.array([1.0, -2.5, 3.75, 1e-3])
    path = tmp_path / "py2.pkl"
    path.write_bytes(python2_pickle(values, "male", scale=0.125))
    out = restricted_load(path, what="body model")
    np.testing.assert_array_equal(out["poses"], values)
    assert out["poses"].dtype == np.float64
    assert out["gender"] == "male" and out["ids"] == {7}
    assert out["scale"] == 0.125 and isinstance(out["scale"], np.float64)


def test_protocol2_from_python3_loads():
    data = {"a": np.arange(6.0).reshape(2, 3), "name": "SMPL", "b": b"raw"}
    blob = pickle.dumps(data, protocol=2)
    assert b"__builtin__" in blob or b"_codecs" in blob
    out = restricted_load(io.BytesIO(blob), what="test data")
    np.testing.assert_array_equal(out["a"], data["a"])
    assert out["name"] == "SMPL" and out["b"] == b"raw"


def test_truncated_pickle_names_file(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(100.0)}, protocol=2)[:50])
    with pytest.raises(PickleReadError, match=str(path).replace("\\", "\\\\")):
        restricted_load(path, what="body model")


def test_path_like_and_str_accepted(tmp_path):
    path = tmp_path / "a.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    assert restricted_load(path, what="x") == [1, 2, 3]
    assert restricted_load(str(path), what="x") == [1, 2, 3]
    with open(path, "rb") as fh:
        assert restricted_load(fh, what="x") == [1, 2, 3]
