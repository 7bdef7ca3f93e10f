"""Class schemes (which labels are kept, under which name).

A scheme maps, per dataset, a canonical (lower-case) label to a class name. Labels a dataset knows
but the scheme omits are dropped with a reason in the manifest report; labels the dataset does not
know at all are reported as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import DatasetError
from .formats import get_format

# The paper's 5-class settings (MSCNN, CASME II and SAMM).
SCHEMES: dict[str, dict[str, dict[str, str]]] = {
    "paper5": {
        "casme2": {c: c for c in ("disgust", "happiness", "repression", "surprise", "others")},
        "samm": {c: c for c in ("anger", "contempt", "happiness", "surprise", "other")},
    },
    # MEGC2019 composite (3 classes). Dropped: CASME II fear, sadness, others; SAMM Other.
    "megc2019": {
        "casme2": {"disgust": "negative", "repression": "negative", "happiness": "positive",
                   "surprise": "surprise"},
        "samm": {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
                 "sadness": "negative", "happiness": "positive", "surprise": "surprise"},
        "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    },
}


def resolve_scheme(dataset: str, classes: str | Sequence[str] | None) -> tuple[str, dict[str, str]]:
    """Return ``(scheme_name, {label: class})`` for ``dataset``.

    ``classes`` is a scheme name from :data:`SCHEMES`, ``"all"``/``None`` (every label the dataset
    knows), or an explicit list of labels to keep (each its own class).
    """
    known = get_format(dataset).labels  # each format's module owns its label spellings
    if classes is None or classes == "all":
        return "all", {c: c for c in known}
    if isinstance(classes, str):
        if classes not in SCHEMES:
            raise DatasetError(
                f"unknown class scheme {classes!r}; known: all, {', '.join(sorted(SCHEMES))}, "
                "or a list of labels"
            )
        per_dataset: Mapping[str, dict[str, str]] = SCHEMES[classes]
        if dataset not in per_dataset:
            raise DatasetError(f"class scheme {classes!r} has no mapping for dataset {dataset!r}")
        return classes, dict(per_dataset[dataset])
    wanted = [str(c).strip().lower() for c in classes]
    bad = [c for c in wanted if c not in known]
    if bad:
        raise DatasetError(
            f"classes {bad} are not labels of {dataset} (its labels: {', '.join(known)})"
        )
    if not wanted:
        raise DatasetError("classes: an explicit class list must not be empty")
    return "custom", {c: c for c in wanted}
