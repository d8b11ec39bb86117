import pytest
import torch

from training.paths import FASHION_MNIST_DIR, datasets_root

torch.set_num_threads(2)


def needs(path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available")


needs_shared_datasets = needs(datasets_root())
needs_fashion_mnist = needs(FASHION_MNIST_DIR)
