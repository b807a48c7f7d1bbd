"""Evaluation metrics.

Entity-level precision, recall and F1 come from seqeval (the reference implementation of conlleval's
entity matching), so our numbers are comparable with published ones rather than a re-implementation.
"""
from __future__ import annotations

from typing import Sequence

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, IOBES

STRICT_SCHEMES = {"BIO": IOB2, "IOB2": IOB2, "BIOES": IOBES}


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                  strict_scheme: str | None = None) -> dict:
    """Micro precision / recall / F1 over entities, and the same per entity type (in percent).

    Args:
        gold, predicted: tag sequences, one per sentence, of equal lengths.
        strict_scheme: ``None`` for conlleval's lenient chunking (an ``I-X`` may start an entity), or
            ``"BIO"``/``"BIOES"`` for seqeval's strict mode, where only well-formed entities of that
            scheme count.

    Returns ``{"precision", "recall", "f1", "support", "per_type": {type: {...}}}``.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences differ in number or length")
    options = {}
    if strict_scheme is not None:
        if strict_scheme not in STRICT_SCHEMES:
            raise ValueError(f"unknown strict scheme {strict_scheme!r}; choose from {sorted(STRICT_SCHEMES)}")
        options = {"mode": "strict", "scheme": STRICT_SCHEMES[strict_scheme]}
    report = classification_report(list(map(list, gold)), list(map(list, predicted)), output_dict=True,
                                   zero_division=0, **options)
    micro = report.pop("micro avg")
    for key in ("macro avg", "weighted avg"):
        report.pop(key, None)

    def percent(row):
        return {"precision": 100 * row["precision"], "recall": 100 * row["recall"], "f1": 100 * row["f1-score"],
                "support": int(row["support"])}

    return dict(percent(micro), per_type={kind: percent(row) for kind, row in sorted(report.items())})
