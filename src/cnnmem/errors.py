"""Error hierarchy of cnnmem.

Every error a user can provoke (a bad file, a bad option, an unsupported construct) is a
:class:`CnnmemError`. The CLI catches it, prints its message on one line and exits with
:attr:`CnnmemError.exit_code`; tracebacks are shown only with ``--debug``. ``assert`` is used only
for internal invariants, never for user input.
"""

from __future__ import annotations


class CnnmemError(Exception):
    """Base class of every error cnnmem raises on purpose."""

    exit_code: int = 2


class ModelImportError(CnnmemError):
    """A model file cannot be read: missing, not a model, corrupt, cyclic, bad dims."""


class UnsupportedOperatorError(ModelImportError):
    """An operator cannot be imported at all (not even generically)."""


class ShapeError(ModelImportError):
    """A tensor's shape is unknown or inconsistent after shape inference."""


class InvariantError(CnnmemError):
    """A graph or plan breaks an invariant (raised by verifiers)."""


class PreconditionError(InvariantError):
    """A pass was given a graph it cannot work on."""


class PostconditionError(InvariantError):
    """A pass produced a graph that breaks its own contract."""


class PassError(CnnmemError):
    """A pass failed; the message names the pass and the passes run before it."""


class PlanningError(CnnmemError):
    """A memory plan is invalid (overlap) or cannot be made (does not fit)."""


class ConfigError(CnnmemError):
    """A bad command-line option or configuration value."""
