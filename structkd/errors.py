"""The errors a user can cause, as opposed to bugs.

A :class:`UserError` says what is wrong with an input, a folder or an option, naming the file (and line) and
what to do; the command line prints its message on one line and exits with status 1, where any other
exception, a bug, keeps its traceback.  Every such error of structkd derives from it (beside the builtin class
it also is, e.g. ``ValueError``, for callers that catch those).
"""
from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave (file, folder, option), reported without a traceback."""
