"""Multi-process launches (``accelerate launch``, ``torchrun``): which process this is,
and leaving the launch cleanly.

Every process of a launch runs the same code (training is collective); the main process
alone writes the model store. The processes join their group as soon as one of them asks
(:func:`launched`), before any training, so that decisions such as "is this model already
stored?" can be agreed on by all of them.
"""

from __future__ import annotations

import os

import torch.distributed as dist
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env


def launched() -> tuple[bool, bool]:
    """Whether this process is the main one, and whether others run beside it.

    Under a launch (``WORLD_SIZE`` above 1) this process joins its group if no training
    has joined it yet (on the CPU when ``ACCELERATE_USE_CPU`` says so, as Accelerate
    reads it)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return True, False
    return dist.get_rank() == 0, True


def leave(finished: bool) -> None:
    """Leave the launch's group, if this process joined one: after the others when the
    process ``finished`` its work (so no process exits while another still talks to it),
    at once when it failed (the others may never arrive)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()
