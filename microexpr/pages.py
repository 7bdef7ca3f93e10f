"""Self-contained HTML pages (images embedded): one Jinja2 page shell shared by the run report, the
index of runs and the study comparison, plus the small helpers they share."""

from __future__ import annotations

import base64
import datetime as _dt
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("microexpr", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env


def render(template: str, out: str | Path, **context) -> Path:
    """Render ``templates/<template>`` to ``out`` atomically."""
    page = environment().get_template(template).render(**context)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out)


def png_data_uri(path_or_bytes: str | Path | bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def image_data_uri(img: np.ndarray, width: int | None = None) -> str:
    """An array (gray, or BGR as OpenCV holds it) as an embedded PNG, optionally resized to ``width``."""
    import cv2

    if width and img.shape[1] != width:
        img = cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(".png", img)
    return png_data_uri(buf.tobytes()) if ok else ""


def git_commit(cwd: Path | None = None) -> str:
    cwd = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def export_tables(tables: dict, folder: str | Path) -> list[Path]:
    """Each named table (a DataFrame; None or empty ones are left out) as ``<name>.csv`` and ``<name>.tex``
    (a LaTeX booktabs tabular, text escaped, numbers to 4 decimals) in ``folder``, each written atomically,
    so that what a page shows can be pasted into a paper. Returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        if df is None or df.empty:
            continue
        df = df.copy()
        df.columns = [str(c) for c in df.columns]
        with atomic_path(folder / f"{name}.csv") as tmp:
            df.to_csv(tmp, index=False, float_format="%.4f")
        with atomic_path(folder / f"{name}.tex") as tmp:
            tmp.write_text(df.to_latex(index=False, escape=True, float_format="%.4f"), encoding="utf-8")
        written += [folder / f"{name}.csv", folder / f"{name}.tex"]
    return written


def table(df: pd.DataFrame, floats: str = "{:.3f}", formats: dict[str, str] | None = None) -> dict:
    """A DataFrame as {columns, rows} of display strings for the ``table`` macro: floats as ``floats``
    (scores to 3 places) unless ``formats`` names the column (e.g. seconds to 1 place); NaN as a dash."""
    fmt = [(formats or {}).get(str(c), floats) for c in df.columns]
    rows = [[f.format(v) if isinstance(v, (float, np.floating)) and v == v else
             ("–" if isinstance(v, (float, np.floating)) else str(v)) for f, v in zip(fmt, row)]
            for row in df.itertuples(index=False)]
    return {"columns": [str(c) for c in df.columns], "rows": rows}
