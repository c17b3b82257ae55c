"""Errors raised by the simulator.

One tree, rooted at :class:`SimError`::

    SimError (Exception)
    ├── ScenarioError (ValueError)   a scenario file or override cannot be used; ``.key`` names
    │   │                            the offending key as a dotted path ("nodes[1].count")
    │   ├── UnknownKey               a key the schema does not know (typo, wrong section)
    │   ├── MissingKey               a required key is absent
    │   └── BadValue                 a key holds a value of the wrong type or out of range
    └── SweepError (ValueError)      a ``--param PATH=V1,V2`` override is malformed

The CLI prints ``str(error)`` as one line and exits with status 2.
"""

from __future__ import annotations

__all__ = ["BadValue", "MissingKey", "ScenarioError", "SimError", "SweepError", "UnknownKey"]


class SimError(Exception):
    """Base class of every simulator error."""


class ScenarioError(SimError, ValueError):
    """A scenario cannot be used as given; :attr:`key` is the dotted path of the culprit."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class UnknownKey(ScenarioError):
    """A key the scenario schema does not know."""


class MissingKey(ScenarioError):
    """A required key is absent."""


class BadValue(ScenarioError):
    """A key's value has the wrong type or is out of range."""


class SweepError(SimError, ValueError):
    """A sweep parameter (``PATH=V1,V2,...``) is malformed."""
