"""The loader interface: one :class:`DatasetFormat` per on-disk dataset format, in one module each.

A format module (``casme2.py``, ``samm.py``, ...) builds a ``DatasetFormat`` and registers it with
:func:`register_format`. Everything else derives from the registry: :func:`microexpr.datasets.load_manifest`,
the class schemes' label check, the configuration schema's ``dataset.format`` choices, the workflow's
``{fmt}`` wildcard and the files it watches, the command line's ``--format``/``--dataset`` choices,
the EVM band check (frame rate) and the synthetic generator (:attr:`DatasetFormat.synthetic`).

Formats outside this package register through the entry-point group ``microexpr.datasets`` (a module
whose import calls :func:`register_format`); see CONTRIBUTING.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DatasetError


@dataclass(frozen=True)
class SyntheticLayout:
    """How the synthetic generator writes a stand-in of a format (frames, sheet, names, classes).

    ``plans`` passed to the hooks are :class:`microexpr.datasets.synthetic.ClipPlan` objects and
    ``cfg`` the :class:`~microexpr.datasets.synthetic.SynthConfig`.
    """

    channels: int                                           # 1: grayscale frames, 3: colour
    classes: dict[str, tuple[tuple[str, ...] | None, int]]  # label as the sheet spells it -> (AUs or None = 'others', objective class)
    shares: dict[str, int]                                  # label -> relative share in the real dataset
    subject_ids: Callable[[int], list[str]]                 # number of subjects -> subject ids (folder names)
    clip_name: Callable[[str, int, str], str]               # (subject, clip index, label) -> clip name
    frame_path: Callable[[Path, Any, int, Any], Path]       # (root, plan, frame number, cfg) -> file
    write_sheet: Callable[[Path, list, Any], Path | None]   # (root, plans, cfg) -> the coding sheet written (None: no sheet)
    first_frame: int = 1                                    # frame numbers start near here
    onset_to_offset: bool = False                           # clips hold only onset..offset (SMIC)
    max_subjects: int | None = None                         # subject ids limit the count
    planted: Callable[[int], dict[int, list[tuple[str, str]]]] | None = None  # quirk rows: subject index -> [(label, why)]
    finish: Callable[[list], None] | None = None            # quirks that edit planned clips (e.g. apex '/')


@dataclass(frozen=True)
class DatasetFormat:
    """Everything the project knows about one dataset format. Fields used by the manifest builder:
    ``name``, ``fps``, ``subject_id``, ``clip_dir``, ``frame_regex``."""

    name: str                                         # config value of dataset.format, prefix of sample ids
    fps: float                                        # frame rate of every clip
    labels: tuple[str, ...]                           # canonical (lower-case) label spellings the sheet uses
    subject_id: Callable[[object], str]               # sheet cell -> subject id (folder name)
    clip_dir: Callable[[Path, str, str, str], Path]   # (frames root, subject id, clip, raw label) -> folder
    frame_regex: re.Pattern                           # file name -> group 'n', the frame number
    frames_root: Callable[[Path, str], Path]          # (dataset root, layout) -> folder the clip folders are in
    read_records: Callable[[Path, Path | None], pd.DataFrame]  # (root, sheet or None) -> rows, canonical columns
    find_sheet: Callable[[Path], Path] | None = None  # root -> its coding sheet; None: the folders are the annotation
    synthetic: SyntheticLayout | None = None          # how `python -m microexpr synth` writes a stand-in
    title: str = ""                                   # name shown to people (e.g. "CASME II")
    doc: str = field(default="", repr=False)

    def watched(self, root: str | Path, sheet: str | Path | None = None) -> Path:
        """The file (or folder) whose change means the manifest must be read again: the coding sheet,
        or the root itself where the folders are the annotation. The workflow makes it an input."""
        root = Path(root)
        if self.find_sheet is None:
            return root
        return Path(sheet) if sheet else self.find_sheet(root)


FORMATS: dict[str, DatasetFormat] = {}
ENTRY_POINT_GROUP = "microexpr.datasets"
_plugins_loaded = False


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    """Add ``fmt`` to the registry (its module calls this once, at import)."""
    if fmt.name in FORMATS and FORMATS[fmt.name] is not fmt:
        raise DatasetError(f"dataset format {fmt.name!r} registered twice")
    if fmt.name == "manifest" or not re.fullmatch(r"[a-z][a-z0-9_]*", fmt.name):
        raise DatasetError(f"dataset format name {fmt.name!r}: lower-case letters, digits and '_', not 'manifest'")
    if any(label != label.lower() for label in fmt.labels):
        raise DatasetError(f"dataset format {fmt.name!r}: labels are given in lower case")
    FORMATS[fmt.name] = fmt
    return fmt


def load_plugins() -> None:
    """Import the format modules other packages declare (entry points ``microexpr.datasets``), once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def format_names() -> list[str]:
    load_plugins()
    return sorted(FORMATS)


def get_format(name: str) -> DatasetFormat:
    load_plugins()
    if name not in FORMATS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


# ----------------------------------------------------------------------------- helpers for synthetic writers

def au_text(aus: tuple[str, ...]) -> str:
    """('AU6', 'AU12') -> '6+12', as the sheets write action units."""
    return "+".join(a.replace("AU", "") for a in aus)


def new_sheet(title: str, header: list):
    """An openpyxl workbook whose active sheet is ``title`` with ``header`` as its first row."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    if header:
        ws.append(header)
    return wb, ws


def save_sheet(wb, path: Path) -> Path:
    """Save, with digit-only text cells kept as text ('01', '006'), as in the real sheets."""
    for row in wb.active.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.isdigit():
                cell.number_format = "@"
    wb.save(path)
    return path
