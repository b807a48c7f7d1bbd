"""Reading and writing NER data (column files: UNER, CoNLL-2003; CoNLL-U; raw text) and dependency trees
(CoNLL-U).

The NER readers return :class:`Sentence` records, the tree reader :class:`TreeSentence` records; every reader
raises :class:`DataError` (``path:line: ...``) on malformed input, and the column and tree writers give back
what was read, byte for byte, but for the predicted tags, heads and relations.
"""
from .columns import read_columns, write_columns
from .conllu_tags import read_conllu_tags, write_conllu_tags
from .errors import DataError
from .presets import UNER_LABEL_MAP, UNER_TYPES, read_conll2003, read_uner, write_conll2003, write_uner
from .sentence import Sentence
from .tagging import TagReader
from .text import read_text, read_text_sources, text_files, write_text
from .trees import TreeSentence, read_conllu_trees, write_conllu_trees

__all__ = [
    "DataError", "Sentence", "TagReader", "read_columns", "write_columns", "read_uner", "write_uner",
    "read_conll2003", "write_conll2003", "UNER_LABEL_MAP", "UNER_TYPES", "read_conllu_tags", "write_conllu_tags",
    "read_text", "read_text_sources", "text_files", "write_text", "TreeSentence", "read_conllu_trees", "write_conllu_trees",
]
