"""Models: every registered model trains a step without NaN; ResNet-18 matches torchvision's layout;
the in-network over-sampler balances classes like imbalanced-learn and lets gradients through."""
import itertools

import numpy as np
import pytest
import torch

from microexpr.models import FeatureOversampler, count_parameters, create_model, list_models, load_torchvision_weights


def torchvision_resnet18_spec():
    """torchvision's resnet18 state_dict (keys -> shapes), written out independently of our code."""
    spec = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix, n):
        spec.update({f"{prefix}.weight": (n,), f"{prefix}.bias": (n,), f"{prefix}.running_mean": (n,),
                     f"{prefix}.running_var": (n,), f"{prefix}.num_batches_tracked": ()})

    bn("bn1", 64)
    inplanes = 64
    for i, planes in enumerate((64, 128, 256, 512), start=1):
        for b in range(2):
            cin = inplanes if b == 0 else planes
            spec[f"layer{i}.{b}.conv1.weight"] = (planes, cin, 3, 3)
            bn(f"layer{i}.{b}.bn1", planes)
            spec[f"layer{i}.{b}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"layer{i}.{b}.bn2", planes)
            if b == 0 and i > 1:
                spec[f"layer{i}.{b}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                bn(f"layer{i}.{b}.downsample.1", planes)
        inplanes = planes
    spec.update({"fc.weight": (1000, 512), "fc.bias": (1000,)})
    return spec


def test_resnet18_state_dict_matches_torchvision():
    state = create_model("resnet18").state_dict()
    spec = torchvision_resnet18_spec()
    assert set(state) == set(spec)
    assert {k: tuple(v.shape) for k, v in state.items()} == spec
    assert len(spec) == 122


def _inputs(streams, n=6, size=32):
    channels = {"flow": 3, "gray": 1, "masked": 1}
    return {s: torch.randn(n, channels[s], size, size) for s in streams}


def _check_step(model, forward):
    out = forward()
    logits = out[0] if isinstance(out, tuple) else out
    assert torch.isfinite(logits).all()
    logits.float().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    return logits


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_trains_a_step(name):
    torch.manual_seed(0)
    if name == "mscnn":
        for k in (1, 2, 3):
            for streams in itertools.combinations(("flow", "gray", "masked"), k):
                model = create_model(name, num_classes=4, streams=streams, width=8, dense=16)
                y = torch.tensor([0, 0, 0, 1, 2, 2])
                logits = _check_step(model, lambda: model.forward_train(_inputs(streams), y))
                assert logits.shape == (9, 4)  # balanced to 3 per present class
                model.eval()
                assert model(_inputs(streams)).shape == (6, 4)
    elif name in ("ststnet", "offapexnet", "sssnet", "rcna", "htnet"):
        size = 64 if name in ("sssnet", "rcna") else 28  # each at its authors' input size
        model = create_model(name, num_classes=3, sampler="random", uvs_size=size)
        y = torch.tensor([0, 0, 0, 1, 2, 2])
        logits = _check_step(model, lambda: model.forward_train({"uvs": torch.randn(6, 3, size, size)}, y))
        assert logits.shape == (9, 3)
        model.eval()
        assert model({"uvs": torch.randn(5, 3, size, size)}).shape == (5, 3)
    else:
        model = create_model(name, width=8, num_classes=7)
        logits = _check_step(model, lambda: model(torch.randn(4, 3, 32, 32)))
        assert logits.shape == (4, 7)


def test_small_models_follow_their_papers_design():
    """Parameter counts written out from the designs (not read from our modules)."""
    def conv(cin, cout, k):
        return cin * cout * k * k + cout

    def dense(fin, fout):
        return fin * fout + fout

    for classes in (3, 5):
        # STSTNet (released main.py): 3x3 convs with 3, 5, 8 filters on 3 channels, each with batch norm
        # (2 parameters a channel); 28 -> conv padding 2 -> 30 -> max-pool 3/3 -> 10 -> avg-pool 2 -> 5
        ststnet = conv(3, 3, 3) + conv(3, 5, 3) + conv(3, 8, 3) + 2 * (3 + 5 + 8) + dense(16 * 5 * 5, classes)
        assert count_parameters(create_model("ststnet", num_classes=classes)) == ststnet
        # OFF-ApexNet: per stream (u, v) conv 5x5 x6, pool, conv 5x5 x16, pool: 28 -> 14 -> 7; two dense 1024
        stream = conv(1, 6, 5) + conv(6, 16, 5)
        off = 2 * stream + dense(2 * 16 * 7 * 7, 1024) + dense(1024, 1024) + dense(1024, classes)
        assert count_parameters(create_model("offapexnet", num_classes=classes)) == off
        # SSSNet (meb): conv 5x5 x32, pool 3, bn; conv 3x3 x64, pool 2, bn; 64 -> 60 -> 20 -> 18 -> 9; dense 256
        sss = conv(3, 32, 5) + 2 * 32 + conv(32, 64, 3) + 2 * 64 + dense(64 * 9 * 9, 256) + dense(256, classes)
        assert count_parameters(create_model("sssnet", num_classes=classes)) == sss
        # RCN-A (meb, from the authors' code): conv 5x5 x64 + bn; recurrent block: 1x1 conv + bn, one 3x3 conv
        # + bn (used twice); classifier on 64 x 5 x 5
        rcn = conv(3, 64, 5) + 128 + conv(64, 64, 1) + 128 + conv(64, 64, 3) + 128 + dense(64 * 5 * 5, classes)
        assert count_parameters(create_model("rcna", num_classes=classes)) == rcn
    assert count_parameters(create_model("ststnet", num_classes=3)) == 1683


def test_htnet_follows_its_released_design():
    """HTNet (released Model.py configuration: patch 7 on 28 x 28, dim 256, heads 3, three hierarchies with
    2, 2, 8 blocks, MLP ratio 4), its parameters counted from that design, not read from our module."""
    from microexpr.models.htnet import facial_regions

    def conv(cin, cout, k, bias=True):
        return cin * cout * k * k + (cout if bias else 0)

    def block(d, heads):  # two channel norms, attention (dim // heads a head), feed-forward 4d
        inner = d // heads * heads
        return 2 * 2 * d + conv(d, 3 * inner, 1, bias=False) + conv(inner, d, 1) + conv(d, 4 * d, 1) + conv(4 * d, d, 1)

    def merge(d, d2):  # 3 x 3 conv, channel norm, max-pool
        return conv(d, d2, 3) + 2 * d2

    for classes in (3, 5):
        tokens = 1  # (28 / 7 / 2 ** 2) ** 2: the released configuration's sequence length
        design = (conv(3 * 7 * 7, 256, 1)
                  + tokens + 2 * block(256, 3) + merge(256, 512)
                  + tokens + 2 * block(512, 6) + merge(512, 1024)
                  + tokens + 8 * block(1024, 12)
                  + 2 * 1024 + 1024 * classes + classes)
        assert count_parameters(create_model("htnet", num_classes=classes)) == design
    # the regions: eyes above mouth corners, each 14 x 14, at the released fallback landmarks
    face = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28)
    tiled = facial_regions(face)
    assert tiled.shape == (1, 1, 28, 28)
    for (x, y), (row, col) in zip(((9, 11), (21, 10), (10, 21), (20, 21)), ((0, 0), (0, 14), (14, 0), (14, 14))):
        assert torch.equal(tiled[0, 0, row:row + 14, col:col + 14], face[0, 0, y - 7:y + 7, x - 7:x + 7])
    with pytest.raises(ValueError, match="divisible by 4"):
        create_model("htnet", num_classes=3, uvs_size=30)
    with pytest.raises(ValueError, match="at least 16 x 16"):
        create_model("sssnet", num_classes=3, uvs_size=12)
    assert create_model("sssnet", num_classes=3, uvs_size=28)({"uvs": torch.randn(2, 3, 28, 28)}).shape == (2, 3)
    with pytest.raises(ValueError, match=r"N x 3 x 28 x 28"):
        create_model("ststnet", num_classes=3)({"uvs": torch.randn(2, 3, 32, 32)})


def test_fold_models_declare_their_streams():
    from microexpr.models import fold_models, model_streams

    assert fold_models() == ["htnet", "mscnn", "offapexnet", "rcna", "sssnet", "ststnet"]
    assert model_streams("mscnn", ("flow", "gray")) == ("flow", "gray")
    assert model_streams("ststnet", ("flow", "gray")) == ("uvs",)
    with pytest.raises(ValueError, match="registered: htnet, mscnn, offapexnet, rcna, sssnet, ststnet"):
        model_streams("resnet18", ())


def test_mscnn_rejects_bad_streams():
    with pytest.raises(ValueError, match="subset"):
        create_model("mscnn", streams=("flow", "depth"))
    with pytest.raises(ValueError, match="subset"):
        create_model("mscnn", streams=())
    with pytest.raises(ValueError, match="unknown model"):
        create_model("resnet50")


def test_loading_torchvision_weights(tmp_path):
    donor = create_model("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(donor.state_dict(), path)
    trunk = create_model("resnet18", in_channels=1, num_classes=None)
    loaded = load_torchvision_weights(trunk, path)
    assert "layer4.1.conv2.weight" in loaded and not any(k.startswith("fc.") for k in loaded)
    assert torch.equal(trunk.layer3[0].conv1.weight, donor.layer3[0].conv1.weight)
    assert torch.allclose(trunk.conv1.weight, donor.conv1.weight.mean(dim=1, keepdim=True))
    model = create_model("mscnn", num_classes=3, width=64, pretrained=str(path))
    assert torch.equal(model.trunks["flow"].conv1.weight, donor.conv1.weight)
    with pytest.raises(ValueError, match="width 64"):
        load_torchvision_weights(create_model("resnet18", width=16, num_classes=None), path)
    with pytest.raises(FileNotFoundError):
        load_torchvision_weights(trunk, tmp_path / "missing.pth")


# ----------------------------------------------------------------------------- over-sampler

def imbalanced_features(seed=0, counts=(30, 12, 8), dim=6):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(c * 1.5, 1.0, (n, dim)) for c, n in enumerate(counts)]).astype(np.float32)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    return X, y


@pytest.mark.parametrize("method", ["random", "smote", "adasyn"])
def test_class_counts_match_imbalanced_learn(method):
    from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler

    reference = {"random": RandomOverSampler(random_state=0), "smote": SMOTE(k_neighbors=5, random_state=0),
                 "adasyn": ADASYN(n_neighbors=5, random_state=0)}[method]
    for seed in range(3):
        X, y = imbalanced_features(seed)
        _, y_ref = reference.fit_resample(X, y)
        layer = FeatureOversampler(method, k_neighbors=5).train()
        _, y_out = layer(torch.from_numpy(X), torch.from_numpy(y), torch.Generator().manual_seed(seed))
        assert np.bincount(y_out.numpy()).tolist() == np.bincount(y_ref).tolist(), (method, seed)


@pytest.mark.parametrize("method", ["smote", "adasyn"])
def test_synthetic_features_lie_between_same_class_neighbours(method):
    from sklearn.neighbors import NearestNeighbors

    X, y = imbalanced_features(1)
    layer = FeatureOversampler(method, k_neighbors=5).train()
    z, labels = layer(torch.from_numpy(X), torch.from_numpy(y), torch.Generator().manual_seed(0))
    new, new_y = z[len(X):].numpy(), labels[len(X):].numpy()
    assert len(new) > 0
    for c in np.unique(new_y):
        Xc = X[y == c]
        nn = NearestNeighbors(n_neighbors=6).fit(Xc).kneighbors(Xc, return_distance=False)[:, 1:]
        for point in new[new_y == c]:
            # some sample i and one of its 5 nearest same-class neighbours j span a segment holding the point
            ok = False
            for i in range(len(Xc)):
                for j in nn[i]:
                    d = Xc[j] - Xc[i]
                    t = float(np.dot(point - Xc[i], d) / np.dot(d, d))
                    if -1e-4 <= t <= 1 + 1e-4 and np.allclose(Xc[i] + t * d, point, atol=1e-4):
                        ok = True
                        break
                if ok:
                    break
            assert ok, f"{method}: a class-{c} feature is not between two neighbouring class-{c} features"


def test_adasyn_seeds_more_from_features_near_other_classes():
    rng = np.random.default_rng(0)
    majority = rng.normal(0, 0.5, (40, 2))
    border = rng.normal(0.3, 0.2, (6, 2))        # inside the majority cloud
    safe = rng.normal(6.0, 0.2, (6, 2))          # far from it
    X = np.concatenate([majority, border, safe]).astype(np.float32)
    y = np.array([0] * 40 + [1] * 12)
    layer = FeatureOversampler("adasyn", k_neighbors=5).train()
    z, labels = layer(torch.from_numpy(X), torch.from_numpy(y), torch.Generator().manual_seed(0))
    new = z[len(X):].numpy()
    near = (np.linalg.norm(new - 0.3, axis=1) < 2).sum()
    assert near > 0.8 * len(new)


def test_gradients_flow_through_generated_features():
    torch.manual_seed(0)  # ADASYN's count per sample depends on the neighbourhoods: a fixed draw, whatever ran before
    z = torch.randn(10, 4, requires_grad=True)
    y = torch.tensor([0] * 7 + [1] * 3)
    for method in ("random", "smote", "adasyn"):
        z.grad = None
        layer = FeatureOversampler(method).train()
        out, labels = layer(z, y, torch.Generator().manual_seed(0))
        assert len(out) == 14 and (labels == 1).sum() == 7
        out[10:].sum().backward()  # only the generated rows
        assert z.grad[7:].abs().sum() > 0, method  # reach the minority features they came from
        assert z.grad[:7].abs().sum() == 0, method


def test_oversampler_is_inactive_in_evaluation_and_for_none():
    z, y = torch.randn(5, 3), torch.tensor([0, 0, 0, 0, 1])
    assert FeatureOversampler("smote").eval()(z, y)[0] is z
    assert FeatureOversampler("none").train()(z, y)[0] is z
    out, labels = FeatureOversampler("smote").train()(z, y)  # one sample of class 1: repeated
    assert (labels == 1).sum() == 4 and torch.allclose(out[5:], z[4].expand(3, 3))
    with pytest.raises(ValueError, match="sampler"):
        FeatureOversampler("tomek")


def test_schema_lists_the_registered_training_models():
    import yaml

    from conftest import ROOT
    from microexpr.handcrafted import METHODS
    from microexpr.models import fold_models

    schema = yaml.safe_load((ROOT / "microexpr" / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["train"]["properties"]["model"]["enum"] == fold_models() + sorted(METHODS)


def test_a_models_own_defaults_reach_it_unless_a_setting_names_one():
    from microexpr.models import model_settings
    from microexpr.training import TrainConfig, build_model
    from dataclasses import asdict

    base = {**asdict(TrainConfig()), "num_classes": 3}
    off = model_settings("offapexnet", **base)
    assert off["dropout"] == 0.5 and off["sampler"] == "none"  # the paper's, not generic defaults
    assert model_settings("offapexnet", **{**base, "dropout": 0.2, "sampler": "smote"})["dropout"] == 0.2
    assert model_settings("mscnn", **base)["sampler"] == "random"
    model = build_model(TrainConfig(model="offapexnet"), 3, 28)
    assert model.oversampler.method == "none" and model.dense[2].p == 0.5


def test_a_constructor_parameter_that_is_no_setting_is_refused():
    from microexpr.models import model_settings, register_model
    from microexpr.models.registry import _REGISTRY, _STREAMS

    @register_model(streams=("uvs",))
    def misspelt_model(num_classes: int = 3, drop_out: float = 0.5):  # 'drop_out' would never be set
        raise AssertionError("never built")

    try:
        with pytest.raises(ValueError, match=r"\['drop_out'\] are no train setting"):
            model_settings("misspelt_model", num_classes=3, dropout=0.1)
    finally:
        _REGISTRY.pop("misspelt_model")
        _STREAMS.pop("misspelt_model")


def test_the_workflows_table_of_model_defaults_is_the_constructors():
    import inspect

    from microexpr.models import fold_models
    from microexpr.models.registry import _REGISTRY
    from microexpr.train_settings import MODEL_DEFAULTS, with_model_defaults

    assert set(MODEL_DEFAULTS) == set(fold_models())
    for name, own in MODEL_DEFAULTS.items():
        params = inspect.signature(_REGISTRY[name]).parameters
        assert {k: params[k].default for k in own} == own, name
    assert with_model_defaults({"model": "mscnn", "sampler": None}) == {"model": "mscnn", "sampler": "random",
                                                                        "dropout": 0.0}
    assert with_model_defaults({"model": "offapexnet", "dropout": 0.2})["dropout"] == 0.2
