"""Memory as the operating system sees it: the growth of a process's peak resident set during one step.

``fcabench bench`` reports the allocator's peak (what torch allocates, replayed from a profiler trace), which
the operating system does not see: freed blocks the allocator keeps, the matrix library's workspaces and
fragmentation all count towards what a machine must have. Here each model runs in a process of its own
(a fresh interpreter, so one model's pages never count for another): it builds the model exactly as
``fcabench bench`` does (:func:`fcabench.bench.build_models`, the same random weights) and its input, resets
the kernel's high-water mark (``/proc/self/clear_refs``), reads the resident set, runs one step and reads the
high-water mark again: the difference is what that step needed beyond the model and its input, the first
time, as a machine must provide it (no warm-up: after one, the allocators keep the pages and a second step
shows only what the first did not leave behind). Linux only (elsewhere None); the child's figure comes back
through a pipe.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from fcabench.bench import Protocol, Setup

STATUS = Path("/proc/self/status")


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
        import torch

        from fcabench.bench import _step, build_models
        from fcabench.models import synthetic_batch

        if protocol.threads:
            torch.set_num_threads(protocol.threads)
        model = build_models([setup], preset, dtype=protocol.dtype)[setup.label]
        model.train(mode == "train")
        inputs = synthetic_batch(model, seq_len, batch_size)
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from the current set
        before = _kib("VmRSS")
        _step(model, inputs, mode)
        send.send((_kib("VmHWM") - before) / 1024)
    except BaseException as error:  # noqa: BLE001 - the parent raises it
        send.send(error)
    finally:
        send.close()
