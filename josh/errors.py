"""One error hierarchy for everything a user can get wrong.

The command line turns any `JoshError` into one line on stderr and a non-zero exit (no traceback);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class JoshError(Exception):
    """A problem with the user's input, files or environment, explained in one line."""

    exit_code = 2


class InputError(JoshError):
    """Bad arguments or an unreadable input file."""


class OutputError(JoshError):
    """The output location cannot be written."""


class SetupError(JoshError):
    """A model asset or cache that `josh setup` builds is missing or broken."""
