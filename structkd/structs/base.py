"""The common base of every factorization: a torch-struct distribution over structured outputs.

A factorization scores an output ``y`` as a sum of substructure scores,
``Score(y) = sum_{u in y} s(u)``, and defines ``p(y) = exp(Score(y)) / Z``.
Its ``log_potentials`` tensor holds ``s(u)`` for every substructure ``u`` (batch first);
``marginals`` has the same shape and holds ``P(u) = sum_{y contains u} p(y)``.

Every factorization here is a :class:`torch_struct.StructDistribution`, so the semiring API
(``partition``, ``marginals``, ``argmax``, ``entropy``, ``kl``, ``cross_entropy``) works on
those whose dynamic program is written with semiring operations.
"""
from __future__ import annotations

import functools

import torch
from torch.distributions.utils import lazy_property
from torch_struct import StructDistribution
from torch_struct.helpers import _Struct
from torch_struct.semirings import LogSemiring


#: the score that stands for -inf inside dynamic programs (exp(FORBIDDEN) == 0 in float32 and float64).
FORBIDDEN = -1e5


def length_mask(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, n)`` bool mask, True on the first ``lengths[b]`` positions."""
    return torch.arange(n, device=lengths.device) < lengths.unsqueeze(-1)


def _finite(potentials: torch.Tensor) -> torch.Tensor:
    return potentials.masked_fill(potentials == float("-inf"), FORBIDDEN)


class DynamicProgram(_Struct):
    """A torch-struct structure whose marginals come from autograd through its log-partition.

    Subclasses implement ``_semiring_sum(potentials, lengths)``: the semiring sum over all outputs,
    shape ``(ssize, B)``, written only with the semiring's operations so that every torch-struct
    semiring (log, max, entropy, KL, k-max, ...) works on it.

    Unlike torch-struct's own structures this one accepts potentials that do not require grad and
    works under ``torch.no_grad()``: the marginals are then plain tensors; when the potentials do
    require grad, the marginals are differentiable with respect to them.
    """

    def logpartition(self, log_potentials, lengths=None, force_grad=False):
        """Semiring sum ``(ssize, B)`` and the potentials it was computed from.

        ``log_potentials`` is one tensor, or a list of them for the two-distribution semirings
        (KL, cross-entropy)."""
        edge = log_potentials
        if force_grad and torch.is_tensor(edge) and not edge.requires_grad:
            edge = edge.detach().requires_grad_(True)
        # A forbidden substructure (-inf) becomes a finite score whose exp is exactly 0: a semiring sum
        # over only forbidden entries then has a finite value and a zero, not NaN, gradient.
        finite = [_finite(e) for e in edge] if isinstance(edge, (list, tuple)) else _finite(edge)
        v = self._semiring_sum(self.semiring.convert(finite), lengths)
        return v, [edge]

    def marginals(self, logpotentials, lengths=None, _raw=False):
        create_graph = logpotentials.requires_grad and torch.is_grad_enabled()
        with torch.enable_grad():
            v, (edge,) = self.logpartition(logpotentials, lengths, force_grad=True)
            if _raw:
                margs = []
                for k in range(v.shape[0]):
                    (g,) = torch.autograd.grad(v[k].sum(), edge, create_graph=create_graph, retain_graph=True)
                    margs.append(g)
                return torch.stack(margs, dim=0)
            (g,) = torch.autograd.grad(self.semiring.unconvert(v).sum(), edge, create_graph=create_graph)
        return g

    def _semiring_sum(self, potentials, lengths):
        raise NotImplementedError


class Factorization(StructDistribution):
    """Base of every factorization.

    Parameters:
        log_potentials: ``(B, *part_shape)`` substructure scores ``s(u)``.
        lengths: ``(B,)`` long tensor of sentence lengths (default: all full length).
        labels: optional names of the labels (tags, entity types) indexed by the potentials' label
            dimension; used to check that a teacher and a student agree.

    Subclasses set ``struct`` (a :class:`DynamicProgram` subclass) and implement
    ``decode`` (best output in a compact form) and ``to_parts`` (compact output -> 0/1 indicator
    tensor with the shape of ``log_potentials``).
    """

    arg_constraints: dict = {}
    #: how many leading dimensions of a sentence's parts run over its positions, and how many positions
    #: precede its words there (1 for arc layouts, whose position 0 is the root)
    sentence_dims: int = 1
    root_positions: int = 0

    def __init__(self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None, labels=None):
        self.labels = None if labels is None else list(labels)
        if lengths is None:
            lengths = torch.full(
                (log_potentials.shape[0],), self.max_length(log_potentials), dtype=torch.long,
                device=log_potentials.device,
            )
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=log_potentials.device)
        if lengths.shape != log_potentials.shape[:1]:
            raise ValueError(
                f"{type(self).__name__}: lengths has shape {tuple(lengths.shape)}, expected "
                f"({log_potentials.shape[0]},) for a batch of {log_potentials.shape[0]}"
            )
        if len(lengths) and (lengths.min() < 1 or lengths.max() > self.max_length(log_potentials)):
            raise ValueError(
                f"{type(self).__name__}: lengths must lie in [1, {self.max_length(log_potentials)}], "
                f"got {lengths.tolist()}"
            )
        super().__init__(log_potentials, lengths)

    @staticmethod
    def max_length(log_potentials: torch.Tensor) -> int:
        """The padded sentence length implied by the potentials' shape."""
        return log_potentials.shape[1]

    def sentence_slice(self, length: int) -> tuple[slice, ...]:
        """Index of one sentence's parts (batch dimension removed) without padding, for ``length`` words."""
        return (slice(0, length + self.root_positions),) * self.sentence_dims

    @property
    def log_partition(self) -> torch.Tensor:
        """``(B,)`` log Z."""
        return self.partition

    def score(self, parts: torch.Tensor) -> torch.Tensor:
        """``(B,)`` Score(y) = sum_u parts[u] * s(u) for a 0/1 (or fractional) ``parts`` tensor.

        Entries with ``parts == 0`` contribute nothing even where the score is -inf.
        """
        prod = torch.where(parts != 0, parts * self.log_potentials, torch.zeros_like(self.log_potentials))
        return prod.flatten(1).sum(-1)

    def log_prob_of(self, output) -> torch.Tensor:
        """``(B,)`` log p(y) of a compact output (as returned by ``decode``)."""
        return self.score(self.to_parts(output)) - self.partition

    def expected_score(self, probs: torch.Tensor) -> torch.Tensor:
        """``(B,)`` sum_u probs[u] * s(u): the expectation of Score(y) under any distribution whose
        marginals over this factorization's substructures are ``probs``."""
        return self.score(probs)

    def derivatives(self, direction: torch.Tensor | None = None):
        """``(log Z (B,), mu, H d)``, detached: the log-partition, its gradient (the marginals, shaped as the
        potentials) and, for a ``direction`` ``d`` of that shape, its Hessian times ``d``,

            (H d)(u) = sum_v d^2 log Z / dphi(u) dphi(v) d(v) = Cov(1[u in y], D(y)),   D(y) = sum_{v in y} d(v),

        the gradient of ``E[D]`` for a fixed ``d`` (``None`` without a direction).  Here by autograd: one
        forward pass, its backward (with its graph when ``d`` is given) and a second backward through that;
        structures with a closed form override it."""
        with torch.enable_grad():
            leaf = self.log_potentials.detach().requires_grad_(True)
            log_z = self.with_potentials(leaf).partition
            (mu,) = torch.autograd.grad(log_z.sum(), leaf, create_graph=direction is not None)
            hessian_d = None if direction is None else torch.autograd.grad((mu * direction).sum(), leaf)[0]
        return log_z.detach(), mu.detach(), hessian_d

    def with_potentials(self, log_potentials: torch.Tensor) -> "Factorization":
        """The same factorization (lengths, labels, options) over other potentials of the same shape."""
        cached = {
            name for cls in type(self).__mro__ for name, attr in vars(cls).items()
            if isinstance(attr, (lazy_property, functools.cached_property))
        }
        new = object.__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in cached})
        new.log_potentials = log_potentials
        return new

    def tempered(self, temperature: float) -> "Factorization":
        """The distribution with potentials divided by ``temperature`` (p_T(y) ∝ p(y)^(1/T))."""
        return self if temperature == 1 else self.with_potentials(self.log_potentials / temperature)

    def decode(self):
        raise NotImplementedError

    def to_parts(self, output) -> torch.Tensor:
        raise NotImplementedError

    def _struct(self, sr=None):
        return self.struct(sr if sr is not None else LogSemiring)
