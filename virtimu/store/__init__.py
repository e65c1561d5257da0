"""Zarr v3 store of recordings (one group per recording, atomic writes) and its summary."""
from virtimu.store.recordings import (
    CHUNK_FRAMES,
    STORE_FORMAT,
    NotAStoreError,
    RecordingStore,
    decode_key,
    encode_key,
    to_jsonable,
)
from virtimu.store.summary import compact_channels, format_summary, summary_as_json

__all__ = [
    "CHUNK_FRAMES",
    "STORE_FORMAT",
    "NotAStoreError",
    "RecordingStore",
    "compact_channels",
    "decode_key",
    "encode_key",
    "format_summary",
    "summary_as_json",
    "to_jsonable",
]
