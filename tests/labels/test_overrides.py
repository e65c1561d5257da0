"""Review overrides: order of application, spans, validation, round trip."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from virtimu.labels.maps import get_label_space
from virtimu.labels.overrides import (
    OverrideError,
    Overrides,
    apply_overrides,
    load_overrides,
    save_overrides,
    unknown_recordings,
)

S12 = get_label_space("synthetic12")
REC = "KIT/3/walking_medium01_poses"


def write(tmp_path: Path, decisions: list[dict], **top) -> Path:
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"version": 1, "label_space": "synthetic12", **top, "decisions": decisions}))
    return path


def decision(action: str, **kw) -> dict:
    return {"source": "amass", "recording": REC, "action": action, **kw}


def test_decisions_apply_in_order_over_overlapping_spans(tmp_path):
    path = write(tmp_path, [
        decision("relabel", label="running", start=0, end=100, reviewer="ab", time="2024-05-01T12:00:00Z"),
        decision("reject", start=50, end=150, note="foot skating"),
        decision("accept"),
        {"source": "amass", "recording": "other", "action": "reject"},
    ])
    ov = load_overrides(path)
    base = np.full(200, S12.code("walking"))
    out, applied, reviewed = apply_overrides(base, ov.for_recording("amass", REC), S12)
    assert applied == 3 and reviewed
    assert (out[:50] == S12.code("running")).all()
    assert (out[50:150] == 0).all()                      # the later reject wins where the spans overlap
    assert (out[150:] == S12.code("walking")).all()       # accept changes nothing
    assert (base == S12.code("walking")).all()            # input untouched
    # the other order: reject first, relabel last
    out, _, _ = apply_overrides(base, [ov.decisions[1], ov.decisions[0]], S12)
    assert (out[:100] == S12.code("running")).all() and (out[100:150] == 0).all()


def test_whole_recording_and_open_spans(tmp_path):
    ov = load_overrides(write(tmp_path, [decision("relabel", label="dancing"), decision("reject", start=90),
                                         decision("relabel", label="sitting", end=10)]))
    out, applied, _ = apply_overrides(np.zeros(100, dtype=np.int64), ov.decisions, S12)
    assert applied == 3
    assert (out[:10] == S12.code("sitting")).all() and (out[10:90] == S12.code("dancing")).all()
    assert (out[90:] == 0).all()
    out, applied, reviewed = apply_overrides(np.ones(5, dtype=np.int64), [], S12)
    assert applied == 0 and not reviewed and (out == 1).all()


def test_span_past_the_recording_is_an_error_naming_the_decision(tmp_path):
    ov = load_overrides(write(tmp_path, [decision("accept"), decision("reject", start=10, end=500)]))
    with pytest.raises(OverrideError, match=r"decisions\[1\] \(amass/KIT/3/walking_medium01_poses\): frame span "
                                            r"\[10, 500\) does not fit the recording's 200 frames"):
        apply_overrides(np.zeros(200, dtype=np.int64), ov.decisions, S12)


@pytest.mark.parametrize("bad, message", [
    (decision("delete"), "field 'action': expected one of ['accept', 'relabel', 'reject']"),
    (decision("relabel"), "field 'label': None is not a category of synthetic12"),
    (decision("relabel", label="strolling"), "'strolling' is not a category"),
    (decision("relabel", label="null"), "'null' is not a category"),
    (decision("reject", label="walking"), "only 'relabel' decisions carry a label"),
    (decision("reject", start=10, end=10), "field 'end': 10 must be greater than start 10"),
    (decision("reject", start=-1), "field 'start': expected a frame index >= 0"),
    (decision("reject", end=2.5), "field 'end': expected a frame index"),
    (decision("accept", time="yesterday"), "field 'time': not an ISO 8601 time"),
    (decision("accept", colour="red"), "unknown fields ['colour']"),
    ({"recording": REC, "action": "accept"}, "field 'source': expected a non-empty string"),
    ("accept", "expected an object"),
])
def test_decision_validation_names_file_and_index(tmp_path, bad, message):
    path = write(tmp_path, [decision("accept"), bad])
    with pytest.raises(OverrideError) as err:
        load_overrides(path)
    assert str(path) in str(err.value) and "decisions[1]" in str(err.value) and message in str(err.value)


def test_file_validation(tmp_path):
    with pytest.raises(OverrideError, match="field 'version': expected 1, got 2"):
        load_overrides(write(tmp_path, [], version=2))
    with pytest.raises(OverrideError, match="field 'label_space': no label space 'ucihar'"):
        load_overrides(write(tmp_path, [], label_space="ucihar"))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(OverrideError, match="not valid JSON"):
        load_overrides(bad)
    with pytest.raises(FileNotFoundError):
        load_overrides(tmp_path / "missing.json")
    # decisions in another label space validate against that space
    ov = load_overrides(write(tmp_path, [decision("relabel", label="WALKING")], label_space="uci_har6"))
    assert ov.label_space.name == "uci_har6" and ov.decisions[0].label == "WALKING"


def test_round_trip_and_unknown_recordings(tmp_path):
    src = write(tmp_path, [decision("relabel", label="running", start=5, end=9, note="n", reviewer="r",
                                    time="2024-05-01T12:00:00+00:00"),
                           {"source": "amass", "recording": "gone", "action": "reject"}])
    ov = load_overrides(src)
    out = save_overrides(tmp_path / "copy" / "o.json", ov)
    again = load_overrides(out)
    assert again.to_dict() == ov.to_dict() == Overrides.from_dict(json.loads(src.read_text())).to_dict()
    assert [d.index for d in again.decisions] == [0, 1]
    assert again.recordings() == [("amass", REC), ("amass", "gone")]
    unknown = unknown_recordings(again, [("amass", REC)])
    assert [(d.index, d.recording) for d in unknown] == [(1, "gone")]
    assert not list((tmp_path / "copy").glob(".*tmp"))
