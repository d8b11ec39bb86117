"""Assembles models/<name>/manifest.json (see docs/model-format.md)."""
import json
from datetime import datetime, timezone

FORMAT = "edgeke-multi-exit/1"


def build(recipe, classes, stages, costs, exits, vote, stop_loss, teacher, dataset, training) -> dict:
    """stages: entries from onnx_export; costs: flops.exit_costs; exits: per exit accuracies and thresholds;
    stop_loss: calibration.stop_losses."""
    for stage, cost in zip(stages, costs):
        stage["flops"], stage["params"] = cost["stageFlops"], cost["stageParams"]
    return {
        "format": FORMAT,
        "name": recipe.name,
        "task": recipe.task,
        "classes": list(classes),
        "input": recipe.input,
        "stages": stages,
        "exits": [
            {"index": i, "stage": i, "flops": cost["flops"], "params": cost["params"], **exit_}
            for i, (cost, exit_) in enumerate(zip(costs, exits), start=1)
        ],
        "vote": vote,
        "stopLoss": stop_loss,
        "teacher": teacher,
        "dataset": dataset,
        "training": {**training, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")},
    }


def write(manifest: dict, path) -> None:
    path.write_text(json.dumps(manifest, indent=2) + "\n")
