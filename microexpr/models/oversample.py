"""Over-sampling inside the network: balance the classes of a training batch's dense-layer features
before the classifier, with gradients flowing through the generated features.

* ``random``: minority-class features are repeated (drawn with replacement) up to the largest class.
* ``smote``: new features on the segment between a minority feature and one of its ``k`` nearest
  same-class neighbours, ``z_i + u (z_nn - z_i)``, ``u ~ U(0, 1)``; as imbalanced-learn's SMOTE, which
  draws (sample, neighbour) pairs uniformly.
* ``adasyn``: as SMOTE, but each minority feature seeds a number of new ones proportional to the share
  of other-class features among its ``k`` nearest neighbours in the whole batch, rounded per feature
  (imbalanced-learn's ADASYN rule, so the class counts after sampling follow its arithmetic).

Neighbour searches use detached features; the interpolation itself is differentiable. A class with a
single feature in the batch can only be repeated; classes absent from the batch stay absent. At
evaluation (``module.eval()``) the layer is the identity.
"""

from __future__ import annotations

import torch
import torch.nn as nn

OVERSAMPLERS = ("none", "random", "smote", "adasyn")


class FeatureOversampler(nn.Module):
    def __init__(self, method: str = "random", k_neighbors: int = 5):
        super().__init__()
        if method not in OVERSAMPLERS:
            raise ValueError(f"sampler must be one of {OVERSAMPLERS}, got {method!r}")
        if k_neighbors < 1:
            raise ValueError(f"k_neighbors must be >= 1, got {k_neighbors}")
        self.method = method
        self.k = k_neighbors

    def extra_repr(self) -> str:
        return f"method={self.method!r}, k_neighbors={self.k}"

    def forward(self, z: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training or self.method == "none" or len(y) == 0:
            return z, y
        classes, counts = torch.unique(y, return_counts=True)
        target = int(counts.max())
        new_z, new_y = [z], [y]
        for c, n in zip(classes.tolist(), counts.tolist()):
            need = target - n
            if need <= 0:
                continue
            idx = torch.nonzero(y == c, as_tuple=True)[0]
            zc = z[idx]
            if self.method == "random" or n == 1:
                pick = torch.randint(n, (need,), generator=generator, device="cpu").to(z.device)
                made = zc[pick]
            elif self.method == "smote":
                made = self._interpolate(zc, torch.randint(n, (need,), generator=generator, device="cpu"), generator)
            else:
                made = self._adasyn(z, y, c, idx, need, generator)
            new_z.append(made)
            new_y.append(torch.full((len(made),), c, dtype=y.dtype, device=y.device))
        return torch.cat(new_z), torch.cat(new_y)

    def _neighbours(self, zc: torch.Tensor, k: int) -> torch.Tensor:
        d = torch.cdist(zc.detach().float(), zc.detach().float())
        d.fill_diagonal_(float("inf"))
        return torch.topk(d, k, largest=False).indices.cpu()  # n x k, self excluded

    def _interpolate(self, zc: torch.Tensor, base: torch.Tensor, generator) -> torch.Tensor:
        """New features between zc[base] and one of each base's k nearest same-class neighbours."""
        k = min(self.k, len(zc) - 1)
        nn_idx = self._neighbours(zc, k)
        col = torch.randint(k, (len(base),), generator=generator, device="cpu")
        partner = nn_idx[base, col]
        step = torch.rand((len(base), 1), generator=generator, device="cpu").to(zc.device, zc.dtype)
        base, partner = base.to(zc.device), partner.to(zc.device)
        return zc[base] + step * (zc[partner] - zc[base])

    def _adasyn(self, z, y, c, idx, need, generator) -> torch.Tensor:
        k_all = min(self.k, len(y) - 1)
        d = torch.cdist(z[idx].detach().float(), z.detach().float())
        d[torch.arange(len(idx)), idx] = float("inf")  # not its own neighbour
        nn_all = torch.topk(d, k_all, largest=False).indices
        ratio = (y[nn_all] != c).float().sum(dim=1) / self.k
        if ratio.sum() == 0:  # no other class nearby: fall back to uniform seeding (SMOTE)
            counts = torch.bincount(torch.randint(len(idx), (need,), generator=generator, device="cpu"),
                                    minlength=len(idx))
        else:
            counts = torch.round(ratio / ratio.sum() * need).long().cpu()
        base = torch.repeat_interleave(torch.arange(len(idx)), counts)
        if len(base) == 0:
            return z[:0]
        return self._interpolate(z[idx], base, generator)


class OversampledHead:
    """Mixin of the training models: ``features(inputs)`` -> the over-sampler (training only) -> the
    linear ``classifier``. The model defines ``features``, ``oversampler`` and ``classifier``."""

    def forward(self, inputs):
        """Logits, without over-sampling (evaluation and inference)."""
        return self.classifier(self.features(inputs))

    def forward_train(self, inputs, labels: torch.Tensor,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and labels after the over-sampler has balanced the batch's features."""
        z, y = self.oversampler(self.features(inputs), labels, generator)
        return self.classifier(z), y
