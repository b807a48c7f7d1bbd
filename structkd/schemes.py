"""Tag schemes (IOB1, BIO = IOB2, BIOES): conversion between them and the transitions they allow (the torch
form of those: :mod:`structkd.constraints`).  Imports no torch.

Conversion goes through entities: :func:`tags_to_entities` decodes a tag sequence into labelled spans and
:func:`entities_to_tags` encodes spans in any scheme; :func:`convert_tags` chains the two.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from .errors import UserError

PREFIXES = ("B", "I", "E", "S")
SCHEME_PREFIXES = {"IOB1": ("B", "I"), "BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
SCHEME_ALIASES = {"IOB2": "BIO"}


def parse_tag(tag: str) -> tuple[str, str | None]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", None)``; raises ValueError on anything else."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in PREFIXES or not kind:
        raise ValueError(f"not a BIO/BIOES tag: {tag!r} (expected 'O' or one of B-, I-, E-, S- and a type)")
    return prefix, kind


def detect_scheme(tags: Sequence[str]) -> str:
    """``"BIOES"`` if any tag has an E- or S- prefix, else ``"BIO"``."""
    return "BIOES" if any(parse_tag(t)[0] in ("E", "S") for t in tags) else "BIO"


def entity_types(tags: Sequence[str]) -> list[str]:
    """The entity types of a tag list, in order of first appearance."""
    seen: dict[str, None] = {}
    for t in tags:
        kind = parse_tag(t)[1]
        if kind is not None:
            seen.setdefault(kind)
    return list(seen)


def _can_follow(prev: tuple[str, str | None], cur: tuple[str, str | None], scheme: str) -> bool:
    (pp, pk), (cp, ck) = prev, cur
    inside_prev = pp in ("B", "I")  # an entity is open after prev
    if cp in ("I", "E"):
        return inside_prev and pk == ck
    # O, B or S start fresh: allowed unless BIOES requires the open entity to be closed by E
    return not (scheme == "BIOES" and inside_prev)


def transition_table(tags: Sequence[str]) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Which transitions the scheme of ``tags`` allows, as lists: ``start[c]``, ``transitions[prev][cur]`` and
    ``end[c]`` (the tensors of :func:`structkd.allowed_transitions`)."""
    scheme = detect_scheme(tags)
    parsed = [parse_tag(t) for t in tags]
    return ([_can_follow(("O", None), c, scheme) for c in parsed],
            [[_can_follow(p, c, scheme) for c in parsed] for p in parsed],
            [not (scheme == "BIOES" and p in ("B", "I")) for p, _ in parsed])


class Entity(NamedTuple):
    """A labelled span of tokens ``[start, end)``."""
    kind: str
    start: int
    end: int


class TagSchemeError(UserError, ValueError):
    """A tag that its scheme does not allow; ``index`` is the tag's position in the sequence."""

    def __init__(self, message: str, index: int):
        super().__init__(message)
        self.index = index


def scheme_name(scheme: str) -> str:
    """The canonical name of a scheme: ``"IOB1"``, ``"BIO"`` (also spelled ``"IOB2"``) or ``"BIOES"``."""
    name = SCHEME_ALIASES.get(scheme, scheme)
    if name not in SCHEME_PREFIXES:
        raise ValueError(f"unknown tag scheme {scheme!r} (expected one of IOB1, IOB2, BIO, BIOES)")
    return name


def _parse_scheme_tag(tags: Sequence[str], i: int, scheme: str) -> tuple[str, str | None]:
    """:func:`parse_tag` of ``tags[i]``, restricted to the prefixes of ``scheme`` (and refusing a type ``O``)."""
    prefixes = SCHEME_PREFIXES[scheme]
    try:
        prefix, kind = parse_tag(tags[i])
        known = prefix == "O" or (prefix in prefixes and kind != "O")
    except ValueError:
        known = False
    if not known:
        allowed = ", ".join(f"{p}-" for p in prefixes)
        raise TagSchemeError(f"unknown tag {tags[i]!r}; expected 'O' or one of {allowed} and an entity type "
                             f"(scheme {scheme})", i)
    return prefix, kind


def tags_to_entities(tags: Sequence[str], scheme: str = "BIO", strict: bool = False) -> list[Entity]:
    """The entities of a tag sequence in ``scheme``, in order.

    Without ``strict``, ill-formed sequences are repaired as conlleval and seqeval read them: an ``I-X``
    (or BIOES ``E-X``) that does not continue an ``X`` entity starts one, as if it were ``B-X`` (``S-X``),
    and a BIOES entity left open ends where the next one starts. With ``strict``, these raise
    :class:`TagSchemeError` at the offending tag. IOB1 (``I-X`` starts an entity, ``B-X`` only separates
    two adjacent ``X`` entities) decodes the same way and needs no repair.
    """
    scheme = scheme_name(scheme)
    entities: list[Entity] = []
    open_kind, open_start = None, 0  # the entity that the next tag may continue
    for i in range(len(tags)):
        prefix, kind = _parse_scheme_tag(tags, i, scheme)
        continues = prefix in ("I", "E") and kind == open_kind
        if strict:
            _check_strict(tags, i, scheme, prefix, kind, continues, open_kind)
        if not continues:
            if open_kind is not None:
                entities.append(Entity(open_kind, open_start, i))
            open_kind, open_start = kind, i
        if prefix in ("E", "S"):
            entities.append(Entity(kind, open_start, i + 1))
            open_kind = None
    if open_kind is not None:
        if strict and scheme == "BIOES":
            raise TagSchemeError(f"the sentence ends inside a {open_kind} entity; expected it to end with "
                                 f"E-{open_kind} or S-{open_kind} (scheme BIOES)", len(tags) - 1)
        entities.append(Entity(open_kind, open_start, len(tags)))
    return entities


def _check_strict(tags, i, scheme, prefix, kind, continues, open_kind) -> None:
    """Raise :class:`TagSchemeError` where strict decoding of ``tags[i]`` would need a repair."""
    previous = repr(tags[i - 1]) if i else "the sentence start"
    if scheme != "IOB1" and prefix in ("I", "E") and not continues:
        opener = "B-" if prefix == "I" else "S-"
        raise TagSchemeError(f"{tags[i]!r} after {previous} does not continue a {kind} entity; expected "
                             f"{opener}{kind} to start one (scheme {scheme})", i)
    if scheme == "BIOES" and open_kind is not None and not continues:
        raise TagSchemeError(f"{tags[i]!r} after {previous} leaves the {open_kind} entity open; expected "
                             f"I-{open_kind} or E-{open_kind} (scheme BIOES)", i)


def entities_to_tags(entities: Sequence[Entity], length: int, scheme: str = "BIO") -> list[str]:
    """The tags of ``length`` tokens holding non-overlapping ``entities`` (``(kind, start, end)``), in ``scheme``."""
    scheme = scheme_name(scheme)
    tags = ["O"] * length
    previous = Entity("", 0, 0)
    for kind, start, end in sorted(entities, key=lambda entity: entity[1:]):
        if not previous.end <= start < end <= length:
            raise ValueError(f"entity {(kind, start, end)} overlaps {tuple(previous)} or lies outside "
                             f"0..{length}; expected non-overlapping spans start < end <= length")
        prefixes = ["B"] + ["I"] * (end - start - 1)
        if scheme == "IOB1" and not (start == previous.end and kind == previous.kind):
            prefixes[0] = "I"
        if scheme == "BIOES":
            prefixes[-1] = "S" if end - start == 1 else "E"
        tags[start:end] = [f"{prefix}-{kind}" for prefix in prefixes]
        previous = Entity(kind, start, end)
    return tags


def spans_to_tags(spans: Sequence[tuple[int, int, int]], length: int, types: Sequence[str], scheme: str) -> list[str]:
    """The tags of ``length`` tokens holding the decoded ``(first, last, type index)`` spans of a span model over
    entity ``types`` (:meth:`structkd.SpanSegmentation.decode`), in ``scheme``."""
    return entities_to_tags([Entity(types[r], i, j + 1) for i, j, r in spans], length, scheme)


def convert_tags(tags: Sequence[str], source: str, target: str, strict: bool = False) -> list[str]:
    """``tags`` from scheme ``source`` to scheme ``target``, keeping every entity (see :func:`tags_to_entities`
    for the repair of ill-formed sequences, and the :class:`TagSchemeError` that ``strict`` raises instead)."""
    return entities_to_tags(tags_to_entities(tags, source, strict), len(tags), target)
