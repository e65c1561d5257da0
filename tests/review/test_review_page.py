"""Review cards and page markup (no browser): selection, spans, escaping of store names."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.render.store_helpers import EVIL_NAME, build_demo_store
from virtimu.labels.maps import get_label_space
from virtimu.render.frames import RenderStyle
from virtimu.review.build import build_review
from virtimu.review.cards import recording_cards, window_cards
from virtimu.review.page import review_html
from virtimu.store import RecordingStore
from virtimu.store.windows import WindowStore
from virtimu.windows import WindowConfig, make_windows


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory):
    return build_demo_store(tmp_path_factory.mktemp("review") / "s.zarr", clips=("walking", "sit_stand"), evil=True)


def test_recording_cards_filter_by_class(evil_store):
    all_cards = recording_cards(evil_store)
    assert [c.recording for c in all_cards] == sorted([EVIL_NAME, "sit_stand", "walking"])
    sitting = recording_cards(evil_store, class_name="sitting")
    assert [c.recording for c in sitting] == ["sit_stand"]
    assert sitting[0].start is None and "sitting" in sitting[0].labels
    assert recording_cards(evil_store, limit=1)[0].index == 0


def test_window_cards_map_starts_to_recording_frames(evil_store, tmp_path):
    path = tmp_path / "w.zarr"
    shutil.copytree(evil_store, path)
    store = RecordingStore(path, mode="r")
    recs = [store.read(s, n) for s, n in store.list()]
    ws, _ = make_windows(recs, WindowConfig(length=30, overlap=0.5, fs=15.0, drop_null=True), progress=False)
    WindowStore(path, mode="a").append("w15", ws)
    cards = window_cards(path, "w15", class_name="walking")
    assert cards and all(c.recording == "walking" for c in cards)
    walking_code = {v: k for k, v in ws.label_map.items()}["walking"]
    starts = ws.start[(ws.recording == "demo/walking") & (ws.y == walking_code)]
    # window set at 15 Hz, recording at 30 Hz: frame numbers double, 30 window frames = 60 recording frames
    assert [c.start for c in cards] == [2 * int(s) for s in starts]
    assert all(c.end - c.start == 60 and c.window_label == "walking" for c in cards)
    with pytest.raises(KeyError, match="no window set"):
        window_cards(path, "nope")
    with pytest.raises(KeyError, match="no class"):
        window_cards(path, "w15", class_name="flying")


def test_page_escapes_names_and_embeds_safe_json(evil_store):
    cards = recording_cards(evil_store)
    html = review_html(cards, get_label_space("synthetic12"))
    assert EVIL_NAME not in html  # never raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    data = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data and ">" not in data
    parsed = json.loads(data)
    assert EVIL_NAME in [c["recording"] for c in parsed["cards"]]
    assert parsed["label_space"] == "synthetic12" and parsed["version"] == 1
    assert "innerHTML" not in html
    for name in get_label_space("synthetic12").names:
        assert f'<option value="{name}"' in html


def test_build_review_writes_page_and_images(evil_store, tmp_path):
    style = RenderStyle(width=48, height=60, trace_height=44, text_size=8)
    report = build_review(evil_store, tmp_path / "rev", n_poses=2, renderer="matplotlib", progress=False,
                          style=style)
    assert report.page.is_file() and len(report.cards) == 3 and report.frames == 6
    for card in report.cards:
        assert (tmp_path / "rev" / card.image).is_file()
    assert not report.failures
