"""Extending in one place: a user's module registers a flow method, a stream and a model (one decorator
each), and the configuration's ``plugins`` list (or ``predict --plugin``) brings them to the schema,
every workflow job and ``microexpr predict``."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import ROOT

PLUGIN = '''
"""A user's extensions: a flow method, a stream and a model, one registration each."""
import numpy as np
import torch.nn as nn

from microexpr.flow import register_flow
from microexpr.models import register_model
from microexpr.streams import register_stream


@register_flow("toy_shift", defaults={"u": 1.0}, description="a uniform shift of u pixels")
def toy_shift(u):
    def estimate(prev, nxt):
        h, w = np.shape(prev)[:2]
        return np.dstack([np.full((h, w), u, np.float32), np.zeros((h, w), np.float32)])
    return estimate


@register_stream("edges", mean=(0.1,), std=(0.2,), description="absolute horizontal gradient of the apex")
def edges(sample):
    return np.abs(np.diff(sample.apex.astype(np.int16), axis=1, append=sample.apex[:, -1:])).astype(np.uint8)


class Toy(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4, num_classes))

    def forward(self, inputs):
        return self.head(inputs["edges"])

    def forward_train(self, inputs, labels, generator):
        return self.forward(inputs), labels


@register_model(streams=("edges",))
def toy(num_classes: int = 5):
    return Toy(num_classes)
'''


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "my_extensions.py"
    path.write_text(PLUGIN)
    return path


@pytest.fixture
def loaded(plugin_file, monkeypatch):
    """The plugin loaded into this test process, and every registration undone afterwards."""
    from microexpr import flow, plugins, streams
    from microexpr.models import registry

    monkeypatch.delenv(plugins.ENV, raising=False)
    plugins.load([str(plugin_file)])
    yield plugin_file
    flow.FLOW_METHODS.pop("toy_shift")
    streams.STREAMS.pop("edges")
    registry._REGISTRY.pop("toy")
    registry._STREAMS.pop("toy")
    plugins._LOADED.pop(str(plugin_file.resolve()))
    sys.modules.pop("microexpr_plugin_my_extensions", None)
    os.environ.pop(plugins.ENV, None)


def _config(**sections):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key, value in sections.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return config


def test_what_a_plugin_registers_the_schema_takes(loaded):
    from microexpr.config import ConfigError, validate_config
    from microexpr.schema import SCHEMA_PATH

    cfg = validate_config(_config(plugins=[str(loaded)], flow={"method": "toy_shift"},
                                  train={"streams": ["flow", "edges"]}), SCHEMA_PATH)
    assert cfg["flow"]["toy_shift"] == {"u": 1.0}  # the method's own default, as for a built-in method
    validate_config(_config(train={"model": "toy"}, flow={"method": "toy_shift", "toy_shift": {"u": 2.5}}),
                    SCHEMA_PATH)
    with pytest.raises(ConfigError, match=r"flow.toy_shift.u"):
        validate_config(_config(flow={"method": "toy_shift", "toy_shift": {"u": "left"}}), SCHEMA_PATH)
    with pytest.raises(ConfigError, match=r"flow.toy_shift"):
        validate_config(_config(flow={"toy_shift": {"v": 1.0}}), SCHEMA_PATH)  # a key the method does not name


def test_without_the_plugin_its_names_are_refused_and_a_bad_plugin_is_named(plugin_file, tmp_path):
    from microexpr.config import ConfigError, validate_config
    from microexpr.plugins import PluginError, load
    from microexpr.schema import SCHEMA_PATH

    with pytest.raises(ConfigError, match="flow.method"):
        validate_config(_config(flow={"method": "toy_shift"}), SCHEMA_PATH)
    with pytest.raises(ConfigError, match="train.streams"):
        validate_config(_config(train={"streams": ["edges"]}), SCHEMA_PATH)
    with pytest.raises(PluginError, match="no_such_module_here"):
        load(["no_such_module_here"])
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(PluginError, match=r"broken.py: RuntimeError: half-written"):
        load([str(broken)])
    with pytest.raises(PluginError, match="a list"):
        load(str(broken))


def test_a_registered_stream_is_made_stored_and_fed(loaded, tmp_path):
    import torch

    from microexpr.clip import ClipSettings, process_clip
    from microexpr.models import create_fold_model
    from microexpr.predict import stream_tensors
    from microexpr.preprocess import ShardWriter, read_shard

    frames = np.random.default_rng(0).integers(0, 255, (8, 40, 36), dtype=np.uint8)
    settings = ClipSettings.from_sections({"evm": {"alpha": 0}, "flow": {"method": "toy_shift"},
                                           "images": {"size": 32}})
    made = process_clip(frames, 200.0, 0, 4, settings, augment=True)
    assert len(made.streams) == 10 and made.streams[0].edges.shape == (32, 32)
    assert np.allclose(made.flow[..., 0], 1.0)
    writer = ShardWriter(["a", "b"], 32)
    writer.add("casme2/sub01/EP01", "a", made.streams)
    shard = writer.write(tmp_path / "sub01.h5", {"subject": "sub01"})
    assert read_shard(shard, streams=("edges",))["edges"].shape == (1, 32, 32)
    inputs = stream_tensors(made.streams[0], ("flow", "edges"))
    assert inputs["edges"].shape == (1, 1, 32, 32)
    expected = (made.streams[0].edges / 255.0 - 0.1) / 0.2
    assert torch.allclose(inputs["edges"][0, 0], torch.from_numpy(expected).float(), atol=1e-5)
    net = create_fold_model("mscnn", num_classes=2, streams=("flow", "edges"), width=4)
    assert net.trunks["edges"].conv1.in_channels == 1 and net.eval()(inputs).shape == (1, 2)


def test_a_workflow_run_loads_the_plugins_in_every_job_and_predict_takes_them(plugin_file, tiny_copy):
    """The tiny tree with the plugin's flow method, its stream and its model: every stage runs in its own
    process, so the plugin reaches them only through the configuration's plugins list."""
    from test_workflow import snakemake

    tmp_path, root, cfg = tiny_copy
    config = yaml.safe_load(cfg.read_text())
    config.update(plugins=[str(plugin_file)], flow={"method": "toy_shift", "toy_shift": {"u": 0.5}},
                  train={**config["train"], "model": "toy", "max_epochs": 2})
    cfg.write_text(yaml.safe_dump(config))
    snakemake("--configfile", str(cfg))
    out = tmp_path / "results" / "tiny"
    import h5py

    flows = [p for p in (out / "flow").rglob("*.h5") if "toy_shift-" in str(p)]
    shards = [p for p in (out / "shards").rglob("*.h5") if "toy_shift-" in str(p)]
    assert len(flows) == 3 and len(shards) == 3
    with h5py.File(flows[0], "r") as h5:
        assert h5.attrs["method"] == "toy_shift" and np.allclose(h5[next(iter(h5))]["flow"][..., 0], 0.5)
    with h5py.File(shards[0], "r") as h5:
        assert "edges" in h5 and h5["edges"].shape[1:] == h5["gray"].shape[1:]
    folds = [json.loads(p.read_text()) for p in (out / "folds").rglob("toy-*/loso/*/metrics.json")]
    assert len(folds) == 3 and all(f["model"] == "toy" and f["streams"] == ["edges"] for f in folds)
    bundle = next((out / "reports").rglob("toy-*/loso/final_model.pt"))
    clip = next(p for p in (root / "Cropped").glob("*/*") if p.is_dir())
    predict = [sys.executable, "-m", "microexpr", "predict", "--model", str(bundle), str(clip), "--fps", "200"]
    refused = subprocess.run(predict, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "--plugin" in refused.stderr and "model 'toy'" in refused.stderr
    done = subprocess.run([*predict, "--plugin", str(plugin_file)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and str(clip) in done.stdout, done.stderr
