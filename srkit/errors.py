"""The one exception type users see: its message is printed as a single line by the CLI."""

from __future__ import annotations


class SrkitError(Exception):
    """An error caused by the user's input or environment, with a message meant for them.

    The CLI prints ``str(error)`` on one line and exits with status 1; library callers can
    catch it like any other exception.
    """
