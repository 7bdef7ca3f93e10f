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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A CASME II tree on disk (as a user's copy), run once to its report and final model; shared by
    the workflow and predict tests."""
    from test_workflow import TINY_TRAIN, snakemake, write_config, write_tree

    tmp_path = tmp_path_factory.mktemp("tiny")
    root = write_tree("casme2", tmp_path / "CASME2")
    cfg = write_config(tmp_path / "casme2.yaml", name="tiny", results=str(tmp_path / "results"),
                       dataset={"format": "casme2", "root": str(root)}, images={"size": 32}, train=TINY_TRAIN)
    run = snakemake("--configfile", str(cfg))
    return tmp_path, root, cfg, run
