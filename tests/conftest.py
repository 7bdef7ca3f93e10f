import json
import shutil
import subprocess
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
def tiny_run(tmp_path_factory, worker_id):
    """A CASME II tree on disk (as a user's copy), run once to its report and final model; shared by
    the workflow and predict tests, which only read it (tests that run Snakemake on it take
    ``tiny_copy``). Under pytest-xdist one test process builds it and the others wait for it."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    base = base.parent if worker_id != "master" else base  # the folder every test process's temp dir is in
    tmp_path = base / "tiny"
    with FileLock(str(base / "tiny.lock")):
        record = tmp_path / "run.json"
        if not record.exists():
            from test_workflow import TINY_TRAIN, snakemake, write_config, write_tree

            shutil.rmtree(tmp_path, ignore_errors=True)  # a process that failed half-way
            tmp_path.mkdir()
            root = write_tree("casme2", tmp_path / "CASME2")
            cfg = write_config(tmp_path / "casme2.yaml", name="tiny", results=str(tmp_path / "results"),
                               dataset={"format": "casme2", "root": str(root)}, images={"size": 32},
                               train=TINY_TRAIN)
            run = snakemake("--configfile", str(cfg))
            record.write_text(json.dumps({"stdout": run.stdout, "stderr": run.stderr}))
    run = json.loads(record.read_text())
    return tmp_path, tmp_path / "CASME2", tmp_path / "casme2.yaml", subprocess.CompletedProcess([], 0, **run)


@pytest.fixture
def tiny_copy(tiny_run, tmp_path):
    """The tiny run's results copied (as a user copies a results folder, without Snakemake's records),
    with its config pointing there: for tests that run Snakemake on it. Returns (folder, root, config)."""
    import yaml

    base, root, cfg, _ = tiny_run
    shutil.copytree(base / "results", tmp_path / "results", copy_function=shutil.copy2)
    config = yaml.safe_load(cfg.read_text())
    (tmp_path / "casme2.yaml").write_text(yaml.safe_dump({**config, "results": str(tmp_path / "results")},
                                                         sort_keys=False))
    return tmp_path, root, tmp_path / "casme2.yaml"
