"""Attachment scores of dependency parses: UAS, LAS and complete matches, with punctuation left out the way
SuPar leaves it out, so our numbers are comparable with SuPar's."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def is_punctuation(word: str) -> bool:
    """SuPar's rule: a word is punctuation when every character is Unicode punctuation (category ``P*``)."""
    return all(unicodedata.category(char).startswith("P") for char in word)


def attachment_scores(gold_heads: Sequence[Sequence[int]], gold_rels: Sequence[Sequence[str]],
                      pred_heads: Sequence[Sequence[int]], pred_rels: Sequence[Sequence[str]],
                      words: Sequence[Sequence[str]], punct: bool = False) -> dict:
    """Unlabeled and labeled attachment scores and complete matches of predicted trees, in percent.

    Args:
        gold_heads, gold_rels, pred_heads, pred_rels, words: one sequence per sentence, one item per word
            (heads: the head's 1-based index, 0 for the root).
        punct: score punctuation too; by default words that :func:`is_punctuation` are left out.

    Returns ``{"uas", "las", "ucm", "lcm", "words", "punct_excluded"}``: UAS and LAS over the scored words
    (a word is labeled-correct when its head and its relation are), UCM and LCM over sentences (one counts
    as a complete match when every scored word of it is correct, so a sentence of punctuation alone always
    does, as in SuPar), ``words`` the number of words scored. A score with nothing to count is 0.
    """
    sentences = _sentences([gold_heads, gold_rels, pred_heads, pred_rels, words])
    scored = correct_arcs = correct_rels = complete_arcs = complete_rels = 0
    for gold_head, gold_rel, pred_head, pred_rel, sentence_words in sentences:
        arcs_ok = rels_ok = True
        for gh, gr, ph, pr, word in zip(gold_head, gold_rel, pred_head, pred_rel, sentence_words):
            if not punct and is_punctuation(word):
                continue
            arc_ok = int(gh) == int(ph)
            rel_ok = arc_ok and gr == pr
            scored += 1
            correct_arcs += arc_ok
            correct_rels += rel_ok
            arcs_ok &= arc_ok
            rels_ok &= rel_ok
        complete_arcs += arcs_ok
        complete_rels += rels_ok
    return {"uas": _percent(correct_arcs, scored), "las": _percent(correct_rels, scored),
            "ucm": _percent(complete_arcs, len(sentences)), "lcm": _percent(complete_rels, len(sentences)),
            "words": scored, "punct_excluded": not punct}


def _sentences(columns: list[Sequence[Sequence]]) -> list[tuple]:
    """The five columns zipped sentence by sentence, after checking that their numbers and lengths agree."""
    what = "gold heads, gold relations, predicted heads, predicted relations and words"
    counts = [len(column) for column in columns]
    if len(set(counts)) != 1:
        raise ValueError(f"{counts} sentences of {what}; expected as many of each")
    sentences = list(zip(*columns))
    for number, sentence in enumerate(sentences):
        lengths = [len(column) for column in sentence]
        if len(set(lengths)) != 1:
            raise ValueError(f"sentence {number}: lengths {lengths} of {what}; expected one length")
    return sentences


def _percent(count: int, total: int) -> float:
    """``count`` of ``total`` in percent (0 for a total of 0)."""
    return 100 * count / total if total else 0.0
