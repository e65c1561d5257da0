"""Named label spaces and maps between them.

A `LabelSpace` is a set of integer codes with names, one of which is the
explicit null class (``null_code``, 0 in every bundled space).  A `LabelMap`
sends every code of a source space to one code of a destination space; it is
total (source codes it does not list go to the destination's null code), so
mapping never invents or drops frames.

The bundled spaces and maps live in ``virtimu/assets/labels/maps/label_maps.yaml``
and are documented in ``virtimu/assets/labels/README.md``:

spaces  synthetic12, dip5, opportunity_raw, opportunity14, jsifos18, jsifos10,
        harth, har70plus, uci_har6, hapt12
maps    synthetic12 -> dip5 | harth | har70plus | uci_har6 | hapt12,
        hapt12 -> uci_har6, opportunity_raw -> opportunity14, jsifos18 -> jsifos10

Label arrays are (T,) or (N,) integer codes; mapping is vectorised (one
dictionary look-up per distinct code).  Unknown codes raise `UnknownLabelError`
naming them and the valid codes.  `save_label_config` / `load_label_config`
write and read the same schema as the bundled file (YAML or JSON by suffix).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from virtimu.io.atomic import write_text_atomic
from virtimu.io.documents import read_document

log = logging.getLogger(__name__)

__all__ = [
    "LabelSpace", "LabelMap", "UnknownLabelError", "LabelConfigError", "DEFAULT_CONFIG",
    "get_label_space", "get_label_map", "available_label_spaces", "available_label_maps",
    "map_codes", "map_by_names", "load_label_config", "save_label_config", "parse_label_config", "opportunity_code",
    "OPPORTUNITY_MULTIPLIER",
]

#: The bundled label spaces and maps.
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "assets" / "labels" / "maps" / "label_maps.yaml"
#: opportunity_raw code = locomotion * OPPORTUNITY_MULTIPLIER + gesture.
OPPORTUNITY_MULTIPLIER = 1_000_000

_SPACE_KEYS = {"description", "source", "null_code", "codes", "product", "complete"}
_PRODUCT_KEYS = {"multiplier", "separator", "major", "minor"}
_MAP_KEYS = {"src", "dst", "description", "names", "product", "notes"}


class UnknownLabelError(ValueError):
    """Label codes or names that a label space or map does not know (message lists them and the valid ones)."""


class LabelConfigError(ValueError):
    """A label-space / label-map file is malformed (message names the file, entry and field)."""


def _short(values: Iterable[Any], limit: int = 40) -> str:
    values = list(values)
    text = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


# --------------------------------------------------------------------------- label space


@dataclass(frozen=True, eq=True)
class LabelSpace:
    """A named set of integer label codes.

    name: identifier (e.g. 'synthetic12').
    codes: {code: label name}, including the null code; names are unique.
    null_code: the code of the null / unlabelled class.
    description / source: documentation.
    complete: False when the space is known to miss labels of its dataset.
    """

    name: str
    codes: Mapping[int, str]
    null_code: int = 0
    description: str = ""
    source: str = ""
    complete: bool = True
    _by_name: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes: dict[int, str] = {}
        for code, label in self.codes.items():
            if isinstance(code, bool) or not isinstance(code, (int, np.integer)):
                raise LabelConfigError(f"label space {self.name!r}: code {code!r} is not an integer")
            if not isinstance(label, str) or not label:
                raise LabelConfigError(f"label space {self.name!r}: code {code}: name {label!r} is not a string")
            codes[int(code)] = label
        codes = dict(sorted(codes.items()))
        if int(self.null_code) not in codes:
            raise LabelConfigError(f"label space {self.name!r}: null code {self.null_code} has no name in codes")
        by_name: dict[str, int] = {}
        for code, label in codes.items():
            if label in by_name:
                raise LabelConfigError(f"label space {self.name!r}: name {label!r} used by codes "
                                       f"{by_name[label]} and {code}")
            by_name[label] = code
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "null_code", int(self.null_code))
        object.__setattr__(self, "_by_name", by_name)

    @property
    def null_name(self) -> str:
        return self.codes[self.null_code]

    @property
    def names(self) -> list[str]:
        """Names of the non-null classes, in code order."""
        return [n for c, n in self.codes.items() if c != self.null_code]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.codes)

    def code(self, name: str) -> int:
        """Code of ``name``; UnknownLabelError listing the valid names if absent."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownLabelError(f"label space {self.name!r} has no label {name!r}; "
                                    f"valid: {_short(self._by_name)}") from None

    def name_of(self, code: int) -> str:
        """Name of ``code``; UnknownLabelError listing the valid codes if absent."""
        try:
            return self.codes[int(code)]
        except KeyError:
            raise UnknownLabelError(f"label space {self.name!r} has no code {code}; "
                                    f"valid codes: {_short(self.codes)}") from None

    def label_map(self) -> dict[int, str]:
        """A copy of {code: name} (what a Recording / WindowSet stores as its label map)."""
        return dict(self.codes)

    def check_codes(self, codes: np.ndarray, where: str = "labels") -> None:
        """Raise UnknownLabelError if ``codes`` holds codes outside this space."""
        unknown = sorted(set(np.unique(np.asarray(codes)).tolist()) - set(self.codes))
        if unknown:
            raise UnknownLabelError(f"{where}: codes {_short(unknown)} are not in label space {self.name!r}; "
                                    f"valid codes: {_short(self.codes)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form (explicit codes; product spaces are written expanded)."""
        out: dict[str, Any] = {"description": self.description, "source": self.source,
                               "null_code": self.null_code, "codes": dict(self.codes)}
        if not self.complete:
            out["complete"] = False
        return out

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], where: str = "<dict>") -> LabelSpace:
        """Build from the file schema (explicit ``codes`` or a ``product`` spec); errors name ``where``."""
        if not isinstance(data, Mapping):
            raise LabelConfigError(f"{where}: spaces[{name!r}]: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - _SPACE_KEYS)
        if unknown:
            raise LabelConfigError(f"{where}: spaces[{name!r}]: unknown keys {unknown}; valid: {sorted(_SPACE_KEYS)}")
        null_code = data.get("null_code", 0)
        if ("codes" in data) == ("product" in data):
            raise LabelConfigError(f"{where}: spaces[{name!r}]: give exactly one of 'codes' or 'product'")
        if "codes" in data:
            codes = _int_keyed(data["codes"], f"{where}: spaces[{name!r}]: field 'codes'")
        else:
            codes = _product_codes(data["product"], null_code, f"{where}: spaces[{name!r}]: field 'product'")
        try:
            return cls(name=name, codes=codes, null_code=int(null_code), description=str(data.get("description", "")),
                       source=str(data.get("source", "")), complete=bool(data.get("complete", True)))
        except LabelConfigError as exc:
            raise LabelConfigError(f"{where}: {exc}") from None


def _int_keyed(mapping: Any, where: str) -> dict[int, str]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise LabelConfigError(f"{where}: expected a non-empty mapping {{code: name}}")
    out = {}
    for key, value in mapping.items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            raise LabelConfigError(f"{where}: key {key!r} is not an integer code") from None
        if not isinstance(value, str) or not value:
            raise LabelConfigError(f"{where}: code {code}: name {value!r} is not a non-empty string")
        out[code] = value
    return out


def _product_parts(spec: Any, where: str) -> tuple[int, str, dict[int, str], dict[int, str]]:
    if not isinstance(spec, Mapping):
        raise LabelConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(spec) - _PRODUCT_KEYS)
    missing = sorted(_PRODUCT_KEYS - set(spec))
    if unknown or missing:
        raise LabelConfigError(f"{where}: unknown keys {unknown}, missing keys {missing}")
    multiplier = int(spec["multiplier"])
    major = _int_keyed(spec["major"], f"{where}.major")
    minor = _int_keyed(spec["minor"], f"{where}.minor")
    if 0 in major or 0 in minor:
        raise LabelConfigError(f"{where}: code 0 is reserved for 'no label' in a part")
    if max(minor) >= multiplier:
        raise LabelConfigError(f"{where}: minor code {max(minor)} does not fit below multiplier {multiplier}")
    return multiplier, str(spec["separator"]), major, minor


def _product_codes(spec: Any, null_code: int, where: str) -> dict[int, str]:
    """All (major or none) x (minor or none) pairs but (none, none): code = major * multiplier + minor."""
    multiplier, sep, major, minor = _product_parts(spec, where)
    codes = {int(null_code): "null"}
    for ma, ma_name in [(0, None), *major.items()]:
        for mi, mi_name in [(0, None), *minor.items()]:
            if ma == 0 and mi == 0:
                continue
            codes[ma * multiplier + mi] = sep.join(n for n in (ma_name, mi_name) if n)
    return codes


# --------------------------------------------------------------------------- label map


@dataclass(frozen=True)
class LabelMap:
    """A total map between two label spaces.

    src / dst: the spaces.  mapping: {src code: dst code} for every src code
    (the null code maps to the dst null code).  notes: remarks per src name.
    """

    src: LabelSpace
    dst: LabelSpace
    mapping: Mapping[int, int]
    description: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = sorted(set(self.src.codes) - set(self.mapping))
        extra = sorted(set(self.mapping) - set(self.src.codes))
        bad = sorted({int(v) for v in self.mapping.values()} - set(self.dst.codes))
        if missing or extra or bad:
            raise LabelConfigError(
                f"label map {self.src.name} -> {self.dst.name}: "
                + "; ".join(p for p in (
                    f"source codes without a target {_short(missing)}" if missing else "",
                    f"codes not in {self.src.name} {_short(extra)}" if extra else "",
                    f"targets not in {self.dst.name} {_short(bad)}" if bad else "") if p))
        object.__setattr__(self, "mapping", {int(k): int(v) for k, v in sorted(self.mapping.items())})

    @property
    def key(self) -> tuple[str, str]:
        return self.src.name, self.dst.name

    def apply(self, codes: np.ndarray) -> np.ndarray:
        """``map_codes(codes, self.src, self)``."""
        return map_codes(codes, self.src, self)

    def to_dict(self) -> dict[str, Any]:
        """File form: names that do not go to null (product maps are written expanded)."""
        names = {self.src.codes[s]: self.dst.codes[d] for s, d in self.mapping.items()
                 if s != self.src.null_code and d != self.dst.null_code}
        out: dict[str, Any] = {"src": self.src.name, "dst": self.dst.name, "description": self.description,
                               "names": names}
        if self.notes:
            out["notes"] = dict(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], spaces: Mapping[str, LabelSpace],
                  products: Mapping[str, Mapping[str, Any]] | None = None, where: str = "<dict>") -> LabelMap:
        """Build from the file schema; ``spaces`` resolves names, ``products`` holds product specs by space."""
        if not isinstance(data, Mapping):
            raise LabelConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - _MAP_KEYS)
        if unknown:
            raise LabelConfigError(f"{where}: unknown keys {unknown}; valid: {sorted(_MAP_KEYS)}")
        for key in ("src", "dst"):
            if data.get(key) not in spaces:
                raise LabelConfigError(f"{where}: field '{key}': unknown label space {data.get(key)!r}; "
                                       f"known: {sorted(spaces)}")
        src, dst = spaces[data["src"]], spaces[data["dst"]]
        if ("names" in data) == ("product" in data):
            raise LabelConfigError(f"{where}: give exactly one of 'names' or 'product'")
        if "names" in data:
            mapping = _names_mapping(data["names"], src, dst, f"{where}: field 'names'")
        else:
            products = products or {}
            if src.name not in products or dst.name not in products:
                raise LabelConfigError(f"{where}: field 'product': {src.name} and {dst.name} must both be "
                                       f"product spaces")
            mapping = _product_mapping(data["product"], src, dst, products[src.name], products[dst.name],
                                       f"{where}: field 'product'")
        notes = data.get("notes") or {}
        if not isinstance(notes, Mapping):
            raise LabelConfigError(f"{where}: field 'notes': expected a mapping")
        return cls(src=src, dst=dst, mapping=mapping, description=str(data.get("description", "")),
                   notes={str(k): str(v) for k, v in notes.items()})


def _names_mapping(names: Any, src: LabelSpace, dst: LabelSpace, where: str) -> dict[int, int]:
    if not isinstance(names, Mapping):
        raise LabelConfigError(f"{where}: expected a mapping {{source name: target name or null}}")
    mapping = {code: dst.null_code for code in src.codes}
    for s_name, d_name in names.items():
        if s_name not in src:
            raise LabelConfigError(f"{where}: {s_name!r} is not a label of {src.name}; valid: {_short(src.names)}")
        if d_name is None:
            continue
        if d_name not in dst:
            raise LabelConfigError(f"{where}: {s_name!r} -> {d_name!r}: not a label of {dst.name}; "
                                   f"valid: {_short(dst.names)}")
        mapping[src.code(s_name)] = dst.code(d_name)
    return mapping


def _product_mapping(spec: Any, src: LabelSpace, dst: LabelSpace, src_spec: Mapping[str, Any],
                     dst_spec: Mapping[str, Any], where: str) -> dict[int, int]:
    """Map each (major, minor) pair part by part, then join the parts with the destination separator."""
    if not isinstance(spec, Mapping) or set(spec) != {"major", "minor"}:
        raise LabelConfigError(f"{where}: expected exactly the keys 'major' and 'minor'")
    s_mult, _, s_major, s_minor = _product_parts(src_spec, f"{where} ({src.name})")
    _, d_sep, d_major, d_minor = _product_parts(dst_spec, f"{where} ({dst.name})")
    parts = {}
    for part, s_names, d_names in (("major", s_major, d_major), ("minor", s_minor, d_minor)):
        table = spec[part]
        if not isinstance(table, Mapping):
            raise LabelConfigError(f"{where}.{part}: expected a mapping")
        unknown = sorted(set(table) - set(s_names.values()))
        bad = sorted({v for v in table.values() if v is not None} - set(d_names.values()))
        if unknown or bad:
            raise LabelConfigError(f"{where}.{part}: unknown source names {unknown}, unknown target names {bad}")
        parts[part] = {code: table.get(name) for code, name in s_names.items()}
    mapping = {src.null_code: dst.null_code}
    for code in src.codes:
        if code == src.null_code:
            continue
        ma, mi = divmod(code, s_mult)
        pieces = [parts["major"].get(ma) if ma else None, parts["minor"].get(mi) if mi else None]
        name = d_sep.join(p for p in pieces if p)
        mapping[code] = dst.code(name) if name else dst.null_code
    return mapping


# --------------------------------------------------------------------------- mapping arrays


def map_codes(codes: np.ndarray, src_space: LabelSpace | str, label_map: LabelMap) -> np.ndarray:
    """Map label codes of ``src_space`` through ``label_map``.

    codes: (...) integer array.  Returns int64 codes of ``label_map.dst``, same shape.
    Raises UnknownLabelError listing codes not in ``src_space`` (and the valid
    ones), ValueError if ``label_map`` does not start from ``src_space``.
    """
    if isinstance(src_space, str):
        src_space = get_label_space(src_space)
    if label_map.src.name != src_space.name:
        raise ValueError(f"label map {label_map.src.name} -> {label_map.dst.name} does not start from "
                         f"label space {src_space.name!r}")
    arr = np.asarray(codes)
    if arr.size and arr.dtype.kind not in "iub":
        raise TypeError(f"label codes must be integers, got dtype {arr.dtype}")
    uniq, inverse = np.unique(arr.astype(np.int64), return_inverse=True)
    unknown = [int(u) for u in uniq if int(u) not in src_space.codes]
    if unknown:
        raise UnknownLabelError(f"codes {_short(unknown)} are not in label space {src_space.name!r}; "
                                f"valid codes: {_short(src_space.codes)}")
    lut = np.array([label_map.mapping[int(u)] for u in uniq], dtype=np.int64)
    return lut[inverse].reshape(arr.shape) if uniq.size else np.zeros(arr.shape, dtype=np.int64)


def map_by_names(labels: np.ndarray, label_map_dict: Mapping[int, str], target_space: LabelSpace | str,
                 name_map: Mapping[str, str | None] | None = None, where: str = "labels") -> np.ndarray:
    """Map codes of a recording with its own {code: name} map into ``target_space`` by name.

    labels: (T,) integer codes under ``label_map_dict``.
    name_map: {source name: target name, or None for null}.  Names it does not
        list map to the target label of the same name when the target space has
        one; the names 'null' and the target's null name map to null.
    Returns (T,) int64 codes of ``target_space``.  Raises UnknownLabelError for
    codes missing from ``label_map_dict`` and for names with no target (listing
    them and the valid target names); ``where`` prefixes the message.
    """
    if isinstance(target_space, str):
        target_space = get_label_space(target_space)
    name_map = dict(name_map or {})
    labels = np.asarray(labels)
    uniq, inverse = np.unique(labels.astype(np.int64), return_inverse=True)
    lut = np.empty(uniq.shape, dtype=np.int64)
    missing_codes, unmapped = [], []
    for i, code in enumerate(uniq.tolist()):
        if code not in label_map_dict:
            missing_codes.append(code)
            continue
        name = label_map_dict[code]
        if name in name_map:
            target = name_map[name]
        elif name in ("null", target_space.null_name) or name in target_space:
            target = name
        else:
            unmapped.append(name)
            continue
        lut[i] = target_space.null_code if target in (None, "null") else target_space.code(target)
    if missing_codes:
        raise UnknownLabelError(f"{where}: codes {_short(missing_codes)} have no name in the label map "
                                f"{dict(label_map_dict)}")
    if unmapped:
        raise UnknownLabelError(f"{where}: label names {_short(unmapped)} have no target in label space "
                                f"{target_space.name!r} (add them to the name map); valid targets: "
                                f"{_short(target_space.names)}")
    return lut[inverse].reshape(labels.shape) if uniq.size else np.zeros(labels.shape, dtype=np.int64)


def opportunity_code(locomotion: np.ndarray, gesture: np.ndarray) -> np.ndarray:
    """opportunity_raw codes from the Opportunity 'Locomotion' and 'ML_Both_Arms' columns (0 = null in each)."""
    loco = np.asarray(locomotion, dtype=np.int64)
    gest = np.asarray(gesture, dtype=np.int64)
    if loco.shape != gest.shape:
        raise ValueError(f"locomotion {loco.shape} and gesture {gest.shape} columns differ in shape")
    if gest.size and (gest.min() < 0 or gest.max() >= OPPORTUNITY_MULTIPLIER):
        raise ValueError(f"gesture codes must lie in [0, {OPPORTUNITY_MULTIPLIER})")
    return loco * OPPORTUNITY_MULTIPLIER + gest


# --------------------------------------------------------------------------- files and registry


def _read_document(path: Path) -> Any:
    return read_document(path, LabelConfigError, "label config")


LabelConfig = tuple[dict[str, LabelSpace], dict[tuple[str, str], LabelMap]]


def parse_label_config(data: Any, where: str = "<dict>") -> LabelConfig:
    """Spaces and maps from a parsed document ``{'spaces': {...}, 'maps': [...]}``."""
    if not isinstance(data, Mapping):
        raise LabelConfigError(f"{where}: expected a mapping with 'spaces' and 'maps'")
    unknown = sorted(set(data) - {"spaces", "maps"})
    if unknown:
        raise LabelConfigError(f"{where}: unknown top-level keys {unknown}; valid: ['maps', 'spaces']")
    raw_spaces = data.get("spaces") or {}
    if not isinstance(raw_spaces, Mapping):
        raise LabelConfigError(f"{where}: field 'spaces': expected a mapping of space names")
    spaces = {str(n): LabelSpace.from_dict(str(n), s, where) for n, s in raw_spaces.items()}
    products = {str(n): s["product"] for n, s in raw_spaces.items() if isinstance(s, Mapping) and "product" in s}
    raw_maps = data.get("maps") or []
    if not isinstance(raw_maps, list):
        raise LabelConfigError(f"{where}: field 'maps': expected a list")
    maps: dict[tuple[str, str], LabelMap] = {}
    for i, entry in enumerate(raw_maps):
        m = LabelMap.from_dict(entry, spaces, products, where=f"{where}: maps[{i}]")
        if m.key in maps:
            raise LabelConfigError(f"{where}: maps[{i}]: a second map {m.src.name} -> {m.dst.name}")
        maps[m.key] = m
    return spaces, maps


def load_label_config(path: str | os.PathLike | None = None) -> LabelConfig:
    """Spaces ({name: LabelSpace}) and maps ({(src, dst): LabelMap}) from a YAML/JSON file (default: bundled)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    data = _read_document(path)
    try:
        return parse_label_config(data, str(path))
    except LabelConfigError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # a value of an unexpected type deep in the document: still name the file
        raise LabelConfigError(f"{path}: malformed label config ({type(exc).__name__}: {exc})") from None


def save_label_config(path: str | os.PathLike, spaces: Iterable[LabelSpace] | Mapping[str, LabelSpace],
                      maps: Iterable[LabelMap] | Mapping[Any, LabelMap] = ()) -> Path:
    """Write spaces and maps in the file schema (JSON for '.json', else YAML), atomically."""
    path = Path(path)
    spaces = list(spaces.values()) if isinstance(spaces, Mapping) else list(spaces)
    maps = list(maps.values()) if isinstance(maps, Mapping) else list(maps)
    doc = {"spaces": {s.name: s.to_dict() for s in spaces}, "maps": [m.to_dict() for m in maps]}
    if path.suffix.lower() == ".json":
        text = json.dumps(doc, indent=2, ensure_ascii=False)
    else:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return write_text_atomic(path, text)


@lru_cache(maxsize=1)
def _bundled() -> LabelConfig:
    return load_label_config(DEFAULT_CONFIG)


def available_label_spaces() -> list[str]:
    """Names of the bundled label spaces."""
    return sorted(_bundled()[0])


def available_label_maps() -> list[tuple[str, str]]:
    """(src, dst) of the bundled label maps."""
    return sorted(_bundled()[1])


def get_label_space(name: str) -> LabelSpace:
    """A bundled label space by name; UnknownLabelError listing the known names."""
    spaces = _bundled()[0]
    if not isinstance(name, str) or name not in spaces:
        raise UnknownLabelError(f"no label space {name!r}; known: {sorted(spaces)}")
    return spaces[name]


def get_label_map(src: str, dst: str) -> LabelMap:
    """The bundled map ``src -> dst`` (identity when src == dst); UnknownLabelError listing the known maps."""
    if src == dst:
        space = get_label_space(src)
        return LabelMap(src=space, dst=space, mapping={c: c for c in space.codes}, description="identity")
    maps = _bundled()[1]
    if (src, dst) not in maps:
        raise UnknownLabelError(f"no label map {src} -> {dst}; known: "
                                f"{', '.join(f'{a} -> {b}' for a, b in sorted(maps))}")
    return maps[(src, dst)]
