"""Restricted unpickling for body-model files.

Official SMPL-family model files are Python 2 pickles that hold numpy arrays,
``scipy.sparse`` matrices and ``chumpy`` objects (chumpy does not import on
current Python).  A pickle can run arbitrary code, so :func:`restricted_load`
resolves only an allow-list of globals:

* numpy array / scalar / dtype reconstruction,
* builtin containers and scalars (``dict``, ``list``, ``set`` ...),
* ``scipy.sparse`` CSC/CSR matrices (old and new module paths), rebuilt as
  real scipy matrices from their pickled ``data / indices / indptr / shape``,
* any ``chumpy`` class, mapped to :class:`ChumpyStub`, which keeps the pickled
  state and exposes its numeric value.

Every other global (``os.system``, ``builtins.eval``, ``subprocess.*`` ...)
raises :class:`UnsafePickleError` before anything is called.
"""
from __future__ import annotations

import copyreg
import logging
import pickle
from collections import OrderedDict
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import scipy.sparse as sp

try:  # numpy >= 2
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _np_numeric  # type: ignore[no-redef]

log = logging.getLogger(__name__)

__all__ = ["UnsafePickleError", "PickleReadError", "ChumpyStub", "restricted_load", "to_plain"]


class UnsafePickleError(ValueError):
    """A pickle references a global that is not on the allow-list."""


class PickleReadError(ValueError):
    """A pickle could not be read (truncated, corrupt, or an unexpected layout)."""


# Python 2 module names, as they appear in pickles written by Python 2
# (the standard unpickler maps them in ``find_class``, which is overridden here).
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

_BUILTINS: dict[str, Any] = {
    t.__name__: t
    for t in (dict, list, tuple, set, frozenset, bytearray, bytes, str, int, float, complex, bool, object, slice)
}


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as used by protocol <= 2 pickles of ``bytes``; latin-1 only."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


_NUMPY: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _NUMPY[(_mod, "_reconstruct")] = _np_multiarray._reconstruct
    _NUMPY[(_mod, "scalar")] = _np_multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _NUMPY[(_mod, "_frombuffer")] = _np_numeric._frombuffer  # protocol-5 pickles
_NUMPY[("numpy", "ndarray")] = np.ndarray
_NUMPY[("numpy", "dtype")] = np.dtype
_NUMPY[("numpy", "zeros")] = np.zeros

_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    **_NUMPY,
    **{("builtins", name): obj for name, obj in _BUILTINS.items()},
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
}

_SPARSE_MODULES = {
    "scipy.sparse", "scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr", "scipy.sparse._csr",
    "scipy.sparse._arrays", "scipy.sparse.compressed", "scipy.sparse._compressed",
}
_SPARSE_TARGETS: dict[str, type] = {
    "csc_matrix": sp.csc_matrix, "csr_matrix": sp.csr_matrix,
    "csc_array": sp.csc_array, "csr_array": sp.csr_array,
}


# --------------------------------------------------------------------------- chumpy


def _ch_value(obj: Any) -> np.ndarray:
    return obj.value if isinstance(obj, ChumpyStub) else np.asarray(obj)


# Values of the chumpy classes that can appear in model files, from their
# pickled terms.  ``Ch`` stores its value in ``x``; derived nodes are evaluated.
_CHUMPY_EVAL: dict[str, Callable[[dict], np.ndarray]] = {
    "Ch": lambda s: _ch_value(s["x"]),
    "Reshape": lambda s: _ch_value(s["a"]).reshape(s["newshape"]),
    "transpose": lambda s: np.transpose(_ch_value(s["a"]), s.get("axes")),
    "add": lambda s: _ch_value(s["a"]) + _ch_value(s["b"]),
    "subtract": lambda s: _ch_value(s["a"]) - _ch_value(s["b"]),
    "multiply": lambda s: _ch_value(s["a"]) * _ch_value(s["b"]),
    "divide": lambda s: _ch_value(s["x1"]) / _ch_value(s["x2"]),
    "negative": lambda s: -_ch_value(s["x"]),
}


class ChumpyStub:
    """Stand-in for a pickled ``chumpy`` object.

    ``state`` is the pickled attribute dict (for ``chumpy.ch.Ch`` it holds the
    value array under ``'x'``); ``chumpy_class`` is the original
    ``module.Class``.  :attr:`value` (alias ``r``, as in chumpy) is the numeric
    value as a numpy array; ``np.asarray(stub)`` works too.
    """

    chumpy_class: str = "chumpy.ch.Ch"

    def __new__(cls, *args: Any, **kwargs: Any) -> ChumpyStub:
        obj = object.__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Called only when a pickle "calls" the chumpy class; keep the arguments.
        if args or kwargs:
            self.state = {"args": args, **kwargs}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            merged: dict = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            state = merged
        self.state = dict(state) if isinstance(state, dict) else {"state": state}

    @property
    def value(self) -> np.ndarray:
        """Numeric value of the chumpy node (numpy array)."""
        kind = self.chumpy_class.rsplit(".", 1)[-1]
        evaluate = _CHUMPY_EVAL.get(kind)
        if evaluate is None and "x" in self.state and not isinstance(self.state["x"], ChumpyStub):
            evaluate = _CHUMPY_EVAL["Ch"]  # a Ch subclass that stores its value
        if evaluate is None:
            raise PickleReadError(
                f"chumpy object of class {self.chumpy_class} has no stored value and cannot be evaluated "
                f"(supported: {sorted(_CHUMPY_EVAL)}); its pickled terms are {sorted(self.state)}"
            )
        try:
            return np.asarray(evaluate(self.state))
        except KeyError as exc:
            raise PickleReadError(
                f"chumpy object of class {self.chumpy_class} lacks term {exc}; it has {sorted(self.state)}"
            ) from None

    r = value

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        value = self.value
        return value if dtype is None else value.astype(dtype)

    def __repr__(self) -> str:
        return f"ChumpyStub({self.chumpy_class}, terms={sorted(self.state)})"


# --------------------------------------------------------------------------- scipy.sparse


def _sparse_restorer(target: type) -> type:
    """A subclass of ``target`` that the unpickler instantiates; on BUILD it
    initialises itself from the pickled state and turns into a plain ``target``."""

    class _Restore(target):  # type: ignore[misc, valid-type]
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return object.__new__(cls)

        def __init__(self, *args: Any, **kwargs: Any) -> None:  # state arrives via __setstate__
            pass

        def __setstate__(self, state: Any) -> None:
            if isinstance(state, tuple) and len(state) == 2:
                state = {**(state[0] or {}), **(state[1] or {})}
            if not isinstance(state, dict):
                raise PickleReadError(f"{target.__name__}: unexpected pickled state of type {type(state).__name__}")
            shape = state.get("_shape", state.get("shape"))
            missing = [k for k in ("data", "indices", "indptr") if k not in state]
            if missing or shape is None:
                raise PickleReadError(
                    f"{target.__name__}: pickled state lacks {missing or ['_shape']}; it has {sorted(state)}"
                )
            target.__init__(self, (np.asarray(state["data"]), np.asarray(state["indices"]),
                                   np.asarray(state["indptr"])), shape=tuple(int(n) for n in shape))
            self.__class__ = target

    _Restore.__name__ = _Restore.__qualname__ = f"Restored_{target.__name__}"
    return _Restore


# --------------------------------------------------------------------------- unpickler


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (see module docstring)."""

    def __init__(self, file: IO[bytes], *, source: str, what: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source
        self._what = what
        # Classes are created per load so nothing a pickle does to them outlives it.
        self._stub_classes: dict[tuple[str, str], type] = {}

    def _refuse(self, module: str, name: str, why: str = "") -> UnsafePickleError:
        return UnsafePickleError(
            f"{self._what} {self._source}: refusing to unpickle global '{module}.{name}'"
            f"{why} -- only numpy arrays, builtin containers, scipy.sparse CSC/CSR matrices and chumpy "
            f"data objects are allowed in model files"
        )

    def _stub_class(self, module: str, name: str, factory: Callable[[], type]) -> type:
        key = (module, name)
        if key not in self._stub_classes:
            self._stub_classes[key] = factory()
        return self._stub_classes[key]

    def _guarded_reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        """``copyreg._reconstructor`` for protocol 0/1 pickles, restricted to stub classes."""
        if cls not in self._stub_classes.values() or base is not object:
            raise self._refuse("copyreg", "_reconstructor",
                               f" applied to {getattr(cls, '__qualname__', cls)!r} with base "
                               f"{getattr(base, '__qualname__', base)!r}")
        return copyreg._reconstructor(cls, base, state)

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        found = _SAFE_GLOBALS.get((module, name))
        if found is not None:
            return found
        if module == "copyreg" and name == "_reconstructor":
            return self._guarded_reconstructor
        if module in _SPARSE_MODULES and name in _SPARSE_TARGETS:
            return self._stub_class(module, name, lambda: _sparse_restorer(_SPARSE_TARGETS[name]))
        if (module == "chumpy" or module.startswith("chumpy.")) and name.isidentifier():
            return self._stub_class(
                module, name,
                lambda: type(name, (ChumpyStub,), {"chumpy_class": f"{module}.{name}", "__module__": __name__}),
            )
        raise self._refuse(module, name)


def restricted_load(file_or_path: str | PathLike | IO[bytes], *, what: str) -> object:
    """Unpickle a (possibly Python 2) pickle, resolving only allow-listed globals.

    file_or_path: a path or a binary file object positioned at the pickle.
    what: what the file should be ("SMPL body model" ...), used in messages.
    Returns the unpickled object; chumpy objects come back as :class:`ChumpyStub`
    (see :func:`to_plain`), CSC/CSR matrices as real ``scipy.sparse`` matrices.
    Raises UnsafePickleError naming the file and the refused ``module.name``;
    PickleReadError for a truncated or corrupt pickle.
    """
    if isinstance(file_or_path, (str, PathLike)):
        source = str(file_or_path)
        with open(Path(file_or_path), "rb") as fh:
            return _load(fh, source, what)
    source = str(getattr(file_or_path, "name", "<stream>"))
    return _load(file_or_path, source, what)


def _load(fh: IO[bytes], source: str, what: str) -> object:
    log.debug("restricted unpickling of %s %s", what, source)
    try:
        return _RestrictedUnpickler(fh, source=source, what=what).load()
    except (UnsafePickleError, PickleReadError) as exc:
        if source in str(exc):
            raise
        raise type(exc)(f"{what} {source}: {exc}") from None
    except Exception as exc:  # corrupt data surfaces as many exception types
        raise PickleReadError(f"{what} {source}: cannot unpickle ({type(exc).__name__}: {exc})") from exc


def to_plain(obj: Any) -> Any:
    """Replace chumpy stubs by numpy arrays, recursively through dicts, lists and tuples.

    Other objects (arrays, scipy.sparse matrices, strings ...) are returned as they are.
    """
    if isinstance(obj, ChumpyStub):
        return obj.value
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj
