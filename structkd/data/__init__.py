"""Reading and writing NER data: column files (UNER, CoNLL-2003), CoNLL-U and raw text.

Every reader returns :class:`Sentence` records and raises :class:`DataError` (``path:line: ...``) on
malformed input; the column writer gives back what it read, byte for byte, but for the predicted tags.
"""
from .columns import read_columns, write_columns
from .conllu_tags import read_conllu_tags
from .errors import DataError
from .presets import UNER_LABEL_MAP, UNER_TYPES, read_conll2003, read_uner, write_conll2003, write_uner
from .sentence import Sentence
from .tagging import TagReader
from .text import read_text, write_text

__all__ = [
    "DataError", "Sentence", "TagReader", "read_columns", "write_columns", "read_uner", "write_uner",
    "read_conll2003", "write_conll2003", "UNER_LABEL_MAP", "UNER_TYPES", "read_conllu_tags",
    "read_text", "write_text",
]
