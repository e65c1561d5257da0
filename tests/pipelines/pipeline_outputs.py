"""Checks shared by the pipeline tests: output folder layout, JSON, CSV, PNG and report."""
from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of a PNG file."""
    raw = Path(path).read_bytes()[:24]
    assert raw[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert raw[12:16] == b"IHDR", f"{path}: first chunk is not IHDR"
    return struct.unpack(">II", raw[16:24])


def check_png(path: Path, width: tuple[int, int] = (300, 2000), height: tuple[int, int] = (200, 2000)) -> np.ndarray:
    """Decode ``path`` and check its size: the pixels match the header and lie in the given ranges."""
    from PIL import Image

    w, h = png_header_size(path)
    with Image.open(path) as im:
        im.load()
        pixels = np.asarray(im)
    assert pixels.shape[:2] == (h, w), f"{path}: decoded {pixels.shape}, header says {w}x{h}"
    assert width[0] <= w <= width[1] and height[0] <= h <= height[1], f"{path}: {w}x{h} px"
    assert pixels.std() > 0, f"{path} is blank"
    return pixels


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def check_common_outputs(out: Path, pipeline: str) -> tuple[dict, list[dict[str, str]], str]:
    """results.json / runs.csv / report.md / config.yaml exist and are well-formed; returns them."""
    for name in ("results.json", "runs.csv", "report.md", "config.yaml"):
        assert (out / name).is_file(), f"{name} missing in {out}"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["pipeline"] == pipeline and results["quick"] is True
    prov = results["provenance"]
    for key in ("git_commit", "virtimu_version", "started", "finished", "seconds", "argv", "versions", "data"):
        assert key in prov, f"provenance lacks {key}"
    assert prov["data"] and all(d["fixture"] for d in prov["data"].values())
    assert results["config"]["quick"] is True
    rows = read_csv(out / "runs.csv")
    for row in rows:
        for key in ("accuracy", "macro_f1"):
            assert 0.0 <= float(row[key]) <= 1.0
        assert int(row["n_test"]) > 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Stand-in data" in report and "## Provenance" in report
    return results, rows, report
