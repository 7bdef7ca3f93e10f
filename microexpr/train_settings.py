"""The ``train`` section of the configuration as a dataclass, importable without torch (the workflow
reads it while planning)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from .errors import MicroexprError


# The built-in models' own values of the settings that default to None ("the model's own"), torch-free
# for the workflow's variant tags (so {sampler: null} and {sampler: random} name one MSCNN run); a test
# checks them against the constructors' defaults, which own them.
MODEL_DEFAULTS: dict[str, dict] = {
    "mscnn": {"dropout": 0.0, "sampler": "random"},
    "ststnet": {"dropout": 0.5, "sampler": "none"},
    "offapexnet": {"dropout": 0.5, "sampler": "none"},
    "sssnet": {"dropout": 0.5, "sampler": "none"},
    "rcna": {"dropout": 0.5, "sampler": "none"},
    "htnet": {"dropout": 0.0, "sampler": "none"},
}


def with_model_defaults(train: dict) -> dict:
    """``train`` with None-valued model settings replaced by the model's own values (where known)."""
    own = MODEL_DEFAULTS.get(train.get("model", "mscnn"), {})
    return {**train, **{k: v for k, v in own.items() if train.get(k) is None}}


@dataclass
class TrainConfig:
    """The ``train`` section of the configuration (the only place its defaults are written; the
    schema's are checked against them): what a fold learns, and the settings of where it runs."""

    # settings that change where or how fast a fold runs, not what it learns (not in the run's tag)
    NOT_LEARNED: ClassVar[tuple[str, ...]] = ("device", "threads", "mem_mb", "runtime")
    # settings added after runs were tagged: at their default they stay out of the run's tag, so the
    # results of earlier runs keep their paths
    TAG_OMITS_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("recipe", "optimizer", "augment", "input_scale", "ensemble",
                                                       "choose", "choose_folds", "svm_c", "svm_folds")

    # a named recipe (microexpr.recipes: ststnet, mscnn): its paper's training settings, applied to the
    # configuration before this class is built; recorded so results name it
    recipe: str | None = None
    model: str = "mscnn"        # a registered training model (mscnn, ststnet, offapexnet, sssnet, rcna, htnet) or a
                                # hand-crafted method + linear SVM (lbptop, lbpsip, hoof: microexpr.handcrafted)
    streams: tuple[str, ...] = ("flow", "gray", "masked")  # MSCNN's streams (the small models read uvs)
    width: int = 64
    dense: int = 256
    # None: the model's own default (MSCNN 0.0 / random, STSTNet 0.5 / none, OFF-ApexNet 0.5 / none),
    # so a model built from its paper gets its paper's values unless the configuration names one
    dropout: float | None = None
    sampler: str | None = None
    k_neighbors: int = 5
    pretrained: str | None = None
    optimizer: str = "sgd"      # sgd (with momentum) | adam
    lr: float = 1e-3
    momentum: float = 0.9       # SGD only
    weight_decay: float = 5e-4
    batch_size: int = 64
    max_epochs: int = 200
    # Which weights are tested; never the held-out subject (see docs/training.md, "Choosing the epoch"):
    validation: str = "clips"   # clips: a share of the training clips | subjects: whole training subjects | none: fixed epochs
    val_splits: int = 1         # subjects: >1 averages the curves of that many subject-disjoint splits, then retrains
    val_fraction: float = 0.2   # share of the clips (or subjects) held out for validation
    monitor: str = "loss"       # loss (lower is better) or uf1 (higher is better) on the validation set
    smoothing: int = 1          # moving average of the monitored value over this many epochs
    min_epochs: int = 0         # no epoch before this is chosen, and early stopping waits for it
    patience: int = 20          # stop after this many epochs without a better (smoothed) value
    schedule: str = "constant"  # learning rate: constant | cosine (to 0 at max_epochs)
    warmup_epochs: int = 0      # linear warm-up of the learning rate over these epochs
    label_smoothing: float = 0.0
    augment: bool = True        # train on the shards' augmented samples too (False: each clip's original only)
    input_scale: str = "standard"  # standard: (x/255 - mean)/std per stream | raw: the 0-255 values
    seed: int = 0
    # several members trained per fold, their class probabilities averaged: each member is a mapping of
    # train settings that differ from these (e.g. {seed: 1}, {recipe: ststnet}); () = one model
    ensemble: tuple = ()
    # candidates (a recipe name, or a mapping of settings on top of these) of which each fold picks one by
    # an inner cross-validation over its training subjects only (choose_folds subject-disjoint groups),
    # then trains the pick on all of them; () = no choice
    choose: tuple = ()
    choose_folds: int = 3
    # hand-crafted methods: the linear SVM's C is the best of these by a subject-wise inner cross-validation
    # (svm_folds groups) on the training subjects; a decade grid around scikit-learn's default C = 1
    svm_c: tuple = (0.01, 0.1, 1.0, 10.0, 100.0)
    svm_folds: int = 5
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA
    threads: int | None = None  # torch threads; None = torch's default (the workflow: the job's threads)
    mem_mb: int = 4000          # memory a fold job asks the scheduler for (Snakemake / SLURM), MB
    runtime: int = 120          # and its time limit, minutes

    def __post_init__(self):
        self.streams = tuple(self.streams)
        self.ensemble = tuple(dict(m) for m in self.ensemble)
        self.choose = tuple({"recipe": c} if isinstance(c, str) else dict(c) for c in self.choose)
        problems = []
        known = {f.name for f in fields(self)}
        for what, group in (("ensemble member", self.ensemble), ("choose candidate", self.choose)):
            for i, member in enumerate(group):
                unknown = sorted(set(member) - known)
                if unknown:
                    problems.append(f"{what} {i + 1}: unknown setting(s) {unknown}")
                if member.get("ensemble") or member.get("choose"):
                    problems.append(f"{what} {i + 1}: cannot be an ensemble or a choice itself")
        if len(self.ensemble) == 1:
            problems.append("ensemble needs at least two members (or none)")
        if len(self.choose) == 1:
            problems.append("choose needs at least two candidates (or none)")
        if self.ensemble and self.choose:
            problems.append("ensemble and choose cannot be combined (a candidate may not be an ensemble either)")
        self.svm_c = tuple(float(c) for c in self.svm_c)
        if not self.svm_c or min(self.svm_c) <= 0:
            problems.append(f"svm_c must be a non-empty list of positive values, got {list(self.svm_c)}")
        if self.svm_folds < 2:
            problems.append(f"svm_folds must be at least 2, got {self.svm_folds}")
        if self.choose_folds < 2:
            problems.append(f"choose_folds must be at least 2, got {self.choose_folds}")
        for key, allowed in (("monitor", ("loss", "uf1")), ("validation", ("clips", "subjects", "none")),
                             ("schedule", ("constant", "cosine")), ("optimizer", ("sgd", "adam")),
                             ("input_scale", ("standard", "raw"))):
            if getattr(self, key) not in allowed:
                problems.append(f"{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if not 0 < self.val_fraction < 1:
            problems.append(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        for key in ("val_splits", "smoothing"):
            if getattr(self, key) < 1:
                problems.append(f"{key} must be at least 1, got {getattr(self, key)}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if problems:
            raise MicroexprError("train: " + "; ".join(problems))

    @classmethod
    def tagged(cls, train: dict) -> dict:
        """The settings of ``train`` that name a run (its tag's hash): what it learns, without the
        later-added settings that are at their default."""
        defaults = cls()

        def same(a, b) -> bool:  # a list in a config equals the tuple default
            return (list(a) if isinstance(a, tuple) else a) == (list(b) if isinstance(b, tuple) else b)

        return {k: v for k, v in train.items() if k not in cls.NOT_LEARNED
                and not (k in cls.TAG_OMITS_AT_DEFAULT and same(v, getattr(defaults, k)))}

    def selection_rule(self) -> str:
        """In words: how this configuration picks the weights that are tested."""
        if self.validation == "none":
            return f"fixed {self.max_epochs} epochs on every training subject, no validation (the last epoch is tested)"
        where = ("a stratified {:.0%} of the training clips".format(self.val_fraction) if self.validation == "clips"
                 else f"{self.val_fraction:.0%} of the training subjects held out whole"
                 + (f", averaged over {self.val_splits} subject-disjoint splits, then retrained on every training subject "
                    "for the chosen epochs" if self.val_splits > 1 else ""))
        smooth = f" ({self.smoothing}-epoch moving average)" if self.smoothing > 1 else ""
        return (f"best validation {self.monitor}{smooth} on {where}; epochs {self.min_epochs}..{self.max_epochs - 1}, "
                f"patience {self.patience}")


def choose_candidates(train: dict) -> list[dict]:
    """The full train settings of each candidate of ``train['choose']`` (:func:`settings_on_top`; a
    name is a recipe)."""
    base = {k: v for k, v in train.items() if k != "choose"}
    return [{**settings_on_top(base, {"recipe": c} if isinstance(c, str) else dict(c)), "ensemble": [], "choose": []}
            for c in train.get("choose") or ()]


def settings_on_top(base: dict, changes: dict) -> dict:
    """``base`` train settings with ``changes`` on top, as a variant, ensemble member or candidate is
    written: a recipe in ``changes`` applies (the other keys of ``changes`` win over it), and a change of
    model gives that model its own dropout and sampler unless ``changes`` (or its recipe) names them."""
    from .recipes import apply_recipe, recipe_values

    settings = {**base, **changes}
    named = set(changes)
    if changes.get("recipe"):
        settings = apply_recipe(settings, explicit=named - {"recipe"})
        named |= set(recipe_values(changes["recipe"]))
    if settings.get("model", "mscnn") != base.get("model", "mscnn"):
        settings.update({k: None for k in ("dropout", "sampler") if k not in named})
    return with_model_defaults(settings)


def ensemble_members(train: dict) -> list[dict]:
    """The full train settings of each member of ``train['ensemble']``: the run's settings with the
    member's on top (:func:`settings_on_top`)."""
    base = {k: v for k, v in train.items() if k != "ensemble"}
    return [{**settings_on_top(base, member), "ensemble": [], "choose": []} for member in train.get("ensemble") or ()]
