"""Synthesis on a Dask cluster: one task per AMASS file, each writing its own recording.

`run_synthesis_dask` does what `virtimu.synthesis.run_synthesis` does, with
the tasks spread over the workers of a Dask cluster
(``dask.distributed``): a running one (``scheduler='tcp://HOST:8786'``) or
a local one started for the run (``scheduler=None``, ``workers=N``
processes of one thread each).  The result is the same store, recording for
recording and bit for bit, as a single-process run: each task is the same
pure function of (file, settings), seeded by the recording name.

Commit model.  The store has no index to update: every recording is one
Zarr group, written in full under a hidden temporary name and renamed into
place (`virtimu.store.RecordingStore.write`).  That rename is the commit;
listing the store scans committed groups only.  So workers never coordinate
and a killed worker, a lost task or a stopped run leave no partial
recording; re-running the same command skips what is already stored.

Failures.  An error that comes from the input (a broken AMASS file, a bad
setting: ``ValueError``, ``KeyError``, ``TypeError``) is reported at once.
Any other error (``OSError`` from a shared filesystem, ``MemoryError``, a
worker that died: Dask's ``KilledWorker``) is retried ``retries`` times by
Dask (``Client.submit(..., retries=)``; a worker's death counts against
Dask's ``distributed.scheduler.allowed-failures``), then reported.  Failed
files are listed in the report with their error; they never stop the run.

Requirements on a real cluster: the same virtimu (and ``distributed``)
version on the client and every worker, and the input files and the store
at the same absolute path on every machine (a shared filesystem whose
``rename`` is atomic, e.g. NFS or Lustre).  The settings are sent to every
worker once (``Client.scatter``); each task carries a file path.  The
coordinating process holds at most ``max_in_flight`` task handles and one
status line per file, so its memory stays flat however many files there are
(with a local cluster, the Dask scheduler in the same process adds its own
bounded bookkeeping, about 10 kB per task).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from virtimu.store import RecordingStore
from virtimu.synthesis import SynthJob, SynthReport, prepare_inputs, synth_file

log = logging.getLogger(__name__)

__all__ = ["INPUT_ERRORS", "DaskUnavailableError", "local_cluster", "run_synthesis_dask", "synth_task"]

#: Errors raised by the input itself (bad file, bad setting): retrying cannot help.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, TypeError)
#: How long to try reaching a scheduler given by address.
CONNECT_TIMEOUT = "20s"
#: One BLAS / OpenMP thread per worker process: parallelism comes from the workers.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class DaskUnavailableError(RuntimeError):
    """``dask.distributed`` is not installed, or the scheduler cannot be reached."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the environment
        raise DaskUnavailableError(
            "distributed synthesis needs dask.distributed: pip install distributed"
        ) from None
    return distributed


def synth_task(path: str, job: SynthJob) -> tuple[str, str, int]:
    """One Dask task: `virtimu.synthesis.synth_file` of one AMASS file.

    Returns (status, message, frames) like `virtimu.synthesis.synth_one`;
    errors of the input (`INPUT_ERRORS`) come back as status 'failed' at
    once, every other exception propagates so that Dask retries the task.
    """
    try:
        return synth_file(path, job)
    except INPUT_ERRORS as exc:
        log.debug("synthesis of %s failed", path, exc_info=True)
        return "failed", f"{type(exc).__name__}: {exc}", 0


@contextlib.contextmanager
def local_cluster(workers: int | None = None, processes: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` on a `LocalCluster` of ``workers`` single-threaded workers.

    workers: number of worker processes (None: all cores).  processes=False
    runs the workers as threads of this process (tests).  The scheduler's
    HTTP server takes a free port; the cluster is closed on exit.
    """
    distributed = _distributed()
    n = max(1, workers or os.cpu_count() or 1)
    kwargs: dict[str, Any] = {"n_workers": n, "threads_per_worker": 1, "processes": processes,
                              "dashboard_address": ":0", "silence_logs": logging.ERROR}
    if processes:
        kwargs["env"] = dict(WORKER_ENV)
    with distributed.LocalCluster(**kwargs) as cluster, distributed.Client(cluster) as client:
        log.info("started a local Dask cluster: %d worker %s", n, "processes" if processes else "threads")
        yield client


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None, client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    if scheduler in (None, "", "local"):
        with local_cluster(workers) as local:
            yield local
        return
    distributed = _distributed()
    try:
        remote = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailableError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        yield remote
    finally:
        remote.close()


def _absolute(job: SynthJob) -> SynthJob:
    """A copy of ``job`` whose store, root and body-model paths are absolute (workers may run elsewhere)."""
    changes: dict[str, Any] = {"store": str(Path(job.store).absolute())}
    if job.root is not None:
        changes["root"] = str(Path(job.root).absolute())
    if job.body_model is not None:
        changes["body_model"] = str(Path(job.body_model).absolute())
    return dataclasses.replace(job, **changes)


def run_synthesis_dask(inputs: str | Path | list[Path], job: SynthJob, scheduler: str | None = None,
                       workers: int | None = None, retries: int = 2, max_in_flight: int | None = None,
                       progress: bool = True, client: Any = None) -> SynthReport:
    """Synthesise every AMASS file under ``inputs`` into ``job.store`` on a Dask cluster.

    inputs: an AMASS file or folder (searched recursively) or a list of files.
    job: the run's settings (`virtimu.synthesis.SynthJob`); ``job.root`` is
        set from ``inputs`` when unset, as in `run_synthesis`.
    scheduler: address of a running scheduler ('tcp://HOST:PORT'), or
        None / 'local' for a `LocalCluster` of ``workers`` processes.
    workers: local cluster size (None: all cores); ignored with an address.
    retries: Dask retries of a task that raised a non-input error.
    max_in_flight: tasks submitted at once (None: 4 per worker thread);
        bounds the coordinator's memory.
    client: an existing ``distributed.Client`` to use (then scheduler and
        workers are ignored, and the client is left open).
    Returns the `SynthReport` (written, skipped, failed with their errors).
    Raises DaskUnavailableError when ``distributed`` is missing or the
    scheduler cannot be reached; FileNotFoundError / ValueError for inputs
    that are not AMASS files.
    """
    distributed = _distributed()
    start = time.perf_counter()
    files = prepare_inputs(inputs, job, create_store=False)
    job = _absolute(job)
    report = SynthReport()
    run_id = uuid.uuid4().hex[:8]
    with _client(scheduler, workers, client) as dask_client:
        RecordingStore(job.store, mode="a")  # create the store (and clean stale temp groups) once
        slots = max(1, sum(dask_client.nthreads().values()))
        limit = max(1, max_in_flight or 4 * slots)
        log.info("synthesising %d files on %d Dask worker threads (%s)", len(files), slots,
                 getattr(dask_client, "scheduler", None) and dask_client.scheduler.address)
        # the settings travel once to every worker (not once per task): each task holds a reference
        job_ref = dask_client.scatter(job, broadcast=True, hash=False)
        pending = iter(enumerate(files))
        where: dict[str, Path] = {}
        queue = distributed.as_completed()
        bar = tqdm(total=len(files), desc="synth (dask)", unit="file", disable=not progress)

        def submit_next() -> bool:
            item = next(pending, None)
            if item is None:
                return False
            i, path = item
            fut = dask_client.submit(synth_task, str(Path(path).absolute()), job_ref, retries=retries, pure=False,
                                     key=f"virtimu-synth-{run_id}-{i:07d}")
            where[fut.key] = path
            queue.add(fut)
            return True

        try:
            for _ in range(limit):
                if not submit_next():
                    break
            for fut in queue:
                path = where.pop(fut.key)
                if fut.status == "finished":
                    result = fut.result()
                elif fut.status == "error":
                    exc = fut.exception()
                    result = ("failed", f"{type(exc).__name__}: {exc} (after {retries} retries)", 0)
                else:  # cancelled: the scheduler lost the task (or the run is shutting down)
                    result = ("failed", f"task {fut.status} by the Dask scheduler", 0)
                fut.release()
                report.add(path, result)
                bar.update(1)
                submit_next()
        finally:
            bar.close()
    report.seconds = time.perf_counter() - start
    return report
