"""Training recipes: a published method's training settings under one name (``train.recipe``).

A recipe sets the optimiser, learning rate and schedule, batch size, epochs, input scaling,
augmentation and the epoch rule as its paper and released code did; each value carries where it comes
from. Keys a user's configuration writes under ``train`` override the recipe (the default
configuration file's values do not: a recipe replaces those). Torch-free: the workflow applies recipes
while planning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import MicroexprError

_STSTNET_CODE = "STSTNet released code (github.com/christy1206/STSTNet, main.py)"
_SSSNET_CODE = "meb toolkit (github.com/tvaranka/meb), 'RCN-A and SSSNet for megc.ipynb', LOSO(...)"
_HTNET_CODE = "HTNet released code (github.com/wangzhifengharrison/HTNet, HTNet_for_three_datasets_confusion_matrix.py)"
_MSCNN_PAPER = "MSCNN paper (multi-stream CNN with EVM, optical flow and masked apex)"

# the training of meb's MEGC2019 notebook, one LOSO(...) function for its SSSNet and RCN-A
_MEB_LOSO: dict[str, tuple[object, str]] = {
    "optimizer": ("sgd", f"{_SSSNET_CODE}: optim.SGD(..., momentum=0.9)"),
    "lr": (0.01, f"{_SSSNET_CODE}: lr=0.01"),
    "momentum": (0.9, f"{_SSSNET_CODE}: momentum=0.9"),
    "weight_decay": (0.001, f"{_SSSNET_CODE}: weight_decay=0.001"),
    "batch_size": (128, f"{_SSSNET_CODE}: batch_size=128"),
    "max_epochs": (200, f"{_SSSNET_CODE}: epochs=200"),
    "schedule": ("constant", f"{_SSSNET_CODE}: no scheduler"),
    "validation": ("none", f"{_SSSNET_CODE}: the model after the last epoch predicts the test subject"),
    "augment": (False, f"{_SSSNET_CODE}: each clip's flow once, no augmentation"),
    "sampler": ("none", f"{_SSSNET_CODE}: plain CrossEntropyLoss"),
    "dropout": (0.5, f"{_SSSNET_CODE}: dropout=0.5"),
    "input_scale": ("standard", "meb feeds the flow values themselves; the per-stream standardised 8-bit "
                                "u/v/strain image is the nearest input"),
}


def _released_adam(code: str) -> dict[str, tuple[object, str]]:
    """The training that STSTNet's released main.py does and HTNet's released script repeats: Adam at
    5e-5, batch 256, 800 epochs, 0-255 images, no augmentation, plain cross-entropy."""
    return {
        "optimizer": ("adam", f"{code}: torch.optim.Adam"),
        "lr": (5e-5, f"{code}: learning_rate = 0.00005"),
        "weight_decay": (0.0, f"{code}: Adam without weight decay"),
        "batch_size": (256, f"{code}: batch_size = 256"),
        "max_epochs": (800, f"{code}: epochs = 800"),
        "schedule": ("constant", f"{code}: no scheduler"),
        "input_scale": ("raw", f"{code}: the u/v/strain images as read by cv2.imread (0-255)"),
        "augment": (False, f"{code}: each clip's image once, no augmentation"),
        "label_smoothing": (0.0, f"{code}: nn.CrossEntropyLoss()"),
    }


# name -> {train key: (value, source)}
RECIPES: dict[str, dict[str, tuple[object, str]]] = {
    "ststnet": {
        "model": ("ststnet", _STSTNET_CODE),
        **_released_adam(_STSTNET_CODE),
        "validation": ("none", f"{_STSTNET_CODE}: the weights after the last epoch are tested"),
        "sampler": ("none", f"{_STSTNET_CODE}: no over-sampling"),
        "dropout": (0.5, f"{_STSTNET_CODE}: nn.Dropout(p=0.5) after each branch"),
    },
    "sssnet": {"model": ("sssnet", f"{_SSSNET_CODE}: SSSNet"), **_MEB_LOSO},
    # meb trains RCN-A through the same LOSO function
    "rcna": {"model": ("rcna", f"{_SSSNET_CODE}: RCN-A (class Net, version 3)"), **_MEB_LOSO,
             "dropout": (0.5, "meb/models/RCNs.py: nn.Dropout() (p=0.5)")},
    # the released script also keeps each subject's best test epoch ("best UF1"); that peeks at the test
    # subject and is never done here: the model after the last epoch is tested, which the script reports too
    "htnet": {
        "model": ("htnet", f"{_HTNET_CODE}: HTNet(image_size=28, patch_size=7, dim=256, heads=3, ...)"),
        **_released_adam(_HTNET_CODE),
        "validation": ("none", f"{_HTNET_CODE}: the predictions after the last epoch (total_pred), "
                               "not its per-subject best epoch"),
        "sampler": ("none", f"{_HTNET_CODE}: plain nn.CrossEntropyLoss()"),
        "dropout": (0.0, "HTNet released code, Model.py: HTNet(..., dropout=0.)"),
    },
    "mscnn": {
        "model": ("mscnn", _MSCNN_PAPER),
        "optimizer": ("sgd", f"{_MSCNN_PAPER}: SGD"),
        "lr": (1e-3, f"{_MSCNN_PAPER}: learning rate 0.001"),
        "momentum": (0.9, f"{_MSCNN_PAPER}: momentum 0.9"),
        "weight_decay": (5e-4, f"{_MSCNN_PAPER}: weight decay 0.0005"),
        "batch_size": (64, f"{_MSCNN_PAPER}: batch size 64"),
        "max_epochs": (200, f"{_MSCNN_PAPER}: up to 200 epochs with early stopping"),
        "width": (64, f"{_MSCNN_PAPER}: ResNet-18 streams (base width 64)"),
        "augment": (True, f"{_MSCNN_PAPER}: horizontal flip and rotations of +-5 and +-10 degrees (x10)"),
        "sampler": ("random", f"{_MSCNN_PAPER}: over-sampling after the dense layer"),
        "input_scale": ("standard", "not stated by the paper: ImageNet-style mean/std per stream"),
        "validation": ("clips", "not stated by the paper: early stopping on a share of the training clips "
                                "(never the test subject)"),
    },
}


class RecipeError(MicroexprError):
    """An unknown recipe name."""


def recipe_names() -> list[str]:
    return sorted(RECIPES)


def recipe_values(name: str) -> dict[str, object]:
    """The train settings recipe ``name`` sets."""
    if name not in RECIPES:
        raise RecipeError(f"config key 'train.recipe': unknown recipe {name!r}; known: {', '.join(recipe_names())}")
    return {k: v for k, (v, _) in RECIPES[name].items()}


def apply_recipe(train: Mapping, explicit: Iterable[str] = ()) -> dict:
    """``train`` with its recipe's values, except for the keys in ``explicit`` (what the user's
    configuration writes, which wins). Without ``train['recipe']`` it is returned unchanged."""
    train = dict(train)
    name = train.get("recipe")
    if not name:
        return train
    keep = set(explicit)
    return {**train, **{k: v for k, v in recipe_values(name).items() if k not in keep}}


def recipe_report(train: Mapping) -> dict | None:
    """What a fold's results record: the recipe, each value it set and its source, and the keys the
    configuration overrode (with the value used)."""
    name = train.get("recipe")
    if not name:
        return None
    set_, overridden = {}, {}
    for key, (value, source) in RECIPES[name].items():
        used = train.get(key)
        used = list(used) if isinstance(used, tuple) else used
        if used == value:
            set_[key] = {"value": value, "source": source}
        else:
            overridden[key] = {"recipe": value, "used": used}
    return {"name": name, "set": set_, "overridden": overridden}


def explicit_train_keys(config_files: Iterable, cli_config: Mapping | None = None) -> set[str]:
    """The ``train`` keys a user wrote: in the given configuration files (not the default one) and in
    command-line ``--config`` values."""
    import yaml

    keys: set[str] = set()
    for f in config_files:
        with open(f) as fh:
            data = yaml.safe_load(fh) or {}
        train = data.get("train") if isinstance(data, dict) else None
        if isinstance(train, dict):
            keys |= set(train)
    train = (cli_config or {}).get("train")
    if isinstance(train, dict):
        keys |= set(train)
    return keys - {"recipe"}
