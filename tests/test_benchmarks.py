"""The GPU check's plumbing on a machine without CUDA: it refuses and measures nothing; its projection."""
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_the_gpu_check_refuses_without_cuda():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1 and "no CUDA device" in run.stderr and "nothing measured" in run.stderr
    assert run.stdout == ""


def test_the_projection_scales_with_speed_and_folds_at_once():
    samples = gpu.CASME2_CLIPS * 25 / 26 * 10 * 0.8  # training samples of one fold per epoch
    assert gpu.projection(samples * 200 / 3600, 1) == pytest.approx(26)  # one hour a fold
    assert gpu.projection(samples * 200 / 3600, 4) == pytest.approx(6.5)


def test_the_check_uses_the_papers_training_settings():
    cfg = gpu.paper_config(max_epochs=3)
    assert (cfg.width, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.batch_size) == (64, 1e-3, 0.9, 5e-4, 64)
    assert cfg.device == "cuda" and cfg.amp


def test_the_real_size_benchmark_measures_every_stage_and_projects():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "realsize.py"), "--sizes", "casme2",
                          "--frames", "12", "--size", "32"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.strip().startswith("casme2 340x280"))
    evm, flow, images, total, peak = (float(x) for x in row.split()[3:8])
    assert min(evm, flow) > 0 and images >= 0 and abs(evm + flow + images - total) < 0.003 and peak > 50
    assert "projected CASME II pre-processing (255 clips of 12 frames, 16 cores" in run.stdout
    # the flow at working heights: seconds and the error against the true motion, for full, 224 and 112 rows
    working = [line for line in run.stdout.splitlines() if line.strip().startswith("casme2 340x280")][1]
    figures = [float(x) for x in working.split()[2:]]
    assert len(figures) == 6 and all(0 < x < 10 for x in figures), working
    assert figures[1] < 0.5 and figures[1] <= figures[5] + 0.05  # full size: sub-pixel, not worse than at 112 rows


def test_the_recipe_benchmark_times_a_step_and_projects_a_loso():
    import recipes

    assert recipes.loso_hours(442 * 67 / 68 * 68 / 3600, 1) == pytest.approx(1.0)  # all folds of one epoch at that rate: an hour
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recipes.py"), "--recipes", "ststnet",
                          "--steps", "1", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("ststnet"))
    params, batch, side, rate, epochs, hours = row.split()[1:]
    assert (params, batch, side, epochs) == ("1,683", "256", "28", "800") and float(rate) > 0 and float(hours) > 0
