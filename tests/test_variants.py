"""Variant tags name the cached files of every run: they are a contract with the results on disk."""
import copy

import pytest
import yaml

from conftest import ROOT
from microexpr.config import validate_config
from microexpr.schema import SCHEMA_PATH
from microexpr.variants import Variants, short_hash


@pytest.fixture(scope="module")
def default_config():
    return validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA_PATH)


def _variants(cfg):
    face_key = {k: v for k, v in cfg["face"].items() if (k, v) not in (("detector", "haar"), ("align", False))}
    return Variants(cfg["face"], face_key, cfg["features"])


def test_the_default_runs_tags_are_those_of_its_results_on_disk(default_config):
    v = _variants(default_config)
    # the default run's folders (README, docs/pipeline.md): a change here moves every user's cached results
    assert v.add_evm(default_config["evm"]) == "alpha8-ideal-221188"
    assert v.add_train(default_config["train"]) == "flow+gray+masked-random-w16-seed0-460a61"
    assert v.add_evm({**default_config["evm"], "alpha": 8.0}) == "alpha8-ideal-221188"  # 8 and 8.0: one variant
    assert short_hash({"b": 1, "a": 2}) == short_hash({"a": 2, "b": 1})


def test_studies_share_the_configured_variants_and_the_registry_is_complete_once_frozen(default_config):
    v = _variants(default_config)
    evm_tag, model_tag = v.add_evm(default_config["evm"]), v.add_train(default_config["train"])
    runs = v.add_studies(default_config["experiments"], default_config["evm"], default_config["train"])
    v.freeze()
    sweep = runs["alpha_sweep"]
    assert {r["evm"] for r in sweep} >= {evm_tag} and all(r["evm"] in v.evm for r in sweep)
    assert any(r["model"] == model_tag for r in runs["ablation_sampler"])  # the configured run is one of them
    assert all(r["model"] in v.model for rs in runs.values() for r in rs)
    with pytest.raises(RuntimeError, match="frozen"):
        v.add_evm({**default_config["evm"], "alpha": 3})
    hoof = next(r["model"] for rs in runs.values() for r in rs if r["model"].startswith("hoof-"))
    assert v.model_settings(hoof)["features"] == v.features[v.model_features[hoof]][1]


def test_face_detection_joins_the_evm_hash(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["face"]["detect"] = True
    v = _variants(cfg)
    tag = v.add_evm(cfg["evm"])
    assert tag != "alpha8-ideal-221188" and v.evm_settings(tag)["face"]["detect"] is True
