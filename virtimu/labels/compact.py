"""Compact numbering of a label space whose codes are too large for a store.

The store keeps label codes as int16 (`virtimu.store.recordings`).  A space
such as ``opportunity_raw`` (``locomotion * 1000000 + gesture``, codes up to
5408512) does not fit, so its recordings carry *compact* codes instead: the
same label names numbered 0, 1, 2 ... (null first, the other codes in
ascending raw-code order).  Names are unchanged, so every name-based step
(``virtimu windows --label-map``, `virtimu.labels.maps.map_by_names`) works
as before; the raw codes come back with `CompactCodes.decode`, or from a
stored recording's provenance with `raw_codes_from_provenance`.

The numbering depends only on the space's definition, so every recording of
a dataset shares it (window sets pool recordings by code).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from virtimu.labels.maps import LabelSpace, UnknownLabelError, get_label_space

__all__ = ["CompactCodes", "compact_codes", "raw_codes_from_provenance", "PROVENANCE_KEY"]

#: Key of the compact-code record in ``Recording.provenance['labels']``.
PROVENANCE_KEY = "raw_codes"


@dataclass(frozen=True, eq=False)
class CompactCodes:
    """Raw codes of ``raw`` <-> compact codes 0..n-1 of ``space`` (same names, null = 0).

    raw: the original space; space: the compact one (name ``<raw>_compact``).
    to_raw: (n,) int64, the raw code of each compact code.
    """

    raw: LabelSpace
    space: LabelSpace
    to_raw: np.ndarray
    _lookup: dict[int, int] = field(repr=False, compare=False)

    @classmethod
    def of(cls, raw: LabelSpace) -> CompactCodes:
        """The compact numbering of ``raw``: null -> 0, then the other codes in ascending order."""
        order = [raw.null_code] + [c for c in sorted(raw.codes) if c != raw.null_code]
        space = LabelSpace(name=f"{raw.name}_compact", codes={i: raw.codes[c] for i, c in enumerate(order)},
                           null_code=0, description=f"{raw.name} renumbered 0..{len(order) - 1} (same names)",
                           source=raw.source, complete=raw.complete)
        return cls(raw=raw, space=space, to_raw=np.asarray(order, dtype=np.int64),
                   _lookup={c: i for i, c in enumerate(order)})

    def encode(self, raw_codes: np.ndarray, where: str = "labels") -> np.ndarray:
        """(T,) raw codes -> (T,) int64 compact codes; UnknownLabelError for codes outside the raw space."""
        raw_codes = np.asarray(raw_codes, dtype=np.int64)
        uniq, inverse = np.unique(raw_codes, return_inverse=True)
        unknown = [int(c) for c in uniq if int(c) not in self._lookup]
        if unknown:
            self.raw.check_codes(np.asarray(unknown), where=where)  # raises, naming them
        lut = np.array([self._lookup[int(c)] for c in uniq], dtype=np.int64)
        return lut[inverse].reshape(raw_codes.shape) if uniq.size else np.zeros(raw_codes.shape, dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(T,) compact codes -> (T,) int64 raw codes; UnknownLabelError for codes >= n or < 0."""
        codes = np.asarray(codes, dtype=np.int64)
        bad = (codes < 0) | (codes >= len(self.to_raw))
        if bad.any():
            raise UnknownLabelError(f"compact codes {sorted(set(codes[bad].tolist()))[:10]} are not in "
                                    f"{self.space.name} (0..{len(self.to_raw) - 1})")
        return self.to_raw[codes]

    def provenance(self) -> dict[str, Any]:
        """JSON-ready record for ``Recording.provenance['labels']``: the raw space and {compact: raw}."""
        return {"label_space": self.raw.name, "codes": "compact",
                PROVENANCE_KEY: {str(i): int(c) for i, c in enumerate(self.to_raw.tolist())}}


@lru_cache(maxsize=None)
def compact_codes(space: str) -> CompactCodes:
    """`CompactCodes` of the bundled label space ``space`` (cached)."""
    return CompactCodes.of(get_label_space(space))


def raw_codes_from_provenance(labels: np.ndarray, provenance: Mapping[str, Any]) -> np.ndarray:
    """Raw codes of a recording stored with compact codes: ``provenance['labels']['raw_codes'][code]``.

    labels: (T,) compact codes; provenance: the recording's provenance (as
    read back from a store: string keys).  Returns (T,) int64 raw codes.
    ValueError when the provenance has no compact-code record; UnknownLabelError
    for a code it does not list.
    """
    record = (provenance or {}).get("labels")
    table = record.get(PROVENANCE_KEY) if isinstance(record, Mapping) else None
    if not isinstance(table, Mapping):
        raise ValueError("provenance has no labels.raw_codes record: the labels are not compact codes")
    lookup = {int(k): int(v) for k, v in table.items()}
    labels = np.asarray(labels, dtype=np.int64)
    uniq, inverse = np.unique(labels, return_inverse=True)
    missing = [int(c) for c in uniq if int(c) not in lookup]
    if missing:
        raise UnknownLabelError(f"compact codes {missing[:10]} are not in provenance labels.raw_codes")
    lut = np.array([lookup[int(c)] for c in uniq], dtype=np.int64)
    return lut[inverse].reshape(labels.shape) if uniq.size else np.zeros(labels.shape, dtype=np.int64)
