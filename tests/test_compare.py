"""Studies over variants: the summary over seeds, the paired difference to the reference, and the
comparison page, rendered in a real headless Chromium."""
import json
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest

from microexpr.compare import collect, summarize, verdict, write_comparison
from microexpr.errors import MicroexprError


def _fake_run(tmp_path, variant, value, seed, scores, n_clips=40, evm="alpha8-ideal-000000", model=None):
    """A run's aggregate metrics.json as rule aggregate writes it (only the keys a comparison reads)."""
    model = model or f"m-{variant}-seed{seed}".replace(" ", "")
    path = tmp_path / "reports" / evm / model / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    acc, uf1, uar = scores
    path.write_text(json.dumps({
        "pooled": {"accuracy": acc, "uf1": uf1, "uar": uar},
        "per_fold_mean": {"accuracy": acc - 0.01, "uf1": uf1 - 0.02, "uar": uar - 0.01},
        "n_clips": n_clips, "n_folds": 4,
        "chance": {"majority_accuracy": 0.4, "majority_uf1": 0.11},
        "per_fold": [{"seconds": 30.0}, {"seconds": 30.0}, {"seconds": 60.0}, {"seconds": 0.0}],
    }))
    (path.parent / "report.html").write_text("<html></html>")
    return {"variant": variant, "value": value, "seed": seed, "evm": evm, "model": model, "metrics": str(path)}


def _alpha_runs(tmp_path, rng):
    runs, truth = [], {}
    for seed in (0, 1, 2):
        for alpha in (0, 4, 16):
            uf1 = 0.3 + 0.01 * alpha + rng.normal(0, 0.01)  # a real rise with alpha, plus seed noise
            truth[(alpha, seed)] = uf1
            runs.append(_fake_run(tmp_path, f"alpha {alpha}", alpha, seed, (uf1 + 0.1, uf1, uf1 + 0.05),
                                  evm=f"alpha{alpha}-ideal-000000"))
    return runs, truth


def test_summary_means_stds_and_paired_differences(tmp_path):
    rng = np.random.default_rng(0)
    runs, truth = _alpha_runs(tmp_path, rng)
    table = collect(runs)
    assert len(table) == 9 and table.fold_minutes.iloc[0] == 2.0
    summary = summarize(table, "alpha_sweep").set_index("variant")
    assert list(summary.index) == ["alpha 0", "alpha 4", "alpha 16"]
    assert summary.loc["alpha 0", "reference"] and not summary.loc["alpha 16", "reference"]
    for alpha in (0, 4, 16):
        vals = np.array([truth[(alpha, s)] for s in (0, 1, 2)])
        row = summary.loc[f"alpha {alpha}"]
        assert row.uf1_mean == pytest.approx(vals.mean()) and row.uf1_std == pytest.approx(vals.std(ddof=1))
        diffs = vals - np.array([truth[(0, s)] for s in (0, 1, 2)])
        assert row.d_uf1_mean == pytest.approx(diffs.mean()) and row.d_uf1_std == pytest.approx(diffs.std(ddof=1))
    assert "consistently better over 3 seeds" in verdict(summary.loc["alpha 16"])
    assert verdict(summary.loc["alpha 0"]) == "reference"


def test_verdicts_say_noise_is_noise(tmp_path):
    runs = []
    for seed, (a, b) in enumerate([(0.50, 0.55), (0.50, 0.45), (0.52, 0.53)]):
        runs.append(_fake_run(tmp_path, "none", "none", seed, (a, a, a)))
        runs.append(_fake_run(tmp_path, "random", "random", seed, (b, b, b)))
    summary = summarize(collect(runs), "ablation_sampler").set_index("variant")
    assert summary.loc["none", "reference"]
    assert "within seed noise" in verdict(summary.loc["random"])
    one_seed = summarize(collect(runs[:2]), "ablation_sampler").set_index("variant")
    assert "one seed" in verdict(one_seed.loc["random"]) and one_seed.loc["random", "uf1_std"] == 0.0


def test_stream_reference_is_the_fullest_set(tmp_path):
    runs = [_fake_run(tmp_path, v, v, 0, (0.5, 0.4, 0.45)) for v in ("flow", "flow+gray", "flow+gray+masked")]
    summary = summarize(collect(runs), "ablation_streams")
    assert summary[summary.reference].variant.tolist() == ["flow+gray+masked"]


def test_bad_inputs_are_named(tmp_path):
    good = _fake_run(tmp_path, "none", "none", 0, (0.5, 0.5, 0.5))
    other = _fake_run(tmp_path, "random", "random", 0, (0.5, 0.5, 0.5), n_clips=41)
    with pytest.raises(MicroexprError, match="different clip counts"):
        collect([good, other])
    with pytest.raises(MicroexprError, match="appears twice"):
        collect([good, good])
    broken = {**good, "metrics": str(tmp_path / "missing.json")}
    with pytest.raises(MicroexprError, match="missing.json"):
        collect([broken])


def _chromium():
    for name in (os.environ.get("MICROEXPR_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


# Appended to a copy of the page: after loading, the browser writes what it laid out into the title.
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const fig = document.getElementById('comparison').getBoundingClientRect();
  document.title = 'PROBE ' + JSON.stringify({
    images: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    figure_w: fig.width, figure_h: fig.height, tables: document.querySelectorAll('table').length,
    rows: document.querySelectorAll('tbody tr').length, height: document.body.scrollHeight});
});
</script></body>"""


@pytest.mark.parametrize("experiment", ["alpha_sweep", "ablation_streams"])
def test_comparison_page_renders_in_headless_chromium(tmp_path, experiment):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium found (make test installs Debian's chromium where it can: scripts/ensure_chromium.sh)")
    if experiment == "alpha_sweep":
        runs, _ = _alpha_runs(tmp_path, np.random.default_rng(1))
    else:
        runs = [_fake_run(tmp_path, v, v, s, (0.5 + 0.05 * i, 0.4 + 0.05 * i, 0.45))
                for s in (0, 1) for i, v in enumerate(("flow", "gray", "flow+gray+masked"))]
    out = tmp_path / "experiments" / experiment
    out.mkdir(parents=True)
    summary = write_comparison(experiment, runs, html=out / "report.html", summary_tsv=out / "summary.tsv",
                               runs_tsv=out / "runs.tsv", figure_png=out / "comparison.png",
                               config={"name": "t", "dataset": {"root": None}},
                               evm_variants={"alpha8-ideal-000000": {"alpha": 8}}, train_variants={"m": {"seed": 0}},
                               name="t")
    assert len(pd.read_csv(out / "runs.tsv", sep="\t")) == len(runs)
    assert len(pd.read_csv(out / "summary.tsv", sep="\t")) == len(summary) == len(runs) // (3 if experiment == "alpha_sweep" else 2)
    page = (out / "report.html").read_text()
    assert "Synthetic data" in page and "Mean ± std over seeds" in page and "run report" in page

    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE))
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
           "--virtual-time-budget=5000"]
    dom = subprocess.run([*cmd, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r"<title>PROBE (\{.*?\})</title>", dom.stdout)
    assert found, f"the page's load handler did not run in {browser}:\n{dom.stderr[-2000:]}"
    laid_out = json.loads(found.group(1))
    assert laid_out["images"] == 1 and laid_out["decoded"] == 1  # the embedded figure decoded
    assert laid_out["figure_w"] > 600 and laid_out["figure_h"] > 300
    assert laid_out["tables"] == 3 and laid_out["rows"] >= len(summary) + len(runs)
    assert laid_out["height"] > 1500

    shot = tmp_path / "shot.png"
    subprocess.run([*cmd, "--hide-scrollbars", f"--screenshot={shot}", (out / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (900, 1200)
    # the figure's coloured lines and bars reach the first screen (saturated pixels, not just text)
    saturation = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1]
    assert (saturation > 100).mean() > 0.002


def test_the_comparison_page_shows_each_runs_bootstrap_interval(tmp_path):
    runs = [_fake_run(tmp_path, f"alpha {a}", a, 0, (0.5, 0.4 + 0.01 * a, 0.45), evm=f"alpha{a}-ideal-000000")
            for a in (0, 8)]
    path = runs[1]["metrics"]
    metrics = json.loads(open(path).read())
    metrics["pooled_ci"] = {"uf1": [0.3012, 0.5534], "accuracy": [0.4, 0.6], "uar": [0.35, 0.55]}
    open(path, "w").write(json.dumps(metrics))
    out = tmp_path / "experiments" / "alpha_sweep"
    out.mkdir(parents=True)
    write_comparison("alpha_sweep", runs, html=out / "report.html", summary_tsv=out / "summary.tsv",
                     runs_tsv=out / "runs.tsv", figure_png=out / "comparison.png",
                     config={"name": "t", "dataset": {"root": None}}, evm_variants={}, train_variants={}, name="t")
    page = (out / "report.html").read_text()
    assert "UF1 95 % interval" in page and "0.301&ndash;0.553" in page
