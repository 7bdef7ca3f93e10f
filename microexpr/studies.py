"""The studies, declared once: each is a set of LOSO runs, one per variant and seed, that differ from the
configured run in one setting. The workflow (targets, runs, variant tags), the configuration schema (the
``experiments`` keys) and the comparison page all read this table.

A new study is one entry in :data:`STUDIES` (and, if it needs a new list of variants, that key in the
schema's ``experiments`` section; a test checks both agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


@dataclass(frozen=True)
class Study:
    name: str                       # the workflow target (snakemake <name>) and folder under experiments/
    key: str                        # experiments.<key>: the list of variants the user sets
    section: str                    # the config section(s) a variant changes: evm, train or evm+train
    field: str | None               # the key in that section it sets (None: named overrides of several keys)
    title: str
    axis: str                       # x-axis label of the comparison figure
    question: str
    reference_text: str             # which variant the others are compared with, in words
    reference: Callable[[list[str], list[Any]], str]  # (variant labels, values) -> the reference's label
    numeric: bool = False           # variants are numbers: a line plot over them
    label: Callable[[Any], str] = _plain  # a variant's value -> its label
    published: bool = False         # variants name a row of the MSCNN paper's tables (paper_row): shown beside it

    def settings(self, value: Any, evm: dict, train: dict) -> tuple[dict, dict]:
        """The EVM and training settings of one variant (the rest of the configuration unchanged). A
        study without ``field`` takes named overrides: ``{name: ..., <section>: {key: value, ...}}``."""
        if self.field is None:
            from .train_settings import settings_on_top  # a recipe in the variant applies, as in a config

            sections = self.section.split("+")
            run_evm = {**evm, **value["evm"]} if "evm" in sections and value.get("evm") else dict(evm)
            run_train = settings_on_top(train, value["train"]) if "train" in sections and value.get("train") else dict(train)
            return run_evm, run_train
        if self.section == "evm":
            return {**evm, self.field: value}, dict(train)
        return dict(evm), {**train, self.field: list(value) if isinstance(value, (list, tuple)) else value}


STUDIES: dict[str, Study] = {s.name: s for s in (
    Study(
        name="alpha_sweep", key="alphas", section="evm", field="alpha",
        title="EVM amplification: accuracy vs alpha", axis="EVM amplification alpha (0 = no magnification)",
        question="Does Eulerian magnification help, and at which alpha?",
        reference_text="the smallest alpha (0: no magnification)",
        reference=lambda variants, values: variants[min(range(len(values)), key=lambda i: float(values[i]))],
        numeric=True, label=lambda a: f"alpha {a:g}",
    ),
    Study(
        name="ablation_sampler", key="samplers", section="train", field="sampler",
        title="Over-sampler after the dense layer", axis="sampler",
        question="Does over-sampling the minority classes in feature space help?",
        reference_text="none (no over-sampling)",
        reference=lambda variants, values: "none" if "none" in variants else variants[0],
    ),
    Study(
        name="ablation_streams", key="streams", section="train", field="streams",
        title="Input streams", axis="streams",
        question="Do the extra streams help over one stream or two?",
        reference_text="the most streams (all three)",
        reference=lambda variants, values: max(variants, key=lambda v: (len(v.split("+")), -variants.index(v))),
        label=lambda streams: "+".join(streams),
    ),
    Study(
        name="ablation_training", key="trainings", section="train", field=None,
        title="Model and selection rule", axis="training recipe",
        question="Which model, and which rule for choosing the tested epoch, hold up on unseen subjects?",
        reference_text="the first recipe listed (experiments.trainings)",
        reference=lambda variants, values: variants[0],
        label=lambda recipe: str(recipe["name"]),
    ),
    Study(
        name="paper_table", key="paper_rows", section="evm+train", field=None,
        title="The MSCNN paper's comparison table", axis="method",
        question="How do the hand-crafted baselines (LBP-TOP, LBP-SIP, HOOF with a linear SVM) compare with "
                 "MSCNN's flow stream and its three streams on the same subjects?",
        reference_text="MSCNN (three streams, the paper's method)",
        reference=lambda variants, values: "MSCNN" if "MSCNN" in variants else variants[-1],
        label=lambda row: str(row["name"]), published=True,
    ),
)}


def study(name: str) -> Study:
    from .errors import MicroexprError

    if name not in STUDIES:
        raise MicroexprError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    return STUDIES[name]


def study_runs(name: str, experiments: dict, evm: dict, train: dict) -> list[dict]:
    """One dict per LOSO run of a study (variant x seed): its label, value, seed and settings. The
    workflow adds the cached files; seeds vary ``train.seed``."""
    s = study(name)
    runs = []
    for seed in experiments["seeds"]:
        for value in experiments[s.key]:
            run_evm, run_train = s.settings(value, evm, train)
            runs.append({"variant": s.label(value), "value": s.label(value) if not s.numeric else value,
                         "seed": seed, "evm_settings": run_evm, "train_settings": {**run_train, "seed": seed},
                         **({"paper_row": value.get("paper_row")} if s.published else {})})
    return runs
