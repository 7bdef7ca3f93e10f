"""Config validation: unknown keys, wrong types and quoted numbers stop the run naming the key."""
import copy

import pytest
import yaml

from microexpr.config import ConfigError, validate_config
from microexpr.errors import MicroexprError
from conftest import ROOT

SCHEMA = ROOT / "microexpr" / "schemas" / "config.schema.yaml"


def default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_complete():
    cfg = validate_config(default(), SCHEMA)
    assert cfg["evm"]["alpha"] == 8
    minimal = validate_config({}, SCHEMA)  # every key has a default
    assert minimal["dataset"]["classes"] == "paper5" and minimal["synthetic"]["subjects"] == 6


@pytest.mark.parametrize("edit,key", [
    (lambda c: c["evm"].__setitem__("alpha", "8"), "'evm.alpha' must be of type number"),
    (lambda c: c.__setitem__("alpah", 8), "unknown config key 'alpah'"),
    (lambda c: c["evm"].__setitem__("alpah", 8), "unknown config key 'evm.alpah'"),
    (lambda c: c["synthetic"].__setitem__("subjects", 2.5), "'synthetic.subjects' must be of type integer"),
    (lambda c: c["dataset"].__setitem__("format", "casme3"), "'dataset.format' is 'casme3'; expected one of casme2"),
    (lambda c: c["dataset"].__setitem__("format", ["casme2", "x"]), "expected one of casme2, casme3a"),
    (lambda c: c["dataset"].__setitem__("strict", "yes"), "'dataset.strict' must be of type boolean"),
    (lambda c: c["evm"].__setitem__("alpha", -1), "'evm.alpha'"),
])
def test_errors_name_the_key(edit, key):
    cfg = default()
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    assert key in str(err.value)


def test_every_error_is_listed_at_once():
    cfg = default()
    cfg["evm"]["alpha"] = "8"
    cfg["bogus"] = 1
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    assert "evm.alpha" in str(err.value) and "bogus" in str(err.value)


def test_command_line_strings_are_cast_but_file_strings_are_not():
    cfg = default()
    overrides = {"evm": {"alpha": "4", "filter": "iir"}, "synthetic": {"subjects": "3", "quirks": "false"}}
    for section, values in overrides.items():
        cfg[section].update(values)
    validate_config(cfg, SCHEMA, cli_overrides=copy.deepcopy(overrides))
    assert cfg["evm"]["alpha"] == 4 and cfg["evm"]["filter"] == "iir"
    assert cfg["synthetic"]["subjects"] == 3 and cfg["synthetic"]["quirks"] is False

    cfg = default()
    cfg["evm"]["alpha"] = "abc"
    with pytest.raises(ConfigError, match="evm.alpha"):
        validate_config(cfg, SCHEMA, cli_overrides={"evm": {"alpha": "abc"}})


@pytest.mark.parametrize("name", ["casme2.yaml", "samm.yaml"])
def test_paper_configs_are_valid_and_carry_the_paper_settings(name):
    cfg = default()
    override = yaml.safe_load((ROOT / "config" / name).read_text())
    for key, value in override.items():  # what snakemake --configfile does
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    validate_config(cfg, SCHEMA)
    assert cfg["dataset"]["format"] == name.split(".")[0] and cfg["dataset"]["classes"] == "paper5"
    assert cfg["evm"]["alpha"] == 8 and cfg["images"]["size"] == 224
    train = cfg["train"]
    assert (train["width"], train["lr"], train["momentum"], train["weight_decay"]) == (64, 0.001, 0.9, 0.0005)
    assert (train["batch_size"], train["max_epochs"]) == (64, 200)


# ---------------------------------------------------------------- one owner per default

from microexpr.datasets.synthetic import SynthConfig  # noqa: E402
from microexpr.face import FaceSettings  # noqa: E402
from microexpr.handcrafted import HOOFSettings, LBPSipSettings, LBPTopSettings  # noqa: E402
from microexpr.longspot import LongSpotSettings  # noqa: E402
from microexpr.magnify import EVMSettings  # noqa: E402
from microexpr.clip import ImageSettings  # noqa: E402
from microexpr.train_settings import TrainConfig  # noqa: E402

# keys whose schema default differs from the library's on purpose, and why
DIFFERENT_ON_PURPOSE = {
    ("train", "threads"): "the workflow runs one thread per fold job (--cores N: N folds); the library uses torch's default",
}
# dataclass fields that are not in the section (they come from elsewhere in the configuration)
NOT_IN_SECTION = {
    "synthetic": {"format": "dataset.format", "layout": "CASME II layout, command line only",
                  "sheet_version": "command line only", "jpeg_quality": "command line only"},
}


@pytest.mark.parametrize("section,cls", [("evm", EVMSettings), ("face", FaceSettings), ("images", ImageSettings),
                                         ("train", TrainConfig), ("synthetic", SynthConfig),
                                         ("features.lbptop", LBPTopSettings), ("features.lbpsip", LBPSipSettings),
                                         ("features.hoof", HOOFSettings), ("spotting.method", LongSpotSettings)])
def test_schema_defaults_are_the_library_defaults(section, cls):
    import dataclasses

    node = yaml.safe_load(SCHEMA.read_text())
    for part in section.split("."):
        node = node["properties"][part]
    schema = node["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert set(schema) == set(fields) - set(NOT_IN_SECTION.get(section, {}))
    for key, node in schema.items():
        if (section, key) in DIFFERENT_ON_PURPOSE:
            assert node["default"] != fields[key]
            continue
        default = fields[key]
        assert node["default"] == (list(default) if isinstance(default, tuple) else default), f"{section}.{key}"


def test_the_spotting_choices_are_the_named_spotting_flows():
    """predict.spotting (schema), predict --spotting (CLI) and the library take the names SPOT_FLOWS holds;
    the default is the library's SPOT_FLOW."""
    from microexpr.__main__ import build_parser
    from microexpr.spotting import DEFAULT_SPOTTING, SPOT_FLOW, SPOT_FLOWS

    node = yaml.safe_load(SCHEMA.read_text())["properties"]["predict"]["properties"]["spotting"]
    assert node["enum"] == sorted(SPOT_FLOWS) and node["default"] == DEFAULT_SPOTTING
    assert SPOT_FLOWS[DEFAULT_SPOTTING] == SPOT_FLOW
    predict = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "predict" in a.choices)
    option = next(a for a in predict.choices["predict"]._actions if "--spotting" in a.option_strings)
    assert option.choices == sorted(SPOT_FLOWS) and option.default == node["default"]


def test_every_study_has_its_variants_key_in_the_schema():
    from microexpr.studies import STUDIES

    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["experiments"]
    assert set(schema["properties"]) == {"seeds"} | {s.key for s in STUDIES.values()}
    for name in STUDIES:
        assert name in schema["description"], name


def test_a_study_is_one_table_entry(monkeypatch):
    from microexpr import studies

    extra = studies.Study(name="ablation_width", key="widths", section="train", field="width", title="Trunk width",
                          axis="width", question="Does a wider trunk help?", reference_text="the narrowest",
                          reference=lambda variants, values: variants[0])
    monkeypatch.setitem(studies.STUDIES, "ablation_width", extra)
    runs = studies.study_runs("ablation_width", {"seeds": [0, 1], "widths": [8, 16]}, {"alpha": 8}, {"width": 4, "seed": 9})
    assert [(r["variant"], r["seed"], r["train_settings"]["width"], r["train_settings"]["seed"]) for r in runs] == [
        ("8", 0, 8, 0), ("16", 0, 16, 0), ("8", 1, 8, 1), ("16", 1, 16, 1)]
    assert all(r["evm_settings"] == {"alpha": 8} for r in runs)


@pytest.mark.parametrize("change,message", [
    ({"dataset": {"classes": ["happiness", "happiness"]}}, "config key 'dataset.classes' lists 'happiness' more than once"),
    ({"dataset": {"classes": ["happiness"]}}, "config key 'dataset.classes' needs at least two different classes"),
    ({"name": ".."}, "config key 'name': run name '..' is not a safe name"),
    ({"evm": {"low_hz": 20.0, "high_hz": 5.0}}, "the band needs low_hz < high_hz"),
    ({"dataset": {"format": "casme3a", "classes": "all"}}, "config key 'evm.high_hz' (20.0) is above half the frame rate of casme3a (30 fps)"),
    ({"train": {"pretrained": "/nowhere/resnet18.pth"}}, "config key 'train.pretrained': file not found: /nowhere/resnet18.pth"),
    ({"train": {"device": "tpu"}}, "config key 'train.device' is 'tpu'; allowed: auto, cpu, cuda"),
])
def test_checks_across_keys_name_the_key(change, message):
    from microexpr.config import plan_errors

    cfg = default()
    for section, values in change.items():
        if isinstance(values, dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    validate_config(cfg, SCHEMA)
    assert any(message in e for e in plan_errors(cfg)), plan_errors(cfg)
    assert plan_errors(validate_config(default(), SCHEMA)) == []


@pytest.mark.parametrize("name", ["megc2019.yaml", "synthetic_hard.yaml"])
def test_small_data_configs_are_valid(name):
    from microexpr.config import plan_errors
    from microexpr.recipes import apply_recipe, explicit_train_keys

    cfg = default()
    for key, value in yaml.safe_load((ROOT / "config" / name).read_text()).items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    validate_config(cfg, SCHEMA)
    cfg["train"] = apply_recipe(cfg["train"], explicit_train_keys([ROOT / "config" / name]))  # as the workflow
    assert plan_errors(validate_config(cfg, SCHEMA)) == [] and cfg["train"]["model"] == "ststnet"
    if name == "megc2019.yaml":
        assert cfg["dataset"]["format"] == ["casme2", "samm", "smic"] and cfg["dataset"]["classes"] == "megc2019"
        # the released STSTNet recipe: nothing chosen on any subject
        assert (cfg["train"]["validation"], cfg["train"]["max_epochs"], cfg["train"]["optimizer"]) == ("none", 800, "adam")


def test_ensemble_members_from_the_command_line_are_typed_and_checked():
    """--config values arrive as text, inside list items too (ensemble members follow train's schema)."""
    cfg = default()
    overrides = {"train": {"ensemble": [{"max_epochs": "2", "lr": "1e-3", "augment": "false"}, {"seed": "3"}]}}
    cfg["train"].update(overrides["train"])
    validate_config(cfg, SCHEMA, cli_overrides=overrides)
    assert cfg["train"]["ensemble"] == [{"max_epochs": 2, "lr": 0.001, "augment": False}, {"seed": 3}]
    cfg = default()
    cfg["train"]["ensemble"] = [{"seed": 1}, {"optimiser": "adam"}]
    with pytest.raises(ConfigError, match="'train.ensemble.1.optimiser'"):
        validate_config(cfg, SCHEMA)


def test_the_schema_sections_of_the_settings_classes_are_made_from_them():
    """train, synthetic and spotting.synthetic are written from their classes (microexpr schema); a
    stale block is found and rewritten, and a block without its markers is an error."""
    from microexpr.schema_writer import render_schema

    text = SCHEMA.read_text()
    assert render_schema(text) == text, "run `microexpr schema` after editing a settings class"
    stale = text.replace("description: samples per step", "description: stale text")
    assert stale != text and render_schema(stale) == text
    with pytest.raises(ValueError, match="no '# train: made from"):
        render_schema(text.replace("# end of train", "# gone"))


def test_settings_checks_and_options_come_from_the_fields():
    import argparse

    from microexpr.settings import add_arguments, from_arguments, problems
    from microexpr.synthetic_settings import SynthConfig

    bad = SynthConfig(layout="tiled", jpeg_quality=101, noise=-1.0)
    assert problems(bad) == ["noise must be at least 0, got -1.0", "layout must be one of cropped, raw, got 'tiled'",
                             "jpeg_quality must be at most 100, got 101"]
    with pytest.raises(Exception, match="layout must be one of cropped, raw"):
        bad.validate()
    parser = argparse.ArgumentParser()
    add_arguments(parser, SynthConfig)
    args = parser.parse_args(["--subjects", "3", "--no-quirks", "--uncropped", "--layout", "raw"])
    assert from_arguments(SynthConfig, args) == SynthConfig(subjects=3, quirks=False, uncropped=True, layout="raw")
    assert from_arguments(SynthConfig, parser.parse_args([])) == SynthConfig()
    with pytest.raises(SystemExit):
        parser.parse_args(["--layout", "tiled"])
    with pytest.raises(MicroexprError, match="train: patience must be at least 1, got 0; "
                                             "schedule must be one of constant, cosine, got 'step'"):
        TrainConfig(schedule="step", patience=0)
