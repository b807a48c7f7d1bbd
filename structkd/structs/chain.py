"""Linear-chain CRF: substructures are label pairs ``(i, y_{i-1}, y_i)``.

Potentials ``phi`` have shape ``(B, N, C, C)``: ``phi[b, i, p, c]`` scores ``y_{i-1} = p, y_i = c``.
The chain starts in a virtual state that shares index 0, so the first token's scores are
``phi[b, 0, 0, :]`` and the rows ``phi[b, 0, p > 0, :]`` never enter a path (their marginals are 0).

    Score(y) = sum_{i < n} phi[i, y_{i-1}, y_i]   with y_{-1} = 0
    log Z    = forward recursion alpha_i[c] = logsumexp_p (alpha_{i-1}[p] + phi[i, p, c])

The recursion is a sequential scan written in semiring operations: O(n C^2) work instead of the
O(n C^3) of torch-struct's parallel scan, and every torch-struct semiring still applies to it.
"""
from __future__ import annotations

import torch

from ..decoders import viterbi
from .base import DynamicProgram, Factorization


class ChainScan(DynamicProgram):
    """Forward algorithm over ``(ssize, B, N, C, C)`` potentials, masked by ``lengths``."""

    def _semiring_sum(self, phi, lengths):
        sr = self.semiring
        ssize, _, n, num_labels, _ = phi.shape
        # Past its length a sentence takes identity steps (semiring one on the diagonal, zero elsewhere),
        # which carry alpha through unchanged: no per-step masking, and no gradient to the padding.
        identity = sr.zero_(phi.new_empty(ssize, 1, 1, num_labels, num_labels))
        sr.one_(identity.diagonal(0, -2, -1))
        active = (torch.arange(n, device=phi.device) < lengths.unsqueeze(-1)).view(1, -1, n, 1, 1)
        # (ssize, B, N, C_cur, C_prev): the reduced (previous) label last, as every semiring sums there.
        phi_t = torch.where(active, phi, identity).transpose(-1, -2).contiguous()
        alpha = phi_t[:, :, 0, :, 0]  # the virtual start state is label 0
        for i in range(1, n):
            alpha = sr.sum(sr.times(alpha.unsqueeze(-2), phi_t[:, :, i]))
        return sr.sum(alpha)


class LinearChainCRF(Factorization):
    """A first-order linear-chain CRF over ``C`` labels (see the module docstring for the layout)."""

    struct = ChainScan

    def __init__(self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None, labels=None,
                 emissions: torch.Tensor | None = None):
        if log_potentials.dim() != 4 or log_potentials.shape[-1] != log_potentials.shape[-2]:
            raise ValueError(
                f"LinearChainCRF: potentials must have shape (B, N, C, C), got {tuple(log_potentials.shape)}"
            )
        super().__init__(log_potentials, lengths, labels)
        #: ``(B, N, C)`` per-token scores when built by :meth:`from_emissions` (token-level KD uses them).
        self.emissions = emissions

    @property
    def num_labels(self) -> int:
        return self.log_potentials.shape[-1]

    @classmethod
    def from_emissions(
        cls,
        emissions: torch.Tensor,
        transitions: torch.Tensor,
        lengths: torch.Tensor | None = None,
        start: torch.Tensor | None = None,
        end: torch.Tensor | None = None,
        labels=None,
    ) -> "LinearChainCRF":
        """Build the pair potentials of the usual emission + transition CRF.

        Args:
            emissions: ``(B, N, C)`` per-token label scores.
            transitions: ``(C, C)`` score of ``y_{i-1} = p -> y_i = c`` at ``[p, c]``
                (use ``-inf`` to forbid a transition, see :func:`structkd.schemes.allowed_transitions`).
            start, end: optional ``(C,)`` scores of the first and the last label.

        phi[i, p, c] = emissions[i, c] + transitions[p, c]   (i >= 1)
        phi[0, 0, c] = emissions[0, c] + start[c];   end[c] is added at i = length - 1.
        """
        batch, n, num_labels = emissions.shape
        if lengths is None:
            lengths = torch.full((batch,), n, dtype=torch.long, device=emissions.device)
        phi = emissions.unsqueeze(-2) + transitions.view(1, 1, num_labels, num_labels)
        first = emissions[:, 0] if start is None else emissions[:, 0] + start
        phi = torch.cat([first.unsqueeze(1).unsqueeze(2).expand(batch, 1, num_labels, num_labels), phi[:, 1:]], 1)
        if end is not None:
            is_last = torch.arange(n, device=phi.device) == (lengths - 1).unsqueeze(-1)  # (B, N)
            phi = torch.where(is_last.view(batch, n, 1, 1), phi + end.view(1, 1, 1, num_labels), phi)
        return cls(phi, lengths, labels, emissions=emissions)

    def derivatives(self, direction: torch.Tensor | None = None):
        """As :meth:`Factorization.derivatives`, with ``H d`` in closed form: one forward-backward pass gives
        ``log Z`` and the pair marginals, and two linear recursions over them give ``H d``
        (:func:`pair_covariance`) instead of a backward through the marginals' own backward."""
        log_z, mu, _ = super().derivatives()
        return log_z, mu, None if direction is None else pair_covariance(mu, direction)

    @property
    def label_marginals(self) -> torch.Tensor:
        """``(B, N, C)`` token marginals P(y_i = c) = sum_p P(i, p, c)."""
        return self.marginals.sum(-2)

    def decode(self) -> torch.Tensor:
        """``(B, N)`` Viterbi labels (padding positions are 0), by :func:`structkd.decoders.viterbi` on the CPU:
        the same labels as :attr:`argmax`, without its autograd pass and without per-step torch dispatch."""
        phi = self.log_potentials.detach()
        scores = phi.cpu() if phi.dtype in (torch.float32, torch.float64) else phi.cpu().float()  # NumPy types
        labels = viterbi(scores.numpy(), self.lengths.cpu().numpy())
        return torch.from_numpy(labels).to(phi.device)

    def to_parts(self, labels: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` labels -> ``(B, N, C, C)`` 0/1 pair indicators (zero past each length)."""
        batch, n = labels.shape
        prev = torch.cat([labels.new_zeros(batch, 1), labels[:, :-1]], 1)
        parts = torch.zeros_like(self.log_potentials)
        mask = torch.arange(n, device=labels.device) < self.lengths.unsqueeze(-1)
        b, i = mask.nonzero(as_tuple=True)
        parts[b, i, prev[b, i], labels[b, i]] = 1
        return parts

    @staticmethod
    def from_parts(parts: torch.Tensor) -> torch.Tensor:
        """``(B, N, C, C)`` pair indicators -> ``(B, N)`` labels (argmax of the token marginals)."""
        return parts.sum(-2).argmax(-1)


def pair_covariance(mu: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``(B, N, C, C)`` ``Cov(1[u in y], D(y))`` for every label pair ``u = (i, p, c)`` of the chain whose pair
    marginals are ``mu``, ``D(y) = sum_i d[i, y_{i-1}, y_i]`` (the Hessian of log Z times ``d``).

    Given ``y_{i-1} = p, y_i = c`` the chain's past and future are independent, so

        Cov(1[u in y], D) = mu(u) (F_{i-1}(p) + d[i, p, c] + G_i(c) - E[D])

    with ``F_i(c) = E[sum_{j <= i} d_j | y_i = c]`` and ``G_i(c) = E[sum_{j > i} d_j | y_i = c]``, each one
    linear recursion over the conditionals ``mu[i, p, c] / P(y_i = c)`` and ``mu[i+1, c, .] / P(y_i = c)``.
    Positions past a sentence's length have ``mu = 0`` and get 0."""
    nu = mu.sum(-2)  # (B, N, C): P(y_i = c)
    nu = torch.where(nu > 0, nu, torch.ones_like(nu))
    weighted = mu * d
    into, out_of = weighted.sum(-2), weighted.sum(-1)  # (B, N, C): sum over the previous / the next label
    forward, f = [], torch.zeros_like(nu[:, 0])
    for i in range(mu.shape[1]):
        forward.append(f)  # F_{i-1}
        f = ((f.unsqueeze(-2) @ mu[:, i]).squeeze(-2) + into[:, i]) / nu[:, i]
    backward, g = [], torch.zeros_like(f)
    for i in range(mu.shape[1] - 1, -1, -1):
        backward.append(g)  # G_i
        g = ((mu[:, i] @ g.unsqueeze(-1)).squeeze(-1) + out_of[:, i]) / nu[:, i - 1] if i > 0 else g
    past, future = torch.stack(forward, 1), torch.stack(backward[::-1], 1)
    total = weighted.flatten(1).sum(-1).view(-1, 1, 1, 1)
    return mu * (past.unsqueeze(-1) + d + future.unsqueeze(-2) - total)
