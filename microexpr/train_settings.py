"""The ``train`` section of the configuration as a dataclass, importable without torch (the workflow
reads it while planning)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from .errors import MicroexprError
from .settings import problems as settings_problems, setting


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

    recipe: str | None = setting(None, "a published method's training settings under one name (docs/training.md, "
                                       "\"Recipes\"); train keys your configuration writes override it",
                                 choices="recipes")
    model: str = setting("mscnn", "mscnn (three ResNet-18 streams, train.streams), ststnet, offapexnet, sssnet, rcna or "
                                  "htnet (the uvs stream at images.uvs_size: 28; sssnet and rcna as published at 64); or "
                                  "a hand-crafted method + linear SVM: lbptop, lbpsip, hoof (settings in features)",
                         choices="models")
    streams: tuple[str, ...] = setting(("flow", "gray", "masked"), "MSCNN's streams (the small models read uvs)",
                                       choices="streams", minItems=1, uniqueItems=True)
    width: int = setting(64, "ResNet-18 base width; 64 = standard (ImageNet weights fit)", minimum=4)
    dense: int = setting(256, "size of the dense layer after fusion", minimum=2)
    dropout: float | None = setting(None, "dropout (MSCNN, OFF-ApexNet: before the classifier; STSTNet: after each "
                                          "branch, as its released code); null = the model's own (MSCNN 0, the small "
                                          "models 0.5)",
                                    anyOf=[{"type": "number", "minimum": 0, "maximum": 0.95}, {"type": "null"}])
    sampler: str | None = setting(None, "over-sampler after the dense layer; null = the model's own (MSCNN random, "
                                        "the small models none)", choices=("none", "random", "smote", "adasyn"))
    k_neighbors: int = setting(5, "neighbours for smote/adasyn", minimum=1)
    pretrained: str | None = setting(None, "local file with a torchvision ResNet-18 state_dict (ImageNet); null = from "
                                           "scratch")
    optimizer: str = setting("sgd", "sgd (with momentum) or adam", choices=("sgd", "adam"))
    lr: float = setting(1e-3, "learning rate", exclusiveMinimum=0)
    momentum: float = setting(0.9, "SGD only", minimum=0, maximum=1)
    weight_decay: float = setting(5e-4, "L2 weight decay", minimum=0)
    batch_size: int = setting(64, "samples per step", minimum=2)
    max_epochs: int = setting(200, "epochs at most", minimum=1)
    # Which weights are tested; never the held-out subject (see docs/training.md, "Choosing the epoch")
    validation: str = setting("clips", "how the tested weights are chosen, never on the held-out subject: clips = a "
                                       "stratified share of the training clips; subjects = whole training subjects held "
                                       "out, as the test subject is; none = fixed max_epochs, no validation (the last "
                                       "epoch is tested)", choices=("clips", "subjects", "none"))
    val_splits: int = setting(1, "validation subjects: >1 averages that many subject-disjoint splits' curves, then "
                                 "retrains on every training subject for the chosen epochs", minimum=1)
    val_fraction: float = setting(0.2, "share of the training clips (or subjects) held out for validation",
                                  exclusiveMinimum=0, exclusiveMaximum=1)
    monitor: str = setting("loss", "validation quantity that chooses the epoch (loss: lower is better; uf1: higher)",
                           choices=("loss", "uf1"))
    smoothing: int = setting(1, "moving average of the monitored value over this many epochs", minimum=1)
    min_epochs: int = setting(0, "no earlier epoch is chosen and early stopping waits for it", minimum=0)
    patience: int = setting(20, "epochs without validation improvement before stopping", minimum=1)
    schedule: str = setting("constant", "learning rate schedule (cosine: to 0 at max_epochs)",
                            choices=("constant", "cosine"))
    warmup_epochs: int = setting(0, "linear learning-rate warm-up", minimum=0)
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy", minimum=0, exclusiveMaximum=1)
    augment: bool = setting(True, "train on the augmented samples too (false: each clip's original only)")
    input_scale: str = setting("standard", "standard: (x / 255 - mean) / std per stream; raw: the 0-255 values (as "
                                           "STSTNet's released code)", choices=("standard", "raw"))
    seed: int = setting(0, "seed of initialisation, shuffling and over-sampling", minimum=0)
    ensemble: tuple = setting((), "members trained per fold, each the train settings that differ from the run's "
                                  "(e.g. [{seed: 1}, {seed: 2}, {recipe: ststnet}]); their class probabilities are "
                                  "averaged; [] = one model", items={"type": "object", "$ref": "#/properties/train"})
    choose: tuple = setting((), "candidates (recipe names, or settings that differ from the run's) of which each fold "
                                "picks one by an inner cross-validation over its training subjects, then trains the "
                                "pick on all of them; [] = no choice",
                            items={"anyOf": [{"type": "string", "enum": "recipes"},
                                             {"type": "object", "$ref": "#/properties/train"}]})
    choose_folds: int = setting(3, "subject-disjoint groups of the inner cross-validation of choose", minimum=2)
    # a decade grid around scikit-learn's default C = 1
    svm_c: tuple[float, ...] = setting((0.01, 0.1, 1.0, 10.0, 100.0),
                                       "hand-crafted methods, the linear SVM's C candidates; the best by an inner "
                                       "subject-wise cross-validation on the training subjects",
                                       items={"type": "number", "exclusiveMinimum": 0}, minItems=1)
    svm_folds: int = setting(5, "subject-disjoint groups of that inner cross-validation", minimum=2)
    device: str = setting("auto", "auto (CUDA when present), cpu, cuda, cuda:1, ...")
    amp: bool = setting(True, "mixed precision on CUDA")
    # None: torch's default in the library; the workflow runs one thread per fold job (--cores N: N folds)
    threads: int | None = setting(None, "CPU threads per fold job", type="integer", minimum=1,
                                    workflow_default=1)
    mem_mb: int = setting(4000, "memory a fold job asks for (grows with --retries)", minimum=256)
    runtime: int = setting(120, "minutes a fold job asks for (grows with --retries)", minimum=1)

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
        problems += settings_problems(self)  # each setting's choices and bounds, from its field
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
