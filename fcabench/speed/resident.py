"""Memory as the operating system sees it: the growth of a process's peak resident set during one step.

``fcabench bench`` reports the allocator's peak (what torch allocates, replayed from a profiler trace), which
the operating system does not see: freed blocks the allocator keeps, the matrix library's workspaces and
fragmentation all count towards what a machine must have. Here each model runs in a process of its own
(a fresh interpreter, so one model's pages never count for another): it builds the model exactly as
``fcabench bench`` does (:func:`fcabench.speed.bench.build_models`, the same random weights) and its input, resets
the kernel's high-water mark (``/proc/self/clear_refs``), reads the resident set, runs one step and reads the
high-water mark again: the difference is what that step needed beyond the model and its input, the first
time, as a machine must provide it (no warm-up at the measured size: after one, the allocators keep the pages
and a second step shows only what the first did not leave behind).

Two things that are not the step's are kept out. The code's one-time set-up (modules a method imports on its
first call, the first use of a kernel), a few MiB that differ between methods, runs first in a step of one
sequence of 16 tokens, whose own pages are a few KiB. glibc's heap heuristic, which raises its mmap threshold
to the size of the largest block freed so far and then serves later blocks from a heap whose freed pieces a
larger block cannot reuse, moved the same model's figure by up to a quarter from run to run: the child fixes
the threshold (``mallopt(M_MMAP_THRESHOLD)``, glibc's documented tunable, as ``MALLOC_MMAP_THRESHOLD_`` does), so
every large block is mapped when allocated and returned when freed. Linux only (elsewhere None); the child's
figure comes back through a pipe.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import sys
from pathlib import Path

from fcabench.speed.bench import Protocol, Setup

STATUS = Path("/proc/self/status")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial threshold, held fixed
SETUP_SHAPE = (16, 1)  # tokens, sequences of the untimed first step that runs the code's one-time set-up


def supported() -> bool:
    return sys.platform.startswith("linux") and STATUS.is_file() and Path("/proc/self/clear_refs").exists()


def resident_growth_mb(setup: Setup, preset: str, seq_len: int, batch_size: int, mode: str, protocol: Protocol):
    """MiB by which one ``mode`` step of ``setup`` raises the peak resident set of a process of its own, or None
    where the operating system does not report it."""
    if not supported() or protocol.device != "cpu":
        return None
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measure, args=(send, setup, preset, seq_len, batch_size, mode, protocol))
    child.start()
    send.close()
    result = receive.recv() if receive.poll(timeout=600) else None
    child.join()
    if isinstance(result, BaseException):
        raise result
    return result


def _kib(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{STATUS} has no {field}")


def _measure(send, setup, preset, seq_len, batch_size, mode, protocol) -> None:
    try:
        fix_mmap_threshold()  # before the first large block, as the environment variable would
        import torch

        from fcabench.models import synthetic_batch
        from fcabench.speed.bench import build_models, step

        if protocol.threads:
            torch.set_num_threads(protocol.threads)
        model = build_models([setup], preset, dtype=protocol.dtype)[setup.label]
        model.train(mode == "train")
        inputs = synthetic_batch(model, seq_len, batch_size)
        step(model, synthetic_batch(model, *SETUP_SHAPE), mode)
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from the current set
        before = _kib("VmRSS")
        step(model, inputs, mode)
        send.send((_kib("VmHWM") - before) / 1024)
    except BaseException as error:  # noqa: BLE001 - the parent raises it
        send.send(error)
    finally:
        send.close()


def fix_mmap_threshold() -> bool:
    """Hold glibc's mmap threshold at its initial 128 KiB (no dynamic raise); False where the C library is not
    glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
