"""Speed of structkd's distillation objective and of its structures, on CPU.

Table 1 -- the cost of structural KD: forward + backward (w.r.t. the student's scores) of the KD loss
against the gold loss of the same student, batch 32.  The KD loss is measured twice: ``kd_term`` with the
teacher's inference inside the step, and the cross-entropy against teacher marginals computed beforehand
(cached, as a training loop that precomputes its teacher does).  Target: KD <= 1.5x gold.

Table 2 -- our structures against their peers on "log Z + marginals + backward": log Z forward, then its
backward w.r.t. the scores (whose gradient is the marginals), batch 32, each library on its own score
layout.  pytorch-crf is timed on its log-likelihood forward + backward, which computes log Z and its
gradient.  Before timing, every peer's log Z is checked against ours on the same scores (layouts
converted), so that the comparison is apples to apples.  Target: ours at least as fast as the fastest peer.

Table 2b -- the matrix-tree against torch-struct and SuPar at n = 25, 50, 100 in float32 and float64, with
each library's log Z error on peaked scores (scale 20 and 50) and the share of sentences our LU check sends to
the exact elimination.  Target: ours / torch-struct <= 1 everywhere.

Table 5 -- the divergence objectives (:mod:`structkd.divergences`) against the gold loss of the same student,
forward + backward from cached teacher targets, batch 32: KL and reverse KL (exact), the JS and TV upper bounds,
and the sampled JS estimate (8 samples of each distribution, the teacher's view and the sampling inside the
step).  Target: the exact ones cost at most 2x the gold loss.

Table 4 -- on a trained tree-CRF parser's arc scores (the parsing benchmark's teacher, when it is there): the
share of test sentences our LU check sends to the exact elimination, and the log Z error of plain LU.

All numbers come from one process run: float32 (Table 2b: float32 and float64),
``torch.set_num_threads(--threads)``, warm-up runs,
then the median of ``--repeats`` timed runs (``time.perf_counter``).  Sentences are full length (no
padding).

Peers (only the benchmark needs them)::

    pip install torch-struct==0.5 pytorch-crf==0.7.2     # or: pip install -e ".[bench]"
    pip install --no-deps supar==1.1.4

SuPar's package ``__init__`` imports its parsers (nltk, stanza, transformers, dill); this script loads
only ``supar.structs`` by path, so ``--no-deps`` is enough (``pip install supar==1.1.4`` with its
dependencies works too).  A peer that is not installed is reported as such and left out.

Usage::

    python benchmarks/objective_speed.py                # full run (~10 min on 2 cores), writes the results
    python benchmarks/objective_speed.py --quick        # tiny smoke run, prints only (unless --out is given)
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import itertools
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structkd  # noqa: E402
from structkd import (  # noqa: E402
    HeadSelection, LinearChainCRF, MaxEnt, NonProjectiveDependencyCRF, ProjectiveDependencyCRF,
    cross_entropy, gold_loss, kd_from_marginals, kd_term, project,
)
from structkd.divergences import OBJECTIVES as DIVERGENCES, divergence_targets, js_estimate  # noqa: E402
from structkd.structs.matrix_tree import exact_log_partition, lu_log_partition  # noqa: E402

BATCH = 32
WARMUP = 3
REPEATS = 100
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "objective.md"
KD_TARGET = 1.5  # structural KD loss <= 1.5x the gold loss
DIVERGENCE_TARGET = 2.0  # the exact divergences <= 2x the gold loss
ESTIMATE_SAMPLES = 8
LOGZ_TOL = 5e-4  # max |log Z(peer) - log Z(ours)|: float32 rounding of log Z values of 50 to 250
#: torch-struct's matrix-tree adds eps=1e-5 to every exp(score), which moves its log Z by a few 1e-4 here.
LOGZ_TOL_EPS = 1e-3

warnings.filterwarnings("ignore", message=".*arg_constraints.*")  # torch-struct's distributions

INSTALL = {
    "torch-struct": "pip install torch-struct==0.5",
    "pytorch-crf": "pip install pytorch-crf==0.7.2",
    "SuPar": "pip install --no-deps supar==1.1.4",
}


@dataclass
class Sizes:
    """The problem sizes of one run."""

    chain: list[tuple[int, int]]  # (n, C) for both tables
    tree: list[int]  # n for both tables (projective trees; the non-projective ones in Table 1)
    matrix_tree: list[int]  # n for the matrix-tree table
    repeats: int
    warmup: int


FULL = dict(chain=[(25, 9), (50, 9), (25, 17), (50, 17)], tree=[25, 50], matrix_tree=[25, 50, 100])
QUICK = dict(chain=[(6, 4)], tree=[6], matrix_tree=[6])


# ----------------------------------------------------------------------------- timing
def time_ms(steps: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    """Median wall time in milliseconds of each step over ``repeats`` runs, after ``warmup`` runs.

    The steps run round-robin (one run of each per round), so that a slow spell of the machine hits
    every step of a row alike and the ratios between them stay fair.
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(times) for name, times in samples.items()}


def backward_step(objective: Callable[[], torch.Tensor], leaves: list[torch.Tensor]) -> Callable[[], object]:
    """A step that runs ``objective()`` forward and its backward w.r.t. ``leaves`` (no .grad accumulation)."""
    return lambda: torch.autograd.grad(objective().sum(), leaves)


def leaf(*shape: int) -> torch.Tensor:
    """A float32 standard-normal tensor that requires grad."""
    return torch.randn(*shape).requires_grad_()


# ----------------------------------------------------------------------------- peers
def load_peers() -> dict[str, types.ModuleType | None]:
    """The peer modules by name (None where not installed)."""
    return {
        "torch-struct": _optional_import("torch_struct"),
        "SuPar": _supar_structs(),
        "pytorch-crf": _optional_import("torchcrf"),
    }


def _optional_import(name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _supar_structs() -> types.ModuleType | None:
    """``supar.structs`` without running ``supar/__init__.py`` and ``supar/utils/__init__.py``.

    Those import SuPar's parsers and data pipeline (nltk, stanza, transformers); ``supar.structs`` needs
    only ``supar.utils.common`` and ``supar.utils.fn``.  Empty package stubs pointing at the installed
    folders let Python import exactly those modules.
    """
    spec = importlib.util.find_spec("supar")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    for name, folder in (("supar", root), ("supar.utils", root / "utils")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]
            sys.modules[name] = stub
    return importlib.import_module("supar.structs")


def version(dist: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ----------------------------------------------------------------------------- layout conversions
def chain_to_torch_struct(phi: torch.Tensor) -> torch.Tensor:
    """Ours ``(B, N, C, C)`` ``[i, prev, cur]`` (token 0 in row ``[0, 0, :]``) -> torch-struct's
    ``(B, N-1, C, C)`` ``[k, cur, prev]``, edge ``k`` joining tokens ``k`` and ``k+1``; token 0's scores
    join edge 0."""
    edges = phi[:, 1:].transpose(-1, -2).clone()
    edges[:, 0] += phi[:, 0, 0].unsqueeze(-2)
    return edges


def arcs_to_torch_struct(scores: torch.Tensor) -> torch.Tensor:
    """Ours ``(B, N+1, N+1)`` ``[m, h]`` (0 = root) -> torch-struct's ``(B, N, N)`` ``[h-1, m-1]`` with the
    root arcs on the diagonal."""
    arcs = scores[:, 1:, 1:].transpose(1, 2).clone()
    arcs.diagonal(dim1=1, dim2=2).copy_(scores[:, 1:, 0])
    return arcs


def supar_transitions(transitions: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """SuPar's ``(C+1, C+1)`` transitions: ``[:C, :C]`` between labels, row ``-1`` start, column ``-1`` end."""
    num_labels = transitions.shape[0]
    trans = transitions.new_zeros(num_labels + 1, num_labels + 1)
    trans[:num_labels, :num_labels] = transitions
    trans[-1, :num_labels] = start
    trans[:num_labels, -1] = end
    return trans


# ----------------------------------------------------------------------------- Table 2: contenders
@dataclass
class Contender:
    """One library's version of a structure: what is timed and its log Z for the agreement check."""

    name: str
    objective: Callable[[], torch.Tensor]  # (B,), differentiated w.r.t. leaves in the timed step
    leaves: list[torch.Tensor]
    log_z: Callable[[], torch.Tensor]  # (B,) on the row's shared scores


def _contender(name: str, log_z: Callable[[], torch.Tensor], leaves: list[torch.Tensor]) -> Contender:
    """A contender timed on its log Z itself."""
    return Contender(name, log_z, leaves, log_z)


def chain_contenders(n: int, num_labels: int, peers: dict) -> list[Contender]:
    """Linear-chain CRFs over the same emissions, transitions, start and end scores."""
    emissions, transitions = torch.randn(BATCH, n, num_labels), torch.randn(num_labels, num_labels)
    start, end = torch.randn(num_labels), torch.randn(num_labels)
    phi = LinearChainCRF.from_emissions(emissions, transitions, start=start, end=end).log_potentials
    pot = phi.clone().requires_grad_()
    em, tr, st, en = (x.clone().requires_grad_() for x in (emissions, transitions, start, end))
    out = [
        _contender("structkd", lambda: LinearChainCRF(pot).partition, [pot]),
        _contender("structkd (from_emissions)",
                   lambda: LinearChainCRF.from_emissions(em, tr, start=st, end=en).partition, [em, tr, st, en]),
    ]
    if peers["torch-struct"]:
        edges = chain_to_torch_struct(phi).requires_grad_()
        out.append(_contender("torch-struct", lambda: peers["torch-struct"].LinearChainCRF(edges).partition, [edges]))
    if peers["SuPar"]:
        scores = emissions.clone().requires_grad_()
        trans = supar_transitions(transitions, start, end).requires_grad_()
        out.append(_contender("SuPar", lambda: peers["SuPar"].LinearChainCRF(scores, trans).log_partition,
                              [scores, trans]))
    if peers["pytorch-crf"]:
        out.append(_torchcrf_contender(peers["pytorch-crf"], emissions, transitions, start, end))
    return out


def _torchcrf_contender(torchcrf, emissions, transitions, start, end) -> Contender:
    """pytorch-crf timed on its negative log-likelihood; log Z from its normalizer (time-major inputs)."""
    crf = torchcrf.CRF(emissions.shape[-1], batch_first=True)
    with torch.no_grad():
        for param, value in ((crf.transitions, transitions), (crf.start_transitions, start),
                             (crf.end_transitions, end)):
            param.copy_(value)
    scores = emissions.clone().requires_grad_()
    tags = torch.randint(emissions.shape[-1], emissions.shape[:2])
    mask = torch.ones(emissions.shape[:2], dtype=torch.bool)
    return Contender(
        "pytorch-crf",
        lambda: -crf(scores, tags, mask, reduction="none"),
        [scores, *crf.parameters()],
        lambda: crf._compute_normalizer(scores.transpose(0, 1), mask.t()),
    )


def eisner_contenders(n: int, peers: dict) -> list[Contender]:
    """Projective single-root dependency CRFs over the same arc scores."""
    scores = leaf(BATCH, n + 1, n + 1)
    out = [_contender("structkd", lambda: ProjectiveDependencyCRF(scores).partition, [scores])]
    if peers["torch-struct"]:
        arcs = arcs_to_torch_struct(scores.detach()).requires_grad_()
        out.append(_contender(
            "torch-struct", lambda: peers["torch-struct"].DependencyCRF(arcs, multiroot=False).partition, [arcs]))
    if peers["SuPar"]:
        s_arc = scores.detach().clone().requires_grad_()
        out.append(_contender(
            "SuPar", lambda: peers["SuPar"].DependencyCRF(s_arc, multiroot=False).log_partition, [s_arc]))
    return out


def matrix_tree_contenders(n: int, peers: dict, dtype: torch.dtype = torch.float32) -> list[Contender]:
    """Non-projective single-root dependency CRFs over the same arc scores."""
    scores = leaf(BATCH, n + 1, n + 1).detach().to(dtype).requires_grad_()
    out = [_contender("structkd", lambda: NonProjectiveDependencyCRF(scores).partition, [scores])]
    if peers["torch-struct"]:
        arcs = arcs_to_torch_struct(scores.detach()).requires_grad_()
        out.append(_contender(
            "torch-struct",
            lambda: peers["torch-struct"].NonProjectiveDependencyCRF(arcs, multiroot=False).partition, [arcs]))
    if peers["SuPar"]:
        s_arc = scores.detach().clone().requires_grad_()
        out.append(_contender(
            "SuPar", lambda: peers["SuPar"].MatrixTree(s_arc, multiroot=False).log_partition, [s_arc]))
    return out


# ----------------------------------------------------------------------------- Table 2b: matrix-tree
PEAKED_SCALES = (20.0, 50.0)  # arc scores = scale x randn: trained parsers' scores span tens of nats
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}
MATRIX_TREE_TARGET = 1.0  # ours / torch-struct


def peaked_accuracy(n: int, dtype: torch.dtype, peers: dict) -> dict:
    """On a batch of ``n``-word sentences per scale of :data:`PEAKED_SCALES` (and scale 1): each library's
    worst |log Z - exact| computed in ``dtype`` (exact: our elimination in float64, checked against
    enumeration in Table 3), and the share of sentences our LU check sends to the exact elimination."""
    errors, refused = {}, {}
    for scale in (1.0, *PEAKED_SCALES):
        scores = scale * torch.randn(BATCH, n + 1, n + 1, dtype=torch.float64,
                                     generator=torch.Generator().manual_seed(int(scale)))
        lengths = torch.full((BATCH,), n)
        exact = exact_log_partition(scores, lengths)
        refused[scale] = (~lu_log_partition(scores, lengths)[1]).double().mean().item()
        if scale in PEAKED_SCALES:
            values = _matrix_tree_log_z(scores.to(dtype), peers, batch=True)
            errors[scale] = {name: _worst_error(value, exact) for name, value in values.items()}
    return {"errors": errors, "refused": refused}


def _worst_error(value: torch.Tensor, exact: torch.Tensor) -> float:
    error = (value.double() - exact).abs()
    return error.max().item() if torch.isfinite(error).all() else float("inf")


def matrix_tree_table(rows: list[dict], peers: dict) -> list[str]:
    """Table 2b in markdown: speed against the peers and log Z error on peaked scores, per dtype and size."""
    names = ["structkd", *(p for p in ("torch-struct", "SuPar") if peers[p])]
    error_cells = [f"scale {s:g}: {n}" for s in PEAKED_SCALES for n in names]
    lines = [
        "## Table 2b: matrix-tree (single root), ours vs peers, with the log Z error on peaked scores",
        "",
        f"Target: ours / torch-struct <= {MATRIX_TREE_TARGET:g} at every size and dtype, and exact.  Timing as in "
        "Table 2 (scores = randn).  Ours runs a batched LU in float64 and checks each sentence's pivots against "
        "their subtraction-free values (`structkd.structs.matrix_tree`); the sentences it refuses go to the "
        "exact elimination.  *Error*: worst |log Z - exact| over a batch of 32 sentences with scores = "
        "scale x randn, each library computing in the row's dtype (exact: our elimination in float64; inf "
        "where a library returned inf or NaN).  *Exact path*: the share of sentences our check refused at "
        "scale 1, " + " and ".join(f"{s:g}" for s in PEAKED_SCALES) + ".",
        "",
        "| size | " + " | ".join(f"{n} ms" for n in names) + " | ours / torch-struct | met | "
        + " | ".join(f"error, {c}" for c in error_cells) + " | exact path |",
        "|---|" + "---:|" * len(names) + "---:|:-:|" + "---:|" * len(error_cells) + "---:|",
    ]
    for r in rows:
        ms = r["ms"]
        ratio = ms["structkd"] / ms["torch-struct"] if "torch-struct" in ms else None
        speed = " | ".join(f"{ms[n]:.2f}" for n in names)
        met = f"{ratio:.2f}x | {_yes(ratio <= MATRIX_TREE_TARGET)}" if ratio is not None else "— | —"
        errors = " | ".join(f"{r['errors'][s][n]:.1e}" for s in PEAKED_SCALES for n in names)
        refused = " / ".join(f"{share:.0%}" for share in r["refused"].values())
        lines.append(f"| {r['size']} | {speed} | {met} | {errors} | {refused} |")
    return lines


# ----------------------------------------------------------------------------- Table 4: a trained parser's scores
PARSER_TEACHER = ROOT / "runs" / "dep-bench" / "teacher-nonprojective" / "best"
TREEBANK_TEST = ROOT.parent / "shared" / "data" / "UD_English-EWT" / "en_ewt-ud-test.conllu"


def parser_trust(folder: Path, treebank: Path, limit: int | None = None) -> dict | None:
    """On a trained tree-CRF parser's arc scores of every ``treebank`` sentence: how many sentences our LU check
    refuses (so take the exact elimination), and the worst log Z error of plain LU and of ours against it."""
    if not (folder / "config.json").exists() or not treebank.exists():
        return None
    from structkd.data import read_conllu_trees
    from structkd.persistence import load
    parser = load(folder).eval()
    sentences = read_conllu_trees(treebank)[:limit]
    refused, lu_error, ours_error = 0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(sentences), BATCH):
            scores = parser([s.words for s in sentences[start : start + BATCH]])
            arcs, lengths = scores.arcs.double(), scores.lengths
            exact = exact_log_partition(arcs, lengths, parser.multiroot)
            fast, trusted = lu_log_partition(arcs, lengths, parser.multiroot)
            ours = NonProjectiveDependencyCRF(arcs, lengths, parser.multiroot).partition
            refused += int((~trusted).sum())
            lu_error = max(lu_error, _worst_error(fast, exact))
            ours_error = max(ours_error, _worst_error(ours, exact))
    return {"folder": str(folder), "treebank": str(treebank), "sentences": len(sentences), "refused": refused,
            "lu_error": lu_error, "ours_error": ours_error}


def parser_trust_table(trust: dict | None) -> list[str]:
    if trust is None:
        return ["## Table 4: the LU check on a trained parser's scores", "",
                f"Not measured: no trained tree-CRF parser at `{PARSER_TEACHER.relative_to(ROOT)}` (benchmarks/"
                "parsing.py trains it as `teacher-nonprojective`) or no treebank at the given path."]
    share = trust["refused"] / trust["sentences"]
    return [
        "## Table 4: the LU check on a trained parser's scores",
        "",
        f"The arc scores of `{trust['folder']}` (float64) on every sentence of `{trust['treebank']}`; exact: our "
        "elimination.  *Plain LU*: the fast path's value without its check (what an unchecked LU log-determinant "
        "returns).",
        "",
        "| sentences | sent to the exact elimination | worst log Z error, plain LU | worst log Z error, ours |",
        "|---:|---:|---:|---:|",
        f"| {trust['sentences']:,} | {trust['refused']:,} ({share:.1%}) | {trust['lu_error']:.1e} | "
        f"{trust['ours_error']:.1e} |",
    ]


# ----------------------------------------------------------------------------- Table 3: matrix-tree accuracy
ACCURACY_SCALES = (1.0, 10.0, 20.0)  # arc scores = scale * randn: trained parsers' scores span tens of nats
ACCURACY_SEEDS = 50


def single_root_trees(n: int) -> list[tuple[int, ...]]:
    """Every single-root dependency tree over ``n`` words, as heads of words 1..n (0 = root)."""
    def is_tree(heads):
        for m in range(1, n + 1):
            seen, h = set(), m
            while h:
                if h in seen:
                    return False
                seen.add(h)
                h = heads[h - 1]
        return True

    return [h for h in itertools.product(range(n + 1), repeat=n)
            if sum(x == 0 for x in h) == 1 and all(x != m for m, x in enumerate(h, 1)) and is_tree(h)]


def matrix_tree_errors(peers: dict, n: int = 4) -> list[dict]:
    """Worst |log Z - exact| over seeds, per scale, for ours and each peer (float64, exact by enumeration)."""
    trees = torch.tensor(single_root_trees(n))  # (T, n)
    words = torch.arange(1, n + 1)
    rows = []
    for scale in ACCURACY_SCALES:
        worst: dict[str, float] = {}
        for seed in range(ACCURACY_SEEDS):
            scores = scale * torch.randn(1, n + 1, n + 1, dtype=torch.float64,
                                         generator=torch.Generator().manual_seed(seed))
            exact = torch.logsumexp(scores[0, words, trees].sum(-1), 0)
            for name, value in _matrix_tree_log_z(scores, peers).items():
                err = (value - exact).abs().item() if torch.isfinite(value) else float("inf")
                worst[name] = max(worst.get(name, 0.0), err)
        rows.append({"scale": scale, **worst})
    return rows


def _matrix_tree_log_z(scores: torch.Tensor, peers: dict, batch: bool = False) -> dict[str, torch.Tensor]:
    """Each library's single-root log Z of ``scores`` (``(B,)`` with ``batch``, else sentence 0's)."""
    pick = (lambda v: v) if batch else (lambda v: v[0])
    out = {"structkd": pick(NonProjectiveDependencyCRF(scores).partition.detach())}
    if peers["torch-struct"]:
        arcs = arcs_to_torch_struct(scores).requires_grad_()
        out["torch-struct"] = _or_nan(lambda: pick(peers["torch-struct"].NonProjectiveDependencyCRF(
            arcs, multiroot=False).partition))
    if peers["SuPar"]:
        out["SuPar"] = _or_nan(lambda: pick(peers["SuPar"].MatrixTree(scores.clone(), multiroot=False).log_partition))
    return out


def _or_nan(compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A peer's value, or NaN where it fails (singular matrix)."""
    try:
        return compute().detach()
    except RuntimeError:
        return torch.tensor(float("nan"))


def accuracy_table(rows: list[dict]) -> list[str]:
    names = [k for k in rows[0] if k != "scale"]
    lines = [
        "## Table 3: matrix-tree accuracy on peaked scores",
        "",
        f"Worst |log Z - exact| over {ACCURACY_SEEDS} random single-root instances of 4 words (float64, exact "
        "by enumerating every tree), arc scores = scale x randn.  LU-based log-determinants lose log Z once "
        "the words' preferred heads form cycles that outweigh every tree; ours checks its LU per sentence and "
        "eliminates without subtraction where the check fails.",
        "",
        "| scale | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    lines += ["| " + f"{r['scale']:g} | " + " | ".join(f"{r[k]:.1e}" for k in names) + " |" for r in rows]
    return lines


# ----------------------------------------------------------------------------- Table 1: objectives
@dataclass
class DistillSetup:
    """A student built afresh from its leaves, a teacher built afresh (its marginals are lazily cached
    per object, so a shared teacher would hide its inference cost), and gold outputs."""

    name: str
    student: Callable[[], object]
    leaves: list[torch.Tensor]
    teacher: Callable[[], object]
    gold: torch.Tensor


def chain_setup(n: int, num_labels: int) -> DistillSetup:
    """Emission + transition CRF student, another chain CRF as teacher, random gold labels."""
    emissions, transitions = leaf(BATCH, n, num_labels), leaf(num_labels, num_labels)
    t_emissions, t_transitions = torch.randn(BATCH, n, num_labels), torch.randn(num_labels, num_labels)
    return DistillSetup(
        "LinearChainCRF",
        lambda: LinearChainCRF.from_emissions(emissions, transitions),
        [emissions, transitions],
        lambda: LinearChainCRF.from_emissions(t_emissions, t_transitions),
        torch.randint(num_labels, (BATCH, n)),
    )


def tree_setup(cls: type, n: int) -> DistillSetup:
    """Arc-factored student and teacher of class ``cls``; gold: the right-branching tree (word m <- m-1)."""
    scores, t_scores = leaf(BATCH, n + 1, n + 1), torch.randn(BATCH, n + 1, n + 1)
    heads = (torch.arange(n + 1) - 1).clamp(min=0).expand(BATCH, -1)
    return DistillSetup(cls.__name__, lambda: cls(scores), [scores], lambda: cls(t_scores), heads)


def maxent_setup(n: int, num_labels: int) -> DistillSetup:
    """Scenario 2a: a MaxEnt student of a chain CRF teacher."""
    chain = chain_setup(n, num_labels)
    scores = leaf(BATCH, n, num_labels)
    return DistillSetup("MaxEnt (chain teacher)", lambda: MaxEnt(scores), [scores], chain.teacher, chain.gold)


def divergence_row(setup: DistillSetup, size: str, sizes: Sizes) -> dict:
    """Gold loss, structural KD and every divergence from cached targets, and the sampled JS estimate: ms."""
    marginals = project(setup.teacher(), setup.student()).detach()
    targets = divergence_targets(setup.teacher(), setup.student()).detach()
    steps = {
        "gold": lambda: gold_loss(setup.student(), setup.gold),
        "structural": lambda: cross_entropy(marginals, setup.student()),
        **{m: (lambda m=m: kd_from_marginals(targets, setup.student(), m)) for m in DIVERGENCES},
        "js estimate": lambda: js_estimate(setup.teacher(), setup.student(), ESTIMATE_SAMPLES).value,
    }
    ms = time_ms({k: backward_step(f, setup.leaves) for k, f in steps.items()}, sizes.repeats, sizes.warmup)
    return {"student": setup.name, "size": size, **ms}


def objective_row(setup: DistillSetup, size: str, sizes: Sizes) -> dict:
    """Gold loss, KD with teacher inference and KD with cached teacher marginals: ms and KD/gold ratios."""
    cached = project(setup.teacher(), setup.student()).detach()
    steps = {
        "gold": lambda: gold_loss(setup.student(), setup.gold),
        "kd": lambda: kd_term(setup.teacher(), setup.student()),
        "kd_cached": lambda: cross_entropy(cached, setup.student()),
    }
    ms = time_ms({k: backward_step(f, setup.leaves) for k, f in steps.items()}, sizes.repeats, sizes.warmup)
    return {"student": setup.name, "size": size, **ms}


# ----------------------------------------------------------------------------- Table 2: rows
def structure_row(structure: str, size: str, contenders: list[Contender], sizes: Sizes) -> tuple[dict, list]:
    """Time every contender; check each peer's log Z against ours on the same scores."""
    ours = contenders[0].log_z().detach()
    checks = [(structure, size, c.name, (c.log_z().detach() - ours).abs().max().item(), _tolerance(structure, c.name))
              for c in contenders[1:] if not c.name.startswith("structkd")]
    ms = time_ms({c.name: backward_step(c.objective, c.leaves) for c in contenders}, sizes.repeats, sizes.warmup)
    return {"structure": structure, "size": size, "ms": ms}, checks


def _tolerance(structure: str, peer: str) -> float:
    return LOGZ_TOL_EPS if (structure, peer) == ("matrix-tree", "torch-struct") else LOGZ_TOL


# ----------------------------------------------------------------------------- report
def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the whole machine (from /proc/stat) and by this process."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    return busy, sum(os.times()[:2])


def other_load(start: tuple[float, float], end: tuple[float, float], wall: float) -> float:
    """Average number of cores that other processes kept busy between two :func:`cpu_seconds` readings."""
    return max(0.0, ((end[0] - start[0]) - (end[1] - start[1])) / wall)


def code_version() -> str:
    """The commit measured, and which of the packages (structkd/, taggers/, parsers/) have uncommitted changes
    (read-only git calls)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return "not a git checkout"
    dirty = [f"{package}/" for package in PACKAGES if git("diff-index", "--quiet", "HEAD", "--", package).returncode]
    return f"git {head.stdout.strip()}" + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


#: the packages whose code a measurement depends on
PACKAGES = ("structkd", "taggers", "parsers")


def header(threads: int, sizes: Sizes, load: float) -> list[str]:
    """The machine and software the numbers come from."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    versions = ", ".join(f"{d} {version(d)}" for d in ("torch", "torch-struct", "supar", "pytorch-crf"))
    return [
        "# structkd: objective and structure speed (CPU)",
        "",
        f"- machine: {cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
        f"Python {platform.python_version()}",
        f"- software: structkd {structkd.__version__} ({code_version()}), {versions}",
        f"- timing: float32 (Table 2b: float32 and float64), torch.set_num_threads({threads}), batch {BATCH}, "
        "full-length sentences, "
        f"{sizes.warmup} warm-up runs, median of {sizes.repeats} runs (time.perf_counter), all in one process",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; other processes kept on average "
        f"{load:.2f} of the {os.cpu_count()} cores busy during the run (contention inflates timings)",
        "- command: `python benchmarks/objective_speed.py` (see its `--help`)",
    ]


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def objective_table(rows: list[dict]) -> list[str]:
    """Table 1 in markdown."""
    lines = [
        "## Table 1: structural KD loss vs gold loss of the same student (forward + backward)",
        "",
        f"Target: structural KD loss <= {KD_TARGET}x gold loss.  *KD* = `kd_term(teacher, student)`, the "
        "teacher's inference (its marginals) inside the step; *KD cached* = `cross_entropy(P_t, student)` "
        "with the teacher marginals `project(teacher, student)` computed beforehand, as a training loop "
        "that caches its teacher does.",
        "",
        "| student | size | gold ms | KD ms | KD / gold | met | KD cached ms | KD cached / gold | met |",
        "|---|---|---:|---:|---:|:-:|---:|---:|:-:|",
    ]
    for r in rows:
        kd, cached = r["kd"] / r["gold"], r["kd_cached"] / r["gold"]
        lines.append(f"| {r['student']} | {r['size']} | {r['gold']:.2f} | {r['kd']:.2f} | {kd:.2f}x | "
                     f"{_yes(kd <= KD_TARGET)} | {r['kd_cached']:.2f} | {cached:.2f}x | {_yes(cached <= KD_TARGET)} |")
    return lines


def divergence_table(rows: list[dict]) -> list[str]:
    """Table 5 in markdown: ms of each objective and its ratio to the gold loss."""
    names = ["structural", *DIVERGENCES, "js estimate"]
    lines = [
        "## Table 5: divergence objectives vs gold loss of the same student (forward + backward)",
        "",
        f"Target: the exact divergences (kl, rkl) <= {DIVERGENCE_TARGET:g}x the gold loss; js and tvd are their "
        f"exact upper bounds (structkd.divergences), *js estimate* the sampled estimate with "
        f"{ESTIMATE_SAMPLES} samples of the teacher's view and of the student (teacher view and sampling "
        "inside the step).  Every other column starts from cached teacher targets.  Each cell: ms, and its "
        "ratio to the gold loss.",
        "",
        "| student | size | gold ms | " + " | ".join(names) + " | exact ones met |",
        "|---|---|---:|" + "---:|" * len(names) + ":-:|",
    ]
    for r in rows:
        cells = " | ".join(f"{r[n]:.2f} ({r[n] / r['gold']:.2f}x)" for n in names)
        met = all(r[n] / r["gold"] <= DIVERGENCE_TARGET for n in ("kl", "rkl"))
        lines.append(f"| {r['student']} | {r['size']} | {r['gold']:.2f} | {cells} | {_yes(met)} |")
    return lines


def structure_table(rows: list[dict], peers: dict) -> list[str]:
    """Table 2 in markdown: ms per library, fastest peer, ours / fastest peer."""
    names = ["structkd", "structkd (from_emissions)", *peers]
    lines = [
        "## Table 2: log Z + marginals + backward, ours vs peers",
        "",
        "Target: every structure at least as fast as the fastest peer (ours / fastest <= 1; *ours* is the "
        "structkd column).  Each library "
        "runs on its own layout: structkd and torch-struct chains on label-pair potentials, SuPar and "
        "pytorch-crf on emissions + transitions (so is *structkd (from_emissions)*, which builds the pair "
        "potentials inside the step); pytorch-crf is timed on its log-likelihood (log Z plus the gold "
        "path score).  Trees are single-root.",
        "",
        "| structure | size | " + " | ".join(f"{n} ms" for n in names) + " | fastest peer | ours / fastest | met |",
        "|---|---|" + "---:|" * len(names) + "---|---:|:-:|",
    ]
    for r in rows:
        ms = r["ms"]
        cells = " | ".join(f"{ms[n]:.2f}" if n in ms else "—" for n in names)
        peer_ms = {n: t for n, t in ms.items() if not n.startswith("structkd")}
        if peer_ms:
            fastest = min(peer_ms, key=peer_ms.get)
            ratio = ms["structkd"] / peer_ms[fastest]
            tail = f"{fastest} | {ratio:.2f}x | {_yes(ratio <= 1.0)}"
        else:
            tail = "— | — | —"
        lines.append(f"| {r['structure']} | {r['size']} | {cells} | {tail} |")
    return lines


def check_table(checks: list) -> list[str]:
    """The log Z agreement of every peer with ours."""
    lines = [
        "## log Z agreement (same scores, layouts converted)",
        "",
        "| structure | size | peer | max abs diff | tolerance | ok |",
        "|---|---|---|---:|---:|:-:|",
    ]
    lines += [f"| {s} | {size} | {peer} | {diff:.2e} | {tol:.0e} | {_yes(diff <= tol)} |"
              for s, size, peer, diff, tol in checks]
    agree = all(diff <= tol for *_, diff, tol in checks)
    return lines + ["", "Every peer computes our log Z." if agree else
                    "**Some peer disagrees with our log Z: its timing is not comparable.**"]


def missing_peers(peers: dict) -> list[str]:
    """Install hints for peers that are not installed (nothing when all are)."""
    hints = [f"- {name}: `{INSTALL[name]}`" for name, mod in peers.items() if mod is None]
    return ["## Peers not installed (left out above)", "", *hints] if hints else []


# ----------------------------------------------------------------------------- main
def run(sizes: Sizes, threads: int, parser: Path = PARSER_TEACHER, treebank: Path = TREEBANK_TEST,
        parser_sentences: int | None = None) -> str:
    """Measure both tables and return the markdown report."""
    peers = load_peers()
    start, wall = cpu_seconds(), time.perf_counter()
    table1 = [objective_row(chain_setup(n, c), f"n={n} C={c}", sizes) for n, c in sizes.chain]
    table1 += [objective_row(tree_setup(cls, n), f"n={n}", sizes)
               for cls in (ProjectiveDependencyCRF, NonProjectiveDependencyCRF, HeadSelection) for n in sizes.tree]
    setups = [(chain_setup(n, c), f"n={n} C={c}") for n, c in sizes.chain[:2]]
    setups += [(maxent_setup(*sizes.chain[0]), f"n={sizes.chain[0][0]} C={sizes.chain[0][1]}")]
    setups += [(tree_setup(cls, sizes.tree[0]), f"n={sizes.tree[0]}")
               for cls in (HeadSelection, ProjectiveDependencyCRF, NonProjectiveDependencyCRF)]
    table5 = [divergence_row(setup, size, sizes) for setup, size in setups]
    table2, checks = [], []
    cases = [("chain", f"n={n} C={c}", lambda n=n, c=c: chain_contenders(n, c, peers)) for n, c in sizes.chain]
    cases += [(name, f"n={n}", lambda n=n, build=build: build(n, peers))
              for n in sizes.tree for name, build in (("Eisner", eisner_contenders),)]
    for structure, size, build in cases:
        row, row_checks = structure_row(structure, size, build(), sizes)
        table2.append(row)
        checks += row_checks
    matrix_tree = []
    for dtype in (torch.float32, torch.float64):
        for n in sizes.matrix_tree:
            row, row_checks = structure_row("matrix-tree", f"n={n} {DTYPE_NAMES[dtype]}",
                                            matrix_tree_contenders(n, peers, dtype), sizes)
            matrix_tree.append(row | peaked_accuracy(n, dtype, peers))
            checks += row_checks
    load = other_load(start, cpu_seconds(), time.perf_counter() - wall)
    sections = [header(threads, sizes, load), objective_table(table1), divergence_table(table5),
                structure_table(table2, peers),
                matrix_tree_table(matrix_tree, peers), accuracy_table(matrix_tree_errors(peers)),
                parser_trust_table(parser_trust(parser, treebank, parser_sentences)), check_table(checks), missing_peers(peers)]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed runs per measurement, the median is reported (default {REPEATS}; 2 with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"markdown results file (default {DEFAULT_OUT.relative_to(ROOT)}; "
                             "--quick writes nothing unless --out is given)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: a smoke run")
    parser.add_argument("--parser", type=Path, default=PARSER_TEACHER,
                        help="a trained tree-CRF parser folder for Table 4 (default: the parsing benchmark's "
                             "teacher-nonprojective)")
    parser.add_argument("--treebank", type=Path, default=TREEBANK_TEST, help="its sentences (CoNLL-U)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    grid = QUICK if args.quick else FULL
    repeats = args.repeats or (2 if args.quick else REPEATS)
    sizes = Sizes(grid["chain"], grid["tree"], grid["matrix_tree"], repeats, 1 if args.quick else WARMUP)
    report = run(sizes, args.threads, args.parser, args.treebank, 64 if args.quick else None)
    print(report, end="")
    out = args.out or (None if args.quick else DEFAULT_OUT)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
