"""Reading poses back for a stored recording: the sensors land where the signals were synthesised."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from tests.render.store_helpers import demo_store  # noqa: F401 - fixture
from virtimu.render.posing import RenderSourceError, find_recording, locate_motion_file, open_render_source
from virtimu.sensors import signals as sig
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS


def test_posed_sensors_reproduce_the_stored_accelerometer(demo_store):
    source = open_render_source(demo_store, "walking")
    rec = source.recording
    posed = source.pose(np.arange(rec.n_frames))
    assert posed.vertices.shape == (rec.n_frames, source.body.v_template.shape[0], 3)
    acc = sig.specific_force(sig.central_difference_acc(posed.sensor_pos, 1.0 / rec.fs), posed.sensor_rot)
    for s, site in enumerate(posed.sites):
        idx = [rec.channels.index(f"{site}/acc_{a}") for a in "xyz"]
        stored = rec.signals[:, idx]
        # float32 storage: agreement to well under 1 % of the signal's range
        assert np.max(np.abs(acc[:, s] - stored)) < 1e-3 * (1 + np.ptp(stored)), site
    # the rotation channels too
    rot = [rec.channels.index(f"{posed.sites[0]}/rot_{i}{j}") for i in range(3) for j in range(3)]
    np.testing.assert_allclose(posed.sensor_rot[:, 0].reshape(-1, 9), rec.signals[:, rot], atol=1e-5)


def test_unknown_recording_is_a_clear_error(demo_store):
    store = RecordingStore(demo_store, mode="r")
    with pytest.raises(RenderSourceError, match=r"no recording 'nope'.*demo/walking"):
        find_recording(store, "nope")
    with pytest.raises(RenderSourceError, match="no recording 'walking' in source 'other'"):
        find_recording(store, "walking", source="other")


def test_motion_file_found_under_amass_root_when_moved(demo_store, tmp_path):
    rec = RecordingStore(demo_store, mode="r").read("demo", "walking")
    rec.provenance = dict(rec.provenance, file=str(tmp_path / "gone" / "walking.npz"), sequence="nothing")
    with pytest.raises(RenderSourceError, match="motion file is not found"):
        locate_motion_file(rec)
    shutil.copy(DEMO_MOTIONS / "walking.npz", tmp_path / "walking.npz")  # the recording name under the root
    assert locate_motion_file(rec, amass_root=tmp_path) == tmp_path / "walking.npz"


def test_body_with_other_mesh_is_refused(demo_store, tmp_path):
    from tests.conftest import random_smpl_arrays  # noqa: PLC0415

    path = tmp_path / "SMPL_NEUTRAL.pkl"
    with open(path, "wb") as fh:
        pickle.dump(random_smpl_arrays(n_vertices=500), fh)
    with pytest.raises(RenderSourceError, match="vertices"):
        open_render_source(demo_store, "walking", body_model=path)


def test_real_recordings_have_no_motion(demo_store, tmp_path):
    store_path = tmp_path / "s.zarr"
    shutil.copytree(demo_store, store_path)
    store = RecordingStore(store_path, mode="a")
    rec = store.read("demo", "walking")
    rec.attrs = {"dataset": "hapt"}
    rec.provenance = {"format": "hapt"}
    rec.source = "real"
    store.write(rec)
    with pytest.raises(RenderSourceError, match="not synthesised from an AMASS motion"):
        open_render_source(store_path, "walking", source="real")
    assert not open_render_source(store_path, "walking", source="real", require_motion=False).can_pose
