"""SGD with momentum and Adam, computed as ``torch.optim`` computes them, without importing ``torch.optim``.

Why: ``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time a step, ``zero_grad`` or
``state_dict`` runs (those methods are wrapped in ``torch._disable_dynamo``). That import takes about 2 s
of CPU per process, which is a third of a small training job (``benchmarks/train.py``; the test suite
runs dozens of them). Nothing here compiles, so it is not needed.

The update rules are those of torch 2.13's single-tensor paths (``torch/optim/sgd.py``
``_single_tensor_sgd`` and ``torch/optim/adam.py`` ``_single_tensor_adam``), for the options the
recipes use: no dampening, no Nesterov, no AMSGrad, L2 weight decay added to the gradient.
``tests/test_optim.py`` checks both against ``torch.optim`` step by step. The state dict has
``torch.optim``'s layout (``state`` keyed by parameter index, ``param_groups`` holding the settings
and the indices), so a checkpoint written by either loads in the other.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch


class _Optimizer:
    """The part of ``torch.optim.Optimizer`` that training and ``torch.amp.GradScaler`` use: one
    parameter group, ``zero_grad``, ``step``, ``state_dict``, ``load_state_dict``."""

    # settings torch.optim's state dict carries that these classes hold fixed (a checkpoint loaded into
    # torch.optim needs them; one that asks for another value is refused)
    fixed: dict = {}

    def __init__(self, params: Iterable[torch.Tensor], **defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = defaults
        self.param_groups = [{"params": params, **defaults}]
        self.state: dict[torch.Tensor, dict] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_()
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        for p in group["params"]:
            if p.grad is not None:
                self._update(p, p.grad, self.state.setdefault(p, {}), group)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        group = self.param_groups[0]
        index = {id(p): i for i, p in enumerate(group["params"])}
        return {"state": {index[id(p)]: dict(s) for p, s in self.state.items() if s},
                "param_groups": [{**self.fixed, **{k: v for k, v in group.items() if k != "params"},
                                  "params": list(range(len(group["params"])))}]}

    def load_state_dict(self, state_dict: dict) -> None:
        params = self.param_groups[0]["params"]
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError(f"optimizer state for {[len(g['params']) for g in groups]} parameters, "
                             f"this model has {len(params)}")
        other = {k: v for k, v in groups[0].items() if k in self.fixed and v != self.fixed[k]}
        if other:
            raise ValueError(f"optimizer state with {other}: {type(self).__name__} computes only {self.fixed}")
        self.param_groups[0].update({k: v for k, v in groups[0].items() if k in self.defaults})
        self.state = {}
        for i, saved in state_dict["state"].items():
            p = params[groups[0]["params"].index(int(i))]
            # as torch.optim does: floating state follows its parameter's dtype and device, `step` stays
            self.state[p] = {k: (v.to(p.device, p.dtype) if torch.is_tensor(v) and k != "step" and v.is_floating_point() else v)
                             for k, v in saved.items() if v is not None}


class SGD(_Optimizer):
    """``torch.optim.SGD(params, lr, momentum, weight_decay)``."""

    fixed = dict(dampening=0, nesterov=False, maximize=False, foreach=None, differentiable=False, fused=None)

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def _update(self, p, grad, state, group):
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        if group["momentum"] != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.detach().clone()
            else:
                buf.mul_(group["momentum"]).add_(grad)
            grad = buf
        p.add_(grad, alpha=-group["lr"])


class Adam(_Optimizer):
    """``torch.optim.Adam(params, lr, betas, eps, weight_decay)`` (L2 decay, not AdamW's)."""

    fixed = dict(amsgrad=False, maximize=False, foreach=None, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False)

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _update(self, p, grad, state, group):
        if not state:  # torch.optim keeps the step count as a float32 tensor on the CPU
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"].item()
        step_size = group["lr"] / (1 - beta1**step)
        denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**step) ** 0.5).add_(group["eps"])
        p.addcdiv_(state["exp_avg"], denom, value=-step_size)
