"""Bad input is refused before any training, naming the file and what is wrong with it."""


class DataError(Exception):
    """The data folder cannot be trained on as it is. `path` is the file or folder at fault."""

    code = "EDGEKE_TRAIN_DATA"
    retryable = False

    def __init__(self, path, message: str):
        super().__init__(f"{path}: {message}")
        self.path = str(path)
