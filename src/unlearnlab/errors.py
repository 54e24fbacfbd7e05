"""Errors a user can cause, printed as one line by the command line (exit code 2)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad config, malformed file, unknown name).

    The message names the problem and the fix; the command line prints it without a
    traceback and exits with code 2.
    """


class SourceError(UserError):
    """A user error at a position in a file, rendered as ``file:line:column: message``."""

    def __init__(self, path: str, line: int, column: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.detail = message
        where = f"{path}:{line}" if column is None else f"{path}:{line}:{column}"
        super().__init__(f"{where}: {message}")
