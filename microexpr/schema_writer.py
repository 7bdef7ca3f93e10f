"""Writes the configuration schema's sections that settings classes own (:mod:`microexpr.settings`):
``microexpr schema`` rewrites them in ``microexpr/schemas/config.schema.yaml`` between their markers, and a
test keeps the committed file equal. Apart from the library (nothing in it imports this module): it reads
the registries, which import the models.
"""

from __future__ import annotations

import yaml

from .schema import SCHEMA_PATH


# The sections made from settings classes (microexpr.settings): path in the schema -> (class, the
# section's description, fields that come from elsewhere, per-field changes, whether defaults are written).
# `microexpr schema` writes them into the file between the markers; a test keeps the committed file equal.
def _generated_sections() -> dict[tuple[str, ...], tuple]:
    from .clip import ImageSettings
    from .magnify import EVMSettings
    from .synthetic_settings import LongSynthConfig, SynthConfig
    from .train_settings import TrainConfig

    return {
        ("evm",): (EVMSettings, "Eulerian video magnification of each clip (pre-processing stage)", (), {}, True),
        ("images",): (ImageSettings, "stream images (flow image, apex gray, masked apex) and augmentation into shards",
                      (), {}, True),
        ("synthetic",): (SynthConfig, "the generated dataset used when dataset.root is null",
                         ("format", "layout", "sheet_version", "jpeg_quality"),
                         {"subjects": {"minimum": 2}}, True),  # the workflow's LOSO needs two subjects
        ("spotting", "synthetic"): (LongSynthConfig, "settings of the synthetic set that replace the reference "
                                    "set's (microexpr.datasets.synthetic_long: REFERENCE_SETS), e.g. {subjects: 1, "
                                    "seconds: 12}", ("format",), {}, False),
        ("train",): (TrainConfig, "training per LOSO fold (defaults are the MSCNN paper's settings)", (), {}, True),
    }


def _recipes() -> list[str]:
    from .recipes import RECIPES

    return sorted(RECIPES)


def _models() -> list[str]:  # the registered training models, then the hand-crafted methods
    from .handcrafted import METHODS
    from .models import fold_models

    return [*fold_models(), *sorted(METHODS)]


def _streams() -> list[str]:
    from .streams import image_streams

    return list(image_streams())


# the registries a setting's choices may name (settings.setting(choices="models")): the file lists their
# names as the schema is written; registry_choices fills in what plugins add when a configuration is read
NAMED_CHOICES = {"recipes": _recipes, "models": _models, "streams": _streams}


def _marker(path: tuple[str, ...], end: bool = False) -> str:
    name = ".".join(path)
    return (f"# end of {name}" if end else
            f"# {name}: made from microexpr.settings classes by `microexpr schema`; edit the class, not this block")


def _section_text(path: tuple[str, ...], spec: tuple) -> str:
    from .settings import section_schema

    cls, description, skip, changes, defaults = spec
    section = section_schema(cls, description, lambda name: NAMED_CHOICES[name](), skip)
    for key, change in changes.items():
        section["properties"][key].update(change)
    if not defaults:
        for node in section["properties"].values():
            node.pop("default", None)
    return yaml.safe_dump({path[-1]: section}, sort_keys=False, width=110, default_flow_style=None,
                          allow_unicode=True)


def render_schema(text: str) -> str:
    """The schema file's text with every generated section rewritten from its class."""
    lines = text.splitlines(keepends=True)
    for path, spec in _generated_sections().items():
        start = next((i for i, line in enumerate(lines) if line.strip() == _marker(path)), None)
        end = next((i for i, line in enumerate(lines) if line.strip() == _marker(path, end=True)), None)
        if start is None or end is None or end < start:
            raise ValueError(f"{SCHEMA_PATH}: no '{_marker(path)}' ... '{_marker(path, True)}' block")
        indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
        body = [indent + line if line.strip() else line for line in _section_text(path, spec).splitlines(keepends=True)]
        lines[start + 1:end] = body
    return "".join(lines)
