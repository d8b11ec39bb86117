"""FLOPs (2 x multiply-adds of Conv and Linear layers, batch 1) and parameter counts, per stage and per exit."""
import torch
from torch import nn


def module_flops(module: nn.Module, x: torch.Tensor):
    """FLOPs of one forward pass of `module` on a batch-1 input; returns (flops, output)."""
    total = [0]

    def hook(layer, inputs, output):
        if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            per_output = layer.in_channels // layer.groups * int(torch.tensor(layer.kernel_size).prod())
            total[0] += 2 * output.numel() * per_output
        elif isinstance(layer, nn.Linear):
            total[0] += 2 * layer.in_features * layer.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        output = module(x)
    for handle in handles:
        handle.remove()
    return total[0], output


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def stage_costs(model, input_shape):
    """For each stage: body and head FLOPs/params. Exit k cost = bodies 1..k + head k."""
    model.eval()
    x = torch.zeros(1, *input_shape)
    costs = []
    for stage in model.stages:
        body_flops, features = module_flops(stage.body, x)
        head_flops, _ = module_flops(stage.head, features)
        costs.append({"bodyFlops": body_flops, "headFlops": head_flops,
                      "bodyParams": params(stage.body), "headParams": params(stage.head)})
        x = features
    return costs


def exit_costs(model, input_shape):
    """Cumulative FLOPs/params from the input to each exit's logits."""
    body_flops = body_params = 0
    result = []
    for cost in stage_costs(model, input_shape):
        body_flops += cost["bodyFlops"]
        body_params += cost["bodyParams"]
        result.append({"flops": body_flops + cost["headFlops"], "params": body_params + cost["headParams"],
                       "stageFlops": cost["bodyFlops"] + cost["headFlops"],
                       "stageParams": cost["bodyParams"] + cost["headParams"]})
    return result
