"""snakemake paper_table: the hand-crafted baselines and MSCNN's streams through one LOSO, beside the
MSCNN paper's published figures, on small synthetic CASME II and SAMM trees."""
import json

import pandas as pd
import pytest

from test_workflow import snakemake, write_config, write_tree

pytestmark = pytest.mark.workflow

SMALL = dict(images={"size": 32, "augment": False}, flow={"method": "dis"},
             train={"width": 8, "max_epochs": 2, "patience": 5, "batch_size": 16},
             features={m: {"grid": [2, 2]} for m in ("lbptop", "lbpsip", "hoof")})


def _run(tmp_path, fmt, subjects=3, **experiments):
    root = write_tree(fmt, tmp_path / fmt.upper(), subjects=subjects, clips=4)
    cfg = write_config(tmp_path / "c.yaml", name=f"pt_{fmt}", results=str(tmp_path / "results"),
                       dataset={"format": fmt, "root": str(root), "classes": "paper5"},
                       experiments={"seeds": [0], **experiments}, **SMALL)
    snakemake("paper_table", "--configfile", str(cfg))
    out = tmp_path / "results" / f"pt_{fmt}"
    summary = pd.read_csv(out / "experiments" / "paper_table" / "summary.tsv", sep="\t").set_index("variant")
    runs = pd.read_csv(out / "experiments" / "paper_table" / "runs.tsv", sep="\t").set_index("variant")
    return out, summary, runs


def _default_rows():
    import yaml

    from microexpr.config import SCHEMA_PATH

    return yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["experiments"]["properties"]["paper_rows"]["default"]


def test_the_default_paper_rows_are_the_papers_table():
    rows = _default_rows()
    assert [r["name"] for r in rows] == ["LBP-TOP", "LBP-SIP", "HOOF", "EVM + Optical", "MSCNN"]
    assert [r["paper_row"] for r in rows] == ["LBP-TOP", "LBP-SIP", "HOOF", "Ours (EVM + Optical)", "MSCNN"]
    assert all(r["evm"] == {"alpha": 0} for r in rows[:3]) and all("evm" not in r for r in rows[3:])


def test_paper_table_on_synthetic_casme2(tmp_path):
    # the default rows but LBP-SIP (its features are LBP-TOP's on other planes: tests/test_handcrafted.py)
    rows = [r for r in _default_rows() if r["name"] != "LBP-SIP"]
    out, summary, runs = _run(tmp_path, "casme2", paper_rows=rows)
    assert list(summary.index) == ["LBP-TOP", "HOOF", "EVM + Optical", "MSCNN"]
    assert summary.reference.tolist() == [False] * 3 + [True]
    assert summary.loc["MSCNN", "published"].startswith("0.5650 / 0.5325 (arXiv:2011.03756, Table II, row 'MSCNN')")
    assert summary.loc["EVM + Optical", "published"].startswith("0.5077 / 0.4705")
    assert summary.loc["LBP-TOP", "published"].startswith("not transcribed")
    # hand-crafted rows without magnification, the network rows at the configured alpha 8
    assert all(runs.loc[v, "evm"].startswith("alpha0-") for v in ("LBP-TOP", "HOOF"))
    assert all(runs.loc[v, "evm"].startswith("alpha8-") for v in ("EVM + Optical", "MSCNN"))
    assert runs.loc["HOOF", "model"].startswith("hoof-svm-seed0-")
    features = sorted(p.relative_to(out / "features").parts[2].split("-")[0] for p in (out / "features").rglob("*.h5"))
    assert features == ["hoof"] * 3 + ["lbptop"] * 3  # three subjects each, cached per subject
    for fold in (out / "folds").rglob("lbptop-svm-*/loso/*/metrics.json"):
        m = json.loads(fold.read_text())
        assert m["fold"] not in m["train_subjects"] and "inner cross-validation" in m["selection"]["rule"]
    page = (out / "experiments" / "paper_table" / "report.html").read_text()
    assert "published accuracy / F1" in page and "Table II" in page and "HOOF" in page
    assert not (out / "experiments" / "paper_table" / "report.html.tmp").exists()
    variants = pd.read_csv(out / "experiments" / "paper_table" / "tables" / "variants.csv")
    assert variants.variant.tolist() == ["LBP-TOP", "HOOF", "EVM + Optical", "MSCNN (reference)"]
    assert "0.5650 / 0.5325" in (out / "experiments" / "paper_table" / "tables" / "variants.tex").read_text()


def test_paper_table_on_synthetic_samm_names_table_iii(tmp_path):
    # the paper's own two rows (both at the configured alpha, so they share every pre-processing stage)
    rows = [{"name": "EVM + Optical", "paper_row": "Ours (EVM + Optical)", "train": {"streams": ["flow"]}},
            {"name": "MSCNN", "paper_row": "MSCNN", "train": {"streams": ["flow", "gray", "masked"]}}]
    out, summary, _ = _run(tmp_path, "samm", subjects=2, paper_rows=rows)  # no inner cross-validation to show
    assert summary.loc["MSCNN", "published"].startswith("0.4071 / 0.3173 (arXiv:2011.03756, Table III, row 'MSCNN')")
    assert summary.loc["EVM + Optical", "published"].startswith(
        "0.4304 / 0.3569 (arXiv:2011.03756, Table III, row 'Ours (EVM + Optical)')")
    d = summary.loc["EVM + Optical", "uf1_mean"] - summary.loc["MSCNN", "uf1_mean"]
    assert summary.loc["EVM + Optical", "d_uf1_mean"] == pytest.approx(d, abs=1e-4)  # the summary rounds to 4 places


def test_the_published_column_says_why_a_row_has_no_figure():
    from microexpr.references import paper_figure

    samm = ["anger", "contempt", "happiness", "surprise", "other"]
    assert paper_figure("HOOF", "loso", ["samm"], "paper5", samm) == "not transcribed (the paper's Table III row 'HOOF')"
    assert paper_figure("MSCNN", "lodo", ["samm"], "paper5", samm).startswith("not comparable")
    assert paper_figure("MSCNN", "loso", ["casme2", "samm"], "paper5", samm).startswith("not comparable")
    assert paper_figure("MSCNN", "loso", ["samm"], "all", samm + ["fear"]).startswith("not comparable")
    assert paper_figure(None, "loso", ["samm"], "paper5", samm) == ""
