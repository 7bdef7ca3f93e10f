"""HTNet: a hierarchical transformer over facial regions (Wang, Zhou, Wang, Cui and Wei, "HTNet for
micro-expression recognition", Neurocomputing 2024), written from the paper and its authors' released
code (github.com/wangzhifengharrison/HTNet: ``Model.py`` for the network,
``HTNet_for_three_datasets_confusion_matrix.py`` for the input and the training); none of their code
is used.

**Input.** The 28 x 28 u / v / strain image (the ``uvs`` stream). Four 14 x 14 regions, centred on the
left eye, the right eye and the two mouth corners, are cut out and tiled 2 x 2 (eyes above mouth
corners) into one 28 x 28 image. The released code places the regions at the five MTCNN landmarks of
each apex frame, clipped to 7..21 so that a region fits; where MTCNN finds no face it uses a fixed set
of landmarks. Our faces are already cropped and aligned, so every clip uses that fixed set (after the
same clipping and integer truncation): eyes at (x, y) = (9, 11) and (21, 10), mouth corners at (10, 21)
and (20, 21). The released code indexes rows by the landmarks' x; here rows are y, as the landmarks
mean. Other input sizes scale the positions (sides divisible by 4).

**Network** (the released code's configuration: image 28, patch 7, dim 256, heads 3, three
hierarchies, 2 / 2 / 8 transformer blocks, MLP ratio 4, dropout 0). Non-overlapping 7 x 7 patches
are embedded by a 1 x 1 convolution (4 x 4 tokens of 256 channels). Each level splits the map into
``2^level`` x ``2^level`` blocks and runs a transformer on each block's tokens on its own (a learnt
position embedding over a block's token positions, shared by the blocks; pre-norm multi-head self-attention and a feed-forward network,
both as 1 x 1 convolutions, each with a residual connection; layer norm over the channels); between
levels a 3 x 3 convolution doubles the channels, followed by layer norm and a 3 x 3 max-pool with
stride 2, so blocks merge as the map shrinks (256 -> 512 -> 1024 channels, heads 3 -> 6 -> 12). A
final layer norm and the mean over positions give 1024 features; the over-sampler (training only)
and the classifier follow, as in every model here. 114.4 M parameters with three classes (tested against
the design), 100.6 M of them in the eight 1024-channel blocks. At the released size every block holds one
token (a 4 x 4 map split into 4 x 4 blocks, then 2 x 2 blocks of a 2 x 2 map, then one 1 x 1 map), so the
attention sees a single position and the merging convolutions are what relate neighbouring regions.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_model
from .small import _Classifier, _uvs

# region centres (x, y) on a 28 x 28 face: the released code's fallback landmarks (left eye, right eye,
# left mouth corner, right mouth corner; the nose is not used), clipped to 7..21 and truncated
_REGIONS_28 = ((9, 11), (21, 10), (10, 21), (20, 21))


class _ChannelNorm(nn.Module):
    """Layer norm over the channels of an N x C x H x W map (per position), with gain and bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.gain + self.bias


class _SelfAttention(nn.Module):
    """Multi-head self-attention over the positions of a map; queries, keys, values and output as 1 x 1
    convolutions (``dim // heads`` channels a head, no bias on the projections in)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        inner = self.head_dim * heads
        self.qkv = nn.Conv2d(dim, 3 * inner, 1, bias=False)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Sequential(nn.Conv2d(inner, dim, 1), nn.Dropout(dropout))

    def forward(self, x):
        n, _, h, w = x.shape
        q, k, v = (t.reshape(n, self.heads, self.head_dim, h * w).transpose(2, 3)
                   for t in self.qkv(x).chunk(3, dim=1))  # each N x heads x positions x head_dim
        weights = self.drop(torch.softmax(q @ k.transpose(2, 3) * self.head_dim ** -0.5, dim=-1))
        y = (weights @ v).transpose(2, 3).reshape(n, self.heads * self.head_dim, h, w)
        return self.out(y)


class _Transformer(nn.Module):
    def __init__(self, dim: int, tokens: int, depth: int, heads: int, mlp: int, dropout: float):
        super().__init__()
        self.position = nn.Parameter(torch.randn(tokens))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.ModuleList([
                nn.Sequential(_ChannelNorm(dim), _SelfAttention(dim, heads, dropout)),
                nn.Sequential(_ChannelNorm(dim), nn.Conv2d(dim, dim * mlp, 1), nn.GELU(), nn.Dropout(dropout),
                              nn.Conv2d(dim * mlp, dim, 1), nn.Dropout(dropout))]))

    def forward(self, x):
        h, w = x.shape[-2:]
        x = x + self.position[: h * w].view(1, 1, h, w)
        for attend, feed in self.blocks:
            x = x + attend(x)
            x = x + feed(x)
        return x


def _to_blocks(x: torch.Tensor, b: int) -> torch.Tensor:
    """N x C x (b h) x (b w) -> (N b b) x C x h x w: each of the b x b blocks a sample of its own."""
    n, c, hh, ww = x.shape
    x = x.view(n, c, b, hh // b, b, ww // b).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n * b * b, c, hh // b, ww // b)


def _from_blocks(x: torch.Tensor, b: int) -> torch.Tensor:
    nbb, c, h, w = x.shape
    n = nbb // (b * b)
    return x.view(n, b, b, c, h, w).permute(0, 3, 1, 4, 2, 5).reshape(n, c, b * h, b * w)


def facial_regions(x: torch.Tensor) -> torch.Tensor:
    """The four regions of an N x C x S x S face (S divisible by 4), each S/2 x S/2, tiled 2 x 2."""
    s = x.shape[-1]
    half = s // 4
    crops = []
    for cx, cy in _REGIONS_28:
        # centres scaled to this size, kept where a region fits
        cx = min(max(round(cx * s / 28), half), s - half)
        cy = min(max(round(cy * s / 28), half), s - half)
        crops.append(x[..., cy - half: cy + half, cx - half: cx + half])
    return torch.cat([torch.cat(crops[:2], dim=-1), torch.cat(crops[2:], dim=-1)], dim=-2)


class HTNet(_Classifier):
    def __init__(self, num_classes: int = 3, size: int = 28, sampler: str = "none", k_neighbors: int = 5,
                 dropout: float = 0.0, dim: int = 256, heads: int = 3, hierarchies: int = 3,
                 repeats: tuple[int, ...] = (2, 2, 8), mlp: int = 4):
        if size % 4 or size < 8:
            raise ValueError(f"HTNet needs uvs images with a side divisible by 4, at least 8 (images.uvs_size), "
                             f"got {size}")
        if len(repeats) != hierarchies:
            raise ValueError(f"HTNet: {hierarchies} hierarchies need as many block counts, got {repeats}")
        self.patch = size // 4                 # 7 at 28: a 4 x 4 map of tokens
        blocks = 2 ** (hierarchies - 1)
        if 4 % blocks:
            raise ValueError(f"HTNet: {hierarchies} hierarchies cannot split a 4 x 4 token map")
        dims = [dim * 2 ** i for i in range(hierarchies)]
        super().__init__(dims[-1], num_classes, sampler, k_neighbors)
        self.size, self.levels = size, hierarchies
        tokens = (4 // blocks) ** 2            # tokens a block holds, the same at every level
        self.embed = nn.Conv2d(3 * self.patch ** 2, dims[0], 1)
        self.stages = nn.ModuleList()
        for i, d in enumerate(dims):
            last = i == hierarchies - 1
            merge = nn.Identity() if last else nn.Sequential(
                nn.Conv2d(d, dims[i + 1], 3, padding=1), _ChannelNorm(dims[i + 1]), nn.MaxPool2d(3, 2, padding=1))
            self.stages.append(nn.ModuleList([_Transformer(d, tokens, repeats[i], heads * 2 ** i, mlp, dropout),
                                              merge]))
        self.norm = _ChannelNorm(dims[-1])

    def features(self, inputs):
        x = self.embed(F.pixel_unshuffle(facial_regions(_uvs(inputs, self.size)), self.patch))
        for level, (transformer, merge) in zip(reversed(range(self.levels)), self.stages):
            b = 2 ** level
            x = merge(_from_blocks(transformer(_to_blocks(x, b)), b))
        return self.norm(x).mean(dim=(2, 3))


@register_model(streams=("uvs",))
def htnet(num_classes: int = 3, uvs_size: int = 28, sampler: str = "none", k_neighbors: int = 5,
          dropout: float = 0.0) -> HTNet:
    return HTNet(num_classes, uvs_size, sampler, k_neighbors, dropout)
