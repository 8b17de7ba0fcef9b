"""A model exported to ONNX (``torch.onnx.export``, dynamo) and run by an ONNX Runtime CPU session, called as
the model is (``runner(**inputs).logits``).

The export asks for a dynamic batch and length. Vanilla keeps them; a method's widths follow the length through
Python arithmetic, so its export comes out at the traced shape, and the runner exports again for each new
input shape it meets (``exports`` counts them; their time is the unit's compile time). Every export is checked
against the eager model on the batch that caused it (``max_abs_diff``). A method whose forward pass reads a
count off the data (a graph break under ``torch.compile``) cannot be exported and is refused in one line; so is
one the exporter fails on (ToMe: its merge bookkeeping), its dump kept off the terminal.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

from fcabench import methods
from fcabench.errors import FcabenchError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def check_available() -> None:
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise FcabenchError("ONNX Runtime timing needs the onnx extra: pip install 'fcabench[onnx]'") from None


def check_exportable(label: str, model, breaks: int) -> None:
    """Refuse, in one line, a model whose forward pass reads a count off the data (``breaks``: its graph breaks
    under torch.compile, :func:`fcabench.speed.compiled.graph_breaks`): an exported graph cannot."""
    if breaks:
        patched = methods.applied(model)
        name = patched.method.name if patched else "vanilla"
        raise FcabenchError(
            f"{label} ({name}) cannot be exported to ONNX: its forward pass reads counts off the data ({breaks} graph "
            "break(s) under torch.compile), which an exported graph cannot; time it eager or compiled"
        )


@contextlib.contextmanager
def _quiet():
    from fcabench.speed.bench import native_stderr_muted

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), native_stderr_muted():
        yield


class OnnxRunner:
    def __init__(self, model, label: str):
        self.model, self.label = model, label
        self.sessions: dict = {}  # input shape -> session; None -> one session for every shape
        self.exports = 0
        self.max_abs_diff = 0.0
        self._folder = tempfile.TemporaryDirectory(prefix="fcabench-onnx-")

    def __call__(self, **inputs):
        session = self.sessions.get(None) or self.sessions.get(tuple(inputs["input_ids"].shape))
        if session is None:
            session = self._export(inputs)
        feed = {i.name: inputs[i.name].cpu().numpy() for i in session.get_inputs()}
        return SimpleNamespace(logits=torch.from_numpy(session.run(None, feed)[0]))

    def _export(self, inputs: dict):
        import onnxruntime
        from torch.export import Dim

        given = {k: v for k, v in inputs.items() if k in INPUTS}
        batch, width = Dim("batch", min=1, max=4096), Dim("width", min=2, max=inputs["input_ids"].shape[1] * 64)
        path = Path(self._folder.name) / f"model-{self.exports}.onnx"
        try:
            # the exporter's progress lines and, when it fails, its graph dump stay off the user's terminal (the
            # one line below says what failed); its note that two inputs share their axes' names too
            with warnings.catch_warnings(), _quiet():
                warnings.simplefilter("ignore", UserWarning)
                program = torch.onnx.export(
                    self.model,
                    (),
                    kwargs=given,
                    dynamo=True,
                    dynamic_shapes={name: {0: batch, 1: width} for name in given},
                    verbose=False,
                )
            program.save(str(path))
        except Exception as error:  # the exporter's many failure types, each said in one line
            raise FcabenchError(
                f"{self.label} cannot be exported to ONNX: torch.onnx.export failed ({type(error).__name__}); time it "
                "eager or compiled"
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.exports += 1
        dynamic = all(isinstance(d, str) for i in session.get_inputs() for d in i.shape[:2])
        self.sessions[None if dynamic else tuple(inputs["input_ids"].shape)] = session
        with torch.inference_mode():
            eager = self.model(**given).logits.float()
        feed = {i.name: given[i.name].cpu().numpy() for i in session.get_inputs()}
        exported = torch.from_numpy(session.run(None, feed)[0]).float()
        self.max_abs_diff = max(self.max_abs_diff, float((exported - eager).abs().max()))
        return session
