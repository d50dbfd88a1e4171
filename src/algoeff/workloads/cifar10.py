"""CIFAR-10 from a user's data directory in torchvision's layout (``CIFAR10(root, download=False)``).

    DATA_DIR/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}

The python pickle batches as distributed by the dataset's authors. Files are
checked for presence, not checksums, so a subset in the same format works too.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from algoeff.errors import StudyError

from .vision import MEAN, STD, VisionWorkload

__all__ = ["CIFAR10"]

FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


class CIFAR10(VisionWorkload):
    """CIFAR-10 (50,000 train / 10,000 test 32x32 images) with torchvision recipes, 94% top-1 target."""

    file = "cifar10"

    @property
    def name(self) -> str:
        """Registry key."""
        return "cifar10"

    @property
    def title(self) -> str:
        """Human name."""
        return "CIFAR-10 (torchvision layout)"

    @property
    def layout(self) -> str:
        """The expected layout, in one line."""
        return "expected DATA_DIR/cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta (torchvision's CIFAR10 layout, python version)"

    def _load_splits(self):
        from torchvision import datasets

        folder = Path(self.data_dir) / "cifar-10-batches-py"
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise StudyError(f"cifar10 data_dir {str(self.data_dir)!r} lacks cifar-10-batches-py/{missing[0]}; {self.layout}.")

        class Local(datasets.CIFAR10):
            # presence, not md5: the files were checked above; nothing is downloaded
            def _check_integrity(self):
                return True

            def _load_meta(self):
                with open(os.path.join(self.root, self.base_folder, self.meta["filename"]), "rb") as fh:
                    self.classes = pickle.load(fh, encoding="latin1")[self.meta["key"]]
                self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

        try:
            return Local(str(self.data_dir), train=True, download=False), Local(str(self.data_dir), train=False, download=False)
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError) as err:
            raise StudyError(f"cifar10 data_dir {str(self.data_dir)!r}: cannot read the batches ({err}); {self.layout}.") from err

    def _transforms(self, image_size):
        from torchvision import transforms as T

        resize = [] if image_size == 32 else [T.Resize(image_size)]
        normalize = [T.ToTensor(), T.Normalize(MEAN, STD)]
        train = T.Compose(resize + [T.RandomCrop(image_size, padding=image_size // 8), T.RandomHorizontalFlip()] + normalize)
        return train, T.Compose(resize + normalize)
