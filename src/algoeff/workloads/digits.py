"""scikit-learn's bundled digits: 1,797 8x8 grey images of handwritten digits, ten classes.

A fixed stratified split (``train_test_split(test_size=0.25, random_state=0)``)
gives 1,347 training and 450 test images, standardised with the training
set's mean and standard deviation; a stratified 300 of the training images
are the validation split (a fixed split seed), leaving 1,047 to train on. The models are the MNIST-1D recipes' with
2-D convolutions.
"""

from __future__ import annotations

from .small import SmallWorkload

__all__ = ["Digits"]


class Digits(SmallWorkload):
    """Bundled 8x8 digits with 2-D convolutional recipes from AlexNet (2012) to EfficientNet (2019)."""

    file = "digits"

    @property
    def name(self) -> str:
        """Registry key."""
        return "digits"

    @property
    def title(self) -> str:
        """Human name."""
        return "scikit-learn digits (1,047 train / 300 validation / 450 test 8x8 images)"

    @property
    def input_shape(self) -> tuple:
        """[channels, height, width]."""
        return (1, 8, 8)

    def _base_arrays(self):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)  # bundled with scikit-learn: no download
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
        # standardised with the statistics of all the training data (validation is carved out of it after)
        mean, std = x_train.mean(), x_train.std()
        return ((x_train - mean) / std).reshape(-1, 1, 8, 8), y_train, ((x_test - mean) / std).reshape(-1, 1, 8, 8), y_test
