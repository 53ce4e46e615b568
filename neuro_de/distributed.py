"""Helpers for running neuro_de on several processes with :mod:`torch.distributed`.

neuro_de scales beyond one device with a *replicated population*
(:class:`~neuro_de.problems.distributed.DistributedSupervisedNetProblem`): every rank holds
the whole population and the same seed, so all ranks build identical trials, and only the
``O(popsize)`` evaluation numbers cross the network. These helpers set the process group up
from a ``torchrun`` environment and tell a script which rank it is, so that logging and
checkpoints happen on rank 0 only::

    from neuro_de.distributed import init_from_env, is_main_process, world_info

    info = init_from_env()          # gloo on CPU, NCCL when CUDA is available
    problem = DistributedSupervisedNetProblem(net, data, split="batch", seed=0,
                                              device=info.device)
    searcher = SAShadeTriEnsin(problem, init_population=pop)   # same on every rank
    if is_main_process():
        StdOutLogger(searcher)       # rank 0 only: the other ranks hold the same numbers
    searcher.run(100)
    if is_main_process():
        torch.save(searcher.state_dict(), "ckpt.pt")

Launch with ``torchrun --nproc-per-node N script.py`` (``docs/scaling.md``).
:func:`run_local` starts ``N`` local processes without ``torchrun`` (tests, notebooks).
"""

from __future__ import annotations

import datetime
import os
import pickle
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "WorldInfo",
    "init_from_env",
    "is_main_process",
    "world_info",
    "assert_replicated",
    "free_port",
    "run_local",
]

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class WorldInfo:
    """Where this process stands in the (possibly trivial) process group.

    Attributes:
        rank: Global rank (0 without a process group).
        world_size: Number of processes (1 without a process group).
        local_rank: Rank on this node (``LOCAL_RANK`` set by ``torchrun``; 0 otherwise).
        backend: ``"gloo"``, ``"nccl"``, ... or ``None`` without a process group.
        initialized: Whether the default process group is initialised.
        device: The device this rank should put its problem on: ``cuda:<local_rank>`` for
            NCCL, ``cpu`` otherwise.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    initialized: bool
    device: torch.device

    @property
    def is_main(self) -> bool:
        """``True`` on rank 0 (and in a process without a process group)."""
        return self.rank == 0


def world_info(group: Any = None) -> WorldInfo:
    """Rank, world size, local rank, backend and device of this process (see
    :class:`WorldInfo`); rank 0 of a world of 1 when no process group is initialised."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not (dist.is_available() and dist.is_initialized()):
        return WorldInfo(0, 1, local_rank, None, False, torch.device("cpu"))
    backend = str(dist.get_backend(group))
    if backend == "nccl":
        device = torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    else:
        device = torch.device("cpu")
    return WorldInfo(
        rank=dist.get_rank(group),
        world_size=dist.get_world_size(group),
        local_rank=local_rank,
        backend=backend,
        initialized=True,
        device=device,
    )


def is_main_process(group: Any = None) -> bool:
    """``True`` on rank 0, or when no process group is initialised.

    Guard logging, printing and checkpoint writing with it: every rank holds the same
    population and the same evaluations, so rank 0 alone speaks for the run.
    """
    return world_info(group).rank == 0


def init_from_env(
    backend: str | None = None,
    *,
    timeout_s: float = 1800.0,
) -> WorldInfo:
    """Initialise the default process group from the environment ``torchrun`` sets.

    Reads ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` (``env://``). Does
    nothing when the group is already initialised, and returns a world of 1 (without
    initialising anything) when those variables are absent, so the same script also runs
    as a plain single process.

    Args:
        backend: ``"gloo"``, ``"nccl"`` or ``None``: NCCL when CUDA is available, gloo
            otherwise. With NCCL the current CUDA device is set to ``LOCAL_RANK``.
        timeout_s: Collective timeout in seconds.

    Returns:
        :func:`world_info` after initialisation.
    """
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this PyTorch build.")
    if dist.is_initialized():
        return world_info()
    if any(v not in os.environ for v in _TORCHRUN_VARS):
        return world_info()
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(
        backend=backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s)
    )
    return world_info()


def any_rank(flag: bool, group: Any = None) -> bool:
    """Whether ``flag`` is true on any rank (one ``all_reduce`` of one integer).

    Used to agree on stopping: a signal may reach the ranks in different generations, and
    a rank that stopped alone would leave the others waiting in a collective. Without an
    initialised process group it returns ``flag``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return bool(flag)
    device = torch.device("cuda") if dist.get_backend(group) == "nccl" else torch.device("cpu")
    t = torch.tensor([int(bool(flag))], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    return bool(t.item())


@torch.no_grad()
def broadcast_from_main(tensors: list[torch.Tensor], group: Any = None) -> None:
    """Overwrite ``tensors`` on every rank with rank 0's values (in place).

    Used once per run, e.g. for the first population, so that every rank starts from the
    same networks even where backpropagation is not bit-reproducible across processes.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    nccl = dist.get_backend(group) == "nccl"
    for t in tensors:
        if nccl and t.device.type != "cuda":
            buf = t.cuda()
            dist.broadcast(buf, src=0, group=group)
            t.copy_(buf.cpu())
        else:
            dist.broadcast(t, src=0, group=group)


@torch.no_grad()
def assert_replicated(tensor: torch.Tensor, name: str = "tensor", group: Any = None) -> None:
    """Check that ``tensor`` is the same on every rank (a debugging aid).

    Each rank computes two float64 checksums (the sum and a position-weighted sum) and the
    ranks compare them with two ``all_reduce`` calls (MIN and MAX) of 2 numbers: ``O(1)``
    communication, ``O(numel)`` local work. Raises ``RuntimeError`` on every rank when the
    checksums differ. A no-op without a process group.
    """
    info = world_info(group)
    if not info.initialized or info.world_size == 1:
        return
    flat = tensor.detach().reshape(-1).to(torch.float64)
    weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64, device=flat.device)
    weights = torch.remainder(weights * 0.6180339887498949, 1.0)
    sums = torch.stack([flat.sum(), (flat * weights).sum()])
    lo, hi = sums.clone(), sums.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN, group=group)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX, group=group)
    if not torch.equal(lo, hi):
        raise RuntimeError(
            f"`{name}` differs between ranks (checksums range {lo.tolist()} .. {hi.tolist()}): "
            "the replicas diverged. Use the same seed and the same initial population on "
            "every rank, and call evaluate() collectively in the same order."
        )


def free_port() -> int:
    """A TCP port that was free on localhost a moment ago (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_worker(rank, world_size, port, backend, threads, fn, args, queue) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        init_from_env(backend)
        # Plain pickle bytes: the queue's own pickler would pass tensors through shared
        # memory handles that vanish when this process exits.
        queue.put((rank, True, pickle.dumps(fn(*args))))
    except BaseException:  # report any failure to the parent instead of hanging it
        queue.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_local(
    fn: Callable[..., Any],
    world_size: int,
    *args: Any,
    backend: str = "gloo",
    threads: int | None = 1,
    timeout_s: float = 300.0,
) -> list[Any]:
    """Run ``fn(*args)`` in ``world_size`` fresh local processes joined in a process group.

    A ``torchrun``-free launcher for tests and notebooks: each process gets the environment
    ``torchrun`` would set (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1``, a free
    ``MASTER_PORT``), calls :func:`init_from_env` with ``backend`` and then ``fn(*args)``.
    ``fn`` must be importable (a module-level function) because processes are started
    with ``spawn``; its return value must be picklable.

    Args:
        fn: The per-rank function.
        world_size: Number of processes.
        *args: Arguments of ``fn`` (picklable).
        backend: Process-group backend (gloo by default: works on CPU).
        threads: ``torch.set_num_threads`` in each process (``None``: leave it).
        timeout_s: Give up (and terminate the processes) after this many seconds.

    Returns:
        The ``world_size`` return values, in rank order.

    Raises:
        RuntimeError: When a rank raised (its traceback is in the message) or on timeout.
    """
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = free_port()
    procs = [
        ctx.Process(
            target=_local_worker,
            args=(rank, world_size, port, backend, threads, fn, args, queue),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout_s)
    try:
        while len(results) < world_size:
            if datetime.datetime.now() > deadline:
                raise RuntimeError(f"run_local: no result after {timeout_s} s.")
            if queue.empty():
                if any(p.exitcode not in (None, 0) for p in procs) and queue.empty():
                    codes = [p.exitcode for p in procs]
                    raise RuntimeError(f"run_local: a process died (exit codes {codes}).")
                procs[0].join(0.05)
                continue
            rank, ok, payload = queue.get()
            if not ok:
                raise RuntimeError(f"run_local: rank {rank} failed:\n{payload}")
            results[rank] = pickle.loads(payload)
    finally:
        for p in procs:
            p.join(5.0)
            if p.is_alive():
                p.terminate()
                p.join(5.0)
    return [results[r] for r in range(world_size)]
