"""Weight-inherited distillation (WID, Wu et al., NAACL 2024) of a BERT-architecture encoder.

:class:`CompactedBert` is the teacher's encoder (its selected layers) with every linear map wrapped in
identity-initialised compactors (:class:`~structkd.compression.compactors.CompactedLinear`) and the summed
embedding followed by a row compactor ``R_emb``.  Three kinds of keep masks choose what survives:

* the residual width ``S_h`` (``H -> H'``): one mask shared by every map that reads or writes the residual
  stream, the embeddings and every LayerNorm, scored by the column norms of layer 0's value-input compactor;
* the attention width of each layer ``S_a`` (``H -> H'``: BERT's attention width is its hidden size), shared by
  the Q/K/V outputs and the attention-output input, scored by the attention-output compactor's column norms,
  with equal cuts inside every head ("dim") or whole heads dropped ("head");
* the FFN width of each layer ``S_f`` (``F -> F'``), scored by the FFN-output compactor's column norms.

Training (:meth:`CompactedBert.update`, called between ``backward`` and the optimizer step) recomputes the
masks on the :class:`~structkd.compression.schedule.MaskSchedule`, adds an L2 gradient ``C p`` to every
compactor during the first ``interval`` steps, and afterwards replaces the task gradient of every pruned
compactor row or column, bias entry and LayerNorm entry by ``min(lam, 1) C p`` and adds
``(1 - beta1) (lam - 1) C p`` to its Adam first moment, so that pruned entries shrink about ``lam`` times
faster than kept ones learn (ResRep-style gradient resetting, as the reference code does; the reference also
decays the whole first moment by ``beta1`` once more, which is not copied).  LayerNorm statistics are taken
over ``S_h`` only.  Once the target widths are reached the masks are frozen and training applies them, as
evaluation does: the remaining steps train the student at its final shape.  (The reference keeps the masks
soft for its 400k steps, by which time the pulled entries are gone; over a fine-tuning budget of a few
thousand steps they are not, and a student cut at the end lost most of its accuracy: benchmarks/results/wid.md.)
With ``absorb_at_target`` the compactors are then multiplied into the weights (:meth:`CompactedBert.absorb`)
and the rest of the run fine-tunes the kept weights directly, as the compressed model WID's authors fine-tune.

Evaluation mode, training at the target widths and :meth:`CompactedBert.merge` use the masks at the target
widths (those of the schedule once it has reached them, else the target-width masks of the current norms).
The first two run the model narrowed to its kept dimensions (each map ``R[S_out, :] W L[:, S_in]``, each
LayerNorm over ``S_h``; the masked full-width model's non-zero part, at the cost of the small model plus the
compactor products) and put the residual stream back at width ``H`` with zeros.  ``merge`` multiplies the
compactors into the weights (``W' = R[S_out, :] W L[:, S_in]``, ``b' = R[S_out, :] b``, ``E' = E R_emb[S_h, :]^T``,
LayerNorms sliced) and folds ``sqrt(d' / d)`` into ``W_Q``, ``b_Q`` so that the attention scale stays right
when heads narrow from ``d`` to ``d'`` dimensions: a standard ``transformers.BertModel`` of the target shape
whose hidden states equal the evaluation-mode model's on the kept dimensions.

Example (a random 2-layer BERT compressed to half its width)::

    >>> from transformers import BertConfig, BertModel
    >>> teacher = BertModel(BertConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64,
    ...                                num_hidden_layers=2, vocab_size=50))
    >>> compact = CompactedBert(teacher, target_shape(teacher.config, hidden=16, layers=1), layers=[1])
    >>> small = compact.merge()
    >>> small.config.hidden_size, small.config.num_attention_heads, small.config.num_hidden_layers
    (16, 4, 1)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .compactors import CompactedLinear, MaskedLayerNorm, set_identity
from .schedule import MaskSchedule, head_mask, keep_highest

STRATEGIES = ("dim", "head")

#: each compacted map of a layer: its path in a ``transformers`` BertLayer and the width groups it reads and writes
MAPS = {
    "query": ("attention.self.query", "residual", "attention"),
    "key": ("attention.self.key", "residual", "attention"),
    "value": ("attention.self.value", "residual", "attention"),
    "attention_output": ("attention.output.dense", "attention", "residual"),
    "intermediate": ("intermediate.dense", "residual", "ffn"),
    "ffn_output": ("output.dense", "ffn", "residual"),
}
#: each layer's LayerNorms and their paths in a BertLayer (both over the residual width)
NORMS = {"attention_norm": "attention.output.LayerNorm", "ffn_norm": "output.LayerNorm"}
EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")


class NotBertError(UserError, ValueError):
    """A model that WID cannot compress (not a BERT-architecture encoder)."""


def check_bert(model: nn.Module) -> None:
    """Raise :class:`NotBertError` unless ``model`` is a ``transformers`` BERT encoder with absolute positions."""
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", type(model).__name__)
    if kind != "bert" or not hasattr(model, "embeddings") or not hasattr(model, "encoder"):
        raise NotBertError(f"weight-inherited compression needs a BERT-architecture transformer encoder "
                           f"(model_type 'bert'), got {kind!r}")
    position = getattr(config, "position_embedding_type", "absolute")
    if position != "absolute" or getattr(config, "is_decoder", False):
        raise NotBertError(f"weight-inherited compression supports BERT encoders with absolute positions, got "
                           f"position_embedding_type={position!r}, is_decoder={config.is_decoder}")


@dataclass(frozen=True)
class BertShape:
    """The shape of a BERT encoder: hidden size, attention heads, FFN size and layers."""

    hidden: int
    heads: int
    ffn: int
    layers: int

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads

    @classmethod
    def of(cls, config) -> "BertShape":
        return cls(config.hidden_size, config.num_attention_heads, config.intermediate_size,
                   config.num_hidden_layers)

    def parameters(self, vocab: int, positions: int, types: int) -> int:
        """The parameters of a ``BertModel`` of this shape with its pooler (closed form)::

            (V + P + T) H + 2H  +  layers * (4 (H^2 + H) + 2 H F + F + H + 4H)  +  H^2 + H
        """
        h, f = self.hidden, self.ffn
        layer = 4 * (h * h + h) + 2 * h * f + f + h + 4 * h
        return (vocab + positions + types) * h + 2 * h + self.layers * layer + h * h + h

    def config(self, base):
        """A copy of the ``transformers`` config ``base`` with this shape."""
        config = base.__class__.from_dict(base.to_dict())
        config.hidden_size, config.num_attention_heads = self.hidden, self.heads
        config.intermediate_size, config.num_hidden_layers = self.ffn, self.layers
        return config


def target_shape(config, hidden: int, layers: int, strategy: str = "dim", ffn: int | None = None) -> BertShape:
    """The shape WID compresses the BERT of ``config`` to: width ``hidden``, ``layers`` layers and FFN size
    ``ffn`` (default: the teacher's FFN-to-hidden ratio), with the teacher's heads narrowed ("dim", ``hidden``
    a multiple of the heads) or fewer heads of the teacher's size ("head", ``hidden`` a multiple of it)."""
    teacher = BertShape.of(config)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown attention strategy {strategy!r}; choose from {STRATEGIES}")
    if not 0 < hidden <= teacher.hidden:
        raise ValueError(f"the compressed width must lie in [1, {teacher.hidden}] (the teacher's), got {hidden}")
    if not 0 < layers <= teacher.layers:
        raise ValueError(f"the compressed model keeps 1 to {teacher.layers} of the teacher's layers, got {layers}")
    unit = teacher.heads if strategy == "dim" else teacher.head_size
    if hidden % unit:
        raise ValueError(
            f"width {hidden} does not fit strategy {strategy!r}: 'dim' keeps the teacher's {teacher.heads} heads "
            f"(widths that are multiples of {teacher.heads}), 'head' keeps whole heads of {teacher.head_size} "
            f"(multiples of {teacher.head_size})")
    heads = teacher.heads if strategy == "dim" else hidden // teacher.head_size
    if ffn is None:
        if teacher.ffn * hidden % teacher.hidden:
            raise ValueError(f"the FFN size {teacher.ffn} * {hidden} / {teacher.hidden} is not whole; give it")
        ffn = teacher.ffn * hidden // teacher.hidden
    if not 0 < ffn <= teacher.ffn:
        raise ValueError(f"the compressed FFN size must lie in [1, {teacher.ffn}], got {ffn}")
    return BertShape(hidden, heads, ffn, layers)


def spread_layers(total: int, count: int) -> list[int]:
    """``count`` of ``total`` layer indices, evenly spaced and ending at the last one (6 -> 3: 1, 3, 5)."""
    if not 0 < count <= total:
        raise ValueError(f"cannot keep {count} of {total} layers")
    return [math.floor((i + 1) * total / count + 0.5) - 1 for i in range(count)]


class Masks(NamedTuple):
    """Keep masks: ``(H,)`` residual, ``(layers, H)`` attention and ``(layers, F)`` FFN (bool)."""

    residual: torch.Tensor
    attention: torch.Tensor
    ffn: torch.Tensor

    def layer(self, index: int) -> dict[str, torch.Tensor]:
        """The masks of layer ``index`` by width group."""
        return {"residual": self.residual, "attention": self.attention[index], "ffn": self.ffn[index]}


class Hidden(NamedTuple):
    last_hidden_state: torch.Tensor  #: ``(B, T, H)``


class CompactedLayer(nn.Module):
    """One BERT layer with its six maps compacted and its LayerNorms masked (see the module docstring)."""

    def __init__(self, layer: nn.Module, config):
        super().__init__()
        from transformers.activations import ACT2FN

        for name, (path, _, _) in MAPS.items():
            self.add_module(name, CompactedLinear(layer.get_submodule(path)))
        for name, path in NORMS.items():
            self.add_module(name, MaskedLayerNorm(layer.get_submodule(path)))
        self.heads = config.num_attention_heads
        self.scale = (config.hidden_size // config.num_attention_heads) ** -0.5
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.attention_dropout = config.attention_probs_dropout_prob

    def maps(self) -> dict[str, CompactedLinear]:
        return {name: getattr(self, name) for name in MAPS}

    def forward(self, x: torch.Tensor, attend: torch.Tensor, keep: dict[str, torch.Tensor] | None = None,
                kept: dict[str, torch.Tensor] | None = None, heads: int | None = None) -> torch.Tensor:
        """The layer under compaction, ``(B, T, H)`` -> ``(B, T, H)``, with the keep masks ``keep`` of each width
        group (the LayerNorms' statistics), or narrowed, ``(B, T, |S_h|)`` -> ``(B, T, |S_h|)``, to the kept
        index vectors ``kept`` of each group, with ``heads`` heads left.  ``attend``: ``(B, 1, 1, T)`` bool,
        the real (not padding) tokens."""
        def linear(name: str, inputs: torch.Tensor) -> torch.Tensor:
            _, source, target = MAPS[name]
            return getattr(self, name)(inputs, *((kept[source], kept[target]) if kept else ()))

        def norm(module: MaskedLayerNorm, inputs: torch.Tensor) -> torch.Tensor:
            return module(inputs, kept=kept["residual"]) if kept else module(inputs, keep["residual"])

        batch, length, _ = x.shape
        q, k, v = (linear(name, x).view(batch, length, heads or self.heads, -1).transpose(1, 2)
                   for name in ("query", "key", "value"))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=self.scale,
                                                 dropout_p=self.attention_dropout if self.training else 0.0)
        context = context.transpose(1, 2).reshape(batch, length, -1)
        x = norm(self.attention_norm, self.dropout(linear("attention_output", context)) + x)
        inner = self.activation(linear("intermediate", x))
        return norm(self.ffn_norm, self.dropout(linear("ffn_output", inner)) + x)


class CompactedBert(nn.Module):
    """A BERT encoder under compaction towards ``shape`` (see the module docstring).

    Parameters:
        bert: the teacher's ``transformers`` BERT encoder (copied; the teacher is left as it is).
        shape: the target shape (:func:`target_shape`); ``shape.layers`` must be ``len(layers)``.
        layers: the teacher's layers the student keeps, in order (default: :func:`spread_layers`).
        strategy: how the attention width shrinks, "dim" or "head".
        schedule: when the masks are recomputed and how they ramp (:class:`MaskSchedule`).
        lam: how much faster pruned entries are pulled to zero than kept ones learn (the reference's 20).
        penalty: the L2 coefficient ``C`` of the pull.
        absorb_at_target: :meth:`absorb` the compactors once the target widths are reached (the rest of the run
            trains the kept weights directly, as a fine-tuning of the merged model; WID's students are fine-tuned
            after their compression), instead of training through the compactors to the end.

    Called as the ``transformers`` model is, ``model(input_ids=(B, T), attention_mask=(B, T))``, it returns
    an object whose ``last_hidden_state`` is ``(B, T, H)`` at the teacher's width ``H`` (the pruned
    dimensions are 0 in evaluation mode, and in training once the target widths are reached).
    """

    def __init__(self, bert: nn.Module, shape: BertShape, layers: Sequence[int] | None = None,
                 strategy: str = "dim", schedule: MaskSchedule = MaskSchedule(), lam: float = 20.0,
                 penalty: float = 1.0, absorb_at_target: bool = False):
        super().__init__()
        check_bert(bert)
        base = bert.config
        layers = spread_layers(base.num_hidden_layers, shape.layers) if layers is None else list(layers)
        if len(layers) != shape.layers or not all(0 <= i < base.num_hidden_layers for i in layers):
            raise ValueError(f"layers {layers} do not select {shape.layers} of the teacher's "
                             f"{base.num_hidden_layers} layers")
        self.teacher_shape = BertShape.of(base)
        if strategy == "dim" and shape.heads != self.teacher_shape.heads or (
                strategy == "head" and shape.head_size != self.teacher_shape.head_size):
            raise ValueError(f"shape {shape} does not follow strategy {strategy!r} from {self.teacher_shape}")
        self.shape, self.layer_indices, self.strategy = shape, layers, strategy
        self.schedule, self.lam, self.penalty, self.absorb_at_target = schedule, lam, penalty, absorb_at_target
        self.config = BertShape(base.hidden_size, base.num_attention_heads, base.intermediate_size,
                                len(layers)).config(base)  # the model as it runs now: the teacher's widths
        self.base_config = base
        embeddings = bert.embeddings
        for name in EMBEDDINGS:
            self.add_module(name, nn.Embedding.from_pretrained(getattr(embeddings, name).weight.detach().clone(),
                                                               freeze=False))
        weight = embeddings.word_embeddings.weight
        self.embedding_compactor = nn.Parameter(torch.eye(base.hidden_size, dtype=weight.dtype, device=weight.device))
        self.embedding_norm = MaskedLayerNorm(embeddings.LayerNorm)
        self.dropout = nn.Dropout(base.hidden_dropout_prob)
        self.layers = nn.ModuleList(CompactedLayer(bert.encoder.layer[i], base) for i in layers)
        pooler = getattr(bert, "pooler", None)
        eye = torch.eye(base.hidden_size, dtype=weight.dtype, device=weight.device)
        self.register_buffer("pooler_weight", eye if pooler is None else pooler.dense.weight.detach().clone())
        self.register_buffer("pooler_bias", weight.new_zeros(base.hidden_size) if pooler is None
                             else pooler.dense.bias.detach().clone())
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        full = self.masks_at(0)
        for name, mask in zip(Masks._fields, full):
            self.register_buffer(f"{name}_mask", mask)

    # ------------------------------------------------------------------ masks
    @property
    def masks(self) -> Masks:
        """The current masks (those the training-time gradients follow)."""
        return Masks(self.residual_mask, self.attention_mask, self.ffn_mask)

    def _pruned_units(self, step: int) -> tuple[int, int, int]:
        """Residual dimensions, attention units (dimensions per head or heads) and FFN dimensions pruned at ``step``."""
        teacher, target, ramp = self.teacher_shape, self.shape, self.schedule.pruned
        attention = (teacher.head_size - target.head_size if self.strategy == "dim" else teacher.heads - target.heads)
        return (ramp(step, teacher.hidden - target.hidden), ramp(step, attention), ramp(step, teacher.ffn - target.ffn))

    def _choose(self, residual_scores: torch.Tensor, attention_scores: list[torch.Tensor],
                ffn_scores: list[torch.Tensor], step: int) -> Masks:
        residual, attention, ffn = self._pruned_units(step)
        heads = self.teacher_shape.heads
        return Masks(keep_highest(residual_scores, residual),
                     torch.stack([head_mask(s, heads, attention, self.strategy) for s in attention_scores]),
                     torch.stack([keep_highest(s, ffn) for s in ffn_scores]))

    @torch.no_grad()
    def masks_at(self, step: int) -> Masks:
        """The masks of ``step`` chosen from the current compactor column norms (see the module docstring)."""
        return self._choose(self.layers[0].value.left.norm(dim=0),
                            [layer.attention_output.left.norm(dim=0) for layer in self.layers],
                            [layer.ffn_output.left.norm(dim=0) for layer in self.layers], step)

    def first_masks(self) -> Masks:
        """The target-width masks that keep the first dimensions of every group (the first dimensions of
        each head, or the first heads): plain slicing, the layer-sliced baseline."""
        def first(size: int) -> torch.Tensor:
            return -torch.arange(size, dtype=torch.float, device=self.step.device)

        teacher = self.teacher_shape
        return self._choose(first(teacher.hidden), [first(teacher.hidden)] * len(self.layers),
                            [first(teacher.ffn)] * len(self.layers), self.schedule.target_step)

    def set_masks(self, masks: Masks, step: int) -> None:
        """Make ``masks`` the masks of ``step``."""
        for name, mask in zip(Masks._fields, masks):
            getattr(self, f"{name}_mask").copy_(mask)
        self.step.fill_(step)

    @property
    def at_target(self) -> bool:
        """Whether the schedule has reached the target widths (the masks are then frozen and applied)."""
        return int(self.step) >= self.schedule.target_step

    def shipping_masks(self) -> Masks:
        """The masks at the target widths: the current ones once the schedule has reached them, else the
        target-width masks of the current norms (what evaluation and :meth:`merge` use)."""
        return self.masks if self.at_target else self.masks_at(self.schedule.target_step)

    # ------------------------------------------------------------------ forward
    def kept(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """The kept index vectors of the shipping masks: the residual's, and each layer's by width group."""
        def indices(mask: torch.Tensor) -> torch.Tensor:
            return mask.nonzero().squeeze(-1)

        masks = self.shipping_masks()
        return indices(masks.residual), [{group: indices(mask) for group, mask in masks.layer(index).items()}
                                         for index in range(len(self.layers))]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Hidden:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(torch.zeros_like(input_ids))
        x = x + self.position_embeddings(positions)
        attend = attention_mask.bool()[:, None, None, :]
        if self.training and not self.at_target:
            masks = self.masks
            x = self.dropout(self.embedding_norm(F.linear(x, self.embedding_compactor), masks.residual))
            for index, layer in enumerate(self.layers):
                x = layer(x, attend, keep=masks.layer(index))
            return Hidden(x)
        residual, groups = self.kept()  # the model pruned to its kept dimensions, then put back at width H
        x = x[..., residual] if self.absorbed() else F.linear(x, self.embedding_compactor[residual])
        x = self.dropout(self.embedding_norm(x, kept=residual))
        for layer, kept in zip(self.layers, groups):
            x = layer(x, attend, kept=kept, heads=self.shape.heads)
        return Hidden(x.new_zeros(*x.shape[:-1], self.teacher_shape.hidden).index_copy(-1, residual, x))

    # ------------------------------------------------------------------ training
    def compactors(self) -> list[nn.Parameter]:
        """Every compactor matrix (the embedding's and each map's ``L`` and ``R``)."""
        return [self.embedding_compactor] + [c for layer in self.layers for linear in layer.maps().values()
                                             for c in (linear.left, linear.right)]

    def penalised(self, masks: Masks) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """Every parameter with pruned entries under ``masks`` and its keep mask (its own shape): each map's
        ``L`` columns, ``R`` rows and bias entries, the embedding compactor's rows and every LayerNorm's entries."""
        residual = masks.residual
        entries = [(self.embedding_compactor, residual.unsqueeze(-1).expand_as(self.embedding_compactor)),
                   (self.embedding_norm.weight, residual), (self.embedding_norm.bias, residual)]
        for index, layer in enumerate(self.layers):
            keep = masks.layer(index)
            for name, linear in layer.maps().items():
                _, source, target = MAPS[name]
                entries += [(linear.left, keep[source].expand_as(linear.left)),
                            (linear.right, keep[target].unsqueeze(-1).expand_as(linear.right)),
                            (linear.bias, keep[target])]
            for norm in (layer.attention_norm, layer.ffn_norm):
                entries += [(norm.weight, residual), (norm.bias, residual)]
        return entries

    @torch.no_grad()
    def update(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """The WID part of training step ``step`` (1-based), between ``backward`` (and gradient clipping) and
        ``optimizer.step()``: recompute the masks when the schedule says so, then edit the gradients (and the
        Adam first moments) as the module docstring says."""
        if self.schedule.updates_at(step) and step <= self.schedule.target_step:
            self.set_masks(self.masks_at(step), step)
        self.step.fill_(step)
        if step <= self.schedule.interval:
            for compactor in self.compactors():
                if compactor.grad is not None:
                    compactor.grad.add_(compactor, alpha=self.penalty)
        else:
            self._pull_pruned(optimizer)
        if self.absorb_at_target and step == self.schedule.target_step:
            self.absorb(optimizer)

    def _pull_pruned(self, optimizer: torch.optim.Optimizer) -> None:
        """The gradient and first-moment edits of the pruned entries (module docstring)."""
        beta1 = {id(p): group.get("betas", (0.0,))[0] for group in optimizer.param_groups for p in group["params"]}
        for param, keep in self.penalised(self.masks):
            if param.grad is None:
                continue
            pull = param * self.penalty
            param.grad.copy_(torch.where(keep, param.grad, pull * min(self.lam, 1.0)))
            moment = optimizer.state.get(param, {}).get("exp_avg")
            if self.lam > 1 and moment is not None:
                moment.add_(torch.where(keep, 0.0, pull), alpha=(1 - beta1[id(param)]) * (self.lam - 1))

    @torch.no_grad()
    def absorb(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Multiply every compactor into its weights (each map's ``W <- R W L``, ``b <- R b``, each embedding
        table ``E <- E R_emb^T``; the compactors become identities): the same model, whose kept weights then
        train directly, at about the cost of the small model.  The absorbed parameters lose their gradients of
        this step (taken at the old parameterisation) and their ``optimizer`` state (Adam restarts on them)."""
        linears = [linear for layer in self.layers for linear in layer.maps().values()]
        for linear in linears:
            linear.absorb()
        for name in EMBEDDINGS:
            table = getattr(self, name).weight
            table.copy_(table @ self.embedding_compactor.T)
        set_identity(self.embedding_compactor)
        changed = [*self.compactors(), *(getattr(self, name).weight for name in EMBEDDINGS),
                   *(p for linear in linears for p in (linear.weight, linear.bias))]
        for param in changed:
            param.grad = None
            if optimizer is not None:
                optimizer.state.pop(param, None)

    def absorbed(self) -> bool:
        """Whether :meth:`absorb` ran (every map records it; the first one answers)."""
        return bool(self.layers[0].query.absorbed)

    # ------------------------------------------------------------------ merge
    @torch.no_grad()
    def merge(self) -> nn.Module:
        """The dense ``transformers.BertModel`` of the target shape (with a pooler: the teacher's, sliced to
        ``S_h``, or an identity one when the teacher had none) equal to this model in evaluation mode."""
        from transformers import BertModel

        residual, groups = self.kept()
        state = {}
        compactor = self.embedding_compactor[residual]
        for name in EMBEDDINGS:
            state[f"embeddings.{name}.weight"] = getattr(self, name).weight @ compactor.T
        state["embeddings.LayerNorm.weight"], state["embeddings.LayerNorm.bias"] = self.embedding_norm.narrowed(residual)
        scale = math.sqrt(self.shape.head_size / self.teacher_shape.head_size)
        for index, (layer, kept) in enumerate(zip(self.layers, groups)):
            prefix = f"encoder.layer.{index}."
            for name, (path, source, target) in MAPS.items():
                weight, bias = getattr(layer, name).narrowed(kept[source], kept[target])
                if name == "query":
                    weight, bias = weight * scale, bias * scale
                state[prefix + path + ".weight"], state[prefix + path + ".bias"] = weight, bias
            for name, path in NORMS.items():
                state[prefix + path + ".weight"], state[prefix + path + ".bias"] = getattr(layer, name).narrowed(residual)
        state["pooler.dense.weight"] = self.pooler_weight[residual][:, residual]
        state["pooler.dense.bias"] = self.pooler_bias[residual]
        model = BertModel(self.shape.config(self.base_config), add_pooling_layer=True)
        model.to(dtype=compactor.dtype, device=compactor.device)
        model.load_state_dict({k: v.contiguous() for k, v in state.items()}, strict=True)
        return model.eval()


def random_bert(bert: nn.Module, shape: BertShape) -> nn.Module:
    """A ``transformers.BertModel`` of ``shape`` (the rest of its config from the BERT encoder ``bert``) with its
    own random initialisation: the from-scratch baseline of a compressed student."""
    from transformers import BertModel

    check_bert(bert)
    return BertModel(shape.config(bert.config), add_pooling_layer=False)
