"""The user's own classifier as teacher (--teacher model.onnx): run once over the training data, never trained.

It takes the same input tensor as the student ([N, *input.shape], preprocessed as the manifest says) and returns
class scores (logits) in the class order of the data (sorted class folder names, or the labels file's sorted labels)
as its first output. Runs with onnxruntime where installed, else with the toolkit's reference interpreter
(training/onnx_reference.py: only the model format's ops).
"""
from pathlib import Path

import numpy as np
import onnx
import torch

from .. import onnx_reference
from .errors import DataError


def _runtime():
    try:
        import onnxruntime  # noqa: F401  (optional)
        return "onnxruntime"
    except ImportError:
        return "reference"


class OnnxTeacher:
    """Callable like a MultiExitNet (returns [logits]) so trainer.teacher_logits_cache can use it unchanged."""

    def __init__(self, path: Path, input_shape, classes: int):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "teacher model not found")
        try:
            model = onnx.load(str(self.path))
        except Exception as error:  # onnx raises DecodeError and others
            raise DataError(self.path, f"cannot be read as ONNX: {error}") from error
        graph = model.graph
        initialisers = {i.name for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initialisers]
        if len(inputs) != 1:
            raise DataError(self.path, f"expected one input, found {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != len(input_shape) + 1 or any(d is not None and d != s for d, s in zip(dims[1:], input_shape)):
            raise DataError(self.path, f"its input {self.input_name} has shape {dims}; the student's input is "
                                       f"[batch, {', '.join(map(str, input_shape))}] (set --size/--channels to match)")
        self.batch_fixed = dims[0]
        self.runtime = _runtime()
        if self.runtime == "onnxruntime":
            import onnxruntime
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        else:
            unknown = {n.op_type for n in graph.node} - onnx_reference.ALLOWED_OPS
            if unknown:
                raise DataError(self.path, f"uses ops {sorted(unknown)}, which the toolkit's reference interpreter "
                                           f"does not run; install onnxruntime for Python (pip install onnxruntime)")
        out = self._run(np.zeros((1, *input_shape), dtype=np.float32))
        if out.shape != (1, classes):
            raise DataError(self.path, f"its first output has shape {list(out.shape)} for one input; expected "
                                       f"[1, {classes}] (one score per class)")
        self.architecture = f"user ONNX {self.path.name} (run with {self.runtime})"

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.batch_fixed not in (None, 0) and len(x) != self.batch_fixed:
            return np.concatenate([self._run(x[i:i + 1]) for i in range(len(x))])
        if self.runtime == "onnxruntime":
            return np.asarray(self.session.run(None, {self.input_name: x.astype(np.float32)})[0])
        return next(iter(onnx_reference.run(self.path, {self.input_name: x}).values()))

    def eval(self):
        return self

    def __call__(self, x: torch.Tensor):
        return [torch.from_numpy(self._run(x.numpy()).astype(np.float32))]


def onnx_params(path: Path) -> int:
    return int(sum(np.prod(i.dims) for i in onnx.load(str(path)).graph.initializer))
