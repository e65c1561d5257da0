"""Scale benchmark: synthesis on Dask with 1 and 2 workers, coordinator memory vs number of files,
store size per hour of motion, and a projection for all of AMASS on a 100-core cluster.

Input: the bundled procedural demo clips (AMASS SMPL+H npz, 120 Hz, 8 clips, 70.6 s in all),
copied into an AMASS-like tree ``Demo/subject<k>/<clip>_poses.npz`` (each copy is its own
recording).  Settings: ``virtimu synth`` defaults (left wrist, right thigh, head; acc, gyro,
rotation matrix = 45 channels; 60 Hz; resample strategy).

1. Throughput: the same ``--files`` files synthesised (a) in this process, (b) on a local Dask
   cluster of 1 worker process, (c) of 2 worker processes (1 thread each).  Cluster start-up
   is not timed (each cluster is started and warmed up first: every worker imports virtimu and
   synthesises one file).  Figures: wall time, output frames/s, motion-hours per hour, the
   2-worker / 1-worker ratio, and the workers' peak RSS.
2. Coordinator memory: for 10 / 50 / 200 files (``--memory-files``), a fresh process runs
   `run_synthesis_dask` on a 2-worker local cluster (short clips: the first 2 s of each demo clip)
   and reports its own peak RSS (``ru_maxrss``, the workers are other processes) and the
   tracemalloc peak of Python allocations during the run.  Flat = memory does not grow with
   the number of files.
3. Store size per hour of motion: bytes on disk of the store of run (c) / hours synthesised.
4. Projection for all of AMASS: ASSUMED 11,265 sequences and 2,420.86 min (40.3 h) of motion
   (the totals of the AMASS paper, Mahmood et al., ICCV 2019, Table 1; later AMASS releases
   add sub-datasets, so treat this as a lower bound), at the measured per-worker cost and the
   measured 2-worker scaling efficiency, on 100 worker processes.  A projection, not a
   measurement: a real cluster adds scheduling latency, shared-filesystem write contention and
   larger per-file read times (AMASS files hold up to minutes of 120-250 Hz motion).

Run: ``.venv/bin/python benchmarks/bench_scale.py [--files 32] [--memory-files 10,50,200]
[--json out.json]``.  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

#: Assumed size of AMASS (AMASS paper, Table 1 totals); see the module docstring.
AMASS_SEQUENCES = 11_265
AMASS_MINUTES = 2_420.86
CLUSTER_WORKERS = 100


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def make_inputs(root: Path, n_files: int, seconds: float | None = None) -> tuple[Path, float]:
    """``n_files`` AMASS files (demo clips, cycled; cut to ``seconds`` if given); returns (root, motion hours)."""
    from virtimu.io.amass import read_amass, write_amass
    from virtimu.synthesis import DEMO_MOTIONS

    clips = sorted(DEMO_MOTIONS.glob("*.npz"))
    motions = [read_amass(p) for p in clips]
    total_s = 0.0
    for i in range(n_files):
        m, clip = motions[i % len(clips)], clips[i % len(clips)]
        dst = root / "Demo" / f"subject{i // len(clips):03d}" / f"{clip.stem}_poses.npz"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if seconds is None:
            shutil.copy(clip, dst)
            total_s += m.poses.shape[0] / m.fps
        else:
            n = int(seconds * m.fps)
            write_amass(dst, m.poses[:n], m.trans[:n], m.betas, m.fps, m.gender)
            total_s += n / m.fps
    return root, total_s / 3600.0


def _job(store: Path):
    from virtimu.sensors.placement import load_site_table, resolve_sites
    from virtimu.sensors.synth import SynthConfig
    from virtimu.synthesis import SynthJob

    return SynthJob(store=str(store), sites=resolve_sites("wrist,thigh,head", load_site_table(None)),
                    config=SynthConfig(), source="amass")


def _worker_usage(client) -> dict[str, tuple[float, float]]:
    """{worker: (CPU seconds so far, peak RSS in MB)} of every worker process."""
    def usage() -> tuple[float, float]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024.0

    return client.run(usage)


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def throughput(work: Path, n_files: int, repeats: int) -> dict:
    """Wall and CPU time of one process, a 1-worker and a 2-worker local Dask cluster.

    The three run ``repeats`` times, interleaved (load from other processes hits them alike);
    the fastest wall time of each is kept, and the CPU time (this process for the single run,
    the workers for Dask) of that round.
    """
    from contextlib import ExitStack

    from virtimu.distributed import local_cluster, run_synthesis_dask
    from virtimu.synthesis import run_synthesis

    root, hours = make_inputs(work / "amass", n_files)
    warm_root, _ = make_inputs(work / "warm", 1)
    runs: dict[str, list[dict]] = {"single_process": [], "dask_1": [], "dask_2": []}
    with ExitStack() as stack:
        clients = {n: stack.enter_context(local_cluster(n)) for n in (1, 2)}
        for n, client in clients.items():  # warm up: imports, body model, first file
            run_synthesis_dask(warm_root, _job(work / f"warm{n}.zarr"), client=client, progress=False)
        for r in range(repeats):
            c0, t0 = _cpu_seconds(), time.perf_counter()
            rep = run_synthesis(root, _job(work / f"single{r}.zarr"), workers=1, progress=False)
            runs["single_process"].append({"seconds": time.perf_counter() - t0, "cpu_s": _cpu_seconds() - c0,
                                           "frames": rep.frames})
            for n, client in clients.items():
                before = _worker_usage(client)
                t0 = time.perf_counter()
                rep = run_synthesis_dask(root, _job(work / f"dask{n}_{r}.zarr"), client=client, progress=False)
                seconds = time.perf_counter() - t0
                after = _worker_usage(client)
                assert not rep.failed, rep.summary()
                runs[f"dask_{n}"].append({
                    "seconds": seconds, "frames": rep.frames,
                    "cpu_s": sum(after[w][0] - before[w][0] for w in after),
                    "worker_peak_rss_mb": max(v[1] for v in after.values())})
    out: dict = {"files": n_files, "motion_hours": hours, "repeats": repeats}
    for key, rows in runs.items():
        best = dict(min(rows, key=lambda x: x["seconds"]))
        best["median_seconds"] = sorted(x["seconds"] for x in rows)[len(rows) // 2]
        best["frames_per_s"] = best["frames"] / best["seconds"]
        best["motion_hours_per_hour"] = hours * 3600.0 / best["seconds"]
        best["cpu_s_per_motion_hour"] = best["cpu_s"] / hours
        out[key] = best
    out["ratio_2_over_1"] = out["dask_1"]["seconds"] / out["dask_2"]["seconds"]
    out["ratio_2_over_1_median"] = out["dask_1"]["median_seconds"] / out["dask_2"]["median_seconds"]
    store = work / "dask2_0.zarr"
    out["store_bytes"] = dir_bytes(store)
    out["store_mb_per_motion_hour"] = out["store_bytes"] / 1e6 / hours
    out["channels"] = 45
    return out


def coordinator_run(n_files: int, work: Path) -> dict:
    """(Run in a fresh process.) Peak RSS and tracemalloc peak of this process while it coordinates."""
    from virtimu.distributed import local_cluster, run_synthesis_dask

    root, _ = make_inputs(work / "amass", n_files, seconds=2.0)
    with local_cluster(2) as client:
        client.run(lambda: __import__("virtimu.synthesis"))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        tracemalloc.start()
        t0 = time.perf_counter()
        rep = run_synthesis_dask(root, _job(work / "s.zarr"), client=client, progress=False)
        seconds = time.perf_counter() - t0
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"files": n_files, "written": len(rep.written), "failed": len(rep.failed), "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "rss_before_run_mb": rss_before, "tracemalloc_peak_mb": traced_peak / 1e6}


def coordinator_memory(counts: list[int], work: Path) -> list[dict]:
    rows = []
    for n in counts:
        folder = work / f"mem{n}"
        folder.mkdir()
        cmd = [sys.executable, __file__, "--coordinator-run", str(n), "--work", str(folder)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return rows


def projection(tp: dict) -> dict:
    """All of AMASS on CLUSTER_WORKERS workers.

    ideal: the measured worker CPU seconds per hour of motion (1-worker run; load-independent),
    spread perfectly over the workers.  measured efficiency: the 1-worker wall rate times the
    workers times the measured 2-worker scaling efficiency (ratio / 2).
    """
    hours = AMASS_MINUTES / 60.0
    cpu_s = tp["dask_1"]["cpu_s_per_motion_hour"] * hours
    efficiency = min(1.0, tp["ratio_2_over_1"] / 2.0)
    wall_s_one_worker = hours / tp["dask_1"]["motion_hours_per_hour"] * 3600.0
    store_gb = tp["store_mb_per_motion_hour"] * hours / 1e3
    ideal_wall = cpu_s / CLUSTER_WORKERS
    return {"amass_sequences": AMASS_SEQUENCES, "amass_hours": hours, "workers": CLUSTER_WORKERS,
            "cpu_hours": cpu_s / 3600.0, "ideal_wall_minutes": ideal_wall / 60.0,
            "efficiency_measured": efficiency,
            "wall_minutes_measured_efficiency": wall_s_one_worker / (CLUSTER_WORKERS * efficiency) / 60.0,
            "per_file_seconds_one_worker": tp["dask_1"]["seconds"] / tp["files"],
            "store_gb": store_gb, "store_write_mb_per_s_ideal": store_gb * 1e3 / ideal_wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=32, help="files for the throughput runs (default 32)")
    parser.add_argument("--memory-files", default="10,50,200", help="file counts of the memory runs")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the throughput runs")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--coordinator-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.coordinator_run:
        print(json.dumps(coordinator_run(args.coordinator_run, Path(args.work))))
        return 0

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"(1 / 5 / 15 min)")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        work = Path(tmp)
        tp = throughput(work, args.files, args.repeats)
        print(f"\n1. throughput: {tp['files']} files, {tp['motion_hours'] * 60:.1f} min of motion, "
              f"default settings (3 sites, acc/gyro/rot, 60 Hz)")
        for key, label in (("single_process", "one process, no Dask"), ("dask_1", "Dask, 1 worker"),
                           ("dask_2", "Dask, 2 workers")):
            r = tp[key]
            rss = f", worker peak RSS {r['worker_peak_rss_mb']:.0f} MB" if "worker_peak_rss_mb" in r else ""
            print(f"   {label:22s} best {r['seconds']:6.2f} s (median {r['median_seconds']:6.2f} s) "
                  f"{r['frames_per_s']:8,.0f} frames/s  {r['motion_hours_per_hour']:5.0f} h of motion per hour; "
                  f"CPU {r['cpu_s_per_motion_hour']:.0f} s per hour of motion{rss}")
        print(f"   2 workers / 1 worker: {tp['ratio_2_over_1']:.2f}x faster (best of {tp['repeats']}; "
              f"medians: {tp['ratio_2_over_1_median']:.2f}x)")

        mem = coordinator_memory([int(n) for n in args.memory_files.split(",")], work)
        print("\n2. coordinating process memory (2-worker local cluster, 2-s clips)")
        for r in mem:
            print(f"   {r['files']:5d} files: peak RSS {r['peak_rss_mb']:6.0f} MB (before the run "
                  f"{r['rss_before_run_mb']:.0f} MB), tracemalloc peak {r['tracemalloc_peak_mb']:.2f} MB, "
                  f"{r['written']} written in {r['seconds']:.1f} s")

        print(f"\n3. store size: {tp['store_bytes'] / 1e6:.1f} MB for {tp['motion_hours'] * 60:.1f} min = "
              f"{tp['store_mb_per_motion_hour']:.0f} MB per hour of motion ({tp['channels']} float32 channels "
              f"at 60 Hz = {tp['channels'] * 4 * 60 * 3600 / 1e6:.0f} MB/h uncompressed)")

        pj = projection(tp)
        print(f"\n4. projection, all of AMASS (assumed {pj['amass_sequences']:,} sequences, "
              f"{pj['amass_hours']:.1f} h) on {pj['workers']} worker processes:")
        print(f"   {pj['cpu_hours']:.2f} CPU-hours of synthesis (measured worker CPU per hour of motion); "
              f"ideal: {pj['ideal_wall_minutes']:.1f} min wall time")
        print(f"   at this machine's wall-clock rate and 2-worker efficiency {pj['efficiency_measured']:.2f}: "
              f"{pj['wall_minutes_measured_efficiency']:.1f} min")
        print(f"   store {pj['store_gb']:.1f} GB, written at ~{pj['store_write_mb_per_s_ideal']:.1f} MB/s (ideal case) "
              f"to the shared filesystem")
        if args.json:
            Path(args.json).write_text(json.dumps({"load_average": load, "cores": os.cpu_count(),
                                                   "throughput": tp, "coordinator_memory": mem,
                                                   "projection": pj}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
