"""The committed models/<name>/ folders: format rules, ONNX-vs-PyTorch parity on real test inputs, and (CWRU) the
test accuracy recomputed from the committed test segments with the ONNX graphs."""
import json

import numpy as np
import onnx
import pytest
import torch

from training.models.multi_exit import StageGraph
from training.onnx_export import PARITY_TOLERANCE
from training.onnx_reference import ALLOWED_OPS, run
from training.paths import FASHION_MNIST_DIR, REPO_ROOT
from training.recipes import RECIPES

from .real_inputs import INPUTS, cwru_test_windows

SHIPPED = [n for n in sorted(RECIPES) if (REPO_ROOT / "models" / n / "manifest.json").exists()]
BATCH_SIZES = (1, 3, 8)


def manifest(name):
    return json.loads((REPO_ROOT / "models" / name / "manifest.json").read_text())


def student(name):
    m = manifest(name)
    model = RECIPES[name].student(len(m["classes"]))
    model.load_state_dict(torch.load(REPO_ROOT / "training" / "checkpoints" / f"{name}.pt"))
    return model.eval()


@pytest.mark.parametrize("name", SHIPPED)
def test_folder_follows_the_format(name):
    m = manifest(name)
    folder = REPO_ROOT / "models" / name
    assert sum(f.stat().st_size for f in folder.iterdir()) < 20e6
    assert len(m["exits"]) == len(m["stages"]) >= 3
    # What a confidence stop costs, measured on validation data (training.recalibrate): every exit but the
    # last at the 0.95 level, against every later exit.
    measured = {(e["exit"], e["level"], e["laterExit"]) for e in m["stopLoss"]}
    last = len(m["exits"])
    assert {(1, "0.95", c) for c in range(2, last + 1)} <= measured
    assert all(e["loss"] <= e["disagreement"] and e["frames"] >= 10 for e in m["stopLoss"])
    accuracies = [e["testAccuracy"] for e in m["exits"]]
    # Each deeper exit is more accurate than the one before on the test split (the models issue's requirement).
    assert all(a < b for a, b in zip(accuracies, accuracies[1:])), accuracies
    for stage in m["stages"]:
        graph = onnx.load(str(folder / stage["file"])).graph
        assert {n.op_type for n in graph.node} <= ALLOWED_OPS
        assert [i.name for i in graph.input] == [i["name"] for i in stage["inputs"]]
        assert [o.name for o in graph.output] == [o["name"] for o in stage["outputs"]]
        assert all(v.type.tensor_type.shape.dim[0].dim_param == "batch" for v in [*graph.input, *graph.output])


@pytest.mark.parametrize("name", SHIPPED)
def test_onnx_matches_pytorch_on_real_test_inputs(name):
    if name == "fashion-mnist" and not FASHION_MNIST_DIR.exists():
        pytest.skip("Fashion-MNIST package not installed")
    m, model = manifest(name), student(name)
    folder = REPO_ROOT / "models" / name
    inputs = INPUTS[name](max(BATCH_SIZES))
    for batch in BATCH_SIZES:
        x = inputs[:batch]
        for i, (stage, entry) in enumerate(zip(model.stages, m["stages"])):
            graph = StageGraph(stage, i == len(model.stages) - 1)
            with torch.no_grad():
                expected = graph(x)
            expected = expected if isinstance(expected, tuple) else (expected,)
            got = run(folder / entry["file"], {entry["inputs"][0]["name"]: x.numpy()})
            for (out_name, value), want in zip(got.items(), expected):
                diff = np.abs(value - want.numpy()).max()
                assert diff <= PARITY_TOLERANCE, f"stage {i + 1} {out_name} batch {batch}: {diff:.2e}"
            with torch.no_grad():
                x = stage(x)[0]


@pytest.mark.skipif("cwru-bearing" not in SHIPPED, reason="cwru-bearing not shipped")
def test_cwru_accuracy_reproduces_from_committed_segments_with_onnx():
    m = manifest("cwru-bearing")
    folder = REPO_ROOT / "models" / "cwru-bearing"
    x, y = cwru_test_windows()
    features = {"input": x.numpy()}
    for entry, exit_ in zip(m["stages"], m["exits"]):
        out = run(folder / entry["file"], {entry["inputs"][0]["name"]: next(iter(features.values()))})
        accuracy = float((out["logits"].argmax(1) == y).mean())
        assert abs(accuracy - exit_["testAccuracy"]) <= 0.003
        features = {"features": out.get("features")}
