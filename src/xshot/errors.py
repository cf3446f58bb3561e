"""User-facing errors: one line on stderr, exit code 2, no traceback (unless --debug)."""

from __future__ import annotations

from pathlib import Path


class XshotError(Exception):
    """An error caused by the user's input or usage, not by a bug in xshot.

    The message names the file and line when there is one, so that the CLI can print it
    as a single line (``path:line: what is wrong``) and exit with code 2.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"


class Unavailable(XshotError):
    """A model or dataset that cannot be loaded: every cell that needs it would fail the same way.

    ``resource`` names it (``model:NAME`` or ``data:SPEC``), so a study pays for the failure once.
    """

    def __init__(self, message: str, resource: str, path: str | Path | None = None, line: int | None = None):
        super().__init__(message, path, line)
        self.resource = resource


class Diverged(XshotError):
    """Training whose loss, or a model whose scores, stopped being numbers: the run has no result, though a
    candidate that diverges while the shots choose hyper-parameters simply loses (``training.selection``)."""
