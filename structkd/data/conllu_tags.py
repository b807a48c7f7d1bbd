"""CoNLL-U files as NER data: the word forms of each sentence and, optionally, a tag per word; predicted tags
written back into MISC."""
from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from conllu import Token
from conllu.parser import DEFAULT_FIELDS

from ..schemes import convert_tags, detect_scheme
from .conllu_lines import ConlluLine, read_conllu_sentences
from .errors import DataError
from .sentence import Sentence
from .tagging import TagReader

TagField = Callable[[Token], "str | None"]
MISC = DEFAULT_FIELDS.index("misc")


def read_conllu_tags(path: str | os.PathLike, tag_field: str | TagField | None = "misc:NER", *,
                     scheme: str = "IOB2", target: str = "BIO", label_map: Mapping[str, str] | None = None,
                     strict: bool = False, entity_types: Collection[str] | None = None,
                     annotated: bool = True) -> list[Sentence]:
    """The sentences of a CoNLL-U file: tokens from FORM, tags from ``tag_field`` (none when the file is not
    ``annotated``, the input of a prediction).

    Only syntactic words count: multiword-token lines (``3-4``) and empty nodes (``5.1``) are left out of
    ``tokens``, ``tags`` and ``columns`` (so :func:`write_columns` does not give the file back; see
    :func:`read_conllu_trees` for that). ``tag_field`` is ``"misc:KEY"`` (the value of ``KEY=`` in MISC, on
    every word), a function from a parsed :class:`conllu.Token` to its tag, or ``None`` for no tags; tags then
    go through the options of :func:`read_columns`. Every field is parsed by the ``conllu`` package; its
    errors, wrong column counts and missing tags raise :class:`DataError`.
    """
    tag_of = _tag_getter(tag_field if annotated else None)
    read_tags = TagReader(scheme, target, label_map, strict, entity_types)
    sentences = []
    for block, words in read_conllu_sentences(path):
        tags = None
        if tag_of is not None:
            raw_tags = [_word_tag(path, word, tag_of, tag_field) for word in words]
            tags = read_tags(raw_tags, path, [word.line for word in words])
        sentences.append(Sentence([word.token["form"] for word in words], tags, [word.fields for word in words],
                                  block.comments, os.fspath(path), block.line, block.trailing))
    return sentences


def _tag_getter(tag_field: str | TagField | None) -> TagField | None:
    """``tag_field`` as a function of a token (``"misc:KEY"`` reads ``KEY`` in MISC)."""
    if tag_field is None or callable(tag_field):
        return tag_field
    source, _, key = tag_field.partition(":")
    if source != "misc" or not key:
        raise ValueError(f"tag_field {tag_field!r}: expected 'misc:KEY', a function of a conllu.Token or None")
    return lambda token: (token["misc"] or {}).get(key)


def _word_tag(path, word: ConlluLine, tag_of: TagField, tag_field) -> str:
    """The raw tag of a word, or a DataError if it has none."""
    tag = tag_of(word.token)
    if tag is None:
        raise DataError(path, word.line, f"no tag for {word.token['form']!r} from tag_field {tag_field!r}; "
                        "expected one on every word")
    return tag


def write_conllu_tags(path: str | os.PathLike, sentences: Iterable[Sentence], predicted_tags: Iterable[Sequence[str]],
                      *, key: str = "NER", scheme: str = "IOB2") -> None:
    """Write the CoNLL-U sentences read by :func:`read_conllu_tags` back, with ``predicted_tags`` (one sequence
    per sentence, BIO or BIOES, converted to ``scheme``) as ``KEY=tag`` in the MISC field of each word.

    Every other line and field is written as it is in the sentence's source file, which is read again for its
    multiword tokens and empty nodes: an existing ``KEY=`` item is replaced in place, other MISC items keep
    their order, and ``_`` becomes ``KEY=tag``. Raises ValueError for predictions that do not fit the sentences.
    """
    sentences, predicted_tags = list(sentences), list(predicted_tags)
    if len(predicted_tags) != len(sentences):
        raise ValueError(f"{len(predicted_tags)} predicted tag sequences for {len(sentences)} sentences")
    sources = {source: {block.line: block for block, _ in read_conllu_sentences(source)}
               for source in {sentence.path for sentence in sentences}}
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        for sentence, tags in zip(sentences, predicted_tags):
            if len(tags) != len(sentence.tokens):
                raise ValueError(f"{sentence.path}:{sentence.line}: {len(tags)} predicted tags for "
                                 f"{len(sentence.tokens)} words")
            block = sources[sentence.path][sentence.line]
            tags = iter(convert_tags(tags, detect_scheme(tags), scheme))
            lines = [_with_misc(line, key, next(tags)) if line.split("\t", 1)[0].isdecimal() else line
                     for line in block.lines]
            stream.write("\n".join(block.comments + lines + [""]) + "\n")


def _with_misc(line: str, key: str, value: str) -> str:
    """A word line with ``KEY=value`` in its MISC field (replacing an existing ``KEY=`` item)."""
    fields = line.split("\t")
    items = [] if fields[MISC] == "_" else fields[MISC].split("|")
    at = next((i for i, item in enumerate(items) if item.split("=", 1)[0] == key), len(items))
    fields[MISC] = "|".join(items[:at] + [f"{key}={value}"] + items[at + 1:])
    return "\t".join(fields)
