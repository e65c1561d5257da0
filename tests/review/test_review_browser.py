"""The review page in a real headless Chromium: decide, save, load, and feed the labelling step.

Needs the Python package ``playwright`` and a system Chromium (Debian package
``chromium``, installed by ``scripts/install_system_deps.sh``); skipped with
the reason when either is missing.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from tests.render.store_helpers import EVIL_NAME, build_demo_store
from virtimu.labels.apply import label_store
from virtimu.labels.overrides import load_overrides
from virtimu.render.frames import RenderStyle
from virtimu.review.build import build_review
from virtimu.store import RecordingStore

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _chromium() -> str:
    for path in (os.environ.get("VIRTIMU_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    pytest.skip("no system Chromium (install the Debian package 'chromium': scripts/install_system_deps.sh)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package 'playwright' is not installed")
    exe = _chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("browser")
    store = build_demo_store(tmp_path / "s.zarr", clips=("walking", "sit_stand"), evil=True)
    style = RenderStyle(width=40, height=50, trace_height=44, text_size=8)
    report = build_review(store, tmp_path / "review", n_poses=2, renderer="matplotlib", progress=False, style=style)
    return store, report


def _open(browser, page_path):
    page = browser.new_page(accept_downloads=True)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.resolve().as_uri())
    return page, dialogs, errors


def _save(page, path):
    with page.expect_download() as info:
        page.click("#save")
    info.value.save_as(path)
    return json.loads(path.read_text())


def test_decide_save_and_apply_with_virtimu_label(browser, review, tmp_path):
    store, report = review
    index = {c.recording: c.index for c in report.cards}
    page, dialogs, errors = _open(browser, report.page)
    # the injection-shaped recording name is shown as text, nothing ran
    assert page.text_content(f"#card-{index[EVIL_NAME]} h2") == f"demo/{EVIL_NAME}"
    assert page.locator("img[src=x]").count() == 0
    page.select_option(f"#card-{index['walking']} select.relabel", "running")
    page.click(f"#card-{index['walking']} button[data-action=relabel]")
    page.click(f"#card-{index['sit_stand']} button[data-action=reject]")
    page.click(f"#card-{index[EVIL_NAME]} button[data-action=accept]")
    page.fill("#reviewer", "tester")
    assert page.text_content(f"#card-{index['walking']} .decision") == "relabel \u2192 running"
    assert "reject" in page.get_attribute(f"#card-{index['sit_stand']}", "class")
    doc = _save(page, tmp_path / "overrides.json")
    assert not dialogs and not errors
    assert doc["version"] == 1 and doc["label_space"] == "synthetic12"
    by_rec = {d["recording"]: d for d in doc["decisions"]}
    assert by_rec["walking"]["action"] == "relabel" and by_rec["walking"]["label"] == "running"
    assert by_rec["sit_stand"]["action"] == "reject" and by_rec[EVIL_NAME]["action"] == "accept"
    assert all(d["reviewer"] == "tester" and "start" not in d and d["source"] == "demo" for d in doc["decisions"])
    overrides = load_overrides(tmp_path / "overrides.json")  # valid for the labelling step
    assert len(overrides.decisions) == 3

    before = RecordingStore(store, mode="r").read("demo", "walking").labels
    label_store(store, overrides=tmp_path / "overrides.json")
    rs = RecordingStore(store, mode="r")
    walking, sit = rs.read("demo", "walking"), rs.read("demo", "sit_stand")
    assert not np.all(before == walking.labels) or walking.label_map[int(before[0])] != "running"
    assert {walking.label_map[int(c)] for c in np.unique(walking.labels)} == {"running"}
    assert {sit.label_map[int(c)] for c in np.unique(sit.labels)} == {"null"}
    page.close()


def test_loading_overrides_shows_earlier_decisions_and_keeps_others(browser, review, tmp_path):
    store, report = review
    index = {c.recording: c.index for c in report.cards}
    earlier = {"version": 1, "label_space": "synthetic12", "decisions": [
        {"source": "other", "recording": "KIT/3/walk", "action": "reject"},
        {"source": "demo", "recording": "walking", "action": "relabel", "label": "dancing", "reviewer": "a"},
        {"source": "demo", "recording": "sit_stand", "action": "reject", "start": 10, "end": 20},
    ]}
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    page, dialogs, errors = _open(browser, report.page)
    page.set_input_files("#load", str(path))
    page.wait_for_function("document.getElementById('status').textContent.includes('decisions')")
    assert page.text_content(f"#card-{index['walking']} .decision") == "relabel \u2192 dancing"
    assert page.input_value(f"#card-{index['walking']} select.relabel") == "dancing"
    # the span decision is not the whole-recording card: kept aside, card undecided
    assert page.text_content(f"#card-{index['sit_stand']} .decision") == "no decision"
    page.click(f"#card-{index[EVIL_NAME]} button[data-action=reject]")
    doc = _save(page, tmp_path / "again.json")
    assert not dialogs and not errors
    assert doc["decisions"][0] == earlier["decisions"][0]  # others first, unchanged
    assert doc["decisions"][1] == earlier["decisions"][2]
    rest = {d["recording"]: d for d in doc["decisions"][2:]}
    assert rest["walking"]["label"] == "dancing" and rest["walking"]["reviewer"] == "a"
    assert rest[EVIL_NAME]["action"] == "reject"
    load_overrides(tmp_path / "again.json")
    # a file of another label space is refused with a message, nothing changes
    other = tmp_path / "other_space.json"
    other.write_text(json.dumps({"version": 1, "label_space": "hapt12", "decisions": []}))
    page.set_input_files("#load", str(other))
    page.wait_for_function("document.getElementById('status').textContent.includes('hapt12')")
    assert page.text_content(f"#card-{index['walking']} .decision") == "relabel \u2192 dancing"
    page.close()


def test_preloaded_overrides_are_shown(browser, tmp_path):
    store = build_demo_store(tmp_path / "s.zarr", clips=("walking",), label=True)
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"version": 1, "label_space": "synthetic12", "decisions": [
        {"source": "demo", "recording": "walking", "action": "reject"}]}))
    style = RenderStyle(width=60, height=50, trace_height=44, text_size=8)
    report = build_review(store, tmp_path / "r", n_poses=1, renderer="matplotlib", progress=False, style=style,
                          overrides=path)
    page, _, errors = _open(browser, report.page)
    assert page.text_content("#card-0 .decision") == "reject" and not errors
    shutil.rmtree(tmp_path / "r")
    page.close()
