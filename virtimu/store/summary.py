"""Plain-text and JSON views of `RecordingStore.summary` rows (for ``virtimu info``)."""
from __future__ import annotations

import json
from typing import Any

_COLUMNS = ("source", "recordings", "frames", "duration", "channels", "fs", "units", "labels")
_NUMERIC = {"recordings", "frames", "duration"}


def compact_channels(channels: list[str]) -> str:
    """Channel count and a compact pattern list.

    ['left_wrist/acc_x', 'left_wrist/acc_y', 'left_wrist/gyro_x', 'right_wrist/acc_x', ...]
    -> '6: {left_wrist,right_wrist}/{acc,gyro}_*'.  Signals are grouped by the
    part before their last '_' per site; sites with the same signal set are merged.
    """
    if not channels:
        return "0"
    per_site: dict[str, list[str]] = {}
    for channel in channels:
        site, slash, signal = channel.rpartition("/")
        stem, underscore, _ = signal.rpartition("_")
        item = f"{stem}_*" if underscore and stem else signal
        items = per_site.setdefault(site if slash else "", [])
        if item not in items:
            items.append(item)
    by_items: dict[str, list[str]] = {}
    for site, items in per_site.items():
        by_items.setdefault(_braced(items, suffix="_*"), []).append(site)
    parts = []
    for signals, sites in by_items.items():
        if sites == [""]:
            parts.append(signals)
        else:
            parts.append(f"{_braced(sites)}/{signals}")
    return f"{len(channels)}: " + ", ".join(parts)


def _braced(items: list[str], suffix: str = "") -> str:
    """'a' for one item, '{a,b}' for several; a suffix shared by all items is kept outside the braces."""
    if len(items) == 1:
        return items[0]
    if suffix and all(item.endswith(suffix) for item in items):
        return "{" + ",".join(item[: -len(suffix)] for item in items) + "}" + suffix
    return "{" + ",".join(items) + "}"


def format_duration(seconds: float) -> str:
    """'12.0 s', '3.5 min', '1.25 h'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _format_fs(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) + " Hz" if values else "-"


def _format_labels(labels: dict[str, int]) -> str:
    """'walk 1200, sit 300' (most frames first) or '-' when unlabelled."""
    if not labels:
        return "-"
    ordered = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {count}" for name, count in ordered)


def _cells(row: dict[str, Any]) -> dict[str, str]:
    return {
        "source": str(row["source"]),
        "recordings": str(row["recordings"]),
        "frames": str(row["frames"]),
        "duration": format_duration(float(row["duration_s"])),
        "channels": compact_channels(list(row.get("channels", []))),
        "fs": _format_fs(list(row.get("fs", []))),
        "units": ", ".join(row.get("units", [])) or "-",
        "labels": _format_labels(dict(row.get("labels", {}))),
    }


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of `RecordingStore.summary` rows, one line per source (plus a total).

    Columns: source, recordings, frames, duration, channels (count + compact
    list), fs, units, labels (name and frames).  Returns 'no recordings' for
    an empty store.
    """
    if not rows:
        return "no recordings"
    lines = [_cells(row) for row in rows]
    if len(rows) > 1:
        lines.append({
            "source": "total",
            "recordings": str(sum(int(r["recordings"]) for r in rows)),
            "frames": str(sum(int(r["frames"]) for r in rows)),
            "duration": format_duration(sum(float(r["duration_s"]) for r in rows)),
            "channels": "", "fs": "", "units": "", "labels": "",
        })
    widths = {c: max(len(c), *(len(line[c]) for line in lines)) for c in _COLUMNS}

    def render(cells: dict[str, str]) -> str:
        text = [cells[c].rjust(widths[c]) if c in _NUMERIC else cells[c].ljust(widths[c]) for c in _COLUMNS]
        return "  ".join(text).rstrip()

    header = render({c: c for c in _COLUMNS})
    rule = "  ".join("-" * widths[c] for c in _COLUMNS)
    body = [render(line) for line in lines]
    if len(rows) > 1:
        body.insert(len(body) - 1, rule)
    return "\n".join([header, rule, *body])


def summary_as_json(rows: list[dict[str, Any]]) -> str:
    """The summary rows as indented JSON text."""
    return json.dumps(rows, indent=2, ensure_ascii=False)
