"""Fingerprints of what a stage read, so the workflow re-runs exactly what a change to the data touches.

Frames are not workflow inputs (there are tens of thousands); instead the manifest stage's stamp holds a
fingerprint of every file under the dataset roots (relative name, size, modification time), and each
per-subject stage's stamp holds a fingerprint of that subject's manifest rows and of the files they point at.
Repairing, adding, removing or touching a frame changes the manifest's fingerprint (the manifest is
rebuilt, cheaply) and the fingerprint of the one subject whose clip holds it (only that subject's
stages re-run); editing one sheet row re-runs only the subjects whose rows changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

# the manifest columns each per-subject stage depends on
EVM_COLUMNS = ("sample_id", "onset", "apex", "offset", "fps", "frame_dir", "frame_template", "frame_files")
SHARD_COLUMNS = ("sample_id", "label", "entry", "flow_path", "apex_path", "onset_path", "mask_path")
PATH_COLUMNS = ("flow_path", "apex_path", "onset_path", "mask_path")


def _stat_line(path: Path, name: str) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{name}:missing"
    return f"{name}:{st.st_size}:{st.st_mtime_ns}"


def tree_fingerprint(roots: Iterable[str | Path]) -> str:
    """Every file under each root (or the root itself, when it is a file): names, sizes, mtimes."""
    h = hashlib.sha1()
    for root in roots:
        root = Path(root)
        h.update(f"root {root}\n".encode())
        if root.is_file():
            h.update(_stat_line(root, root.name).encode())
            continue
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(folder, root)
            for f in sorted(files):
                h.update((_stat_line(Path(folder) / f, f"{rel}/{f}") + "\n").encode())
    return h.hexdigest()[:16]


def byo_fingerprint(csv_path: str | Path) -> str:
    """A bring-your-own CSV and every image it names."""
    csv_path = Path(csv_path)
    h = hashlib.sha1(_stat_line(csv_path, csv_path.name).encode())
    if csv_path.is_file():
        from .byo import read_csv_table

        table = read_csv_table(csv_path)
        for col in ("flow", "apex", "onset", "mask"):
            for value in table.get(col, []):
                if value.strip():
                    p = Path(value.strip())
                    p = p if p.is_absolute() else csv_path.parent / p
                    h.update((_stat_line(p, str(p)) + "\n").encode())
    return h.hexdigest()[:16]


def subject_fingerprint(manifest: pd.DataFrame, subject: str, columns: Sequence[str]) -> str:
    """One subject's manifest rows (the given columns) and the files they point at: each clip folder's
    frames, or a bring-your-own sample's images."""
    rows = manifest[manifest.subject.astype(str) == str(subject)].sort_values("sample_id")
    cols = [c for c in columns if c in rows.columns]
    h = hashlib.sha1(rows[cols].astype(str).to_csv(index=False).encode())
    if "frame_dir" in cols:
        for folder in rows.frame_dir:
            if folder:
                for entry in sorted(os.scandir(folder), key=lambda e: e.name) if os.path.isdir(folder) else []:
                    h.update((_stat_line(Path(entry.path), entry.name) + "\n").encode())
    for col in PATH_COLUMNS:
        if col in cols:
            for value in rows[col]:
                if value:
                    h.update((_stat_line(Path(value), value) + "\n").encode())
    return h.hexdigest()[:16]
