"""A small float64 NumPy interpreter for the ONNX ops the model format allows.

No ONNX runtime is installed here; this executes the exported graphs independently of PyTorch, for the parity
tests and the export-time check. Unknown ops raise, which doubles as an op-set guard.
"""
import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _as_2d(x):
    """1-D ops run as 2-D with height 1."""
    return (x[:, :, None, :], True) if x.ndim == 3 else (x, False)


def _windows(x, kernel, strides, pads, dilations, fill):
    """[N, C, H, W] -> [N, C, Ho, Wo, kh, kw] sliding windows, after padding with `fill`."""
    (top, left, bottom, right) = pads
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    w = sliding_window_view(x, span, axis=(2, 3))
    return w[:, :, ::strides[0], ::strides[1], ::dilations[0], ::dilations[1]]


def _spatial(attrs, kernel, squeeze):
    """Attributes normalised to 2-D: (kernel, strides, pads as top,left,bottom,right, dilations)."""
    n = len(kernel)
    strides = list(attrs.get("strides", [1] * n))
    dilations = list(attrs.get("dilations", [1] * n))
    pads = list(attrs.get("pads", [0] * 2 * n))
    if squeeze:
        return [1] + list(kernel), [1] + strides, [0, pads[0], 0, pads[1]], [1] + dilations
    return list(kernel), strides, [pads[0], pads[1], pads[2], pads[3]], dilations


def conv(x, w, b=None, **attrs):
    x, squeeze = _as_2d(x)
    w2 = w[:, :, None, :] if squeeze else w
    kernel, strides, pads, dilations = _spatial(attrs, w.shape[2:], squeeze)
    group = attrs.get("group", 1)
    win = _windows(x, kernel, strides, pads, dilations, 0.0)
    if group == 1:
        out = np.tensordot(win, w2, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    elif group == x.shape[1] and w2.shape[1] == 1:  # depthwise (channel multiplier 1)
        out = np.einsum("nchwij,cij->nchw", win, w2[:, 0])
    else:
        raise NotImplementedError(f"Conv group={group}")
    if b is not None:
        out = out + b[None, :, None, None]
    return out[:, :, 0, :] if squeeze else out


def pool(x, reduce, fill, **attrs):
    x, squeeze = _as_2d(x)
    kernel, strides, pads, dilations = _spatial(attrs, attrs["kernel_shape"], squeeze)
    if attrs.get("ceil_mode", 0):
        raise NotImplementedError("ceil_mode")
    out = reduce(_windows(x, kernel, strides, pads, dilations, fill), axis=(4, 5))
    return out[:, :, 0, :] if squeeze else out


def gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    out = alpha * ((a.T if transA else a) @ (b.T if transB else b))
    return out + beta * c if c is not None else out


def batch_norm(x, scale, bias, mean, var, epsilon=1e-5, **_):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon) * scale.reshape(shape) + bias.reshape(shape)


OPS = {
    "Conv": conv,
    "Relu": lambda x: np.maximum(x, 0),
    "Clip": lambda x, lo=None, hi=None: np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi),
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Add": np.add,
    "Mul": np.multiply,
    "MaxPool": lambda x, **a: pool(x, np.max, -np.inf, **a),
    "AveragePool": lambda x, **a: pool(x, np.mean, 0.0, **{k: v for k, v in a.items() if k != "count_include_pad"}),
    "GlobalAveragePool": lambda x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True),
    "Flatten": lambda x, axis=1: x.reshape(int(np.prod(x.shape[:axis])), -1),
    "Gemm": gemm,
    "MatMul": np.matmul,
    "Identity": lambda x: x,
    "BatchNormalization": batch_norm,
}
ALLOWED_OPS = frozenset(OPS)  # the list in docs/model-format.md


def run(model_path, inputs: dict) -> dict:
    """Execute the graph; returns every graph output by name (float64)."""
    graph = onnx.load(str(model_path)).graph
    values = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in graph.initializer}
    values.update({k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()})
    for node in graph.node:
        if node.op_type not in OPS:
            raise NotImplementedError(f"op {node.op_type} is outside the model format")
        args = [values[name] if name else None for name in node.input]
        values[node.output[0]] = OPS[node.op_type](*args, **_attrs(node))
    return {o.name: values[o.name] for o in graph.output}
