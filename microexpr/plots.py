"""Figures (matplotlib, headless): the pre-processing figure, the report's confusion matrix and training curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .io import atomic_path
from .sampleid import SampleId

if TYPE_CHECKING:
    import pandas as pd


def preprocessing_figure(flow_file: str | Path, shard_file: str | Path, out: str | Path,
                         clip: str | None = None) -> Path:
    """Onset, apex (magnified), flow image, mask and masked apex of one clip (like the paper's Fig. 2).

    ``clip`` defaults to the clip whose mask is the most local (the clearest picture).
    """
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .preprocess import read_shard

    shard = read_shard(shard_file, streams=("flow", "mask", "masked"))
    if clip is None:
        cover = (shard["mask"] > 0).mean(axis=(1, 2))
        i = int(np.argmin(np.where(cover > 0.01, cover, 2.0)))
        clip = SampleId.parse(shard["sample_id"][i]).clip
    with h5py.File(flow_file, "r") as h5:
        g = h5[clip]
        onset, apex, sid = g["onset"][()], g["apex"][()], str(g.attrs["sample_id"])
        alpha, method = h5.attrs.get("alpha", "?"), h5.attrs.get("method", "?")
    i = int(np.flatnonzero(shard["sample_id"] == sid)[0])
    panels = [("onset", onset), ("apex", apex), ("flow image", shard["flow"][i][..., ::-1]),
              ("mask", shard["mask"][i]), ("masked apex", shard["masked"][i])]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 2.9))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    label = shard["classes"][shard["label"][i]]
    fig.suptitle(f"{sid} ({label}); EVM alpha={alpha}, flow={method}", fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(out)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_figure(result: dict, out: str | Path) -> Path:
    plt = _figure()
    cm = np.array(result["confusion"], float)
    classes = result["classes"]
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2.2, 1.0 * len(classes) + 1.6))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(cm[i, j])}\n{rows[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if rows[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    p = result["pooled"]
    ax.set_title(f"{result.get('protocol', 'loso').upper()}, {result['n_clips']} clips: acc {p['accuracy']:.3f}, UF1 {p['uf1']:.3f}, UAR {p['uar']:.3f}",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(out)


def curves_figure(histories: dict[str, pd.DataFrame], best_epochs: dict[str, int], out: str | Path) -> Path:
    """One fold a row, readable at the page's width (1000 px): training and validation loss on the left,
    validation UF1 on the right, both against the epoch, with the epoch whose weights were tested dashed.
    A hand-crafted method's row shows its inner cross-validation UF1 per SVM C instead, the C used dashed."""
    plt = _figure()
    n = max(len(histories), 1)
    svm = any("c" in h.columns for h in histories.values())
    cols = 1 if svm else 2
    fig, axes = plt.subplots(n, cols, figsize=(10, 1.9 * n + 0.5), squeeze=False)
    for row, (fold, h) in zip(axes, histories.items()):
        if "c" in h.columns:  # a hand-crafted method: the inner cross-validation's UF1 per SVM C
            ax = row[0]
            if "inner_uf1" in h.columns:
                ax.plot(h.c, h.inner_uf1, color="#2ca02c", lw=1.2, marker=".", ls=":")
            ax.set_xscale("log")
            ax.set_ylim(0, 1)
            chosen = h.c[h.chosen.astype(bool)] if "chosen" in h.columns else h.c[:1]
            for c in chosen:
                ax.axvline(c, color="#d62728", lw=1, ls="--")
            ax.set_title(f"{fold}: C used {', '.join(f'{c:g}' for c in chosen)}", fontsize=9, loc="left")
            ax.set_xlabel("SVM C", fontsize=8)
            ax.set_ylabel("inner UF1", fontsize=8)
            ax.tick_params(labelsize=8)
            continue
        loss, uf1 = row
        loss.plot(h.epoch, h.train_loss, color="#1f77b4", lw=1.2)
        if h.val_loss.notna().any():
            loss.plot(h.epoch, h.val_loss, color="#ff7f0e", lw=1.2)
        if h.val_uf1.notna().any():
            uf1.plot(h.epoch, h.val_uf1, color="#2ca02c", lw=1.2)
        uf1.set_ylim(0, 1)
        best = best_epochs.get(fold)
        for ax in row:
            if best is not None and best >= 0:
                ax.axvline(best, color="#d62728", lw=1, ls="--")
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=8)
        loss.set_ylabel("cross-entropy loss", fontsize=8)
        uf1.set_ylabel("validation UF1", fontsize=8)
        tested = f"epoch {best} tested" if best is not None and best >= 0 else "last epoch tested"
        loss.set_title(f"{fold}: {tested}", fontsize=9, loc="left")
    colours = ((("#2ca02c", ":"), ("#d62728", "--")) if svm else
               (("#1f77b4", "-"), ("#ff7f0e", "-"), ("#2ca02c", "-"), ("#d62728", "--")))
    handles = [plt.Line2D([], [], color=c, ls=ls) for c, ls in colours]
    labels = (["inner cross-validation UF1 (training subjects) per SVM C", "C used"] if svm else
              ["train loss", "validation loss", "validation UF1", "epoch tested"])
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (1.9 * n + 0.5)))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(out)
