"""Crash safety: `virtimu synth` and `virtimu ingest` killed with SIGKILL mid-run, then resumed.

Each test starts the command in a subprocess (its own process group, so the
synthesis worker processes die with it), waits until at least one recording
is committed, kills the whole group, and checks that the store holds only
complete recordings; the same command then resumes, and the final store
equals an uninterrupted run's (same recordings, same arrays bit for bit, no
temporary directories left behind).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.datasets.test_harth import stamps, standing, write_csv
from virtimu.cli import main
from virtimu.io.amass import read_amass, write_amass
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process groups are POSIX")

REPO = Path(__file__).resolve().parents[1]
CLIPS = ("walking", "running", "sit_stand", "jumping", "waving", "standing", "lying_down", "arm_stretching")


def _committed(store: Path) -> int:
    """Recordings committed so far (complete groups; cheap enough to poll)."""
    if not (store / "zarr.json").is_file():
        return 0
    return len(RecordingStore(store, mode="r").list())


def _group_alive(pgid: int) -> list[int]:
    """Pids of live (not zombie) processes in process group ``pgid`` (Linux /proc; [] elsewhere)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def run_and_kill(args: list[str], store: Path, total: int, timeout: float = 60.0) -> int:
    """Run ``python -m virtimu.cli ARGS`` and SIGKILL its process group once a recording is committed.

    Returns the number of recordings committed at the kill; fails the test if
    the command finished (or failed) before it could be killed mid-run.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "virtimu.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while _committed(store) == 0:
            if proc.poll() is not None:
                pytest.fail(f"command ended before the kill (rc {proc.returncode}): {proc.stderr.read()!r}")
            if time.monotonic() > deadline:
                pytest.fail("no recording committed in time")
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    for _ in range(200):  # the group's other processes die asynchronously
        if not _group_alive(proc.pid):
            break
        time.sleep(0.01)
    assert _group_alive(proc.pid) == [], "processes of the killed run survive"
    n = _committed(store)
    assert 0 < n < total, f"{n} of {total} recordings at the kill: not mid-run"
    return n


def assert_complete(store: Path) -> None:
    """Every listed recording reads in full (signals and labels of its declared length)."""
    s = RecordingStore(store, mode="r")
    for key in s.list():
        rec, attrs = s.read(*key), s.recording_attrs(*key)
        assert rec.signals.shape == (attrs["n_frames"], len(attrs["channels"])), key
        assert rec.labels is None or rec.labels.shape == (attrs["n_frames"],), key


def assert_same_store(a: Path, b: Path) -> None:
    sa, sb = RecordingStore(a, mode="r"), RecordingStore(b, mode="r")
    assert sa.list() == sb.list()
    for key in sa.list():
        ra, rb = sa.read(*key), sb.read(*key)
        assert np.array_equal(ra.signals, rb.signals, equal_nan=True), key
        assert (ra.labels is None and rb.labels is None) or np.array_equal(ra.labels, rb.labels), key
        assert ra.attrs == rb.attrs and ra.provenance == rb.provenance and ra.channels == rb.channels, key


def temp_dirs(store: Path) -> list[Path]:
    """Temporary directories of writers, in the store and beside it (root creation)."""
    return [*store.rglob(".tmp-*"), *store.parent.glob(f".tmp-{store.name}-*")]


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory) -> Path:
    """32 AMASS files: the demo clips cut to 1.5 s, for four subjects."""
    root = tmp_path_factory.mktemp("amass")
    for clip in CLIPS:
        m = read_amass(DEMO_MOTIONS / f"{clip}.npz")
        n = int(1.5 * m.fps)
        for s in range(4):
            write_amass(root / "Demo" / f"subject{s}" / f"{clip}_poses.npz", m.poses[:n], m.trans[:n], m.betas,
                        m.fps, m.gender)
    return root


def test_synth_killed_mid_run_resumes_to_the_uninterrupted_result(short_clips, tmp_path):
    total = 4 * len(CLIPS)
    args = ["synth", "--amass", str(short_clips), "--fps", "30", "--signals", "acc,gyro", "--quiet"]
    killed = tmp_path / "killed.zarr"
    run_and_kill([*args, "--out", str(killed), "--workers", "2"], killed, total)
    assert_complete(killed)

    assert main([*args, "--out", str(killed), "--workers", "1"]) == 0  # resume
    ref = tmp_path / "ref.zarr"
    assert main([*args, "--out", str(ref), "--workers", "1"]) == 0
    assert len(RecordingStore(ref, mode="r").list()) == total
    assert_same_store(ref, killed)
    assert temp_dirs(killed) == []


@pytest.fixture(scope="module")
def harth_folder(tmp_path_factory) -> Path:
    """A HARTH folder of 60 subject files (6 s each, published CSV layout)."""
    root = tmp_path_factory.mktemp("harth")
    n = 300
    for i in range(60):
        codes = [6] * (n // 2) + [7] * (n - n // 2)
        write_csv(root / "harth" / f"S{i + 1:03d}.csv", stamps(n), standing(n, seed=i), codes)
    return root


def test_ingest_killed_mid_run_resumes_to_the_uninterrupted_result(harth_folder, tmp_path):
    total = 60
    killed = tmp_path / "killed.zarr"
    run_and_kill(["ingest", "harth", str(harth_folder), "--out", str(killed), "--quiet"], killed, total)
    assert_complete(killed)

    assert main(["ingest", "harth", str(harth_folder), "--out", str(killed), "--quiet"]) == 0  # resume
    ref = tmp_path / "ref.zarr"
    assert main(["ingest", "harth", str(harth_folder), "--out", str(ref), "--quiet"]) == 0
    assert len(RecordingStore(ref, mode="r").list()) == total
    assert_same_store(ref, killed)
    assert temp_dirs(killed) == []


def test_interrupted_write_leaves_only_a_temporary_directory_that_resume_removes(short_clips, tmp_path):
    """A writer killed inside `RecordingStore.write` (simulated: its temporary group and a dead pid)
    is invisible to readers and removed when the store is next opened for writing."""
    store = tmp_path / "s.zarr"
    one = min(short_clips.rglob("*.npz"))
    assert main(["synth", "--amass", str(one), "--out", str(store), "--workers", "1", "--quiet"]) == 0
    [(source, name)] = RecordingStore(store, mode="r").list()
    src_dir = next((store / "recordings").iterdir())
    rec_dir = next(p for p in src_dir.iterdir() if not p.name.startswith("."))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    from virtimu.store.recordings import _HOST_ID

    partial = src_dir / f".tmp-Demo~x~half_poses-0123456789ab-{dead}-{_HOST_ID}"
    shutil.copytree(rec_dir, partial)
    shutil.rmtree(partial / "signals")  # half written
    assert RecordingStore(store, mode="r").list() == [(source, name)]
    RecordingStore(store, mode="a")  # next writer: cleans up after the dead one
    assert not partial.exists() and temp_dirs(store) == []


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
def test_temporary_directory_of_a_zombie_writer_is_removed(tmp_path):
    """A writer killed with its parent can linger as a zombie until init reaps it: it writes
    nothing any more, so its temporary directory is stale."""
    from virtimu.store.recordings import _HOST_ID

    store = tmp_path / "s.zarr"
    RecordingStore(store, mode="a")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])  # exits; unreaped until wait(): a zombie
    try:
        for _ in range(500):
            if Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        else:
            pytest.fail("the child did not become a zombie")
        partial = store / "recordings" / f".tmp-amass-0123456789ab-{proc.pid}-{_HOST_ID}"
        partial.mkdir()
        RecordingStore(store, mode="a")
        assert not partial.exists()
    finally:
        proc.wait()
