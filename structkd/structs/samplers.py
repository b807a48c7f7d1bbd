"""Exact samples from the factorizations, as compact outputs (labels ``(K, B, N)`` or heads ``(K, B, N+1)``).

* locally normalised models (:class:`MaxEnt`, :class:`HeadSelection`): one categorical draw per position;
* :class:`LinearChainCRF`: forward filtering, backward sampling --
  ``y_{n-1} ~ alpha_{n-1}``, then ``y_{i-1} ~ alpha_{i-1}(p) + phi[i, p, y_i]``;
* the tree CRFs: the chain rule over words, ``p(y) = prod_m p(h_m | h_1 .. h_{m-1})``, each factor read off the
  marginals of the tree CRF with the heads drawn so far fixed (their other arcs forbidden): ``n`` marginal
  passes per batch of samples, exact for projective and non-projective trees alike.

Every draw is a Gumbel-max, ``argmax(log p + G)``; samples carry no gradient (score-function estimators take
their gradient through ``log p(y)``, see :mod:`structkd.divergences`).

    >>> import torch
    >>> from structkd import LinearChainCRF
    >>> chain = LinearChainCRF(torch.randn(2, 4, 3, 3), torch.tensor([4, 2]))
    >>> sample(chain, 5, torch.Generator().manual_seed(0)).shape
    torch.Size([5, 2, 4])
"""
from __future__ import annotations

import torch

from .base import Factorization, _finite, length_mask
from .chain import LinearChainCRF
from .local import HeadSelection, MaxEnt
from .tree import TreeFactorization


def sample(dist: Factorization, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``k`` exact samples of every sentence of ``dist``: ``(k, B, N)`` labels or ``(k, B, N+1)`` heads
    (0 on padding and at the root position)."""
    if k < 1:
        raise ValueError(f"the number of samples must be at least 1, got {k}")
    with torch.no_grad():
        if isinstance(dist, (MaxEnt, HeadSelection)):
            return _sample_local(dist, k, generator)
        if isinstance(dist, LinearChainCRF):
            return _sample_chain(dist, k, generator)
        if isinstance(dist, TreeFactorization):
            return _sample_tree(dist, k, generator)
    raise TypeError(f"no sampler for {type(dist).__name__}")


def gumbel_argmax(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row of the categorical ``softmax(logits)`` over the last dimension (``-inf`` never drawn)."""
    uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    tiny = torch.finfo(logits.dtype).tiny
    return (logits - (-uniform.clamp_min(tiny).log()).log()).argmax(-1)


def _log(marginals: torch.Tensor) -> torch.Tensor:
    return marginals.log().masked_fill(marginals <= 0, float("-inf"))


def _sample_local(dist, k: int, generator) -> torch.Tensor:
    """Categorical draws from each position's softmax; positions without mass (padding, the root row) give 0."""
    probs = dist.marginals.detach()
    logits = _log(probs).unsqueeze(0).expand(k, *probs.shape)
    draws = gumbel_argmax(logits.masked_fill(~(probs > 0).any(-1, keepdim=True), 0.0), generator)
    return draws.masked_fill(~(probs > 0).any(-1), 0)


def _sample_chain(dist: LinearChainCRF, k: int, generator) -> torch.Tensor:
    """Forward filtering, backward sampling over ``(B, N, C, C)`` potentials."""
    phi = _finite(dist.log_potentials.detach())
    batch, n, num_labels, _ = phi.shape
    alphas = [phi[:, 0, 0]]  # (B, C): the virtual start state is label 0
    for i in range(1, n):
        alphas.append(torch.logsumexp(alphas[-1].unsqueeze(-1) + phi[:, i], -2))
    last = (dist.lengths - 1).view(1, batch)  # (1, B)
    labels = torch.zeros(k, batch, n, dtype=torch.long, device=phi.device)
    nxt = labels[:, :, 0]  # the label drawn at position i + 1 (unused at a sentence's last position)
    for i in range(n - 1, -1, -1):
        alpha = alphas[i].unsqueeze(0).expand(k, batch, num_labels)
        if i + 1 < n:  # phi[b, i+1, p, y_{i+1}] for every previous label p
            step = phi[:, i + 1].unsqueeze(0).expand(k, -1, -1, -1)
            into = step.gather(-1, nxt.view(k, batch, 1, 1).expand(k, batch, num_labels, 1)).squeeze(-1)
            logits = torch.where((i < last).unsqueeze(-1), alpha + into, alpha)
        else:
            logits = alpha
        drawn = gumbel_argmax(logits, generator)
        labels[:, :, i] = torch.where(i <= last, drawn, torch.zeros_like(drawn))
        nxt = labels[:, :, i]
    return labels


def _sample_tree(dist: TreeFactorization, k: int, generator) -> torch.Tensor:
    """Word by word: draw ``h_m`` from the marginals of the tree CRF conditioned on the heads drawn so far."""
    batch, size, _ = dist.log_potentials.shape
    phi = dist.log_potentials.detach().repeat_interleave(k, 0)  # (B*k, N+1, N+1), sample-major per sentence
    lengths = dist.lengths.repeat_interleave(k)
    heads = torch.zeros(batch * k, size, dtype=torch.long, device=phi.device)
    words = length_mask(lengths, size - 1)  # (B*k, N): words 1..len
    for m in range(1, size):
        active = words[:, m - 1]
        if not active.any():
            break
        conditioned = type(dist)(phi, lengths, multiroot=dist.multiroot)
        logits = _log(conditioned.marginals.detach()[:, m])  # (B*k, N+1)
        drawn = gumbel_argmax(logits.masked_fill(~active.unsqueeze(-1), 0.0), generator)
        heads[:, m] = torch.where(active, drawn, torch.zeros_like(drawn))
        keep = torch.nn.functional.one_hot(heads[:, m], size).bool() | ~active.unsqueeze(-1)
        phi = phi.clone()
        phi[:, m] = phi[:, m].masked_fill(~keep, float("-inf"))
    return heads.view(batch, k, size).transpose(0, 1)
