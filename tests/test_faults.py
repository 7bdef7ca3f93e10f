"""Fault injection: kill -9 at every stage of a tiny run, repair damaged data and re-run, and the
run-planning checks. A killed run leaves no partial output behind once the next run starts, and the
re-run ends with the predictions of an uninterrupted run; a repair re-runs exactly what it touches."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import ROOT
from test_workflow import snakemake, write_config, write_tree

pytestmark = pytest.mark.workflow

STAGES = ("manifest", "magnify", "flow", "shard", "train_fold", "aggregate", "final_model")


def _predictions(results):
    files = sorted((results / "tiny" / "folds").rglob("predictions.csv"))
    return pd.concat([pd.read_csv(p, dtype={"subject": str}) for p in files]).sort_values("sample_id")


def _partials(results):
    return sorted(p for p in results.rglob("*.part"))


def _started(results, rule):
    """The rule has a job running that is writing (or, for training, has checkpointed an epoch)."""
    if not list((results / "logs" / rule).rglob("*.log")):
        return False
    if rule == "train_fold":
        return bool(list(results.rglob("checkpoint.pt")))
    return bool(_partials(results)) or rule in ("manifest", "aggregate", "final_model")


def _run_and_kill(results, rule, *args, timeout=120):
    """Start a run; SIGKILL it (with its jobs) once a job of ``rule`` is under way. Returns whether
    the kill came before the run ended on its own."""
    # a SIGKILLed Snakemake leaves its lock, and asks for `snakemake --unlock` (users do that once);
    # here each run skips the lock instead, which saves a Snakemake start per kill
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "--nolock", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _started(results, rule):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.02)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_kill_at_every_stage_then_rerun_gives_the_same_predictions(tiny_run, tmp_path):
    """The tiny on-disk run of the other tests is the uninterrupted reference."""
    reference_dir, _, cfg, _ = tiny_run
    expected = _predictions(reference_dir / "results")

    results = tmp_path / "killed"
    config = ["--configfile", str(cfg), "--config", f"results={results}"]
    killed = []
    for rule in STAGES:
        shutil.rmtree(results / "logs", ignore_errors=True)  # a rule's log appears when its job starts
        if _run_and_kill(results, rule, *config):
            killed.append(rule)
    assert len(killed) >= 5, f"killed only during {killed}"  # the stages too quick to catch still ran
    leftovers = _partials(results)
    unlock = snakemake("--unlock", *config)  # what a user does after a kill -9, as Snakemake's message says
    run = snakemake(*config)
    assert not _partials(results), "the next run removes what killed runs left"
    said = unlock.stdout + unlock.stderr + run.stdout + run.stderr
    assert all(str(p) in said for p in leftovers)  # ...and says so
    got = _predictions(results)
    assert got.sample_id.tolist() == expected.sample_id.tolist() and got.pred.tolist() == expected.pred.tolist()
    probs = [c for c in got.columns if c.startswith("p_")]
    assert (got[probs].to_numpy() - expected[probs].to_numpy()).__abs__().max() < 1e-5
    assert next((results / "tiny" / "reports").rglob("final_model.pt")).is_file()

    # a shard lost while the files after it are current (what a kill during a forced re-run of the
    # shards leaves: Snakemake removes a job's outputs before it runs): the next run makes it again
    shards = sorted((results / "tiny" / "shards").rglob("sub0*.h5"))
    shards[1].unlink()
    again = snakemake("preprocess", *config)
    assert "Nothing to be done" not in again.stdout + again.stderr
    assert all(p.is_file() for p in shards) and not _partials(results)


def test_a_kill_while_the_synthetic_dataset_is_written_leaves_nothing(tmp_path):
    config = ["--config", f"results={tmp_path}", "name=syn", "synthetic={subjects: 2, clips_per_subject: 2}"]
    assert _run_and_kill(tmp_path, "synthesize", "preprocess", *config)
    assert _partials(tmp_path)  # the generator was writing its tree under a temporary name
    snakemake("--unlock", *config)
    assert not _partials(tmp_path) and not list((tmp_path / "synthetic").glob("casme2_*"))


def _magnified(results):
    return sorted((results / "rep" / "magnified").rglob("*.h5"))


def _mtimes(results):
    return {p.stem: p.stat().st_mtime_ns for p in _magnified(results)}


def test_repairing_a_frame_or_editing_a_sheet_row_reruns_exactly_that_subject(tmp_path):
    from openpyxl import load_workbook

    root = write_tree("casme2", tmp_path / "CASME2", subjects=3, clips=2)
    results = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", name="rep", results=str(results),
                       dataset={"format": "casme2", "root": str(root)}, images={"size": 32})
    snakemake("preprocess", "--configfile", str(cfg))
    # after it, the runs make the magnified clips only: the repairs show at the first stage after the
    # manifest, and what follows that stage follows the DAG (the kill test and
    # test_the_cache_reruns_exactly_what_changed run the rest)
    evm = [str(p) for p in _magnified(results)]
    manifest = pd.read_csv(results / "rep" / "manifest.tsv", sep="\t", dtype={"subject": str})
    clip = manifest[manifest.subject == "sub02"].iloc[0]
    frame = root / "Cropped" / "sub02" / clip["clip"] / f"reg_img{clip['onset'] + 1}.jpg"
    good = frame.read_bytes()
    before = _mtimes(results)

    frame.write_bytes(good[: len(good) // 2])  # truncated: the clip is dropped, sub02 re-runs
    snakemake(*evm, "--configfile", str(cfg))
    report = pd.read_csv(results / "rep" / "manifest_report.tsv", sep="\t")
    assert "corrupt_frame" in set(report.code)
    after = _mtimes(results)
    assert [s for s in before if after[s] != before[s]] == ["sub02"]

    frame.write_bytes(good)  # repaired: the clip is back, sub02 re-runs again, nothing else
    snakemake(*evm, "--configfile", str(cfg))
    assert len(pd.read_csv(results / "rep" / "manifest.tsv", sep="\t")) == len(manifest)
    repaired = _mtimes(results)
    assert [s for s in before if repaired[s] != after[s]] == ["sub02"]

    sheet = root / "CASME2-coding-20190701.xlsx"  # one sheet row of sub03: only sub03 re-runs
    wb = load_workbook(sheet)
    ws = wb.active
    row = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 1).value).strip() in ("03", "3"))
    ws.cell(row, 6).value = int(ws.cell(row, 6).value) - 1  # OffsetFrame one earlier
    wb.save(sheet)
    snakemake(*evm, "--configfile", str(cfg))
    edited = _mtimes(results)
    assert [s for s in before if edited[s] != repaired[s]] == ["sub03"]

    nothing = snakemake(*evm, "-n", "--configfile", str(cfg))
    assert "Nothing to be done" in nothing.stdout + nothing.stderr

    # a results folder copied without Snakemake's records (.snakemake/ knows nothing of its paths): the
    # stamps beside the outputs still say what changed
    copied = tmp_path / "copied"
    shutil.copytree(results, copied, copy_function=shutil.copy2)
    cfg2 = write_config(tmp_path / "c2.yaml", name="rep", results=str(copied),
                        dataset={"format": "casme2", "root": str(root)}, images={"size": 32})
    evm = [str(p) for p in _magnified(copied)]
    nothing = snakemake(*evm, "-n", "--configfile", str(cfg2))
    assert "Nothing to be done" in nothing.stdout + nothing.stderr
    ws.cell(row, 6).value = int(ws.cell(row, 6).value) + 1  # sub03's row back as it was
    wb.save(sheet)
    before_copy = {p.stem: p.stat().st_mtime_ns for p in (copied / "rep" / "magnified").rglob("*.h5")}
    snakemake(*evm, "--configfile", str(cfg2))
    after_copy = {p.stem: p.stat().st_mtime_ns for p in (copied / "rep" / "magnified").rglob("*.h5")}
    assert [s for s in before_copy if after_copy[s] != before_copy[s]] == ["sub03"]


def _planned(proc):
    """rule -> job count from a dry run's job table."""
    text = proc.stdout + proc.stderr
    table = text.split("job ", 1)[1].split("total", 1)[0] if "total" in text else ""
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[2:] if len(line.split()) == 2}


def test_the_cache_reruns_exactly_what_changed(tiny_copy):
    """A lost fold re-runs that fold only (then aggregate and the final model), no pre-processing; a
    stage whose code fingerprint changed re-runs with what depends on it; a copy without .snakemake/
    agrees (tiny_run's results, copied)."""
    tmp_path, root, cfg2 = tiny_copy
    results = tmp_path / "results"
    assert _planned(snakemake("-n", "--configfile", str(cfg2))) == {}
    fold = sorted((results / "tiny" / "folds").rglob("sub02/predictions.csv"))[0].parent
    shutil.rmtree(fold)
    assert _planned(snakemake("-n", str(fold / "predictions.csv"), "--configfile", str(cfg2))) == {"train_fold": 1}
    assert _planned(snakemake("-n", "--configfile", str(cfg2))) == {
        "train_fold": 1, "aggregate": 1, "final_model": 1, "all": 1}
    # the flow stage's code changed (as its stamp would record after an edit of microexpr/flow.py)
    stamp = sorted((results / "tiny" / "flow").rglob(".stamps/sub01.h5.json"))[0]
    stamp.write_text(stamp.read_text().replace('"code": "', '"code": "edited'))
    planned = _planned(snakemake("-n", "--configfile", str(cfg2)))
    assert planned.get("flow") == 1 and "magnify" not in planned and planned.get("shard") == 1
    assert planned.get("train_fold") == 3  # every fold trains on sub01's shard
