"""The one error that every reader raises on malformed input."""
from __future__ import annotations

import os

from ..errors import UserError


class DataError(UserError, ValueError):
    """Malformed input: the message reads ``path:line: what is wrong; expected what``.

    ``path`` and ``line`` (1-based) are kept as attributes for callers that report errors themselves.
    """

    def __init__(self, path: str | os.PathLike, line: int, message: str):
        super().__init__(f"{os.fspath(path)}:{line}: {message}")
        self.path = os.fspath(path)
        self.line = line
