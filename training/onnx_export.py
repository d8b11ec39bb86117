"""Export a multi-exit network as one ONNX graph per stage, and refuse graphs outside the model format."""
from pathlib import Path

import numpy as np
import onnx
import torch

from .models.multi_exit import StageGraph
from .onnx_reference import ALLOWED_OPS, run

OPSET = 13
PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    pass


def stage_names(index: int, last: bool):
    """Input and output names of stage `index` (1-based); ONNX forbids an input and an output sharing a name."""
    inputs = ["input" if index == 1 else "features_in"]
    outputs = ["logits"] if last else ["features", "logits"]
    return inputs, outputs


def check_ops(path) -> set:
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    used = {node.op_type for node in model.graph.node}
    if used - ALLOWED_OPS:
        raise ExportError(f"{path}: ops outside docs/model-format.md: {sorted(used - ALLOWED_OPS)}")
    return used


def stage_graph_outputs(graph: StageGraph, x: torch.Tensor) -> list:
    with torch.no_grad():
        out = graph(x)
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def check_parity(path, graph: StageGraph, x: torch.Tensor, input_name: str) -> float:
    """Max |ONNX - PyTorch| over all outputs of one stage on input x."""
    reference = run(path, {input_name: x.numpy()})
    return max(float(np.abs(a - b).max()) for a, b in zip(reference.values(), stage_graph_outputs(graph, x)))


def export_stages(model, sample: torch.Tensor, out_dir: Path) -> list:
    """Writes stage1.onnx..stageN.onnx; `sample` is a small batch of real preprocessed inputs used for the parity
    check. Returns the manifest's `stages` entries (without FLOPs)."""
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    entries, x = [], sample
    for i, stage in enumerate(model.stages, start=1):
        last = i == len(model.stages)
        graph = StageGraph(stage, last).eval()
        inputs, outputs = stage_names(i, last)
        path = out_dir / f"stage{i}.onnx"
        torch.onnx.export(
            graph, x[:1], str(path), opset_version=OPSET, input_names=inputs, output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in inputs + outputs}, do_constant_folding=True,
            training=torch.onnx.TrainingMode.EVAL,
        )
        ops = check_ops(path)
        diff = check_parity(path, graph, x, inputs[0])
        if diff > PARITY_TOLERANCE:
            raise ExportError(f"{path}: ONNX and PyTorch differ by {diff:.2e}")
        shapes = [[-1, *o.shape[1:]] for o in stage_graph_outputs(graph, x)]
        entries.append({
            "index": i, "file": path.name,
            "inputs": [{"name": inputs[0], "shape": [-1, *x.shape[1:]]}],
            "outputs": [{"name": n, "shape": s} for n, s in zip(outputs, shapes)],
            "ops": sorted(ops), "bytes": path.stat().st_size,
        })
        with torch.no_grad():
            x = stage(x)[0]
    return entries
