"""Figures (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_path
from .sampleid import SampleId


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
