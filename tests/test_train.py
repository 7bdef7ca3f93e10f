"""One LOSO fold end to end on tiny synthetic shards: no leakage, outputs, resume after a kill."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import microexpr.training.fold as fold_mod
import microexpr.training.loop as loop_mod
from microexpr import optim
from microexpr.errors import MicroexprError
from microexpr.metrics import scores
from microexpr.datasets import load_manifest
from microexpr.datasets.synthetic import SynthConfig, generate
from microexpr.preprocess import flow_subject, magnify_subject, shard_subject
from microexpr.training import ArrayData, FoldError, TrainConfig, train_fold, validation_clips

CLASSES = ["disgust", "happiness", "others", "repression", "surprise"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    root = generate(SynthConfig(subjects=3, clips_per_subject=5, height=64, width=56), tmp / "ds", progress=False)
    manifest = load_manifest("casme2", root, "paper5")
    paths = {}
    for s in sorted(manifest.subject.unique()):
        mag = magnify_subject(manifest, s, tmp / f"m_{s}.h5", alpha=8, progress=False)
        flow = flow_subject(mag, tmp / f"f_{s}.h5", method="dis", progress=False)
        paths[s] = shard_subject(flow, manifest, tmp / f"{s}.h5", classes=CLASSES, size=32, progress=False)
    return paths


def config(**kw):
    base = dict(width=8, dense=16, batch_size=16, max_epochs=4, patience=10, lr=0.01, seed=3, threads=1)
    return TrainConfig(**{**base, **kw})


def test_fold_outputs_and_no_leakage(shards, tmp_path):
    test = shards["sub01"]
    train = [shards["sub02"], shards["sub03"]]
    m = train_fold(train, test, tmp_path, config(), progress=False)
    assert m["fold"] == "sub01" and m["test_subjects"] == ["sub01"] and m["train_subjects"] == ["sub02", "sub03"]
    assert all("sub01" not in c for c in m["validation_clips"])
    assert all(c.split("/")[1] in ("sub02", "sub03") for c in m["validation_clips"])
    preds = pd.read_csv(tmp_path / "predictions.csv")
    assert len(preds) == m["n_test"] == 5  # un-augmented: one row per clip
    assert set(preds.sample_id.str.split("/").str[1]) == {"sub01"}
    prob_cols = [f"p_{c}" for c in CLASSES]
    assert np.allclose(preds[prob_cols].sum(axis=1), 1, atol=1e-4)
    assert (preds.pred == preds[prob_cols].idxmax(axis=1).str[2:]).all()
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    assert len(history) == 4 and history.train_loss.notna().all()
    assert m["best_epoch"] == int(history.val_loss.idxmin())  # chosen on validation, never on the test subject
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == m["accuracy"]
    assert (tmp_path / "model.pt").is_file() and not (tmp_path / "checkpoint.pt").exists()


def test_held_out_subject_in_training_is_refused(shards, tmp_path):
    with pytest.raises(FoldError, match="held-out subject"):
        train_fold([shards["sub01"], shards["sub02"]], shards["sub01"], tmp_path, config(), progress=False)
    with pytest.raises(FoldError, match=r"\['sub02'\]"):
        train_fold([shards["sub02"], shards["sub03"]], [shards["sub01"], shards["sub02"]], tmp_path, config(),
                   progress=False)


def test_several_held_out_subjects(shards, tmp_path):
    m = train_fold([shards["sub03"]], [shards["sub01"], shards["sub02"]], tmp_path, config(max_epochs=2),
                   fold="two", progress=False)
    assert m["fold"] == "two" and m["test_subjects"] == ["sub01", "sub02"] and m["n_test"] == 10
    preds = pd.read_csv(tmp_path / "predictions.csv")
    assert set(preds.subject) == {"sub01", "sub02"} and (preds.fold == "two").all()


def test_resume_after_a_kill_gives_the_same_result(shards, tmp_path, monkeypatch):
    train, test = [shards["sub02"], shards["sub03"]], shards["sub01"]
    straight = train_fold(train, test, tmp_path / "a", config(), progress=False)

    real = loop_mod.evaluate
    calls = {"n": 0}

    def dies_in_epoch_three(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kw)

    monkeypatch.setattr(loop_mod, "evaluate", dies_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        train_fold(train, test, tmp_path / "b", config(), progress=False)
    assert (tmp_path / "b" / "checkpoint.pt").exists() and not (tmp_path / "b" / "metrics.json").exists()
    monkeypatch.setattr(loop_mod, "evaluate", real)
    resumed = train_fold(train, test, tmp_path / "b", config(), progress=False)
    assert resumed["epochs_run"] == straight["epochs_run"] == 4
    a = pd.read_csv(tmp_path / "a" / "predictions.csv")
    b = pd.read_csv(tmp_path / "b" / "predictions.csv")
    np.testing.assert_allclose(a.filter(like="p_").to_numpy(), b.filter(like="p_").to_numpy(), atol=1e-5)


def test_early_stopping_stops(shards, tmp_path):
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path,
                   config(max_epochs=50, patience=1, lr=0.5), progress=False)
    assert m["epochs_run"] < 50 and m["epochs_run"] >= m["best_epoch"] + 2


def test_validation_clips_are_stratified_and_grouped():
    ids = np.repeat([f"d/s{i % 4}/c{i}" for i in range(20)], 10)  # 10 augmentations per clip
    labels = np.repeat([i % 2 for i in range(20)], 10)
    chosen = validation_clips(ids, labels, 0.2, seed=0)
    label_of = dict(zip(ids, labels))
    assert len(chosen) == 4  # 20 % of the 10 clips of each class
    assert sorted(label_of[c] for c in chosen) == [0, 0, 1, 1]
    assert chosen == validation_clips(ids, labels, 0.2, seed=0)


def test_without_validation_clips_the_last_epoch_is_kept(tmp_path, shards):
    import h5py

    # a training shard with one clip per class: nothing can be set aside for validation
    src = shards["sub02"]
    one = tmp_path / "one.h5"
    with h5py.File(src) as a, h5py.File(one, "w") as b:
        labels, ids = a["label"][()], a["sample_id"][()]
        keep = np.zeros(len(labels), bool)
        for c in np.unique(labels):
            first_clip = ids[np.flatnonzero(labels == c)[0]]
            keep |= ids == first_clip
        for name in a:
            b.create_dataset(name, data=a[name][()][keep])
        b.attrs.update(dict(a.attrs))
    m = train_fold([one], shards["sub01"], tmp_path / "fold", config(max_epochs=3), progress=False)
    assert not m["early_stopping"] and m["best_epoch"] == 2 and m["epochs_run"] == 3


# ---------------------------------------------------------------- selection rules (never the test subject)

def test_subject_wise_validation_holds_out_whole_training_subjects(shards, tmp_path):
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path,
                   config(validation="subjects", monitor="uf1", smoothing=2), progress=False)
    sel = m["selection"]
    assert sel["validation"] == "subjects" and sel["splits"] == 1 and sel["smoothing"] == 2
    (val_subjects,) = sel["validation_subjects"]
    assert len(val_subjects) == 1 and val_subjects[0] in ("sub02", "sub03")
    assert m["n_validation_clips"] == 5 and m["validation_clips"] == []  # every clip of that subject, originals only
    assert "training subjects held out whole" in sel["rule"] and "2-epoch moving average" in sel["rule"]
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    smoothed = (-history.val_uf1).rolling(2, min_periods=1).mean()
    assert np.allclose(history.monitored, smoothed)
    assert m["best_epoch"] == int(smoothed.idxmin())


def test_fixed_epochs_mode_tests_the_last_epoch(shards, tmp_path):
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path,
                   config(validation="none", max_epochs=3), progress=False)
    assert m["best_epoch"] == 2 and m["epochs_run"] == 3 and not m["early_stopping"] and m["n_validation_clips"] == 0
    assert m["selection"]["rule"].startswith("fixed 3 epochs") and m["selection"]["validation"] == "none"


def test_several_subject_splits_choose_the_epoch_then_retrain(shards, tmp_path):
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path,
                   config(validation="subjects", val_splits=2, max_epochs=4, min_epochs=1), progress=False)
    sel = m["selection"]
    assert sel["splits"] == 2 and sorted(sum(sel["validation_subjects"], [])) == ["sub02", "sub03"]
    assert 1 <= m["best_epoch"] <= 3 and m["epochs_run"] == m["best_epoch"] + 1  # retrained for the chosen epochs
    assert m["n_train_samples"] == 100  # every training subject, all augmentations


def test_min_epochs_and_schedule(shards, tmp_path):
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path,
                   config(min_epochs=3, max_epochs=4, schedule="cosine", warmup_epochs=1, label_smoothing=0.1),
                   progress=False)
    assert m["best_epoch"] == 3
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    cfg = config(max_epochs=4, schedule="cosine", warmup_epochs=1)
    assert np.allclose(history.lr, [0.01 * loop_mod.lr_factor(cfg, e) for e in range(4)])
    assert np.allclose([loop_mod.lr_factor(cfg, e) for e in range(4)], [0.5, 1.0, 0.75, 0.25])


def test_ststnet_trains_a_fold_on_the_uvs_stream(shards, tmp_path):
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path,
                   config(model="ststnet", validation="subjects", max_epochs=3), progress=False)
    assert m["model"] == "ststnet" and m["streams"] == ["uvs"] and m["n_test"] == 5


def test_bad_selection_settings_are_named():
    with pytest.raises(MicroexprError, match="validation must be one of clips, subjects, none"):
        config(validation="test")
    with pytest.raises(MicroexprError, match="smoothing must be at least 1"):
        config(smoothing=0)


# ----------------------------------------------------------------------------- recipes
# Written from the sources, not read from microexpr.recipes: (key, value, where it is stated).
STSTNET_RELEASED = [  # github.com/christy1206/STSTNet, main.py
    ("model", "ststnet", "class STSTNet"),
    ("optimizer", "adam", "torch.optim.Adam(model.parameters(), lr=learning_rate)"),
    ("lr", 5e-5, "learning_rate = 0.00005"),
    ("weight_decay", 0.0, "Adam without weight_decay"),
    ("batch_size", 256, "batch_size = 256"),
    ("max_epochs", 800, "epochs = 800"),
    ("validation", "none", "the model after the last epoch predicts the test subject"),
    ("augment", False, "one u/v/os image per clip is read"),
    ("input_scale", "raw", "cv2.imread images into torch.Tensor, no division"),
    ("dropout", 0.5, "nn.Dropout(p=0.5)"),
    ("sampler", "none", "plain CrossEntropyLoss on the data as read"),
]
SSSNET_MEB = [  # github.com/tvaranka/meb, "RCN-A and SSSNet for megc.ipynb": LOSO(uv_frames, df, ...)
    ("model", "sssnet", "class Net (#SSSNet)"), ("optimizer", "sgd", "optim.SGD"), ("lr", 0.01, "lr=0.01"),
    ("momentum", 0.9, "momentum=0.9"), ("weight_decay", 0.001, "weight_decay=0.001"), ("batch_size", 128, "batch_size=128"),
    ("max_epochs", 200, "epochs=200"), ("validation", "none", "net.eval() after the last epoch"),
    ("augment", False, "the flow frames as loaded"), ("dropout", 0.5, "dropout=0.5"), ("sampler", "none", "CrossEntropyLoss"),
]
RCNA_MEB = [  # the same notebook's LOSO(...) call for RCN-A; nn.Dropout() in meb/models/RCNs.py
    ("model", "rcna", "#RCN-A class Net, version=3"), ("optimizer", "sgd", "optim.SGD"), ("lr", 0.01, "lr=0.01"),
    ("weight_decay", 0.001, "weight_decay=0.001"), ("batch_size", 128, "batch_size=128"), ("max_epochs", 200, "epochs=200"),
    ("validation", "none", "last epoch"), ("augment", False, "as loaded"), ("dropout", 0.5, "nn.Dropout()"),
]
HTNET_RELEASED = [  # github.com/wangzhifengharrison/HTNet, HTNet_for_three_datasets_confusion_matrix.py, main()
    ("model", "htnet", "model = HTNet(image_size=28, patch_size=7, dim=256, ...)"),
    ("optimizer", "adam", "torch.optim.Adam(model.parameters(), lr=learning_rate)"), ("lr", 5e-5, "learning_rate = 0.00005"),
    ("weight_decay", 0.0, "Adam without weight_decay"), ("batch_size", 256, "batch_size = 256"),
    ("max_epochs", 800, "epochs = 800"), ("validation", "none", "total_pred: the last epoch's predictions"),
    ("augment", False, "one image per clip"), ("input_scale", "raw", "torch.Tensor(four_parts_train), no division"),
    ("dropout", 0.0, "Model.py: dropout = 0."), ("sampler", "none", "nn.CrossEntropyLoss() on the data as read"),
]
MSCNN_PAPER = [  # the MSCNN paper's training settings
    ("model", "mscnn", "three ResNet-18 streams"), ("optimizer", "sgd", "SGD"), ("lr", 1e-3, "lr 0.001"),
    ("momentum", 0.9, "momentum 0.9"), ("weight_decay", 5e-4, "weight decay 0.0005"), ("batch_size", 64, "batch 64"),
    ("max_epochs", 200, "200 epochs"), ("augment", True, "flip, rotations +-5, +-10"),
    ("sampler", "random", "over-sampling after the dense layer"),
]


@pytest.mark.parametrize("name,table", [("ststnet", STSTNET_RELEASED), ("sssnet", SSSNET_MEB),
                                        ("rcna", RCNA_MEB), ("htnet", HTNET_RELEASED), ("mscnn", MSCNN_PAPER)])
def test_recipes_set_the_values_their_sources_state(name, table):
    from microexpr.config import SCHEMA_PATH, load_yaml, validate_config
    from microexpr.recipes import RECIPES, recipe_values

    values = recipe_values(name)
    for key, value, _where in table:
        assert values[key] == value, (name, key)
    assert all(source for _, source in RECIPES[name].values())  # every value says where it comes from
    TrainConfig(**values)  # each value is one TrainConfig takes
    cfg = validate_config({"train": {**values, "recipe": name}}, load_yaml(SCHEMA_PATH))
    assert cfg["train"]["recipe"] == name


def test_the_configuration_overrides_a_recipe_and_results_say_what_was_set(tmp_path):
    from microexpr.recipes import RecipeError, apply_recipe, explicit_train_keys, recipe_report

    user = tmp_path / "mine.yaml"
    user.write_text("train:\n  recipe: ststnet\n  max_epochs: 5\n")
    explicit = explicit_train_keys([user], {"train": {"lr": 0.01}})
    assert explicit == {"max_epochs", "lr"}
    defaults = asdict_train()  # what the default configuration file and schema would fill in
    train = apply_recipe({**defaults, "recipe": "ststnet", "max_epochs": 5, "lr": 0.01}, explicit)
    assert (train["max_epochs"], train["lr"], train["optimizer"], train["batch_size"]) == (5, 0.01, "adam", 256)
    report = recipe_report(train)
    assert report["name"] == "ststnet" and report["set"]["batch_size"]["value"] == 256
    assert report["overridden"] == {"lr": {"recipe": 5e-5, "used": 0.01}, "max_epochs": {"recipe": 800, "used": 5}}
    assert apply_recipe(defaults) == defaults and recipe_report(defaults) is None
    with pytest.raises(RecipeError, match="train.recipe.*'ststnett'.*known: htnet, mscnn, rcna, sssnet, ststnet"):
        apply_recipe({**defaults, "recipe": "ststnett"})


def asdict_train() -> dict:
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(TrainConfig()).items()}


def test_a_fold_under_the_ststnet_recipe_trains_as_released(shards, tmp_path, monkeypatch):
    """Adam, originals only (no augmentation), the last epoch tested; metrics.json names the recipe and
    each value it set."""
    from microexpr.recipes import apply_recipe

    made = []
    real = fold_mod.model_and_optimizer

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(fold_mod, "model_and_optimizer", spy)

    train = apply_recipe({**asdict_train(), "recipe": "ststnet", "max_epochs": 3, "batch_size": 8, "threads": 1},
                         {"max_epochs", "batch_size", "threads"})
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path, TrainConfig(**train),
                   progress=False)
    assert m["model"] == "ststnet" and m["n_train_samples"] == 10  # 2 subjects x 5 clips, no augmented copies
    assert m["best_epoch"] == 2 and m["selection"]["validation"] == "none"
    assert m["recipe"]["name"] == "ststnet" and m["recipe"]["set"]["optimizer"]["value"] == "adam"
    assert set(m["recipe"]["overridden"]) == {"max_epochs", "batch_size"}
    assert m["model_settings"]["dropout"] == 0.5
    assert made and all(isinstance(opt, optim.Adam) and opt.defaults["lr"] == 5e-5 for _, opt, _ in made)


def test_raw_input_scale_feeds_the_stored_values():
    part = {"uvs": np.full((1, 4, 4, 3), 200, np.uint8), "label": np.zeros(1, np.int64),
            "sample_id": np.array(["d/s/c"]), "aug": np.zeros(1, np.int8), "subject": "s"}
    raw, _ = ArrayData([part], ("uvs",), "raw").batch(torch.arange(1), torch.device("cpu"))
    std, _ = ArrayData([part], ("uvs",)).batch(torch.arange(1), torch.device("cpu"))
    assert torch.all(raw["uvs"] == 200) and torch.allclose(std["uvs"][0, 0], torch.tensor((200 / 255 - 0.5) / 0.2))


def test_later_added_settings_at_their_default_leave_a_runs_tag_as_it_was():
    old = {k: v for k, v in asdict_train().items() if k not in TrainConfig.TAG_OMITS_AT_DEFAULT}
    assert TrainConfig.tagged(asdict_train()) == TrainConfig.tagged(old)
    assert "device" not in TrainConfig.tagged(old)  # where a fold runs does not name it
    assert TrainConfig.tagged({**asdict_train(), "optimizer": "adam"})["optimizer"] == "adam"


# ----------------------------------------------------------------------------- ensembles
def test_an_ensemble_fold_averages_its_members_and_records_each(shards, tmp_path):
    from microexpr.report import aggregate

    ensemble = ({"seed": 4}, {"model": "ststnet", "validation": "none", "max_epochs": 2, "batch_size": 8})
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path, config(ensemble=ensemble),
                   progress=False)
    members = m["ensemble"]["members"]
    assert m["model"] == "ensemble" and [r["model"] for r in members] == ["mscnn", "ststnet"]
    assert members[1]["best_epoch"] == 1 and m["model_settings"][1]["dropout"] == 0.5  # STSTNet's own dropout
    assert m["model_settings"][0]["sampler"] == "random"
    got = pd.read_csv(tmp_path / "predictions.csv")
    cols = [f"p_{c}" for c in CLASSES]
    each = [pd.read_csv(tmp_path / "members" / f"m{i}" / "predictions.csv") for i in (1, 2)]
    assert np.allclose(got[cols].to_numpy(), (each[0][cols].to_numpy() + each[1][cols].to_numpy()) / 2)
    assert (got.pred == got[cols].idxmax(axis=1).str[2:]).all()
    assert [r["pred"] for r in members] == [e.pred.tolist() for e in each]
    assert m["uf1"] == pytest.approx(scores(
        got.label.map(CLASSES.index).to_numpy(), got.pred.map(CLASSES.index).to_numpy(), 5, all_classes=False)["uf1"])
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    assert len(model["members"]) == 2
    # pooled over folds (one fold here), each member as the ensemble
    result = aggregate([tmp_path / "metrics.json"], [tmp_path / "predictions.csv"])
    assert [r["member"] for r in result["ensemble_members"]] == [1, 2]
    assert result["ensemble_members"][1]["accuracy"] == pytest.approx(members[1]["accuracy"])


def test_ensemble_settings_are_checked_and_each_member_gets_its_models_own_defaults():
    from microexpr.train_settings import ensemble_members, with_model_defaults

    with pytest.raises(MicroexprError, match="ensemble member 2: unknown setting"):
        config(ensemble=({"seed": 1}, {"sed": 2}))
    with pytest.raises(MicroexprError, match="at least two members"):
        config(ensemble=({"seed": 1},))
    base = with_model_defaults(asdict_train())
    a, b, c = ensemble_members({**base, "ensemble": [{"seed": 1}, {"recipe": "ststnet", "max_epochs": 9},
                                                     {"model": "offapexnet"}]})
    assert (a["model"], a["seed"], a["sampler"]) == ("mscnn", 1, "random")
    assert (b["model"], b["optimizer"], b["max_epochs"], b["lr"]) == ("ststnet", "adam", 9, 5e-5)
    assert (c["dropout"], c["sampler"]) == (0.5, "none")  # not MSCNN's 0.0 / random


def test_an_ensembles_final_model_predicts_the_mean_of_its_members(shards, tmp_path):
    from microexpr.streams import StreamImages
    from microexpr.predict import build_model, load_bundle, member_bundles, predict_clip
    from microexpr.preprocess import read_shard
    from microexpr.training import final_epochs, train_final

    cfg = config(ensemble=({"seed": 4}, {"model": "ststnet"}))
    folds = [{"ensemble": {"members": [{"best_epoch": 0}, {"best_epoch": 2}]}},
             {"ensemble": {"members": [{"best_epoch": 2}, {"best_epoch": 0}]}},
             {"ensemble": {"members": [{"best_epoch": 0}, {"best_epoch": 1}]}}]
    assert final_epochs(folds) == [1, 2]
    settings = {"evm": {}, "flow": {}, "images": {"size": 32}, "face": {}}
    train_final(list(shards.values()), tmp_path / "final.pt", cfg, epochs=[1, 2], settings=settings, loso={},
                progress=False)
    bundle = load_bundle(tmp_path / "final.pt")
    assert [m["epochs"] for m in bundle["members"]] == [1, 2]
    models = build_model(bundle)
    d = read_shard(shards["sub01"], augmented=False, streams=("flow", "gray", "masked", "uvs"))
    streams = StreamImages(flow=d["flow"][0], gray=d["gray"][0], masked=d["masked"][0],
                           mask=np.zeros_like(d["gray"][0]), uvs=d["uvs"][0])
    probs = predict_clip(bundle, models, {"streams": streams})
    each = [predict_clip(b, m, {"streams": streams}) for b, m in zip(member_bundles(bundle), models)]
    assert np.allclose(probs, np.mean(each, axis=0)) and not np.allclose(each[0], each[1])


# ----------------------------------------------------------------------------- a no-peek choice
def test_choose_picks_by_inner_cross_validation_on_training_subjects_only(shards, tmp_path):
    candidates = ({"model": "ststnet", "validation": "none", "max_epochs": 1, "batch_size": 8},
                  {"model": "ststnet", "validation": "none", "max_epochs": 3, "batch_size": 8, "lr": 0.05})
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path, config(choose=candidates),
                   progress=False)
    records = m["choose"]["candidates"]
    assert [r["candidate"] for r in records] == [1, 2] and all(r["inner_clips"] == 10 for r in records)
    best = max(records, key=lambda r: (r["inner_uf1"], -r["candidate"]))
    assert m["choose"]["picked"] == best["candidate"]
    assert sorted(m["choose"]["inner_groups"]) == [["sub02"], ["sub03"]]  # one subject a group
    assert m["best_epoch"] == candidates[best["candidate"] - 1]["max_epochs"] - 1  # the pick, on all of them
    assert m["train_subjects"] == ["sub02", "sub03"] and m["test_subjects"] == ["sub01"]
    # the outer test subject never enters an inner split, as training, validation or inner test data
    inner = list((tmp_path / "choose").rglob("metrics.json"))
    assert len(inner) == 4
    for path in inner:
        f = json.loads(path.read_text())
        assert "sub01" not in f["train_subjects"] + f["test_subjects"]
        assert not any("/sub01/" in c for c in f["validation_clips"])
    for path in (tmp_path / "choose").rglob("predictions.csv"):
        assert not pd.read_csv(path).sample_id.str.contains("/sub01/").any()
    assert pd.read_csv(tmp_path / "predictions.csv").equals(pd.read_csv(tmp_path / "picked" / "predictions.csv"))


def test_a_picked_candidate_that_selects_its_epoch_trains_the_inner_folds_median_on_every_subject(shards, tmp_path):
    # both candidates choose their epoch on validation clips; whichever is picked trains its inner folds' median
    candidates = ({"model": "ststnet", "validation": "clips", "max_epochs": 3, "patience": 10, "batch_size": 8},
                  {"model": "ststnet", "validation": "clips", "max_epochs": 3, "patience": 10, "batch_size": 8,
                   "lr": 0.05})
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path, config(choose=candidates),
                   progress=False)
    inner = m["choose"]["candidates"][m["choose"]["picked"] - 1]["inner_epochs"]
    assert len(inner) == 2 and all(1 <= e <= 3 for e in inner)
    n = int(np.median(inner))
    picked = json.loads((tmp_path / "picked" / "metrics.json").read_text())
    # no training clip is held back a second time: both subjects' clips train, for the inner folds' median
    assert picked["config"]["validation"] == "none" and picked["config"]["max_epochs"] == n
    assert m["best_epoch"] == n - 1 and m["validation_clips"] == [] and m["n_train_samples"] == 100
    assert f"epoch count {n}" in m["selection"]["rule"]


def test_the_final_model_trains_the_candidate_picked_most_often():
    from microexpr.training import final_plan

    cfg = config(choose=("ststnet", {"seed": 5}))
    assert cfg.choose == ({"recipe": "ststnet"}, {"seed": 5})
    folds = [{"choose": {"picked": p}, "best_epoch": e} for p, e in ((2, 4), (1, 9), (2, 6))]
    chosen, epochs = final_plan(cfg, folds)
    assert chosen.seed == 5 and chosen.model == "mscnn" and not chosen.choose and epochs == 6
    chosen, _ = final_plan(cfg, [{"choose": {"picked": 1}, "best_epoch": 1}])
    assert (chosen.model, chosen.optimizer, chosen.lr) == ("ststnet", "adam", 5e-5)
    with pytest.raises(MicroexprError, match="at least two candidates"):
        config(choose=("ststnet",))
    with pytest.raises(MicroexprError, match="cannot be combined"):
        config(choose=("ststnet", "mscnn"), ensemble=({"seed": 1}, {"seed": 2}))


@pytest.mark.parametrize("recipe", ["sssnet", "rcna"])
def test_a_fold_under_the_meb_recipes_trains_on_the_uvs_stream(shards, tmp_path, recipe):
    from microexpr.recipes import apply_recipe

    train = apply_recipe({**asdict_train(), "recipe": recipe, "max_epochs": 2, "batch_size": 8, "threads": 1},
                         {"max_epochs", "batch_size", "threads"})
    m = train_fold([shards["sub02"], shards["sub03"]], shards["sub01"], tmp_path, TrainConfig(**train), progress=False)
    assert (m["model"], m["streams"], m["best_epoch"], m["n_train_samples"]) == (recipe, ["uvs"], 1, 10)
    assert m["model_settings"]["dropout"] == 0.5 and m["recipe"]["set"]["weight_decay"]["value"] == 0.001


def test_a_study_variant_that_names_a_recipe_gets_its_values():
    from microexpr.studies import study

    _, train = study("ablation_training").settings({"name": "released STSTNet", "train": {"recipe": "ststnet",
                                                                                          "max_epochs": 5}},
                                                   {}, asdict_train())
    assert (train["model"], train["optimizer"], train["max_epochs"], train["dropout"]) == ("ststnet", "adam", 5, 0.5)
