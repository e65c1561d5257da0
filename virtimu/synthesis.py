"""Synthesis runs: many AMASS files -> recordings in a Zarr store.

Each file is one task: read, synthesise, write its recording atomically.
Tasks run in parallel worker processes that write their own recordings (the
store is safe for concurrent writers of different recordings); the parent only
keeps a progress bar and a small status per file, so memory stays flat however
many files there are.  Re-running skips recordings already in the store.

The same tasks run on a Dask cluster through `virtimu.distributed`; both
paths share `prepare_inputs`, `synth_file` and `SynthReport`.
"""
from __future__ import annotations

import logging
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from virtimu.body.files import load_body_model
from virtimu.io.amass import find_amass_files, read_amass
from virtimu.sensors.placement import Site, attach_sites, jitter_sites
from virtimu.sensors.synth import SynthConfig, synthesize
from virtimu.store import RecordingStore

log = logging.getLogger(__name__)

#: Folder of the bundled procedural demo motions (AMASS format).
DEMO_MOTIONS = Path(__file__).resolve().parent / "assets" / "motions"


@dataclass
class SynthJob:
    """Everything a worker needs for one run (picklable).

    sites: resolved sensor sites.  body_model: a model file, a folder of
    models (gender taken from each AMASS file), or None for the default body.
    jitter_offset_m / jitter_rotation_deg: per-recording placement noise
    (domain randomisation), seeded by ``jitter_seed`` and the recording name.
    """

    store: str
    sites: list[Site]
    config: SynthConfig
    source: str = "amass"
    root: str | None = None
    body_model: str | None = None
    gender: str | None = None
    jitter_offset_m: float = 0.0
    jitter_rotation_deg: float = 0.0
    jitter_seed: int = 0
    overwrite: bool = False


@dataclass
class SynthReport:
    """Outcome of a synthesis run.

    written / skipped: recording names written now / found already stored.
    failed: (input file, "ErrorType: message") per file that failed.
    seconds: wall time of the run; frames: output frames written.
    """

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    frames: int = 0

    def add(self, path: str | Path, result: tuple[str, str, int]) -> None:
        """Count one task's ``(status, message, frames)`` result (see `synth_one`)."""
        status, message, frames = result
        if status == "written":
            self.written.append(message)
            self.frames += frames
        elif status == "skipped":
            self.skipped.append(message)
        else:
            self.failed.append((str(path), message))
            log.warning("%s: %s", path, message)

    def summary(self) -> str:
        text = (f"{len(self.written)} written, {len(self.skipped)} already present, "
                f"{len(self.failed)} failed; {self.frames} frames in {self.seconds:.1f} s")
        for path, err in self.failed:
            text += f"\n  FAILED {path}: {err}"
        return text


def _body_for(job: SynthJob, motion_gender: str):
    """The body for one motion: the user's model (gender from the motion when
    a folder of models is given) or the open default body."""
    if job.body_model is None:
        return load_body_model(None)
    path = Path(job.body_model)
    gender = job.gender or (motion_gender if path.is_dir() else "neutral")
    return load_body_model(path, gender=gender)


def synth_file(path: str, job: SynthJob) -> tuple[str, str, int]:
    """Synthesise one file into the store; errors propagate.

    Returns ('written', name, frames) or ('skipped', name, 0) when the
    recording is already stored (and ``job.overwrite`` is False).  The
    recording is written atomically (`RecordingStore.write`), so an error or
    a kill at any point leaves the store without it, never with part of it.
    """
    motion = read_amass(path, root=job.root)
    store = RecordingStore(job.store, mode="a")
    if not job.overwrite and store.has(job.source, motion.name):
        return "skipped", motion.name, 0
    body = _body_for(job, motion.gender)
    sites = job.sites
    if job.jitter_offset_m > 0 or job.jitter_rotation_deg > 0:
        seed = (job.jitter_seed * 1_000_003 + zlib.crc32(motion.name.encode())) % 2**32
        sites = jitter_sites(sites, job.jitter_offset_m, job.jitter_rotation_deg, seed=seed)
    attachments = attach_sites(body, sites, betas=motion.betas)
    rec = synthesize(motion, body, attachments, job.config, source=job.source)
    rec.attrs["jitter"] = {"offset_m": job.jitter_offset_m, "rotation_deg": job.jitter_rotation_deg,
                           "seed": job.jitter_seed}
    store.write(rec, overwrite=job.overwrite)
    return "written", motion.name, rec.n_frames


def synth_one(path: str, job: SynthJob) -> tuple[str, str, int]:
    """Synthesise one file into the store.  Returns (status, message, frames);
    status is 'written', 'skipped' or 'failed' (message "ErrorType: text")."""
    try:
        return synth_file(path, job)
    except Exception as exc:  # reported per file; one bad file never stops the run
        log.debug("synthesis of %s failed", path, exc_info=True)
        return "failed", f"{type(exc).__name__}: {exc}", 0


def _worker_init() -> None:
    # One BLAS thread per worker process: parallelism comes from the processes.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def prepare_inputs(inputs: str | Path | list[Path], job: SynthJob, create_store: bool = True) -> list[Path]:
    """The AMASS files of a run, and (``create_store``) the store created, stale temporary groups removed.

    inputs: a file or folder (searched recursively; sets ``job.root`` to it
    when unset, so recording names are paths relative to it) or a list of files.
    Raises FileNotFoundError / AmassFormatError (a ValueError) for bad inputs.
    """
    if isinstance(inputs, (str, Path)):
        files = find_amass_files(inputs)
        if job.root is None:
            p = Path(inputs)
            job.root = str(p if p.is_dir() else p.parent)
    else:
        files = [Path(f) for f in inputs]
    if create_store:
        RecordingStore(job.store, mode="a")  # create the store (and clean stale temp groups) once
    return files


def run_synthesis(inputs: str | Path | list[Path], job: SynthJob, workers: int | None = None,
                  progress: bool = True) -> SynthReport:
    """Synthesise every AMASS file under ``inputs`` (file or folder) into ``job.store``.

    workers: number of processes (None: all cores; 1: in this process).
    For a Dask cluster see `virtimu.distributed.run_synthesis_dask`.
    """
    files = prepare_inputs(inputs, job)
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(files))))
    report = SynthReport()
    start = time.perf_counter()
    bar = tqdm(total=len(files), desc="synth", unit="file", disable=not progress)

    def record(path: Path, result: tuple[str, str, int]) -> None:
        report.add(path, result)
        bar.update(1)

    try:
        if workers == 1:
            for f in files:
                record(f, synth_one(str(f), job))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
                futures = {pool.submit(synth_one, str(f), job): f for f in files}
                for fut in as_completed(futures):
                    record(futures[fut], fut.result())
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report
