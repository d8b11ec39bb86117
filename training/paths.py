"""Where the repository, the shared datasets and the shipped models live."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def datasets_root() -> Path:
    """The one dataset setting: EDGEKE_DATASETS, default ../shared/datasets; relative paths are taken from the repo root."""
    path = Path(os.environ.get("EDGEKE_DATASETS", "../shared/datasets"))
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()
