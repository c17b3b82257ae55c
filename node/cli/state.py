"""Finding the swarm that ``swarmrank up`` started on this machine: ``up.json`` in the state
directory (:func:`read_up_state`), and :class:`SwarmNotFound` when there is none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node.daemon.local import DEFAULT_STATE_DIR
from node.errors import NodeError

__all__ = ["DEFAULT_STATE_DIR", "SwarmNotFound", "read_up_state", "state_file"]


class SwarmNotFound(NodeError):
    """No running swarm was found and no address was given."""


def state_file(state_dir: str | Path) -> Path:
    return Path(state_dir).expanduser() / "up.json"


def read_up_state(state_dir: str | Path) -> dict[str, Any]:
    """The state ``up`` wrote, or :class:`SwarmNotFound` with what to do."""
    path = state_file(state_dir)
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise SwarmNotFound(
            f"no local swarm found ({path} is missing): start one with 'swarmrank up', "
            "or pass --address HOST:PORT"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise SwarmNotFound(f"{path}: unreadable swarm state ({exc})") from exc
