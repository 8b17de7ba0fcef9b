"""A model as ``torch.compile`` (inductor) runs it, each graph it compiles counted, and dynamo's graph breaks."""

from __future__ import annotations

import torch


def graph_breaks(model, inputs: dict) -> int:
    """Graph breaks dynamo finds in one forward pass of ``model`` on ``inputs``."""
    import torch._dynamo

    with torch.inference_mode():
        return torch._dynamo.explain(model)(**inputs).graph_break_count


def compiled(model, dynamic: bool, on_graph):
    """``model`` compiled by inductor (``dynamic``: sizes symbolic where they vary); ``on_graph()`` is called for
    every graph inductor compiles (a first compile, a recompile, one per graph break)."""
    from torch._inductor.compile_fx import compile_fx

    def counting(graph, example_inputs):
        on_graph()
        return compile_fx(graph, example_inputs)

    return torch.compile(model, backend=counting, dynamic=dynamic)
