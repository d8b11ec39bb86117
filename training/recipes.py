"""Everything that differs between the three shipped models: data, networks, input contract, training settings."""
from dataclasses import dataclass, field, replace
from typing import Callable

from .augment import Augmentation
from .datasets import cwru_bearing, fashion_mnist, neu_surface
from .models import architectures


@dataclass
class Settings:
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float = 5e-4
    augmentation: Augmentation = field(default_factory=Augmentation)
    temperature: float = 4.0
    beta: float = 0.1
    divergence: str = "kl"
    # Loss weight per exit, shallowest first (None: equal). Also weights the validation accuracies that pick the
    # checkpoint. Tiny early exits trained at full weight pull the shared first stages towards what they can
    # represent, at the last exit's expense.
    exit_weights: tuple | None = None
    # Checkpoint by the final exit's validation accuracy first, the (weighted) mean over exits on a tie (edgeke train).
    checkpoint_final_first: bool = False


@dataclass
class Recipe:
    name: str
    task: str
    load: Callable
    student: Callable
    teacher: Callable
    input: dict  # manifest "input" section
    teacher_settings: Settings
    student_settings: Settings
    seeds: tuple = (0, 1)


def _image_input(size: int, mean: float, std: float) -> dict:
    return {
        "name": "input", "shape": [1, size, size], "layout": "NCHW", "dtype": "float32",
        "preprocessing": {
            "kind": "image", "width": size, "height": size, "channels": 1, "resize": "bilinear", "fit": "fill",
            "scale": 1 / 255, "mean": [mean], "std": [std],
        },
    }


RECIPES = {
    "neu-surface": Recipe(
        name="neu-surface", task="image-classification", load=neu_surface.load,
        student=architectures.neu_student, teacher=architectures.neu_teacher,
        input=_image_input(neu_surface.SIZE, neu_surface.MEAN, neu_surface.STD),
        teacher_settings=Settings(epochs=24, lr=0.05, batch_size=32, augmentation=Augmentation(hflip=True, vflip=True)),
        student_settings=Settings(epochs=30, lr=0.05, batch_size=32, augmentation=Augmentation(hflip=True, vflip=True)),
    ),
    "cwru-bearing": Recipe(
        name="cwru-bearing", task="signal-classification", load=cwru_bearing.load,
        student=architectures.cwru_student, teacher=architectures.cwru_teacher,
        input={
            "name": "input", "shape": [1, cwru_bearing.WINDOW], "layout": "NCL", "dtype": "float32",
            "preprocessing": {"kind": "signal", "windowLength": cwru_bearing.WINDOW,
                              "sampleRateHz": cwru_bearing.SAMPLE_RATE_HZ, "normalization": "zscore"},
        },
        teacher_settings=Settings(epochs=6, lr=0.05, batch_size=64),
        student_settings=Settings(epochs=20, lr=0.05, batch_size=64),
    ),
    "fashion-mnist": Recipe(
        name="fashion-mnist", task="image-classification", load=fashion_mnist.load,
        student=architectures.fashion_student, teacher=architectures.fashion_teacher,
        input=_image_input(fashion_mnist.SIZE, fashion_mnist.MEAN, fashion_mnist.STD),
        teacher_settings=Settings(epochs=12, lr=0.1, batch_size=128, augmentation=Augmentation(hflip=True, shift=1)),
        student_settings=Settings(epochs=10, lr=0.1, batch_size=128, augmentation=Augmentation(hflip=True)),
    ),
}


def smoke(recipe: Recipe) -> Recipe:
    """Same recipe, 1 epoch and 1 seed per variant (the data subset is cut by the caller)."""
    return replace(
        recipe, seeds=(0,),
        teacher_settings=replace(recipe.teacher_settings, epochs=1),
        student_settings=replace(recipe.student_settings, epochs=1),
    )
