"""Locally normalised factorizations: one independent softmax per position.

* :class:`MaxEnt` -- a label per token.  Potentials ``(B, N, C)``, ``[b, i, c]`` scores ``y_i = c``.
* :class:`HeadSelection` -- a head per word (dependency parsing as sequence labelling).
  Potentials ``(B, N+1, N+1)`` indexed ``[b, m, h]`` (0 = root); each word ``m`` in ``1..n`` picks
  one head ``h`` in ``0..n``, ``h != m``.  The output need not be a tree.

For both, ``p(y) = prod_i softmax(s_i)[y_i]``, ``log Z = sum_i logsumexp_k s_i[k]`` and the marginals are
the per-position softmaxes.  The semiring sum is written generically, so argmax, entropy, KL, ... work.
"""
from __future__ import annotations

import torch
from torch.distributions.utils import lazy_property

from .base import DynamicProgram, Factorization, _finite, length_mask


class IndependentChoices(DynamicProgram):
    """Product over positions of a semiring sum over each position's allowed choices.

    Subclasses define ``choice_mask(shape, lengths) -> (B, P, K)`` bool: which choice k is allowed at
    position p (all False at positions outside the sentence).
    """

    def _semiring_sum(self, phi, lengths):
        sr = self.semiring
        allowed = self.choice_mask(phi.shape[1:], lengths)
        per_position = sr.sum(semiring_masked(sr, phi, allowed))
        active = allowed.any(-1)  # (B, P)
        per_position = per_position.masked_fill(~active.unsqueeze(0), 0.0)  # 0 is "one" in log-type semirings
        return sr.prod(per_position)

    @staticmethod
    def choice_mask(shape, lengths):
        raise NotImplementedError


def semiring_masked(sr, phi: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Replace disallowed cells by the semiring zero (also clearing any -inf/NaN there)."""
    out = phi.masked_fill(~allowed.unsqueeze(0), 0.0)
    sr.zero_mask_(out, ~allowed)
    return out


class TokenChoices(IndependentChoices):
    @staticmethod
    def choice_mask(shape, lengths):
        batch, n, num_labels = shape
        return length_mask(lengths, n).unsqueeze(-1).expand(batch, n, num_labels)


class HeadChoices(IndependentChoices):
    @staticmethod
    def choice_mask(shape, lengths):
        return head_mask(lengths, shape[1] - 1)


def head_mask(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, n+1, n+1)`` bool: True where ``[m, h]`` is a possible arc (1 <= m <= len, 0 <= h <= len, h != m)."""
    words = torch.arange(n + 1, device=lengths.device)
    in_sentence = words.view(1, -1) <= lengths.view(-1, 1)  # (B, n+1), includes the root
    dep_ok = in_sentence & (words.view(1, -1) > 0)
    return dep_ok.unsqueeze(-1) & in_sentence.unsqueeze(-2) & (words.view(-1, 1) != words.view(1, -1))


class LocalFactorization(Factorization):
    """The shared part of the locally normalised factorizations: their marginals in closed form."""

    @lazy_property
    def marginals(self) -> torch.Tensor:
        """The per-position softmax over the allowed choices (zero elsewhere): the gradient of log Z, computed
        directly, so that an objective through the marginals needs no second-order autograd."""
        allowed = self.struct.choice_mask(self.log_potentials.shape, self.lengths)
        some = allowed.any(-1, keepdim=True)  # positions of a sentence (rows without choices stay zero)
        scores = _finite(self.log_potentials).masked_fill(~allowed & some, float("-inf")).masked_fill(~some, 0.0)
        return scores.softmax(-1) * allowed


class MaxEnt(LocalFactorization):
    """Per-token softmax over ``C`` labels; potentials ``(B, N, C)``."""

    struct = TokenChoices

    def __init__(self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None, labels=None):
        if log_potentials.dim() != 3:
            raise ValueError(f"MaxEnt: potentials must have shape (B, N, C), got {tuple(log_potentials.shape)}")
        super().__init__(log_potentials, lengths, labels)

    @property
    def num_labels(self) -> int:
        return self.log_potentials.shape[-1]

    def decode(self) -> torch.Tensor:
        """``(B, N)`` per-token argmax labels (0 on padding)."""
        return self.log_potentials.argmax(-1).masked_fill(~length_mask(self.lengths, self.log_potentials.shape[1]), 0)

    def to_parts(self, labels: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` labels -> ``(B, N, C)`` one-hot, zero past each length."""
        onehot = torch.nn.functional.one_hot(labels, self.num_labels).to(self.log_potentials.dtype)
        return onehot * length_mask(self.lengths, labels.shape[1]).unsqueeze(-1)


class HeadSelection(LocalFactorization):
    """Per-word softmax over heads; potentials ``(B, N+1, N+1)`` indexed ``[b, m, h]``."""

    sentence_dims, root_positions = 2, 1

    struct = HeadChoices

    def __init__(self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None):
        if log_potentials.dim() != 3 or log_potentials.shape[1] != log_potentials.shape[2]:
            raise ValueError(
                f"HeadSelection: potentials must have shape (B, N+1, N+1), got {tuple(log_potentials.shape)}"
            )
        super().__init__(log_potentials, lengths)

    @staticmethod
    def max_length(log_potentials: torch.Tensor) -> int:
        return log_potentials.shape[1] - 1

    def decode(self) -> torch.Tensor:
        """``(B, N+1)`` the best head of every word (0 at index 0 and on padding)."""
        allowed = head_mask(self.lengths, self.log_potentials.shape[1] - 1)
        best = self.log_potentials.masked_fill(~allowed, float("-inf")).argmax(-1)
        return best.masked_fill(~allowed.any(-1), 0)

    def to_parts(self, heads: torch.Tensor) -> torch.Tensor:
        """``(B, N+1)`` heads -> ``(B, N+1, N+1)`` 0/1 arcs ``[m, h]`` (words 1..len only)."""
        return heads_to_arcs(heads, self.lengths).to(self.log_potentials.dtype)


def heads_to_arcs(heads: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, N+1)`` heads -> ``(B, N+1, N+1)`` bool arc indicators ``[m, h]`` for words ``1..len``."""
    n = heads.shape[1]
    words = torch.arange(n, device=heads.device)
    is_word = (words.view(1, -1) > 0) & (words.view(1, -1) <= lengths.view(-1, 1))
    return torch.nn.functional.one_hot(heads, n).bool() & is_word.unsqueeze(-1)
