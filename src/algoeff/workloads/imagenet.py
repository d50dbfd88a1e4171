"""ImageNet (ILSVRC 2012) from a user's data directory in torchvision's ImageFolder layout.

    DATA_DIR/train/<class>/<image>    DATA_DIR/val/<class>/<image>

Both splits must hold the same class folders. Targets: AlexNet-level 79.1%
top-5 (the default) and ResNet-50-level 92.9% top-5 (``target="resnet50"``).
"""

from __future__ import annotations

from pathlib import Path

from algoeff.errors import StudyError

from .vision import MEAN, STD, VisionWorkload

__all__ = ["ImageNet"]


class ImageNet(VisionWorkload):
    """ImageNet with the torchvision models the paper re-trained, from AlexNet (2012) to EfficientNet (2019)."""

    file = "imagenet"

    @property
    def name(self) -> str:
        """Registry key."""
        return "imagenet"

    @property
    def title(self) -> str:
        """Human name."""
        return "ImageNet ILSVRC 2012 (ImageFolder layout)"

    @property
    def layout(self) -> str:
        """The expected layout, in one line."""
        return "expected DATA_DIR/train/<class>/<image> and DATA_DIR/val/<class>/<image> (torchvision's ImageFolder layout, same classes in both)"

    def _load_splits(self):
        from torchvision import datasets

        root = Path(self.data_dir)
        splits = []
        for split in ("train", "val"):
            folder = root / split
            if not folder.is_dir():
                raise StudyError(f"imagenet data_dir {str(self.data_dir)!r} has no {split}/ folder; {self.layout}.")
            try:
                splits.append(datasets.ImageFolder(str(folder)))
            except (FileNotFoundError, OSError) as err:
                raise StudyError(f"imagenet {split}/ in {str(self.data_dir)!r}: {err}; {self.layout}.") from err
        if splits[0].classes != splits[1].classes:
            only = sorted(set(splits[0].classes) ^ set(splits[1].classes))
            raise StudyError(
                f"imagenet train/ and val/ in {str(self.data_dir)!r} hold different classes (e.g. {only[0]!r}); {self.layout}."
            )
        return tuple(splits)

    def _transforms(self, image_size):
        from torchvision import transforms as T

        normalize = [T.ToTensor(), T.Normalize(MEAN, STD)]
        train = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip()] + normalize)
        # the example's 256 -> 224 centre crop, scaled to image_size
        test = T.Compose([T.Resize(round(image_size * 256 / 224)), T.CenterCrop(image_size)] + normalize)
        return train, test
