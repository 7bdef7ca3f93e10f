"""Published results a report may show next to a run, and the rule that decides when they apply.

A published figure is shown only where the run is comparable: the same protocol, the same source
datasets and the same class scheme. Every figure below is transcribed from the paper it names
(its results table), LOSO, pooled over all folds ("as published": this pipeline did not reproduce
them). Some published codes pick each fold's epoch on the held-out subject (HTNet's released script
keeps each subject's best test-epoch predictions), which inflates scores by several points; this
pipeline never looks at the held-out subject before testing.
"""

from __future__ import annotations

from collections.abc import Sequence

from .datasets.schemes import SCHEMES

MSCNN = "MSCNN (multi-stream CNN with EVM and an in-network over-sampler)"
FLOW_STREAM = "EVM + Optical (the paper's single optical-flow stream)"
MSCNN_PAPER = "arXiv:2011.03756"

# 5-class LOSO, the MSCNN paper's own two rows per dataset (Table II: CASME II, Table III: SAMM): the
# three-stream network and its single flow stream. On SAMM the flow stream alone scores higher (the
# paper says so; its Table III prints MSCNN's accuracy as "0..4071"). Accuracy and F1 as published.
PAPER5: dict[str, list[dict]] = {
    "casme2": [
        {"method": MSCNN, "streams": ("flow", "gray", "masked"), "accuracy": 0.5650, "uf1": 0.5325,
         "table": "Table II", "row": "MSCNN"},
        {"method": FLOW_STREAM, "streams": ("flow",), "accuracy": 0.5077, "uf1": 0.4705,
         "table": "Table II", "row": "Ours (EVM + Optical)"},
    ],
    "samm": [
        {"method": MSCNN, "streams": ("flow", "gray", "masked"), "accuracy": 0.4071, "uf1": 0.3173,
         "table": "Table III", "row": "MSCNN"},
        {"method": FLOW_STREAM, "streams": ("flow",), "accuracy": 0.4304, "uf1": 0.3569,
         "table": "Table III", "row": "Ours (EVM + Optical)"},
    ],
}

# MEGC2019 composite (SMIC + CASME II + SAMM, 3 classes, LOSO over 68 subjects): UF1 / UAR, pooled over
# the composite ("full") and over each source dataset's clips.
MEGC2019: list[dict] = [
    {"method": "OFF-ApexNet", "cite": "Gan et al. 2019, Signal Processing: Image Communication 74; MEGC2019 table",
     "full": (0.7196, 0.7096), "smic": (0.6817, 0.6695), "casme2": (0.8764, 0.8681), "samm": (0.5409, 0.5392),
     "selection": "not verified here"},
    {"method": "STSTNet", "cite": "Liong et al. 2019, IEEE FG (MEGC2019)",
     "full": (0.7353, 0.7605), "smic": (0.6801, 0.7013), "casme2": (0.8382, 0.8686), "samm": (0.6588, 0.6810),
     "selection": "not verified here"},
    {"method": "HTNet", "cite": "Wang et al. 2024, Neurocomputing 602",
     "full": (0.8603, 0.8475), "smic": (0.8049, 0.7905), "casme2": (0.9532, 0.9516), "samm": (0.8131, 0.8124),
     "selection": "released script keeps each subject's best test-epoch predictions"},
]


def _class_set(scheme: str, dataset: str) -> set[str]:
    return set(SCHEMES[scheme][dataset].values())


def _is_scheme(classes, scheme: str, datasets: Sequence[str], class_names: Sequence[str]) -> bool:
    """The run used ``scheme``: by name, or by an explicit list with exactly its classes."""
    if classes == scheme:
        return True
    if any(d not in SCHEMES[scheme] for d in datasets):
        return False
    expected = set().union(*(_class_set(scheme, d) for d in datasets))
    return isinstance(classes, (list, tuple)) and set(class_names) == expected == {str(c).lower() for c in classes}


def references(protocol: str, datasets: Sequence[str], classes, class_names: Sequence[str],
               streams: Sequence[str] | None = None) -> dict | None:
    """The published table that fits a run, or ``None``.

    ``datasets``: the run's source datasets (a composite's parts, or a bring-your-own CSV's ``dataset``
    column); ``classes``: the configured ``dataset.classes``; ``class_names``: the classes trained on;
    ``streams``: the MSCNN streams the run trained (the paper row with the same streams is marked as the
    one to compare with; None: not an MSCNN run, no row is marked).
    """
    datasets = sorted(set(datasets))
    if protocol != "loso":
        return None
    if len(datasets) == 1 and datasets[0] in PAPER5 and _is_scheme(classes, "paper5", datasets, class_names):
        ran = tuple(sorted(streams)) if streams else None
        rows = [[r["method"], f"{r['accuracy']:.4f}", f"{r['uf1']:.4f}", f"{MSCNN_PAPER}, {r['table']}, row {r['row']!r}",
                 "yes" if ran == tuple(sorted(r["streams"])) else ""] for r in PAPER5[datasets[0]]]
        return {"kind": "paper5", "dataset": datasets[0],
                "title": f"Published: the MSCNN paper on {datasets[0]} (5 classes, LOSO; F1 as the paper reports it)",
                "columns": ["method", "accuracy", "F1 (published)", "source", "same streams as this run"],
                "rows": rows}
    if datasets == ["casme2", "samm", "smic"] and _is_scheme(classes, "megc2019", datasets, class_names):
        cols = ["method", "full UF1", "full UAR", "SMIC UF1", "SMIC UAR", "CASME II UF1", "CASME II UAR",
                "SAMM UF1", "SAMM UAR", "source", "epoch selection"]
        rows = []
        for r in MEGC2019:
            cells = [r["method"]]
            for part in ("full", "smic", "casme2", "samm"):
                cells += [f"{r[part][0]:.4f}", f"{r[part][1]:.4f}"]
            rows.append(cells + [r["cite"], r["selection"]])
        return {"kind": "megc2019", "title": "Published on the MEGC2019 composite (3 classes, LOSO, 68 subjects)",
                "columns": cols, "rows": rows}
    return None


def paper_figure(row: str | None, protocol: str, datasets: Sequence[str], classes, class_names: Sequence[str]) -> str:
    """The MSCNN paper's published accuracy / F1 for the row named ``row`` of its table for the run's
    dataset, in words: the figures with their table and row, or why none is shown."""
    if not row:
        return ""
    datasets = sorted(set(datasets))
    if protocol != "loso" or len(datasets) != 1 or datasets[0] not in PAPER5:
        return "not comparable (the paper: CASME II or SAMM alone, LOSO)"
    if not _is_scheme(classes, "paper5", datasets, class_names):
        return "not comparable (the paper's 5 classes: dataset.classes paper5)"
    for r in PAPER5[datasets[0]]:
        if r["row"] == row:
            return f"{r['accuracy']:.4f} / {r['uf1']:.4f} ({MSCNN_PAPER}, {r['table']}, row {row!r})"
    table = PAPER5[datasets[0]][0]["table"]
    return f"not transcribed (the paper's {table} row {row!r})"
