"""A network cut into stages; each stage ends in an exit head. A one-stage instance is an ordinary classifier."""
from torch import nn


class Stage(nn.Module):
    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x):
        features = self.body(x)
        return features, self.head(features)


class MultiExitNet(nn.Module):
    def __init__(self, stages, architecture: str):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.architecture = architecture

    def forward(self, x):
        """Logits of every exit, shallowest first."""
        logits = []
        for stage in self.stages:
            x, exit_logits = stage(x)
            logits.append(exit_logits)
        return logits


class StageGraph(nn.Module):
    """What one ONNX file computes: features and logits, or only logits for the last stage."""

    def __init__(self, stage: Stage, last: bool):
        super().__init__()
        self.stage = stage
        self.last = last

    def forward(self, x):
        features, logits = self.stage(x)
        return logits if self.last else (features, logits)
