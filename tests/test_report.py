"""The run report: published references only where comparable, per-fold/per-class tables, training
curves, the gallery of mistakes, the run index, and the page as a browser lays it out."""
import json
import re
import subprocess

import h5py
import numpy as np
import pandas as pd
import pytest

from microexpr.references import references
from microexpr.report import write_aggregate
from microexpr.runindex import write_index
from test_compare import _chromium

CLASSES = ["negative", "positive", "surprise"]
PAPER5_CASME2 = ["disgust", "happiness", "others", "repression", "surprise"]


@pytest.mark.parametrize("protocol,datasets,classes,names,kind", [
    ("loso", ["casme2"], "paper5", PAPER5_CASME2, "paper5"),
    ("loso", ["samm"], "paper5", ["anger", "contempt", "happiness", "other", "surprise"], "paper5"),
    ("loso", ["casme2"], "megc2019", CLASSES, None),          # 3-class CASME II: no 5-class figures
    ("loso", ["casme2"], "all", PAPER5_CASME2 + ["fear", "sadness"], None),
    ("loso", ["smic", "casme2", "samm"], "megc2019", CLASSES, "megc2019"),
    ("loso", ["smic", "casme2", "samm"], ["negative", "positive", "surprise"], CLASSES, "megc2019"),
    ("lodo", ["smic", "casme2", "samm"], "megc2019", CLASSES, None),  # published figures are LOSO
    ("loso", ["casme2", "samm"], "megc2019", CLASSES, None),  # not the composite
    ("loso", ["manifest"], "megc2019", CLASSES, None),        # bring-your-own without a dataset column
])
def test_references_only_where_protocol_datasets_and_classes_match(protocol, datasets, classes, names, kind):
    ref = references(protocol, datasets, classes, names)
    assert (ref["kind"] if ref else None) == kind
    if kind == "megc2019":
        stst = next(r for r in ref["rows"] if r[0] == "STSTNet")
        assert stst[1:3] == ["0.7353", "0.7605"] and len(ref["rows"]) == 3 and "HTNet" in str(ref["rows"])
    if kind == "paper5":  # both of the paper's rows (three streams, flow stream), as its Tables II and III print them
        expected = {"casme2": [("0.5650", "0.5325"), ("0.5077", "0.4705")],
                    "samm": [("0.4071", "0.3173"), ("0.4304", "0.3569")]}[datasets[0]]
        assert [tuple(r[1:3]) for r in ref["rows"]] == expected
        assert "Table II" in ref["rows"][0][3] if datasets == ["casme2"] else "Table III" in ref["rows"][0][3]
        assert not any(r[4] for r in ref["rows"])  # no streams given: no row marked


@pytest.mark.parametrize("streams,marked", [(["flow", "gray", "masked"], "MSCNN"), (["flow"], "EVM + Optical")])
def test_the_paper_row_with_the_runs_streams_is_marked(streams, marked):
    ref = references("loso", ["samm"], "paper5", ["anger", "contempt", "happiness", "other", "surprise"], streams)
    assert [r[0].split(" (")[0] for r in ref["rows"] if r[4] == "yes"] == [marked]


def _fold(tmp_path, fold, subject, dataset, rng, epochs=6):
    """One fold's outputs as train_fold writes them, and its subject's shard."""
    d = tmp_path / "folds" / fold
    d.mkdir(parents=True)
    ids = [f"{dataset}/{subject[len(dataset) + 1:]}/clip{i}" for i in range(4)]
    y = rng.integers(0, 3, len(ids))
    probs = rng.dirichlet(np.ones(3), len(ids))
    pred = probs.argmax(1)
    table = pd.DataFrame({"sample_id": ids, "subject": subject, "fold": fold, "label": [CLASSES[i] for i in y],
                          "pred": [CLASSES[i] for i in pred], **{f"p_{c}": probs[:, j] for j, c in enumerate(CLASSES)}})
    table.to_csv(d / "predictions.csv", index=False)
    acc = float((y == pred).mean())
    (d / "metrics.json").write_text(json.dumps({
        "fold": fold, "classes": CLASSES, "test_subjects": [subject], "train_subjects": ["other"], "n_test": len(ids),
        "accuracy": acc, "uf1": acc, "uar": acc, "best_epoch": 2, "epochs_run": epochs, "seconds": 1.0,
        "config": {"width": 8}, "device": "cpu", "early_stopping": True}))
    pd.DataFrame({"epoch": range(epochs), "train_loss": np.linspace(1, 0.1, epochs),
                  "val_loss": np.linspace(1, 1.5, epochs), "val_uf1": np.linspace(0.3, 0.6, epochs)}).to_csv(
        d / "history.tsv", sep="\t", index=False)
    shard = tmp_path / "shards" / f"{subject}.h5"
    shard.parent.mkdir(exist_ok=True)
    with h5py.File(shard, "w") as h5:
        h5["flow"] = rng.integers(0, 255, (len(ids), 32, 32, 3), dtype=np.uint8)
        h5["gray"] = rng.integers(0, 255, (len(ids), 32, 32), dtype=np.uint8)
        h5["mask"] = (rng.random((len(ids), 32, 32)) > 0.5).astype(np.uint8) * 255
        h5["masked"] = rng.integers(0, 255, (len(ids), 32, 32), dtype=np.uint8)
        h5["label"], h5["aug"] = y, np.zeros(len(ids), np.int8)
        h5.create_dataset("sample_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        h5.attrs.update({"classes": CLASSES, "subject": subject})
    return d, shard


@pytest.fixture
def composite_run(tmp_path):
    rng = np.random.default_rng(0)
    folds = [_fold(tmp_path, s, s, s.split("_")[0], rng) for s in
             ("casme2_sub01", "casme2_sub02", "samm_006", "samm_007", "smic_s1", "smic_s2")]
    name_dir = tmp_path / "results" / "megc"
    report = name_dir / "reports" / "alpha8-x" / "tvl1-x" / "s32-x" / "model-x" / "loso"
    config = {"name": "megc", "dataset": {"format": ["casme2", "samm", "smic"], "classes": "megc2019",
                                          "root": {"casme2": "/data/CASME2", "samm": "/data/SAMM", "smic": "/data/SMIC"}},
              "evm": {"alpha": 8, "low_hz": 5.0, "high_hz": 20.0}}
    result = write_aggregate(
        [d / "metrics.json" for d, _ in folds], [d / "predictions.csv" for d, _ in folds],
        metrics_json=report / "metrics.json", per_fold_tsv=report / "per_fold.tsv",
        per_class_tsv=report / "per_class.tsv", confusion_png=report / "confusion.png",
        report_html=report / "report.html", config=config, title="megc: test", protocol="loso",
        histories=[d / "history.tsv" for d, _ in folds], curves_png=report / "curves.png",
        shards=[s for _, s in folds], index_html=name_dir / "index.html")
    return result, report, name_dir


def test_composite_report_has_datasets_references_curves_and_mistakes(composite_run):
    result, report, name_dir = composite_run
    assert set(result["per_dataset"]) == {"casme2", "samm", "smic"} and result["datasets"] == ["casme2", "samm", "smic"]
    assert len(result["per_fold_class"]) == 6 * 3
    page = (report / "report.html").read_text()
    assert 'id="reference-table"' in page and "Synthetic data" not in page  # real roots: no synthetic warning
    preds = pd.concat(pd.read_csv(p) for p in (report.parents[7] / "folds").rglob("predictions.csv"))
    wrong = int((preds.label != preds.pred).sum())
    assert wrong > 0 and page.count('alt="flow image"') == min(wrong, 24)
    # the most confident correct clip of each class that was ever predicted right, with the colour key
    right = preds[preds.label == preds.pred].label.nunique()
    assert page.count('alt="flow image (correct)"') == right and (right == 0) == ('id="gallery-correct"' not in page)
    assert page.count('alt="masked apex"') == min(wrong, 24) + right and 'id="flow-key"' in page
    assert page.count('alt="mask"') == min(wrong, 24) + right
    per_fold = page[page.index('id="per-fold-table"'):].split("</table>")[0]
    head = re.findall(r"<th>(.*?)</th>", per_fold)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", per_fold.split("<tbody>")[1])]
    assert len(cells) == 6 and {row[head.index("seconds")] for row in cells} == {"1.0"}  # times to 1 place
    assert all(re.fullmatch(r"\d\.\d{3}", row[head.index("uf1")]) for row in cells)  # scores to 3
    index = (name_dir / "index.html").read_text()
    assert "reports/alpha8-x/tvl1-x/s32-x/model-x/loso/report.html" in index
    assert f"{result['pooled']['uf1']:.3f}" in index
    ci = result["pooled_ci"]  # bootstrap over the 6 subjects, on the report and the index
    assert ci["unit"] == "subject" and ci["subjects"] == 6 and ci["uf1"][0] <= result["pooled"]["uf1"] <= ci["uf1"][1]
    for page_text in (page, index):
        assert f"{ci['uf1'][0]:.3f}&ndash;{ci['uf1'][1]:.3f}" in page_text


def test_training_curves_are_one_fold_a_row_at_the_pages_width(composite_run):
    import struct

    from microexpr.plots import curves_figure

    def size(png):  # a PNG's IHDR: width and height, big-endian, after the 8-byte signature and chunk head
        return struct.unpack(">II", png.read_bytes()[16:24])

    _, report, _ = composite_run
    width, height = size(report / "curves.png")
    assert width == 1000 and height >= 6 * 180  # six folds, each its own row of two panels
    one = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 1.0],
                        "val_uf1": [0.2, 0.4, 0.3]})
    one_w, one_h = size(curves_figure({"sub01": one}, {"sub01": 1}, report.parent / "one.png"))
    assert one_w == 1000 and one_h < height / 3


def test_the_index_reads_a_runs_tags_from_its_metrics_not_its_path(tmp_path):
    import yaml

    rng = np.random.default_rng(1)
    folds = [_fold(tmp_path, s, s, "casme2", rng) for s in ("casme2_sub01", "casme2_sub02")]
    name_dir = tmp_path / "results" / "run"
    report = name_dir / "reports" / "moved" / "elsewhere"  # not evm/flow/images/model/protocol
    tags = {"evm": {"tag": "alpha8-ideal-aaaaaa", "settings": {"alpha": 8}},
            "flow": {"tag": "dis-bbbbbb", "settings": {"method": "dis", "preset": "medium"}},
            "images": {"tag": "s32-t50-cccccc", "settings": {"size": 32}},
            "model": {"tag": "flow-random-w8-seed0-dddddd", "settings": {"width": 8}}}
    write_aggregate([d / "metrics.json" for d, _ in folds], [d / "predictions.csv" for d, _ in folds],
                    metrics_json=report / "metrics.json", per_fold_tsv=report / "per_fold.tsv",
                    per_class_tsv=report / "per_class.tsv", confusion_png=report / "confusion.png",
                    report_html=report / "report.html", tags=tags, params_yaml=report / "params.yaml",
                    index_html=name_dir / "index.html")
    from microexpr.runindex import runs_table

    row = runs_table(name_dir).iloc[0]
    assert (row.evm, row.flow, row.images, row.model, row.protocol) == (
        "alpha8-ideal-aaaaaa", "dis-bbbbbb", "s32-t50-cccccc", "flow-random-w8-seed0-dddddd", "loso")
    params = yaml.safe_load((report / "params.yaml").read_text())
    assert params == {**tags, "protocol": "loso"}


def test_index_lists_every_finished_run_and_survives_a_broken_one(composite_run):
    _, report, name_dir = composite_run
    other = report.parents[1] / "model-y" / "loso"
    other.mkdir(parents=True)
    metrics = json.loads((report / "metrics.json").read_text())
    metrics["pooled"]["uf1"] = 0.123456
    (other / "metrics.json").write_text(json.dumps(metrics))
    broken = report.parents[1] / "model-z" / "loso"
    broken.mkdir(parents=True)
    (broken / "metrics.json").write_text("{not json")
    (other / "final_model.pt").write_bytes(b"")  # a run whose final model is there
    index = write_index(name_dir).read_text()
    assert index.count(">report</a>") == 2 and "0.123" in index and "model-z" not in index
    # each run's settings behind its hashes, its folds' spread, the majority level, its final model
    assert index.count("<details>") == 2 and index.count("alpha: 8") == 2 and "high_hz: 20.0" in index
    fold, chance = metrics["per_fold_mean"]["uf1"], metrics["chance"]["majority_uf1"]
    assert f"{fold:.3f} &plusmn; {metrics['per_fold_std']['uf1']:.3f}" in index
    assert f"{chance:.3f} / {metrics['chance']['majority_accuracy']:.3f}" in index
    assert index.count(">final model</a>") == 1 and "model-y/loso/final_model.pt" in index


# Appended to a copy of the page: after loading, the browser writes what it laid out into the title.
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const box = id => { const e = document.getElementById(id); return e ? e.getBoundingClientRect().width : 0; };
  document.title = 'PROBE ' + JSON.stringify({
    images: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    confusion_w: box('confusion'), curves_w: box('curves'), gallery_w: box('gallery'),
    reference_rows: document.querySelectorAll('#reference-table tbody tr').length,
    dataset_rows: document.querySelectorAll('#per-dataset tbody tr').length,
    tables: document.querySelectorAll('table').length});
});
</script></body>"""


def test_report_renders_in_headless_chromium(composite_run):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium found (make test installs Debian's chromium where it can: scripts/ensure_chromium.sh)")
    _, report, _ = composite_run
    probe = report / "probe.html"
    probe.write_text((report / "report.html").read_text().replace("</body>", _PROBE))
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
           "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r"<title>PROBE (\{.*?\})</title>", dom.stdout)
    assert found, f"the page's load handler did not run in {browser}:\n{dom.stderr[-2000:]}"
    laid_out = json.loads(found.group(1))
    assert laid_out["images"] >= 4 and laid_out["decoded"] == laid_out["images"]  # every embedded PNG decodes
    assert laid_out["confusion_w"] > 200 and laid_out["curves_w"] > 600 and laid_out["gallery_w"] > 600
    assert laid_out["reference_rows"] == 3 and laid_out["dataset_rows"] == 3 and laid_out["tables"] >= 6


def test_tables_export_as_csv_and_booktabs_latex(tmp_path):
    from microexpr.pages import export_tables

    df = pd.DataFrame({"class": ["happiness", "sad_ness & co"], "f1": [0.5, 0.123456]})
    written = export_tables({"per_class": df, "empty": pd.DataFrame(), "none": None}, tmp_path / "tables")
    assert sorted(p.name for p in written) == ["per_class.csv", "per_class.tex"]
    assert pd.read_csv(tmp_path / "tables" / "per_class.csv").f1.tolist() == [0.5, 0.1235]
    tex = (tmp_path / "tables" / "per_class.tex").read_text()
    assert tex.startswith("\\begin{tabular}") and "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "sad\\_ness \\& co & 0.1235 \\\\" in tex  # text escaped for LaTeX
    assert not list((tmp_path / "tables").glob("*.tmp"))
