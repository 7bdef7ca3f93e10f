"""microexpr.optim against torch.optim: the same parameters after every step, the same state-dict layout."""
import io
import subprocess
import sys

import pytest
import torch

from microexpr import optim
from conftest import ROOT


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


def _saved(opt):
    """The state dict as a checkpoint returns it (saved, then loaded as plain data)."""
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _steps(model, opt, n, lrs=None):
    gen = torch.Generator().manual_seed(1)
    trace = []
    for i in range(n):
        if lrs:
            for g in opt.param_groups:
                g["lr"] = lrs[i]
        x, y = torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        trace.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
    return trace


CASES = [("sgd", dict(lr=0.05, momentum=0.9, weight_decay=5e-4)), ("sgd", dict(lr=0.05)),
         ("adam", dict(lr=1e-2, weight_decay=5e-4)), ("adam", dict(lr=1e-3))]


@pytest.mark.parametrize("kind,kw", CASES)
def test_every_step_equals_torch_optim(kind, kw):
    ours, theirs = _model(0), _model(0)
    mine = {"sgd": optim.SGD, "adam": optim.Adam}[kind](ours.parameters(), **kw)
    ref = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind](theirs.parameters(), **kw)
    lrs = [kw["lr"] * f for f in (1.0, 0.5, 1.0, 0.25, 0.75, 1.0)]  # the schedules set each group's lr
    a, b = _steps(ours, mine, 6, lrs), _steps(theirs, ref, 6, lrs)
    assert not torch.equal(a[0], a[-1])  # training moved the parameters
    for step, (x, y) in enumerate(zip(a, b)):
        assert torch.allclose(x, y, rtol=1e-6, atol=1e-7), f"step {step}: {(x - y).abs().max()}"


@pytest.mark.parametrize("kind,kw", [CASES[0], CASES[2]])
def test_a_state_dict_of_either_resumes_in_the_other(kind, kw):
    """Checkpoints written before microexpr.optim (torch.optim's state) resume, and the other way round."""
    cls = {"sgd": (optim.SGD, torch.optim.SGD), "adam": (optim.Adam, torch.optim.Adam)}[kind]
    for first, second in (cls, cls[::-1]):
        m1, m2 = _model(0), _model(0)
        o1 = first(m1.parameters(), **kw)
        _steps(m1, o1, 3)
        m2.load_state_dict(m1.state_dict())
        o2 = second(m2.parameters(), **kw)
        o2.load_state_dict(_saved(o1))
        assert set(o2.state_dict()["state"]) == set(o1.state_dict()["state"]) == set(range(6))
        o3 = first(m1.parameters(), **kw)  # the uninterrupted run goes on from the same state
        o3.load_state_dict(_saved(o1))
        a, b = _steps(m1, o3, 3), _steps(m2, o2, 3)
        assert torch.allclose(a[-1], b[-1], rtol=1e-6, atol=1e-7)


def test_a_state_dict_of_another_model_is_refused():
    small = optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="optimizer state for \\[6\\] parameters, this model has 2"):
        small.load_state_dict(optim.SGD(_model(0).parameters(), lr=0.1).state_dict())
    nesterov = torch.optim.SGD(_model(0).parameters(), lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="optimizer state with {'nesterov': True}"):
        optim.SGD(_model(0).parameters(), lr=0.1, momentum=0.9).load_state_dict(nesterov.state_dict())


def test_a_training_step_does_not_import_torch_dynamo():
    code = ("import sys, torch; from microexpr import optim; m = torch.nn.Linear(3, 2); "
            "o = optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4); m(torch.ones(4, 3)).sum().backward(); "
            "o.step(); o.zero_grad(); o.state_dict(); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False"]  # torch imports torch.optim itself; its Optimizer would load dynamo
