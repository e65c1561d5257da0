"""Synthesis on Dask (virtimu.distributed): same store as one process, retries, failures, CLI."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

import virtimu.cli
import virtimu.distributed as vd
from virtimu.distributed import local_cluster, run_synthesis_dask
from virtimu.sensors.placement import load_site_table, resolve_sites
from virtimu.sensors.synth import SynthConfig
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS, SynthJob, run_synthesis

CLIPS = ("walking", "sit_stand", "jumping", "waving")


def _inputs(folder: Path, clips=CLIPS) -> Path:
    """Demo clips in an AMASS-like tree, two subjects (so names carry folders)."""
    for i, clip in enumerate(clips):
        dst = folder / "Demo" / f"s{i % 2}" / f"{clip}_poses.npz"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_MOTIONS / f"{clip}.npz", dst)
    return folder


def _job(store: Path) -> SynthJob:
    """Settings with seeded device noise and placement jitter: the result depends on the recording name."""
    sites = resolve_sites("wrist,thigh,head", load_site_table(None))
    return SynthJob(store=str(store), sites=sites, config=SynthConfig(fps=30.0, device="smartphone", seed=5),
                    source="amass", jitter_offset_m=0.01, jitter_rotation_deg=3.0, jitter_seed=2)


def assert_same_store(a: Path, b: Path) -> None:
    """Every recording of ``a`` equals ``b``'s: keys, signals (bit for bit), labels and all attrs."""
    sa, sb = RecordingStore(a, mode="r"), RecordingStore(b, mode="r")
    assert sa.list() == sb.list() and sa.list()
    for key in sa.list():
        ra, rb = sa.read(*key), sb.read(*key)
        assert np.array_equal(ra.signals, rb.signals), key
        assert (ra.labels is None and rb.labels is None) or np.array_equal(ra.labels, rb.labels), key
        assert (ra.channels, ra.units, ra.fs, ra.subject, ra.label_map) == \
               (rb.channels, rb.units, rb.fs, rb.subject, rb.label_map), key
        assert ra.provenance == rb.provenance and ra.attrs == rb.attrs, key


def _no_temp_dirs(store: Path) -> bool:
    return not any(p.name.startswith(".tmp-") for p in store.rglob("*"))


def test_two_worker_local_cluster_equals_one_process_and_resumes(tmp_path):
    root = _inputs(tmp_path / "amass")
    broken = root / "Demo" / "s0" / "broken_poses.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    ref = run_synthesis(root, _job(tmp_path / "ref.zarr"), workers=1, progress=False)
    assert len(ref.written) == len(CLIPS) and len(ref.failed) == 1

    with local_cluster(2) as client:  # two worker processes
        assert len(client.nthreads()) == 2
        report = run_synthesis_dask(root, _job(tmp_path / "dask.zarr"), client=client, progress=False)
        assert sorted(report.written) == sorted(ref.written) and report.frames == ref.frames
        # the broken file is reported with its error, once, not retried into silence
        [(path, message)] = report.failed
        assert Path(path).name == "broken_poses.npz"
        assert message.startswith("AmassFormatError: AMASS file") and "broken_poses.npz" in message
        assert_same_store(tmp_path / "ref.zarr", tmp_path / "dask.zarr")
        # a second run resumes: everything is already there
        again = run_synthesis_dask(root, _job(tmp_path / "dask.zarr"), client=client, progress=False)
        assert again.written == [] and sorted(again.skipped) == sorted(ref.written)
    assert _no_temp_dirs(tmp_path / "dask.zarr")


@pytest.fixture(scope="module")
def thread_cluster():
    """Two worker threads in this process (tasks may be patched with monkeypatch)."""
    with local_cluster(2, processes=False) as client:
        yield client


def _flaky(monkeypatch, failing: str, times: int) -> dict[str, int]:
    """Make `synth_file` raise OSError the first ``times`` calls for the file named ``failing``."""
    calls: dict[str, int] = {}
    lock = threading.Lock()
    real = vd.synth_file

    def flaky(path, job):
        name = Path(path).name
        with lock:
            calls[name] = calls.get(name, 0) + 1
            n = calls[name]
        if name == failing and n <= times:
            raise OSError(f"stale NFS handle (attempt {n})")
        return real(path, job)

    monkeypatch.setattr(vd, "synth_file", flaky)
    return calls


def test_transient_error_is_retried(tmp_path, monkeypatch, thread_cluster):
    root = _inputs(tmp_path / "amass", CLIPS[:2])
    calls = _flaky(monkeypatch, "walking_poses.npz", times=1)
    report = run_synthesis_dask(root, _job(tmp_path / "s.zarr"), client=thread_cluster, retries=2, progress=False)
    assert report.failed == [] and len(report.written) == 2
    assert calls["walking_poses.npz"] == 2 and calls["sit_stand_poses.npz"] == 1
    assert len(RecordingStore(tmp_path / "s.zarr", mode="r").list()) == 2


def test_persistent_error_is_reported_after_retries(tmp_path, monkeypatch, thread_cluster):
    root = _inputs(tmp_path / "amass", CLIPS[:2])
    calls = _flaky(monkeypatch, "walking_poses.npz", times=99)
    report = run_synthesis_dask(root, _job(tmp_path / "s.zarr"), client=thread_cluster, retries=1,
                                max_in_flight=1, progress=False)
    assert calls["walking_poses.npz"] == 2  # first try + one retry
    [(path, message)] = report.failed
    assert Path(path).name == "walking_poses.npz"
    assert message == "OSError: stale NFS handle (attempt 2) (after 1 retries)"
    assert [n.rsplit("/", 1)[-1] for n in report.written] == ["sit_stand_poses"]
    assert RecordingStore(tmp_path / "s.zarr", mode="r").list() == [("amass", "Demo/s1/sit_stand_poses")]
    assert "1 failed" in report.summary() and "stale NFS handle" in report.summary()


def test_cli_runs_on_a_scheduler_address(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    root = _inputs(tmp_path / "amass", CLIPS[:2])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        rc = virtimu.cli.main(["synth", "--amass", str(root), "--out", str(tmp_path / "c.zarr"), "--fps", "30",
                               "--scheduler", cluster.scheduler_address, "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and f"the Dask cluster at {cluster.scheduler_address}" in out and "2 written" in out
    ref = tmp_path / "ref.zarr"
    assert virtimu.cli.main(["synth", "--amass", str(root), "--out", str(ref), "--fps", "30", "--workers", "1",
                             "--quiet"]) == 0
    assert_same_store(ref, tmp_path / "c.zarr")


def test_cli_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vd, "CONNECT_TIMEOUT", "1s")
    root = _inputs(tmp_path / "amass", CLIPS[:1])
    rc = virtimu.cli.main(["synth", "--amass", str(root), "--out", str(tmp_path / "x.zarr"),
                           "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "error: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_cli_rejects_bad_worker_and_retry_counts(tmp_path, capsys):
    for flag, value in (("--workers", "0"), ("--retries", "-1")):
        rc = virtimu.cli.main(["synth", "--out", str(tmp_path / "x.zarr"), flag, value, "--quiet"])
        assert rc == 2 and f"error: {flag} {value}" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(tmp_path):
    """SIGKILL one of two worker processes while files are in flight: Dask reschedules its tasks
    (the nanny restarts the worker) and the store still equals a single-process run's."""
    import os
    import signal
    import time

    root = tmp_path / "amass"
    for k in range(3):
        _inputs(root / f"batch{k}", CLIPS)
    ref = run_synthesis(root, _job(tmp_path / "ref.zarr"), workers=1, progress=False)
    store = tmp_path / "dask.zarr"
    with local_cluster(2) as client:
        pids = client.run(os.getpid)
        victim = next(iter(pids.values()))

        at_kill: list[int] = []

        def kill_when_started() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                done = len(RecordingStore(store, mode="r").list()) if (store / "zarr.json").is_file() else 0
                if done:
                    os.kill(victim, signal.SIGKILL)
                    at_kill.append(done)
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_when_started)
        killer.start()
        report = run_synthesis_dask(root, _job(store), client=client, retries=2, progress=False)
        killer.join()
        assert at_kill and at_kill[0] < len(ref.written)  # killed mid-run
        assert victim not in client.run(os.getpid).values()  # the worker was really replaced
    # a recording committed just before its worker died is found present by the rerun task
    assert report.failed == [] and sorted(report.written + report.skipped) == sorted(ref.written)
    assert_same_store(tmp_path / "ref.zarr", store)
