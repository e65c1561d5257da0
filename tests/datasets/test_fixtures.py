"""virtimu.datasets.fixtures: stand-in files in the published layouts, read back by the loaders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets import fixtures as F
from virtimu.datasets.base import G, load_dataset
from virtimu.datasets.opportunity import raw_label_codes
from virtimu.io.amass import find_amass_files, read_amass
from virtimu.labels.maps import get_label_map, get_label_space
from virtimu.labels.rules import load_rules


def _by_label(recs, channels: list[str]) -> dict[str, np.ndarray]:
    """Frames (n, len(channels)) of every recording, grouped by label name."""
    out: dict[str, list[np.ndarray]] = {}
    for r in recs:
        x = r.select(channels)
        for code in np.unique(r.labels):
            out.setdefault(r.label_map[int(code)], []).append(x[r.labels == code])
    return {k: np.concatenate(v) for k, v in out.items()}


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_activity_clips_vary_with_seed_and_reject_unknown_kinds() -> None:
    a, b = F.activity_clip("walking", 1, fps=30, seconds=3), F.activity_clip("walking", 2, fps=30, seconds=3)
    assert a.n_frames == b.n_frames == 91 and not np.allclose(a.trans, b.trans)
    again = F.activity_clip("walking", 1, fps=30, seconds=3)
    np.testing.assert_array_equal(a.R_local, again.R_local)  # deterministic
    with pytest.raises(KeyError, match="unknown activity 'skating'"):
        F.activity_clip("skating", 0)
    with pytest.raises(KeyError, match="no fixture writer for 'kinect'"):
        F.write_fixture("kinect", Path("/nonexistent"))


def test_amass_files_are_named_for_the_bundled_rules(tmp_path: Path) -> None:
    root = F.write_amass_fixture(tmp_path, subjects=1, fps=30.0, seconds=3.0)
    files = find_amass_files(root)
    assert len(files) == len(F.AMASS_NAMES) + 1
    rules = load_rules()
    seen = {}
    for f in files:
        m = read_amass(f, root=root)
        assert m.model_type == "smplh" and m.poses.shape[1:] == (52, 3) and m.fps == 30.0
        assert m.labels is not None and m.labels.shape == (m.n_frames,)  # virtimu frame labels kept
        seen[m.name] = rules.classify_recording(m.name, m.provenance)
    excluded = [d for n, d in seen.items() if n.startswith("Transitions_mocap/")]
    assert len(excluded) == 1 and excluded[0].excluded == "frequent_transitions"
    categories = sorted(d.category for d in seen.values() if d.category)
    assert categories == sorted(F.AMASS_CATEGORIES.values())


def test_dip_round_trip(tmp_path: Path) -> None:
    root = F.write_dip_fixture(tmp_path, subjects=1, seconds=4.0)
    raw = (root / "DIP_IMU_and_Others" / "DIP_IMU" / "s_01" / "03.pkl").read_bytes()
    assert raw[:2] == b"\x80\x02" and b"numpy.core.multiarray" in raw  # Python-2 style pickle
    recs = list(load_dataset("dip", root))
    dip5 = get_label_space("dip5")
    assert [r.name for r in recs] == [f"s_01_0{i}" for i in range(1, 6)]
    assert [dip5.name_of(int(r.labels[0])) for r in recs] == [a for a, _ in F.DIP_SEQUENCES.values()]
    assert all(r.fs == 60.0 and len(r.channels) == 17 * 18 for r in recs)
    assert recs[0].provenance["nan_frames"] == 2 and recs[1].provenance["nan_frames"] == 0
    # specific force at rest ~ 1 g; walking shakes the thigh far more than computer work (sitting)
    thigh = [f"right_thigh/acc_{a}" for a in "xyz"]
    walking, computer = recs[2].select(thigh), recs[4].select(thigh)
    assert abs(np.median(np.linalg.norm(computer, axis=1)) - 9.81) < 0.5
    assert np.linalg.norm(walking, axis=1).std() > 3 * np.linalg.norm(computer, axis=1).std()


def test_opportunity_round_trip(tmp_path: Path) -> None:
    root = F.write_opportunity_fixture(tmp_path, subjects=2, seconds=4.0)
    recs = list(load_dataset("opportunity", root))
    assert [r.name for r in recs] == ["S1-ADL1", "S2-ADL1"] and all(r.fs == 30.0 for r in recs)
    assert recs[0].provenance["columns"]["Accelerometer RWR accX"] == 23  # read from column_names.txt
    assert (root / "dataset" / "label_legend.txt").read_text().count("ML_Both_Arms") == 17
    lm = get_label_map("opportunity_raw", "opportunity14")
    names = {lm.dst.name_of(int(c)) for r in recs for c in np.unique(lm.apply(raw_label_codes(r)))}
    assert names == {"null", "stand", "walk", "sit", "lie", "stand_drink_from_cup", "stand_open_door"}
    acc = _by_label(recs, [f"right_wrist/acc_{a}" for a in "xyz"])
    stand, lie = acc["Stand"].mean(axis=0), acc["Lie"].mean(axis=0)
    assert abs(np.median(np.linalg.norm(acc["Stand"], axis=1)) - G) < 0.3  # milli g converted back
    assert _angle_deg(stand, lie) > 30  # the wrist's gravity direction depends on the posture


def test_jsifos_round_trip(tmp_path: Path) -> None:
    root = F.write_jsifos_fixture(tmp_path, subjects=2, seconds=4.0)
    recs = list(load_dataset("jsi-fos", root))
    assert [r.subject for r in recs] == ["S01", "S02"] and all(r.fs == 50.0 for r in recs)
    jsi = get_label_space("jsifos18")
    found = {jsi.name_of(int(c)) for r in recs for c in np.unique(r.labels)}
    assert found == {"standing", "walking", "lying_back", "cycling", "transition_down"}
    acc = _by_label(recs, [f"right_wrist/acc_{a}" for a in "xyz"])
    walk, stand = np.linalg.norm(acc["walking"], axis=1), np.linalg.norm(acc["standing"], axis=1)
    assert abs(np.median(stand) - G) < 0.3 and walk.std() > 3 * stand.std()


@pytest.mark.parametrize("dataset, stems, codes", [
    ("harth", ["S006", "S007"], {1, 2, 3, 6, 7, 8}),
    ("har70plus", ["501", "502"], {1, 3, 6, 7, 8}),
])
def test_harth_round_trip(tmp_path: Path, dataset: str, stems: list[str], codes: set[int]) -> None:
    root = F.write_fixture(dataset, tmp_path, subjects=2, seconds=4.0)
    recs = list(load_dataset(dataset, root))
    assert [r.subject for r in recs] == stems and all(r.fs == 50.0 and r.n_frames > 1000 for r in recs)
    assert {int(c) for r in recs for c in np.unique(r.labels)} == codes  # no gaps, so no null frames
    assert all(r.provenance["gaps_filled"] == 0 for r in recs)
    thigh = _by_label(recs, ["right_thigh/acc_x"])
    back = _by_label(recs, ["back/acc_x"])
    # HARTH's axes: x up the segment, so x reads about +1 g upright and about 0 where the segment lies flat
    assert np.median(thigh["standing"]) > 8.5 and np.median(back["standing"]) > 8.5
    assert abs(np.median(thigh["sitting"])) < 3.0 and np.median(back["sitting"]) > 7.0
    assert abs(np.median(back["lying"])) < 3.0


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = F.write_jsifos_fixture(tmp_path / "a", subjects=1, seconds=3.0, seed=5)
    b = F.write_jsifos_fixture(tmp_path / "b", subjects=1, seconds=3.0, seed=5)
    c = F.write_jsifos_fixture(tmp_path / "c", subjects=1, seconds=3.0, seed=6)
    assert (a / "S01.csv").read_bytes() == (b / "S01.csv").read_bytes() != (c / "S01.csv").read_bytes()
