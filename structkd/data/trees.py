"""CoNLL-U files as dependency trees: the words, heads and relations of each sentence, checked to form a tree,
and every line kept so that the file can be written back unchanged but for predicted heads and relations."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from conllu.parser import DEFAULT_FIELDS

from .conllu_lines import ConlluLine, read_conllu_sentences
from .errors import DataError

HEAD, DEPREL = DEFAULT_FIELDS.index("head"), DEFAULT_FIELDS.index("deprel")


@dataclass
class TreeSentence:
    """One dependency tree as read from a CoNLL-U file, with all it takes to write it back unchanged.

    ``words`` are the FORMs of the syntactic words (integer IDs 1..n); ``heads[i]`` the ID of the head of word
    ``i + 1`` (0: the root); ``rels`` their DEPRELs (both None for a sentence read as not annotated, or whose
    gold is left out); ``lines`` every line of the sentence, verbatim, without
    line ends: its comments (and any blank lines beyond the one ending the previous sentence), then every
    token line, multiword tokens (``3-4``) and empty nodes (``5.1``) included; ``path`` and ``line`` where
    it starts (1-based, its first comment line if it has comments); ``trailing``: for a file's last sentence,
    the lines after it (comments at the end of the file).
    """
    words: list[str]
    heads: list[int] | None
    rels: list[str] | None
    lines: list[str]
    path: str
    line: int
    trailing: list[str] = field(default_factory=list)


def read_conllu_trees(path: str | os.PathLike, *, require_single_root: bool = True,
                      annotated: bool = True) -> list[TreeSentence]:
    """The dependency trees of a CoNLL-U file.

    Every token line is parsed by the ``conllu`` package. The word IDs must count 1, 2, ..., n; every HEAD
    must be 0 (the root) or a word ID, following heads must lead every word to the root without a cycle, and
    every DEPREL must be a relation (not ``_`` or empty). With ``require_single_root`` exactly one word is
    attached to the root, else at least one. A file that is not ``annotated`` (to parse) is read without its
    HEAD and DEPREL columns, which may be ``_``: its sentences' ``heads`` and ``rels`` are None. Raises
    :class:`DataError` (``path:line: ...``) on malformed input, an empty file or bytes that are not UTF-8.
    """
    sentences = []
    for block, words in read_conllu_sentences(path):
        _check_ids(path, words)
        heads = rels = None
        if annotated:
            heads, rels = _heads(path, words), _rels(path, words)
            _check_roots(path, words, heads, require_single_root)
            _check_acyclic(path, words, heads)
        sentences.append(TreeSentence([word.token["form"] for word in words], heads, rels,
                                      block.comments + block.lines, os.fspath(path), block.line, block.trailing))
    return sentences


def write_conllu_trees(path: str | os.PathLike, sentences: Iterable[TreeSentence],
                       predicted_heads: Iterable[Sequence[int]] | None = None,
                       predicted_rels: Iterable[Sequence[str]] | None = None) -> None:
    """Write ``sentences`` as a CoNLL-U file: each one's lines, then a blank line.

    Without predictions every line is written as read, so an unmodified file (LF line ends, no byte order
    mark, one blank line after each sentence, none after the last) comes back byte for byte. ``predicted_heads``
    and ``predicted_rels`` (one sequence per sentence, one item per word) replace the HEAD and DEPREL columns
    of the word lines; every other column and line is kept. Raises ValueError for predictions that do not fit
    the sentences or a head that is no word of its sentence.
    """
    sentences = list(sentences)
    heads = _per_sentence(predicted_heads, sentences, "heads")
    rels = _per_sentence(predicted_rels, sentences, "relations")
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        for sentence, sentence_heads, sentence_rels in zip(sentences, heads, rels):
            lines = _with_predictions(sentence, sentence_heads, sentence_rels) + [""] + sentence.trailing
            stream.write("\n".join(lines) + "\n")


def _check_ids(path, words: list[ConlluLine]) -> None:
    """Raise DataError unless the word IDs count 1, 2, ..., n."""
    for expected, word in enumerate(words, start=1):
        if word.token["id"] != expected:
            raise DataError(path, word.line, f"word ID {word.fields[0]!r} out of order; expected {expected} (word "
                            "IDs count 1, 2, 3, ... in each sentence)")


def _rels(path, words: list[ConlluLine]) -> list[str]:
    """The DEPREL of each word, checked to be a relation."""
    for index, word in enumerate(words, start=1):
        if word.token["deprel"] in (None, "", "_"):
            raise DataError(path, word.line, f"DEPREL {word.fields[DEPREL]!r} of {_name(words, index)}; expected "
                            "a relation (a file to parse is read by predict, which ignores HEAD and DEPREL)")
    return [word.token["deprel"] for word in words]


def _heads(path, words: list[ConlluLine]) -> list[int]:
    """The HEAD of each word, checked to be 0 or a word ID."""
    heads = []
    for expected, word in enumerate(words, start=1):
        head = word.token["head"]
        if head is None or not 0 <= head <= len(words):
            raise DataError(path, word.line, f"HEAD {word.fields[HEAD]!r} of {_name(words, expected)}"
                            f"{' points past the sentence' if head and head > 0 else ''}; expected 0 (the root) "
                            f"or a word ID from 1 to {len(words)}")
        heads.append(head)
    return heads


def _check_roots(path, words: list[ConlluLine], heads: list[int], require_single_root: bool) -> None:
    """Raise DataError unless one word (at least one, if not ``require_single_root``) has HEAD 0."""
    roots = [i for i, head in enumerate(heads, start=1) if head == 0]
    if not roots:
        raise DataError(path, words[0].line, "no word attached to the root (HEAD 0); expected one")
    if require_single_root and len(roots) > 1:
        names = ", ".join(_name(words, i) for i in roots)
        raise DataError(path, words[roots[1] - 1].line, f"{len(roots)} words attached to the root (HEAD 0): "
                        f"{names}; expected one (or read with require_single_root=False)")


def _check_acyclic(path, words: list[ConlluLine], heads: list[int]) -> None:
    """Raise DataError, naming the words of the cycle, if following heads from some word never reaches 0."""
    reaches_root = [False] * (len(heads) + 1)
    reaches_root[0] = True
    for start in range(1, len(heads) + 1):
        chain, seen, node = [], set(), start
        while not reaches_root[node] and node not in seen:
            chain.append(node)
            seen.add(node)
            node = heads[node - 1]
        if not reaches_root[node]:
            cycle = chain[chain.index(node):]
            first = cycle.index(min(cycle))
            cycle = cycle[first:] + cycle[:first + 1]
            raise DataError(path, words[cycle[0] - 1].line, "a cycle: " + " -> ".join(_name(words, i) for i in cycle)
                            + "; expected heads that lead every word to the root (HEAD 0)")
        for node in chain:
            reaches_root[node] = True


def _name(words: list[ConlluLine], index: int) -> str:
    """Word ``index`` (1-based) for a message: its ID and form."""
    return f"{index} {words[index - 1].token['form']!r}"


def _per_sentence(predictions, sentences: list[TreeSentence], what: str) -> list:
    """``predictions`` as a list, one per sentence (``None`` for each if there are none)."""
    if predictions is None:
        return [None] * len(sentences)
    predictions = list(predictions)
    if len(predictions) != len(sentences):
        raise ValueError(f"{len(predictions)} sequences of predicted {what} for {len(sentences)} sentences")
    for sentence, predicted in zip(sentences, predictions):
        if len(predicted) != len(sentence.words):
            raise ValueError(f"{sentence.path}:{sentence.line}: {len(predicted)} predicted {what} for "
                             f"{len(sentence.words)} words")
    return predictions


def _with_predictions(sentence: TreeSentence, heads: Sequence[int] | None, rels: Sequence[str] | None) -> list[str]:
    """The sentence's lines, with ``heads`` and ``rels`` (if given) in the HEAD and DEPREL columns of its words."""
    if heads is None and rels is None:
        return sentence.lines
    lines = list(sentence.lines)
    word_lines = [i for i, line in enumerate(lines) if line.split("\t", 1)[0].isdecimal()]
    for word, i in enumerate(word_lines):
        fields = lines[i].split("\t")
        if heads is not None:
            if not 0 <= int(heads[word]) <= len(sentence.words):
                raise ValueError(f"{sentence.path}:{sentence.line}: predicted head {heads[word]} of word {word + 1}; "
                                 f"expected 0 (the root) or a word ID from 1 to {len(sentence.words)}")
            fields[HEAD] = str(int(heads[word]))
        if rels is not None:
            fields[DEPREL] = rels[word]
        lines[i] = "\t".join(fields)
    return lines
