"""The loader interface: every fact about a dataset format has one owner, its module. A new format is
one module (plus its registration line); the schema, CLI, workflow wildcard and generator follow."""
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from microexpr.config import plan_errors, validate_config
from microexpr.schema import registry_choices
from microexpr.datasets import FORMATS, format_names, get_format, load_manifest, resolve_scheme
from microexpr.datasets.synthetic import SynthConfig, generate
from conftest import ROOT

SCHEMA = ROOT / "microexpr" / "schemas" / "config.schema.yaml"

# A whole dataset format: frames in <root>/clips/<subject>/<clip>/f<N>.png, a CSV sheet, 50 fps.
TOY = textwrap.dedent('''
    """Toy format: clips/<subject>/<clip>/f<N>.png, labels.csv (subject,clip,onset,apex,offset,emotion). 50 fps."""
    import re
    from pathlib import Path

    import pandas as pd

    from microexpr.datasets.formats import DatasetFormat, SyntheticLayout, register_format


    def read_records(root, sheet=None):
        table = pd.read_csv(sheet or root / "labels.csv", dtype=str)
        table["excel_row"] = range(2, len(table) + 2)
        table["sheet"] = "labels.csv"
        return table.astype(object)


    def write_sheet(root, plans, cfg):
        rows = [dict(subject=p.subject, clip=p.clip, onset=p.onset, apex=p.sheet_apex, offset=p.offset,
                     emotion=p.label) for p in plans]
        pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
        return root / "labels.csv"


    FORMAT = register_format(DatasetFormat(
        name="toy", fps=50.0, labels=("calm", "startle"),
        subject_id=lambda v: str(v).strip(),
        clip_dir=lambda root, subject, clip, label: root / subject / clip,
        frame_regex=re.compile(r"f(?P<n>\\d+)\\.png"),
        frames_root=lambda root, layout="auto": root / "clips",
        read_records=read_records,
        find_sheet=lambda root: root / "labels.csv",
        synthetic=SyntheticLayout(
            channels=1, classes={"calm": (("AU6",), 1), "startle": (("AU1", "AU2"), 2)},
            shares={"calm": 1, "startle": 1},
            subject_ids=lambda n: [f"t{i}" for i in range(n)],
            clip_name=lambda subject, i, label: f"{subject}c{i}",
            frame_path=lambda root, plan, n, cfg: root / "clips" / plan.subject / plan.clip / f"f{n}.png",
            write_sheet=write_sheet,
        ),
    ))
''')


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy module on the import path, imported (its registration), and unregistered afterwards."""
    (tmp_path / "toy_format.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_format", raising=False)
    import toy_format  # noqa: F401

    yield tmp_path
    FORMATS.pop("toy", None)


def test_a_new_format_is_one_module(toy, tmp_path):
    assert "toy" in format_names() and get_format("toy").fps == 50.0
    # the generator writes its stand-in from the module's layout, the loader reads it back
    root = generate(SynthConfig(format="toy", subjects=3, clips_per_subject=2, height=48, width=48), tmp_path / "TOY",
                    progress=False)
    assert (root / "labels.csv").is_file() and sorted(p.name for p in (root / "clips").iterdir()) == ["t0", "t1", "t2"]
    m = load_manifest("toy", root, "all")
    assert len(m) == 6 and set(m.label) <= {"calm", "startle"} and (m.fps == 50.0).all()
    assert m.sample_id.iloc[0].startswith("toy/t0/")
    assert resolve_scheme("toy", "all") == ("all", {"calm": "calm", "startle": "startle"})
    # the configuration accepts it, alone or in a composite, and its frame rate bounds the EVM band
    cfg = validate_config({"dataset": {"format": ["casme2", "toy"], "root": {"toy": str(root)}},
                           "evm": {"high_hz": 30.0}}, SCHEMA)
    assert any("frame rate of toy (50 fps)" in e for e in plan_errors(cfg))
    # the command line offers it
    from microexpr.__main__ import build_parser

    args = build_parser().parse_args(["manifest", "--dataset", "toy", "--root", str(root), "--out", "m.tsv",
                                      "--report", "r.tsv"])
    assert args.dataset == "toy"


def test_the_workflow_takes_a_format_registered_by_entry_point(toy, tmp_path):
    """An installed package declares the format (entry point group microexpr.datasets); Snakemake plans it."""
    dist = tmp_path / "toy_format-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-format\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[microexpr.datasets]\ntoy = toy_format\n")
    root = generate(SynthConfig(format="toy", subjects=2, clips_per_subject=2, height=48, width=48), tmp_path / "TOY",
                    progress=False)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--cores", "1", "--config", f"results={tmp_path}/r",
                           "dataset={format: toy, classes: all, root: " + str(root) + "}",
                           "evm={low_hz: 2.0, high_hz: 20.0}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "manifest" in proc.stdout


def test_registry_owned_choices_match_the_schema_file():
    """The schema file lists the formats for readers; validation takes them from the registry."""
    schema = yaml.safe_load(SCHEMA.read_text())
    single, several = schema["properties"]["dataset"]["properties"]["format"]["anyOf"]
    assert single["enum"] == [*format_names(), "manifest"] and several["items"]["enum"] == format_names()
    assert registry_choices(schema) == schema


def test_each_format_module_owns_its_facts():
    for name in format_names():
        fmt = get_format(name)
        assert fmt.synthetic is not None, name
        sheet_labels = {label.lower() for label in fmt.synthetic.classes}
        assert sheet_labels <= set(fmt.labels), name  # the stand-in writes only labels the loader knows
        assert set(fmt.synthetic.shares) <= set(fmt.synthetic.classes), name
