"""Data parallelism under ``torchrun``: the same command on N processes (NCCL on GPUs, gloo on CPUs).

Every rank builds the same data, draws the same batch for a step, trains on its own slice of the
rows, and DDP averages the gradients. Labelling and evaluation split their problems across ranks
and gather the answers back in order, so every rank ends a round with identical labels and only
rank 0 writes files. Without ``torchrun`` (``WORLD_SIZE`` unset) everything here is a no-op.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TypeVar

import torch
import torch.distributed as dist

from selfimprove.io import atomic_write_text

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init_from_env(device_name: str) -> torch.device:
    """Joins the process group when started by torchrun; returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        use_cuda = device_name != "cpu" and torch.cuda.is_available()
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        if use_cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")
    return None  # single process: the caller resolves the device itself


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share, interleaved so long and short items spread evenly: items[rank::world]."""
    return list(items[rank() :: world_size()])


def gather(mine: list[T], total: int) -> list[T]:
    """Inverse of ``shard``: every rank gets all ``total`` items in the original order."""
    if world_size() == 1:
        return mine
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, mine)
    out: list = [None] * total
    for r, part in enumerate(parts):
        out[r::world_size()] = part
    return out


def main_decides(value: T) -> T:
    """Rank 0's ``value`` on every rank.

    Any branch that reads the file system must be decided once: a rank that looks after rank 0
    has already written a file takes the other branch, skips a collective, and every rank then
    waits forever in mismatched collectives (the torchrun test hung this way under load).
    """
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def exists(path) -> bool:
    """``path.exists()`` as rank 0 sees it, on every rank (see ``main_decides``)."""
    return main_decides(path.exists())


def write_text(path, text: str) -> None:
    """Only rank 0 writes (every rank holds the same content); the others wait for it."""
    if is_main():
        atomic_write_text(path, text)
    barrier()


def shared(files: T) -> T:
    """A ``layout.RunDir`` as every rank must use it: rank 0 writes, rank 0's view decides."""
    return dataclasses.replace(files, write=write_text, exists=exists)


def local_world_size() -> int:
    """Ranks on this host (torchrun sets ``LOCAL_WORLD_SIZE``); 1 without torchrun."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def threads_per_rank(cores: int) -> int:
    """CPU threads for one of this host's ranks: the cores split evenly, at least one.

    Every rank taking every core oversubscribes the CPU by the number of ranks."""
    return max(1, cores // local_world_size())


def token_weighted(loss: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's mean ``loss`` over its ``scored`` positions (a bool mask) -> (the loss to
    backpropagate, the mean over every rank's scored positions).

    DDP averages gradients with equal weight per rank, but the ranks' halves of a batch hold
    different numbers of answer tokens, so plain per-rank means train a different objective from
    one process on the whole batch. Scaling by tokens * world / all tokens makes DDP's average the
    single-process gradient; the returned mean is identical on every rank (so a NaN stops all).
    """
    if world_size() == 1:
        return loss, loss.detach()
    tokens = scored.sum().to(loss.device)
    both = torch.stack([loss.detach().float() * tokens, tokens.float()])
    dist.all_reduce(both)
    return loss * (tokens * world_size() / both[1]), both[0] / both[1]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def rows_of_this_rank(x: torch.Tensor) -> torch.Tensor:
    """This rank's slice of a batch (B, ...) -> (B / world, ...)."""
    return x[rank() :: world_size()]
