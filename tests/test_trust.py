"""Trust: no code runs from a model file, no stale checkpoint is resumed, no wrong score is reported as
success, no run silently replaces another, and predict is bounded. Each case failed before its fix."""
import json
import logging
import os
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import microexpr.training.loop as loop_mod
from microexpr.config import ConfigError, plan_errors, run_dataset_problem, validate_config
from microexpr.datasets.manifest import name_problem, require_classes
from microexpr.errors import DatasetError, MicroexprError
from microexpr.bundle import load_bundle, make_bundle, save_bundle
from microexpr.predict import PredictError, read_clip
from microexpr.training import FoldError, train_fold

from test_config import SCHEMA
from test_train import config, shards  # noqa: F401  (the module's tiny shards fixture)


class RunsCode:
    """A pickle payload: unpickling it runs a shell command (creates ``marker``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_file(path, marker, **extra):
    torch.save({"format": 1, "payload": RunsCode(marker), **extra}, path)
    return path


def test_the_payload_is_live(tmp_path):
    """The payload of the tests below really runs code when unpickled (plain pickle, never a model file)."""
    import pickle

    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(RunsCode(marker)))
    assert marker.exists()


def test_a_bundle_that_runs_code_is_refused_unopened(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(PredictError, match="refused: it holds more than tensors and plain data"):
        load_bundle(evil_file(tmp_path / "evil.pt", marker))
    assert not marker.exists()


def test_bundles_hold_tensors_and_plain_data_only(tmp_path):
    state = {"w": torch.ones(2, 3)}
    bundle = make_bundle(state, ["a", "b"], {"streams": ("flow",), "lr": np.float64(0.1)},
                         settings={"images": {"size": 32}}, loso={"uf1": float("nan")}, epochs=3,
                         subjects=["s1"], history=[{"epoch": 0}])
    assert bundle["train"] == {"streams": ["flow"], "lr": 0.1}
    loaded = load_bundle(save_bundle(bundle, tmp_path / "b.pt"))
    assert torch.equal(loaded["model"]["w"], state["w"]) and loaded["classes"] == ["a", "b"]
    with pytest.raises(TypeError, match="plain data only"):
        make_bundle(state, ["a"], {"x": object()}, settings={}, loso={}, epochs=1, subjects=[], history=[])


def test_a_checkpoint_that_runs_code_is_never_loaded(shards, tmp_path, caplog):  # noqa: F811
    marker = tmp_path / "ran"
    out = tmp_path / "fold"
    out.mkdir()
    evil_file(out / "checkpoint.pt", marker)
    with caplog.at_level(logging.WARNING):
        m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], out, config(max_epochs=2), progress=False)
    assert not marker.exists() and m["epochs_run"] == 2
    assert "never loaded" in caplog.text and "starts from scratch" in caplog.text


def _kill_in_epoch(monkeypatch, n):
    real = loop_mod.evaluate
    calls = {"n": 0}

    def dies(*args, **kw):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt("killed")
        return real(*args, **kw)

    monkeypatch.setattr(loop_mod, "evaluate", dies)
    return lambda: monkeypatch.setattr(loop_mod, "evaluate", real)


def test_a_checkpoint_of_other_data_restarts_the_fold(shards, tmp_path, monkeypatch, caplog):  # noqa: F811
    own = {s: shutil.copy(p, tmp_path / f"{s}.h5") for s, p in shards.items()}
    train, test = [own["sub02"], own["sub03"]], own["sub01"]
    restore = _kill_in_epoch(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        train_fold(train, test, tmp_path / "b", config(), progress=False)
    restore()
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    with h5py.File(own["sub02"], "r+") as h5:  # four labels edited in the sheet, the shard made again
        labels = h5["label"][()]
        labels[:4] = (labels[:4] + 1) % 5
        h5["label"][...] = labels
    with caplog.at_level(logging.INFO):
        resumed = train_fold(train, test, tmp_path / "b", config(), progress=False)
    assert "other shard contents" in caplog.text and "resumed" not in caplog.text
    clean = train_fold(train, test, tmp_path / "c", config(), progress=False)
    assert resumed["epochs_run"] == clean["epochs_run"]
    a = pd.read_csv(tmp_path / "b" / "predictions.csv").filter(like="p_").to_numpy()
    b = pd.read_csv(tmp_path / "c" / "predictions.csv").filter(like="p_").to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_diverging_fold_fails_instead_of_reporting(shards, tmp_path):  # noqa: F811
    with pytest.raises(MicroexprError, match="lr must be above 0, got nan"):  # refused before it trains
        config(lr=float("nan"))
    with pytest.raises(FoldError, match="not finite"):  # a rate that blows the weights up
        train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path, config(lr=1e30, momentum=0.0),
                   progress=False)
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "predictions.csv").exists()


@pytest.mark.parametrize("section,key,value", [("train", "lr", float("nan")), ("evm", "alpha", float("inf")),
                                               ("images", "max_magnitude", float("-inf"))])
def test_non_finite_settings_are_refused(section, key, value):
    with pytest.raises(ConfigError, match=rf"'{section}.{key}' is not a finite number"):
        validate_config({section: {key: value}}, SCHEMA)


def test_numbers_yaml_reads_as_text_are_numbers():
    import yaml

    cfg = yaml.safe_load("train: {lr: 1e-3, weight_decay: 5E-4}\n")
    assert cfg["train"]["lr"] == "1e-3"  # PyYAML (YAML 1.1) reads these as text
    validate_config(cfg, SCHEMA)
    assert cfg["train"]["lr"] == 0.001 and cfg["train"]["weight_decay"] == 0.0005
    with pytest.raises(ConfigError, match="train.lr"):
        validate_config({"train": {"lr": "fast"}}, SCHEMA)


def test_names_and_results_folder():
    assert name_problem("tiny\n", "run name") and name_problem("..", "x") and not name_problem("a.b-c_1", "x")
    with pytest.raises(ConfigError, match="'name'"):
        validate_config({"name": "tiny\n"}, SCHEMA)
    for results in ("", "/", "  "):
        cfg = validate_config({"results": results}, SCHEMA)
        assert any("config key 'results'" in e for e in plan_errors(cfg))


def test_classes_default_per_format():
    assert validate_config({"dataset": {"format": "manifest", "root": "x.csv"}}, SCHEMA)["dataset"]["classes"] == "all"
    assert validate_config({"dataset": {"format": "samm"}}, SCHEMA)["dataset"]["classes"] == "paper5"
    assert validate_config({"dataset": {"classes": "megc2019"}}, SCHEMA)["dataset"]["classes"] == "megc2019"


def test_one_class_is_refused():
    with pytest.raises(DatasetError, match=r"1 class\(es\) \['happiness'\]"):
        require_classes(pd.DataFrame({"label": ["happiness"] * 3}), "one.csv")
    require_classes(pd.DataFrame({"label": ["happiness", "surprise"]}), "two.csv")


def test_a_run_name_is_bound_to_its_dataset(tmp_path):
    results, out = tmp_path / "results", tmp_path / "results" / "tiny"
    first = {"casme2": str(tmp_path / "CASME2")}
    assert run_dataset_problem(out, results, first, record=False) is None and not (out / "dataset.json").exists()
    assert run_dataset_problem(out, results, first, record=True) is None and (out / "dataset.json").is_file()
    assert run_dataset_problem(out, results, first, record=True) is None
    problem = run_dataset_problem(out, results, {"casme2": str(tmp_path / "other")}, record=True)
    assert "CASME2" in problem and "other" in problem and "'name'" in problem
    # the synthetic stand-ins live inside results: a moved results folder still matches
    synth = {"casme2": str(results / "synthetic" / "casme2_abcdef")}
    assert run_dataset_problem(results / "s", results, synth, record=True) is None
    moved = tmp_path / "moved"
    shutil.copytree(results, moved)
    assert run_dataset_problem(moved / "s", moved, {"casme2": str(moved / "synthetic" / "casme2_abcdef")},
                               record=True) is None


def test_predict_refuses_a_clip_too_long_before_reading_it(tmp_path):
    import cv2

    folder = tmp_path / "long"
    folder.mkdir()
    frame = np.zeros((16, 16), np.uint8)
    for i in range(12):
        cv2.imwrite(str(folder / f"img{i}.png"), frame)
    with pytest.raises(PredictError, match="12 frames, more than the 10 read at most"):
        read_clip(folder, fps=200, max_frames=10)
    assert len(read_clip(folder, fps=200, max_frames=12).frames) == 12
    video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (16, 16), False)
    for _ in range(12):
        writer.write(frame)
    writer.release()
    with pytest.raises(PredictError, match="more than the 10 read at most"):
        read_clip(video, max_frames=10)


# ----------------------------------------------------------------------------- inputs at the manifest
from openpyxl import load_workbook  # noqa: E402

from microexpr.datasets import load_manifest  # noqa: E402
from microexpr.datasets.synthetic import read_ground_truth  # noqa: E402
from microexpr.io import read_frame  # noqa: E402
from microexpr.preprocess import read_segment  # noqa: E402


def _clip(root, n=0):
    r = [r for r in read_ground_truth(root).itertuples() if not r.planted][n]
    return r, root / "Cropped" / r.subject / r.clip


def _manifest_row(m, r):
    return m[(m.subject == r.subject) & (m["clip"] == r.clip)].iloc[0]


def test_frames_are_read_by_the_names_found(synth_factory, writable_copy):
    import cv2

    root = writable_copy(synth_factory(format="casme2"))
    r, folder = _clip(root)
    apex = folder / f"reg_img{r.apex}.jpg"
    original = read_frame(apex, gray=True)
    cv2.imwrite(str(folder / f"reg_img{r.apex}.png"), original)  # re-saved as PNG
    apex.unlink()
    (folder / f"reg_img{r.onset}.jpg").rename(folder / f"reg_img{r.onset:05d}.jpg")  # zero-padded
    (folder / f"reg_img{r.offset}.jpg").rename(folder / f"REG_IMG{r.offset}.JPG")  # upper case
    m = load_manifest("casme2", root, "paper5")
    assert r.clip in set(m["clip"]), m.attrs["report"].to_string()
    row = _manifest_row(m, r)
    frames, numbers = read_segment(row, pad=2)
    assert list(numbers) == list(range(r.onset - 2, r.offset + 3))  # EVM's padding frames too
    np.testing.assert_array_equal(frames[list(numbers).index(r.apex)], original)  # lossless PNG of the JPEG's pixels


def test_sixteen_bit_frames_keep_their_values(tmp_path):
    import cv2

    eight = (np.arange(256, dtype=np.uint16).reshape(16, 16))
    cv2.imwrite(str(tmp_path / "a.png"), eight)  # 8-bit values in a 16-bit PNG
    np.testing.assert_array_equal(read_frame(tmp_path / "a.png", gray=True), eight.astype(np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), eight * 257)  # a real 16-bit range
    np.testing.assert_array_equal(read_frame(tmp_path / "b.png", gray=True), eight.astype(np.uint8))


def test_damaged_frames_and_clip_folders_are_dropped_by_clip(synth_factory, writable_copy):
    import cv2

    root = writable_copy(synth_factory(format="casme2"))
    (r0, f0), (r1, f1), (r2, f2), (r3, f3) = (_clip(root, i) for i in range(4))
    png = f0 / f"reg_img{r0.apex}.png"  # a truncated PNG
    cv2.imwrite(str(png), cv2.imread(str(f0 / f"reg_img{r0.apex}.jpg")))
    (f0 / f"reg_img{r0.apex}.jpg").unlink()
    png.write_bytes(png.read_bytes()[:-200])
    jpg = f1 / f"reg_img{r1.apex}.jpg"  # damaged in the middle, end marker intact
    data = bytearray(jpg.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = np.random.default_rng(0).integers(0, 256, 64, np.uint8).tobytes()
    jpg.write_bytes(bytes(data))
    shutil.copy(f2 / f"reg_img{r2.apex}.jpg", f2 / f"reg_img{r2.apex:06d}.jpg")  # frame number twice
    for p in sorted(f3.iterdir()):  # frames of 10 x 10 px
        cv2.imwrite(str(p), cv2.resize(cv2.imread(str(p)), (10, 10)))
    def report(verify):
        rep = load_manifest("casme2", root, "paper5", verify=verify).attrs["report"]
        return rep.set_index(rep.subject + "/" + rep["clip"])

    header = report("header")
    assert header.code[f'{r0.subject}/{r0.clip}'] == "corrupt_frame" and "truncated PNG" in header.reason[f'{r0.subject}/{r0.clip}']
    assert header.code[f'{r2.subject}/{r2.clip}'] == "duplicate_frames" and f"reg_img{r2.apex:06d}.jpg" in header.reason[f'{r2.subject}/{r2.clip}']
    assert header.code[f'{r3.subject}/{r3.clip}'] == "frame_too_small" and "10x10" in header.reason[f'{r3.subject}/{r3.clip}']
    assert f'{r1.subject}/{r1.clip}' not in header.index  # the header check cannot see it ...
    decode = report("decode")
    assert decode.code[f'{r1.subject}/{r1.clip}'] == "corrupt_frame" and "damaged image data" in decode.reason[f'{r1.subject}/{r1.clip}']  # ... decoding does


def test_sheet_rows_that_cannot_be_trusted_are_dropped_by_row(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme2"))
    sheet = root / "CASME2-coding-20190701.xlsx"
    wb = load_workbook(sheet)
    ws = wb.active
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) + 1 for name in ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                                     "Estimated Emotion")}
    rows = {(str(ws.cell(k, col["Subject"]).value), ws.cell(k, col["Filename"]).value): k for k in range(2, ws.max_row + 1)}
    regular = [r for r in read_ground_truth(root).itertuples() if not r.planted]
    k_dup, k_formula, k_one = (rows[(r.subject.removeprefix("sub"), r.clip)] for r in regular[:3])
    ws.append([ws.cell(k_dup, c).value for c in range(1, ws.max_column + 1)])  # the same clip again ...
    ws.cell(ws.max_row, col["Estimated Emotion"], "surprise" if regular[0].label != "surprise" else "disgust")  # ... coded otherwise
    ws.cell(k_formula, col["ApexFrame"], f"={col['OnsetFrame']}+1")  # a formula no program computed
    ws.cell(k_one, col["OffsetFrame"], ws.cell(k_one, col["OnsetFrame"]).value)  # onset == offset
    wb.save(sheet)
    m = load_manifest("casme2", root, "paper5")
    report = m.attrs["report"]
    assert regular[0].clip not in set(m[m.subject == regular[0].subject]["clip"])
    assert sorted(report.query("code == 'conflicting_duplicate'").sheet_row) == [k_dup, ws.max_row]
    formula = report.query("code == 'formula_without_value'")
    assert list(formula.sheet_row) == [k_formula] and "apex =" in formula.reason.iloc[0]
    assert list(report.query("code == 'one_frame'").sheet_row) == [k_one]


def test_ambiguous_sheets_are_an_error_naming_them(synth_factory, writable_copy, caplog):
    root = writable_copy(synth_factory(format="casme2"))
    with caplog.at_level(logging.INFO):
        load_manifest("casme2", root, "paper5")
    assert "CASME2-coding-20190701.xlsx, worksheet" in caplog.text  # the chosen sheet is logged
    shutil.copy(root / "CASME2-coding-20190701.xlsx", root / "CASME2-coding-20200101.xlsx")
    with pytest.raises(DatasetError, match="several coding sheets match.*20190701.*20200101"):
        load_manifest("casme2", root, "paper5")
    (root / "CASME2-coding-20200101.xlsx").unlink()
    samm = writable_copy(synth_factory(format="samm"))
    path = next(samm.glob("SAMM_Micro_FACS_Codes*.xlsx"))
    wb = load_workbook(path)
    wb.active.title = "Sheet1"  # MICRO_ONLY renamed ...
    wb.copy_worksheet(wb.active).title = "old coding"  # ... beside another sheet with the same header
    wb.save(path)
    with pytest.raises(DatasetError, match="'Sheet1', 'old coding' each hold a coding header"):
        load_manifest("samm", samm, "paper5")


# ----------------------------------------------------------------------------- code in the cache key
from conftest import ROOT  # noqa: E402
from microexpr.codefp import cache_file, code_fingerprint, stage_modules  # noqa: E402

SCRIPTS = ROOT / "workflow_scripts"


def test_a_library_edit_changes_exactly_the_stages_whose_code_it_touches(tmp_path):
    package = tmp_path / "microexpr"
    shutil.copytree(ROOT / "microexpr", package, ignore=shutil.ignore_patterns("__pycache__"))
    stages = ("magnify", "flow", "shard", "train_fold", "aggregate", "manifest")
    before = {s: code_fingerprint(SCRIPTS / f"{s}.py", package) for s in stages}
    assert before == {s: code_fingerprint(SCRIPTS / f"{s}.py") for s in stages}  # the copy reads as the original
    assert "microexpr.flow" in stage_modules(SCRIPTS / "flow.py")
    assert "microexpr.flow" not in stage_modules(SCRIPTS / "magnify.py")

    flow = package / "flow.py"
    text = flow.read_text()
    flow.write_text(text.replace('"""', '"""An edited docstring. ', 1) + "\n# a comment\n")
    assert {s: code_fingerprint(SCRIPTS / f"{s}.py", package) for s in stages} == before  # no code changed

    flow.write_text(text.replace("def make_flow_estimator(", "def _unused_helper():\n    return 1\n\n\n"
                                 "def make_flow_estimator(", 1))
    assert {s: code_fingerprint(SCRIPTS / f"{s}.py", package) for s in stages} == before  # nothing calls it

    body = text.replace("def make_flow_estimator(", "EDITED = 1\n\n\ndef make_flow_estimator(", 1)
    body = body.replace("def make_flow_estimator(", "def make_flow_estimator(_edited=EDITED, ", 1)
    flow.write_text(body)
    after = {s: code_fingerprint(SCRIPTS / f"{s}.py", package) for s in stages}
    changed = sorted(s for s in stages if after[s] != before[s])
    assert "flow" in changed and "magnify" not in changed and "train_fold" not in changed

    # code re-exported by a package's __init__ (microexpr.training) is followed to where it is written
    flow.write_text(text)
    assert {"microexpr.training.fold", "microexpr.training.loop"} <= set(stage_modules(SCRIPTS / "train_fold.py"))
    loop = package / "training" / "loop.py"
    loop.write_text(loop.read_text().replace("    model.train()\n", "    model.train()\n    _ = 1\n", 1))
    after = {s: code_fingerprint(SCRIPTS / f"{s}.py", package) for s in stages}
    assert sorted(s for s in stages if after[s] != before[s]) == ["train_fold"]


def test_code_fingerprints_are_cached_under_a_hash_of_every_byte_they_read(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    script = SCRIPTS / "flow.py"
    fresh = code_fingerprint(script, use_cache=False)
    assert code_fingerprint(script) == fresh and cache_file().parent == tmp_path / "cache" / "microexpr"
    (key,) = json.loads(cache_file().read_text())
    cache_file().write_text(json.dumps({key: "0" * 12}))
    assert code_fingerprint(script) == "0" * 12  # the entry is what a lookup returns...

    package = tmp_path / "microexpr"
    shutil.copytree(ROOT / "microexpr", package, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_fingerprint(script, package) == "0" * 12  # (the same bytes elsewhere are the same key)
    flow = package / "flow.py"
    flow.write_text(flow.read_text().replace("def make_flow_estimator(", "EDITED = 1\n\n\ndef make_flow_estimator("
                                             "_edited=EDITED, ", 1))
    edited = code_fingerprint(script, package)  # ...and an edit is a new key, computed afresh
    assert edited not in ("0" * 12, fresh) and edited == code_fingerprint(script, package, use_cache=False)
    assert len(json.loads(cache_file().read_text())) == 2

    cache_file().write_text("{not json")  # a damaged cache is read past, then rewritten
    assert code_fingerprint(script) == fresh and json.loads(cache_file().read_text())
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a file"))  # no cache folder can be made there...
    assert code_fingerprint(script) == fresh  # ...which only costs the reading


# ----------------------------------------------------------------------------- figures users read
from microexpr.figures import default_run_text, find_metrics, update  # noqa: E402


def test_quoted_figures_are_written_from_the_run_and_checked(tiny_run, tmp_path):
    base = tiny_run[0]
    metrics = find_metrics(base / "results" / "tiny")
    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- figures:default-run -->\nDefault run: not measured yet.\n"
                   "<!-- /figures:default-run -->\nrest\n")
    assert update([doc], metrics, check=True)  # not the run's figures
    update([doc], metrics)
    assert update([doc], metrics, check=True) == []
    written = json.loads(metrics.read_text())
    assert written["processor"] and all(p.endswith(")") for p in written["processor"])  # model (vector ISA)
    flat = " ".join(doc.read_text().split())
    assert f"UF1 {written['pooled']['uf1']:.3f}" in flat and doc.read_text().endswith("rest\n")
    doc.write_text(re.sub(rf"UF1\s+{written['pooled']['uf1']:.3f}", "UF1 0.999", doc.read_text(), count=1))
    assert "UF1 0.999" in update([doc], metrics, check=True)[0]
    # the commit the figures were measured on is not compared (a fresh run is on a later commit)
    later = {**written, "git_commit": "0000000"}
    assert default_run_text(later) != default_run_text(written)
    update([doc], metrics)
    (tmp_path / "later.json").write_text(json.dumps(later))
    assert update([doc], tmp_path / "later.json", check=True) == []


def test_the_figures_check_allows_float_rounding_but_not_other_data(tmp_path):
    """Another processor: learned figures within their tolerance pass, the per-fold spread is not
    compared, a larger move or other data (clips, majority-class baseline) fails; the processor is quoted."""
    from microexpr.figures import PER_FOLD_TOLERANCE, TOLERANCE

    base = {"n_folds": 8, "n_clips": 96, "git_commit": "abc1234", "processor": ["AMD EPYC (AVX512)"],
            "pooled": {"accuracy": 0.792, "uf1": 0.764, "uar": 0.738}, "per_fold_mean": {"uf1": 0.735},
            "per_fold_std": {"uf1": 0.154},
            "chance": {"majority_class": "others", "majority_accuracy": 0.406, "majority_uf1": 0.116}}
    doc = tmp_path / "README.md"
    doc.write_text("<!-- figures:default-run -->\nx\n<!-- /figures:default-run -->\n")
    (tmp_path / "m.json").write_text(json.dumps(base))
    update([doc], tmp_path / "m.json")
    assert "AMD EPYC (AVX512)" in " ".join(doc.read_text().split())

    def check(**changes):
        run = json.loads(json.dumps(base))
        for key, value in changes.items():
            section, _, name = key.partition("__")
            if name:
                run[section][name] = value
            else:
                run[section] = value
        (tmp_path / "run.json").write_text(json.dumps(run))
        return update([doc], tmp_path / "run.json", check=True)

    other_cpu = {"processor": ["Intel Xeon (AVX2)"], "git_commit": "def5678"}
    assert check(pooled__uf1=0.764 + TOLERANCE - 0.005, per_fold_std__uf1=0.253, **other_cpu) == []
    assert check(pooled__uf1=0.764 + TOLERANCE + 0.005, **other_cpu)
    assert check(pooled__accuracy=0.792 - TOLERANCE - 0.005, **other_cpu)
    # the CI run on an Intel Xeon against figures measured on an AMD EPYC (same code) passes
    assert check(pooled__accuracy=0.760, pooled__uf1=0.739, pooled__uar=0.712, per_fold_mean__uf1=0.681,
                 per_fold_std__uf1=0.201, **other_cpu) == []
    assert check(per_fold_mean__uf1=0.735 - PER_FOLD_TOLERANCE + 0.005) == []
    assert check(per_fold_mean__uf1=0.735 - PER_FOLD_TOLERANCE - 0.005)
    assert check(chance__majority_accuracy=0.407) and check(n_clips=95) and check(chance__majority_class="happiness")


def test_the_readme_and_docs_quote_the_default_run_through_a_block():
    for f in ("README.md", "docs/pipeline.md"):
        text = (ROOT / f).read_text()
        assert text.count("<!-- figures:default-run -->") == 1 and "<!-- /figures:default-run -->" in text
    from microexpr.figures import PER_FOLD_TOLERANCE, TOLERANCE
    page = " ".join((ROOT / "docs/pipeline.md").read_text().split())
    assert (f"more than its tolerance: {TOLERANCE:.2f} for pooled accuracy, UF1 and UAR, "
            f"{PER_FOLD_TOLERANCE:.2f} for the per-fold mean UF1") in page


@pytest.mark.parametrize("kind,message", [("ragged", "not a readable CSV table"), ("utf16", "not UTF-8 text")])
def test_an_unreadable_csv_is_named_when_the_run_is_planned(tmp_path, kind, message):
    from test_workflow import snakemake

    csv = tmp_path / "samples.csv"
    text = "subject,sample,label,apex,flow\ns1,a,happiness,a.png,f.png\ns1,b,surprise,b.png,g.png,extra,more\n"
    csv.write_bytes(text.encode("utf-16") if kind == "utf16" else text.encode())
    run = snakemake("-n", "--config", f"results={tmp_path / 'results'}", "name=byo",
                    f"dataset={{format: manifest, root: {csv}}}", check=False)
    out = run.stdout + run.stderr
    assert run.returncode != 0 and str(csv) in out and message in out
    assert "InputFunctionException" not in out and "Traceback" not in out


def test_a_csvs_classes_are_its_own_and_at_least_two(tmp_path):
    from microexpr.datasets.byo import byo_classes

    csv = tmp_path / "s.csv"
    csv.write_text("subject,sample,label,apex,flow\ns1,a,happiness,a.png,f.png\ns1,b,other,b.png,g.png\n"
                   "s2,c,happiness,c.png,h.png\n")
    # paper5 names CASME II's and SAMM's classes (8 names, 'others' and 'other'): only those the CSV holds count
    assert byo_classes("paper5", csv) == ["happiness", "other"]
    assert byo_classes("all", csv) == ["happiness", "other"]
    assert byo_classes(["happiness", "other", "surprise"], csv) == ["happiness", "other", "surprise"]  # as given
    csv.write_text("subject,sample,label,apex,flow\ns1,a,happiness,a.png,f.png\ns2,c,happiness,c.png,h.png\n")
    with pytest.raises(DatasetError, match=r"at least two classes.*\['happiness'\]"):
        byo_classes("all", csv)
