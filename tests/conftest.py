import shutil
from pathlib import Path

import pytest

from microexpr.datasets.synthetic import SynthConfig, generate

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(subjects=3, clips_per_subject=5, height=72, width=64)


@pytest.fixture(scope="session")
def synth_factory(tmp_path_factory):
    """Generate (once per session and parameter set) a small synthetic dataset; returns its root."""
    cache: dict[tuple, Path] = {}

    def make(**kw) -> Path:
        params = {**SMALL, **kw}
        key = tuple(sorted(params.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("synth") / params.get("format", "casme2")
            generate(SynthConfig(**params), out, progress=False)
            cache[key] = out
        return cache[key]

    return make


@pytest.fixture
def writable_copy(tmp_path):
    """A private copy of a (session-cached) dataset, for tests that damage it."""

    def copy(root: Path) -> Path:
        dst = tmp_path / root.name
        shutil.copytree(root, dst)
        return dst

    return copy
