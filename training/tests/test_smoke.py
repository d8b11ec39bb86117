import json

import pytest

from training.onnx_reference import ALLOWED_OPS
from training.train import main

from .conftest import needs_fashion_mnist, needs_shared_datasets


@pytest.mark.parametrize("name", [
    pytest.param("cwru-bearing", marks=needs_shared_datasets),
    pytest.param("fashion-mnist", marks=needs_fashion_mnist),
])
def test_smoke_training_writes_a_loadable_model_folder(tmp_path, name):
    main([name, "--smoke", "--out", str(tmp_path)])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == "edgeke-multi-exit/1"
    assert len(manifest["stages"]) == len(manifest["exits"]) >= 3
    for stage in manifest["stages"]:
        assert (tmp_path / stage["file"]).exists()
        assert set(stage["ops"]) <= ALLOWED_OPS
    flops = [e["flops"] for e in manifest["exits"]]
    assert flops == sorted(flops)
    assert set(manifest["exits"][0]["thresholds"]) == {"0.90", "0.95", "0.99"}
    assert len(manifest["vote"]["weights"]) == len(manifest["exits"])
    assert set(manifest["vote"]["byLevel"]) <= {"0.90", "0.95", "0.99"}
    # A smoke run's 64 validation frames may back no stop at all; what is there must be well formed.
    for entry in manifest["stopLoss"]:
        assert 1 <= entry["exit"] < entry["laterExit"] <= len(manifest["exits"])
        assert entry["loss"] <= entry["disagreement"]
    assert (tmp_path / "REPORT.md").exists() and (tmp_path / "accuracy_vs_cost.png").exists()
