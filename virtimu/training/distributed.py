"""Multi-process data-parallel training: torch DistributedDataParallel over gloo on the CPU.

`launch(fn, nproc, *args)` starts ``nproc`` processes (torch.multiprocessing
spawn; rendezvous on 127.0.0.1 at a free port; ``max(1, cpu_count // nproc)``
torch threads each) and runs ``fn(*args)`` in every one of them inside an
initialised gloo process group.  Code that runs there asks `active()` for its
`DistContext` (None in a single process); the training loop, the learner and
`virtimu.training.run` use it as follows:

- Sharding.  ``TrainConfig.batch_size`` stays the *global* batch B.  Every
  process draws the same global batches (same seed, same epoch order) and
  keeps its contiguous share ``B * r // N : B * (r + 1) // N`` of each
  (`shard_bounds`): in memory by slicing (`shard_batches`), from the store at
  the sampler (`shard_loader`), so a process gathers only its own windows
  (and, since a store batch is sorted by chunk, mostly decodes its own chunks).
- Loss.  Each process computes the summed (class-weighted) cross-entropy of
  its share divided by the *global* denominator (number, or weight sum, of
  the windows in the global batch, one all-reduce per step) times N, so
  DDP's gradient average is exactly the gradient of the global mean loss:
  N processes with B/N windows each follow the single-process run with batch
  B up to float rounding (`DDPStep`).  Exceptions: dropout masks (each
  process draws its own, seeded by (seed, epoch, rank)), per-sample
  auxiliary terms of ``training_loss`` (averaged over processes, exact when
  the shares are equal) and batch norm (statistics per process; gloo has no
  CPU SyncBatchNorm).  A process whose share of a short last batch is empty
  contributes a zero loss.
- Normalisation statistics are computed on rank 0 and broadcast
  (`on_main`); validation runs on rank 0 and its (loss, macro-F1) is
  broadcast, so early stopping decides identically everywhere.
- Rank 0 alone writes checkpoints, run folders and logs; other ranks log
  errors only and show no progress bar.
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

logger = logging.getLogger(__name__)

#: How long a process waits for the others at a collective before failing.
TIMEOUT = datetime.timedelta(minutes=30)


class WorkerFailed(RuntimeError):
    """A spawned training process failed (the message carries its traceback)."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group: ``rank`` in ``0..world_size-1``."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def active() -> DistContext | None:
    """The `DistContext` inside an initialised process group of more than one process, else None."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world = dist.get_world_size()
    return DistContext(dist.get_rank(), world) if world > 1 else None


def is_main() -> bool:
    """True in a single process and on rank 0."""
    ctx = active()
    return ctx is None or ctx.is_main


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """[lo, hi) of rank ``rank``'s contiguous share of ``n`` items (sizes differ by at most one)."""
    return n * rank // world_size, n * (rank + 1) // world_size


def on_main(fn: Callable[[], Any]) -> Any:
    """``fn()`` computed on rank 0 and broadcast (pickled) to every process; plain ``fn()`` without a group."""
    ctx = active()
    if ctx is None:
        return fn()
    box = [fn() if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Torch seed of process ``rank`` in ``epoch`` (dropout, noise): distinct per rank, reproducible on resume."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(rank)]).generate_state(1)[0])


# ------------------------------------------------------------------ sharded batch sources
def shard_batches(batches: Callable[[int], Any], ctx: DistContext | None = None) -> Callable[[int], Any]:
    """``batches(epoch)`` -> this rank's share of each global batch (x (b, L, C), y (b,)); identity alone."""
    ctx = ctx or active()
    if ctx is None:
        return batches

    def sharded(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb in batches(epoch):
            lo, hi = shard_bounds(len(yb), ctx.rank, ctx.world_size)
            yield xb[lo:hi], yb[lo:hi]

    return sharded


class ShardedBatchSampler:
    """This rank's contiguous share of every batch of a batch sampler (lists of dataset positions).

    ``set_epoch`` and the epoch counter go to the wrapped sampler, so every
    rank sees the shares of the same global batches.  Shares may be empty
    (a last batch shorter than the number of processes).
    """

    def __init__(self, sampler: Any, ctx: DistContext) -> None:
        self.sampler, self.ctx = sampler, ctx

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.sampler:
            lo, hi = shard_bounds(len(batch), self.ctx.rank, self.ctx.world_size)
            yield list(batch[lo:hi])


def shard_loader(loader: Any, ctx: DistContext | None = None) -> Any:
    """A `virtimu.data.torch_dataset.WindowLoader` like ``loader`` that gathers only this rank's shares."""
    from virtimu.data.torch_dataset import WindowLoader

    ctx = ctx or active()
    if ctx is None:
        return loader
    return WindowLoader(loader.dataset, ShardedBatchSampler(loader.batch_sampler, ctx),
                        num_workers=loader.num_workers, decode_threads=loader.decode_threads,
                        prefetch=loader.prefetch)


# ------------------------------------------------------------------ the distributed step
class ShardedCrossEntropy(nn.Module):
    """Cross-entropy of this rank's share scaled so that DDP's gradient average is the global mean.

    ``forward(logits (b, K), y (b,))`` = ``sum_i w[y_i] CE_i * world_size /
    denominator`` where ``denominator`` (set each step by `DDPStep`) is the
    weight sum (or count) over the whole global batch.
    """

    def __init__(self, weight: torch.Tensor | None, world_size: int) -> None:
        super().__init__()
        self.weight = weight
        self.world_size = int(world_size)
        self.denominator = 1.0

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        per = nn.functional.cross_entropy(logits, y, reduction="none")
        if self.weight is not None:
            per = per * self.weight[y]
        return per.sum() * (self.world_size / self.denominator)


class _LossModule(nn.Module):
    """``forward(x, y) -> (loss, logits)`` of the wrapped model (through ``training_loss`` when it has one).

    An empty share gives a zero loss that still touches every trainable
    parameter, so the process takes part in DDP's gradient all-reduce.
    """

    def __init__(self, model: nn.Module, criterion: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.criterion = criterion

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from virtimu.training.loop import batch_loss

        if x.shape[0] == 0:
            zero = sum((p.sum() * 0.0 for p in self.model.parameters() if p.requires_grad), torch.zeros(()))
            return zero, torch.zeros(0)
        return batch_loss(self.model, x, y, self.criterion)


class DDPStep:
    """One optimisation step's forward pass on this rank's share, under DistributedDataParallel.

    model: the (already built, identical on every rank) model, trained in
    place; class_weights: (K,) cross-entropy weights on ``device`` or None.
    ``forward(x, y)`` returns (loss to back-propagate, loss of the global
    batch as a float, windows in the global batch).
    """

    def __init__(self, model: nn.Module, class_weights: torch.Tensor | None, ctx: DistContext) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.ctx = ctx
        self.weight = class_weights
        self.criterion = ShardedCrossEntropy(class_weights, ctx.world_size)
        # models with an auxiliary objective may leave parameters unused (cnn-deconv: the decoder at recon_weight=0)
        self.ddp = DistributedDataParallel(_LossModule(model, self.criterion),
                                           find_unused_parameters=hasattr(model, "training_loss"))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float, int]:
        w = self.weight[y].sum() if self.weight is not None else torch.tensor(float(y.numel()))
        stats = torch.stack([w.detach().to(torch.float64).cpu(), torch.tensor(float(y.numel()), dtype=torch.float64)])
        dist.all_reduce(stats)
        self.criterion.denominator = float(stats[0])
        loss, _ = self.ddp(x, y)
        total = loss.detach().to(torch.float64).cpu().reshape(1).clone()
        dist.all_reduce(total)
        return loss, float(total[0]) / self.ctx.world_size, int(round(float(stats[1])))


# ------------------------------------------------------------------ process launch
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def threads_per_rank(nproc: int) -> int:
    """``max(1, cpu_count // nproc)``."""
    return max(1, (os.cpu_count() or 1) // int(nproc))


def _worker(rank: int, world_size: int, port: int, threads: int, log_level: int,
            fn: Callable[..., Any], args: Sequence[Any]) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    logging.basicConfig(level=log_level if rank == 0 else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    if rank:
        logging.getLogger("virtimu").setLevel(logging.ERROR)
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=TIMEOUT)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], nproc: int, *args: Any, threads: int | None = None) -> None:
    """Run ``fn(*args)`` in ``nproc`` spawned processes of one gloo group (blocks until all end).

    fn must be importable by name (a module-level function) and its
    arguments picklable.  threads: torch threads per process (default
    `threads_per_rank`).  A failure in any process ends the others and raises
    `WorkerFailed` carrying that process's traceback.
    """
    nproc = int(nproc)
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    port = free_port()
    level = logging.getLogger().getEffectiveLevel()
    n_threads = int(threads) if threads else threads_per_rank(nproc)
    logger.info("starting %d training processes (gloo, 127.0.0.1:%d, %d torch threads each)", nproc, port, n_threads)
    try:
        mp.spawn(_worker, args=(nproc, port, n_threads, level, fn, tuple(args)), nprocs=nproc, join=True)
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as exc:
        raise WorkerFailed(f"distributed training failed in a worker process: {exc}") from None
