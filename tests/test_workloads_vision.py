"""CIFAR-10 and ImageNet workloads on a few generated images in torchvision's folder layouts."""

import pickle

import numpy as np
import pytest

pytest.importorskip("torchvision")

from algoeff.errors import StudyError  # noqa: E402
from algoeff.workloads import get_workload  # noqa: E402
from algoeff.workloads.cifar10 import FILES  # noqa: E402

TINY = {"epochs": 1, "batch_size": 4, "image_size": 32, "workers": 0}


def make_cifar10(root, per_batch=4, classes=10):
    """torchvision's python CIFAR-10 layout: pickled dicts of uint8 rows (3 x 32 x 32) and labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in FILES[:-1]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8),
            "labels": [i % classes for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


def make_imagenet(root, classes=("n01440764", "n01443537", "n01484850"), per_class=4, val_classes=None):
    """torchvision's ImageFolder layout: train/<class>/*.png and val/<class>/*.png."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, names in (("train", classes), ("val", val_classes or classes)):
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
    return root


# -- CIFAR-10 -----------------------------------------------------------------------------


def test_cifar10_trial_on_generated_batches(tmp_path):
    wl = get_workload("cifar10", data_dir=make_cifar10(tmp_path))
    assert wl.target.metric == "validation_accuracy" and wl.target.threshold == 0.94
    assert wl.test_target.metric == "test_accuracy" and wl.test_target.threshold == 0.94
    assert wl.num_classes == 10 and wl.baseline.name == "resnet18-2015"
    # 5 batches x 4 images = 20 training images: a tenth (2) carved out for validation, test_batch is the test
    assert wl.splits == {"train": 18, "validation": 2, "test": 4}
    result = wl.run_trial("resnet18-2015", TINY, 0)
    # 18 // 4 = 4 steps of 4, one evaluation after the epoch
    assert len(result["curve"]) == 1 and result["curve"][0]["examples"] == 16
    assert result["total_train_flops"] > 0 and result["eval_flops"] > 0
    assert result["flops_per_epoch"] == result["total_train_flops"]
    assert result["eval_flops_by_split"]["validation"] > 0 and result["eval_flops_by_split"]["test"] > 0
    point = result["curve"][0]
    assert 0 <= point["validation_accuracy"] <= 1 and 0 <= point["test_accuracy"] <= 1
    assert result["final_metric"] == point["validation_accuracy"]
    assert result["reached"] is (result["final_metric"] >= 0.94)


def test_vision_validation_is_carved_from_the_training_images(tmp_path):
    wl = get_workload("cifar10", data_dir=make_cifar10(tmp_path, per_batch=10))
    train, validation = set(wl._train_index.tolist()), set(wl._validation_index.tolist())
    assert not train & validation and train | validation == set(range(50))
    # fixed by the split seed: a second construction carves the same images
    again = get_workload("cifar10", data_dir=tmp_path)
    assert set(again._validation_index.tolist()) == validation and len(validation) == 5


@pytest.mark.parametrize("missing", ["data_batch_3", "test_batch", "batches.meta"])
def test_cifar10_incomplete_dir_names_the_file_and_layout(tmp_path, missing):
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / missing).unlink()
    with pytest.raises(StudyError, match=rf"lacks cifar-10-batches-py/{missing}; expected DATA_DIR/cifar-10-batches-py/"):
        get_workload("cifar10", data_dir=tmp_path)


def test_cifar10_missing_dir(tmp_path):
    with pytest.raises(StudyError, match="lacks cifar-10-batches-py/data_batch_1; expected"):
        get_workload("cifar10", data_dir=tmp_path / "nowhere")


def test_cifar10_unreadable_batch(tmp_path):
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(StudyError, match="cannot read the batches") as err:
        get_workload("cifar10", data_dir=tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["cifar10", "imagenet"])
def test_no_data_dir_names_the_layout(name):
    with pytest.raises(StudyError, match=rf"the {name} workload needs a data directory: expected DATA_DIR/"):
        get_workload(name)


# -- ImageNet -----------------------------------------------------------------------------


def test_imagenet_trial_on_generated_image_folders(tmp_path):
    wl = get_workload("imagenet", data_dir=make_imagenet(tmp_path))
    assert wl.target.metric == "validation_top5_accuracy" and wl.target.threshold == 0.791
    assert wl.test_target.metric == "test_top5_accuracy"
    assert wl.num_classes == 3 and wl.baseline.name == "alexnet-2012"
    # 12 training images: 1% rounds to one validation image (at least one); val/ is the test split
    assert wl.splits == {"train": 11, "validation": 1, "test": 12}
    points = []
    result = wl.run_trial("shufflenet-v2-2018", TINY, 0, on_eval=points.append)
    # three classes: every label is in the top 5, so both targets are reached at the first evaluation
    assert result["reached"] and result["test_reached"] and points == result["curve"] and len(points) == 1
    assert result["compute_to_target_flops"] == result["total_train_flops"] == points[0]["flops"] > 0
    assert points[0]["examples"] == 8 and points[0]["test_top5_accuracy"] == points[0]["validation_top5_accuracy"] == 1.0


def test_imagenet_resnet50_level_target(tmp_path):
    wl = get_workload("imagenet", data_dir=make_imagenet(tmp_path, per_class=1), target="resnet50")
    assert wl.target.threshold == wl.test_target.threshold == 0.929 and wl.level == "resnet50"
    with pytest.raises(StudyError, match=r"Unknown target 'vgg' for workload 'imagenet'. Possible values are: 'alexnet', 'resnet50'\."):
        get_workload("imagenet", data_dir=tmp_path, target="vgg")


@pytest.mark.parametrize("recipe", ["alexnet-2012", "googlenet-2014", "resnet50-2015", "mobilenet-v2-2018",
                                    "shufflenet-v2-2018", "efficientnet-b0-2019"])
def test_imagenet_recipes_build_torchvision_models_without_weights(tmp_path, recipe):
    wl = get_workload("imagenet", data_dir=make_imagenet(tmp_path, per_class=1))
    config = wl.resolve_config(wl.recipe(recipe), None)
    assert config["batch_size"] == 256 and config["epochs"] == 90 and config["momentum"] == 0.9
    assert config["weight_decay"] == 1e-4 and config["lr"] == (0.01 if recipe == "alexnet-2012" else 0.1)
    import torch

    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = wl.build_model(config).eval()
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"device": "tpu"}, r"Unknown device 'tpu'. Possible values are: 'cpu', 'cuda'\."),
        ({"image_size": 8}, r"image_size == 8, must be an integer >= 16\."),
        ({"workers": -1}, r"workers == -1, must be an integer >= 0\."),
    ],
)
def test_imagenet_bad_config(tmp_path, config, message):
    wl = get_workload("imagenet", data_dir=make_imagenet(tmp_path, per_class=1))
    with pytest.raises(StudyError, match=message):
        wl.run_trial("alexnet-2012", config, 0)


def test_cuda_without_a_gpu_is_a_study_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    wl = get_workload("imagenet", data_dir=make_imagenet(tmp_path, per_class=1))
    with pytest.raises(StudyError, match=r"device == 'cuda', but torch finds no CUDA device"):
        wl.run_trial("alexnet-2012", {"device": "cuda"}, 0)


def test_imagenet_missing_val(tmp_path):
    make_imagenet(tmp_path, per_class=1)
    import shutil

    shutil.rmtree(tmp_path / "val")
    with pytest.raises(StudyError, match=r"has no val/ folder; expected DATA_DIR/train/<class>/<image> and DATA_DIR/val/"):
        get_workload("imagenet", data_dir=tmp_path)


def test_imagenet_class_folders_must_match(tmp_path):
    make_imagenet(tmp_path, classes=("a", "b"), val_classes=("a", "c"), per_class=1)
    with pytest.raises(StudyError, match=r"hold different classes \(e.g. 'b'\)"):
        get_workload("imagenet", data_dir=tmp_path)


def test_imagenet_empty_class_folder(tmp_path):
    make_imagenet(tmp_path, per_class=1)
    (tmp_path / "train" / "n09999999").mkdir()
    with pytest.raises(StudyError, match=r"imagenet train/ in .*: .*n09999999.*; expected") as err:
        get_workload("imagenet", data_dir=tmp_path)
    assert "\n" not in str(err.value)
