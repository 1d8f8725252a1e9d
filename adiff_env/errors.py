"""Typed errors shared across the package.

Unknown names (env ids, agent kinds, presets, task suites) raise :class:`UnknownNameError`,
which lists the valid options and suggests the nearest one, as Gymnasium's registry does.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnknownNameError(ValueError):
    """A name that is not one of the known options.

    The message names the bad value, the nearest known option (if any is close) and the
    full list, so the user can fix the call without reading the source.
    """

    def __init__(self, what: str, name: str, options: Iterable[str], plural: str | None = None) -> None:
        self.what = what
        self.name = name
        self.options = sorted(set(options))
        close = difflib.get_close_matches(name, self.options, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(self.options) if self.options else "(none registered)"
        super().__init__(f"Unknown {what} {name!r}.{hint} Known {plural or what + 's'}: {listing}.")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not what the caller asked for."""
