"""Errors a user can cause, printed as one line by the command line (exit code 2)."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError


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


def from_validation_error(
    exc: ValidationError, source: str, model: type[BaseModel], prefix: str = ""
) -> UserError:
    """Turn a pydantic validation error into one :class:`UserError` naming each bad key.

    ``source`` comes first (a file name, a generator name), then ``prefix`` + the key
    (``prefix`` locates ``model`` inside a larger config, e.g. ``world.params.``). An unknown
    field gets a "did you mean" hint from the fields of the section of ``model`` it is in.
    """
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        key = (prefix + ".".join(loc)).rstrip(".")
        where = f"{source}: {key}" if key else source
        if error["type"] == "extra_forbidden":
            section: Any = model
            for part in loc[:-1]:
                fields = getattr(section, "model_fields", {})
                section = fields[part].annotation if part in fields else None
            known = list(getattr(section, "model_fields", {}))
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"{where}: unknown field{hint}")
        else:
            lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return UserError("; ".join(lines))
