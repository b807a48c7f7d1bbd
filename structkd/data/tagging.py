"""From the raw tags of a file to tags in the scheme a tagger uses, with errors that name the line."""
from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ..schemes import TagSchemeError, entities_to_tags, scheme_name, tags_to_entities
from .errors import DataError

TARGET_SCHEMES = ("BIO", "BIOES")


@dataclass(frozen=True)
class TagReader:
    """Maps a sentence's raw tags through ``label_map``, decodes them in the file's ``scheme`` (repairing
    stray ``I-`` tags unless ``strict``), checks their types against ``entity_types`` (if given) and
    returns them in ``target`` (BIO or BIOES)."""
    scheme: str = "BIO"
    target: str = "BIO"
    label_map: Mapping[str, str] | None = None
    strict: bool = False
    entity_types: Collection[str] | None = None

    def __post_init__(self):
        scheme_name(self.scheme)
        if scheme_name(self.target) not in TARGET_SCHEMES:
            raise ValueError(f"target scheme {self.target!r} is not one a tagger decodes; expected BIO or BIOES")

    def __call__(self, raw_tags: Sequence[str], path: str | os.PathLike, lines: Sequence[int]) -> list[str]:
        """The tags of one sentence; ``lines[i]`` is the line of tag ``i`` in ``path`` (for errors)."""
        tags = [self.label_map.get(tag, tag) for tag in raw_tags] if self.label_map else list(raw_tags)
        try:
            entities = tags_to_entities(tags, self.scheme, self.strict)
        except TagSchemeError as error:
            raise DataError(path, lines[error.index], str(error)) from None
        for kind, start, _ in entities:
            if self.entity_types is not None and kind not in self.entity_types:
                raise DataError(path, lines[start], f"unknown entity type {kind!r} in tag {tags[start]!r} (after "
                                f"label mapping); expected one of {', '.join(self.entity_types)}")
        return entities_to_tags(entities, len(tags), self.target)
