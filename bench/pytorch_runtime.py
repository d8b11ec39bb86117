"""PyTorch eager baseline for bench/runtime.ts: the same ONNX stage files, their weights loaded into torch, run with
torch.nn.functional ops (an ONNX -> torch interpreter over the model format's op list), under torch.no_grad() with
the same thread count, batch sizes and exits.

    /usr/bin/python3 bench/pytorch_runtime.py <model-dir> --threads 1 --batches 1,32 --repeats 20 --budget-ms 1500

Prints JSON on stdout: per (exit, batch) the median and lower-quartile ms of running stages 1..exit, and the exit logits of the
deterministic probe input (x[i] = 0.5 * sin(i * 12.9898)) so the caller can check both sides compute the same thing.
"""
import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pad_spatial(x, pads, value=0.0):
    """ONNX pads [b1, b2, ..., e1, e2, ...] -> F.pad order (last dim first)."""
    n = len(pads) // 2
    if not any(pads):
        return x
    order = []
    for i in reversed(range(n)):
        order += [pads[i], pads[i + n]]
    return F.pad(x, order, value=value)


class TorchStage:
    """One ONNX stage graph as a list of torch calls; weights are torch tensors made once."""

    def __init__(self, path):
        graph = onnx.load(str(path)).graph
        self.weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
        self.nodes = [(n.op_type, list(n.input), list(n.output), attrs(n)) for n in graph.node]
        self.input = [i.name for i in graph.input if i.name not in self.weights][0]
        self.outputs = [o.name for o in graph.output]

    def __call__(self, x):
        v = dict(self.weights)
        v[self.input] = x
        for op, ins, outs, a in self.nodes:
            args = [v[name] if name else None for name in ins]
            v[outs[0]] = OPS[op](*args, **a)
        return {name: v[name] for name in self.outputs}


def conv(x, w, b=None, pads=None, strides=None, dilations=None, group=1, **_):
    dims = w.dim() - 2
    pads = pads or [0] * 2 * dims
    symmetric = pads[:dims] == pads[dims:]
    if not symmetric:
        x = pad_spatial(x, pads)
    f = F.conv1d if dims == 1 else F.conv2d
    return f(x, w, b, stride=strides or 1, padding=pads[:dims] if symmetric else 0, dilation=dilations or 1, groups=group)


def pool(x, kernel_shape, strides=None, pads=None, count_include_pad=0, kind="max", **_):
    dims = len(kernel_shape)
    pads = pads or [0] * 2 * dims
    if kind == "max":
        x = pad_spatial(x, pads, -math.inf)
        f = F.max_pool1d if dims == 1 else F.max_pool2d
        return f(x, kernel_shape, strides or kernel_shape)
    if any(pads) and (count_include_pad or pads[:dims] != pads[dims:]):
        x = pad_spatial(x, pads)
        pads = [0] * 2 * dims
    f = F.avg_pool1d if dims == 1 else F.avg_pool2d
    return f(x, kernel_shape, strides or kernel_shape, pads[:dims], count_include_pad=False)


def gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    a = a.t() if transA else a
    if transB and alpha == 1.0 and beta == 1.0:
        return F.linear(a, b, c)
    out = alpha * (a @ (b.t() if transB else b))
    return out if c is None else out + beta * c


def clip(x, lo=None, hi=None, min=None, max=None):
    lo = lo if lo is not None else min
    hi = hi if hi is not None else max
    return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))


OPS = {
    "Conv": conv,
    "Relu": lambda x: F.relu(x),
    "Clip": clip,
    "Sigmoid": torch.sigmoid,
    "Add": torch.add,
    "Mul": torch.mul,
    "MaxPool": lambda x, **a: pool(x, kind="max", **a),
    "AveragePool": lambda x, **a: pool(x, kind="avg", **a),
    "GlobalAveragePool": lambda x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True),
    "Flatten": lambda x, axis=1: torch.flatten(x, axis),
    "Gemm": gemm,
    "MatMul": torch.matmul,
    "Identity": lambda x: x,
    "BatchNormalization": lambda x, s, b, m, v, epsilon=1e-5, **_: F.batch_norm(x, m, v, s, b, False, 0.0, epsilon),
}


def probe_input(batch, shape):
    n = batch * int(np.prod(shape))
    return torch.from_numpy((0.5 * np.sin(np.arange(n, dtype=np.float64) * 12.9898)).astype(np.float32).reshape(batch, *shape))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--budget-ms", type=float, default=1500)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = Path(args.model)
    manifest = json.loads((model / "manifest.json").read_text())
    stages = [TorchStage(model / s["file"]) for s in manifest["stages"]]
    shape = manifest["input"]["shape"]
    results, probe = [], []
    with torch.no_grad():
        for batch in [int(b) for b in args.batches.split(",")]:
            x0 = probe_input(batch, shape)
            for exit_ in range(1, len(stages) + 1):
                def run():
                    x = x0
                    for stage in stages[:exit_]:
                        out = stage(x)
                        x = out.get("features")
                    return out["logits"]
                for _ in range(args.warmup):
                    logits = run()
                t = time.perf_counter()
                run()
                estimate = (time.perf_counter() - t) * 1000
                repeats = max(5, min(args.repeats, int(args.budget_ms / max(estimate, 1e-3))))
                samples = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    run()
                    samples.append((time.perf_counter() - t) * 1000)
                samples.sort()
                results.append({"exit": exit_, "batchSize": batch, "medianMs": statistics.median(samples),
                                "p25Ms": samples[round(0.25 * (len(samples) - 1))], "samples": repeats})
                if batch == 1:
                    probe.append(logits[0].tolist())
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results, "probeLogits": probe}))


if __name__ == "__main__":
    main()
