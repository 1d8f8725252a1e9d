"""Typed errors shared across the package.

The rule (the CLI relies on it): an error the *user* can fix -- a bad name, a bad config
value, a missing dataset, checkpoint, engine or image -- is a :class:`UserError`, and its
message says what was expected, what was given and the fix. ``adiff`` prints a
``UserError`` as one line (exit 2), and so a ``ValueError`` / ``FileNotFoundError`` /
``FileExistsError`` raised by adiff-env's own code (its input checks, style rule 4); any
other exception (``TypeError``,
``KeyError``, a ``ValueError`` from inside numpy or torch...) is a bug and keeps its traceback
(:func:`adiff_env.cli.main.is_user_error`). The concrete classes also derive from the builtin
type callers already catch (``ValueError``, ``FileNotFoundError``), so ``except ValueError``
keeps working.

Unknown names (env ids, agent kinds, presets, task suites, config keys) raise
:class:`UnknownNameError`, which lists the valid options and suggests the nearest one, as
Gymnasium's registry does.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Base of every error that bad input or a missing resource causes (module doc)."""


class UnknownNameError(UserError, ValueError):
    """A name that is not one of the known options.

    The message names the bad value, the nearest known option (if any is close) and the
    full list, so the user can fix the call without reading the source. ``where`` (e.g. a
    file name) prefixes the message.
    """

    def __init__(self, what: str, name: str, options: Iterable[str], plural: str | None = None,
                 where: str | None = None) -> None:
        self.what = what
        self.name = name
        self.options = sorted(set(options))
        close = difflib.get_close_matches(name, self.options, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(self.options) if self.options else "(none registered)"
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}Unknown {what} {name!r}.{hint} Known {plural or what + 's'}: {listing}.")


class ConfigError(UserError, ValueError):
    """A config (TOML preset, JSON config, CLI option, agent option) with a missing key, a
    value of the wrong type or a value out of range; raised by :mod:`adiff_env.config`."""


class MissingResourceError(UserError, FileNotFoundError):
    """Something a command needs is not there (a dataset, a corpus file, the Docker engine or
    the sandbox image); the message ends with the exact command that makes it."""


class AlreadyExistsError(UserError, FileExistsError):
    """The command would replace something that exists (a dataset, a run); the message names
    the flag that allows it (``--overwrite``) or another name to use."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, corrupt, or not what the caller asked for."""
