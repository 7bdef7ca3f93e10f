"""Logging set-up for pipeline steps: everything a step says, its progress bars included, goes to
its log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to_file(path: str | Path | None, level: int = logging.INFO) -> None:
    """Send logging records and stderr (tqdm writes there) to ``path``; ``None`` keeps stderr."""
    handlers: list[logging.Handler]
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the step
        sys.stderr = stream
        handlers = [logging.StreamHandler(stream)]
    else:
        handlers = [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
