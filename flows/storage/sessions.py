"""Moving saved sessions when a flow changes shape (for a feature's migration): the users table
is the store's (``flows/storage/store.py``); this only rewrites where a flow's users stand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

Move = Callable[[str | None, dict[str, Any]], tuple[str, dict[str, Any]] | None]


def move_sessions(db: Database, flow: str, move: Move) -> None:
    """Each session saved in ``flow`` is given to ``move`` as its state and data (``{}`` if none,
    or not a mapping); the state and data it returns replace them, None ends the flow."""
    users = db.table("users")
    for row in list(users.rows_where("flow = ?", [flow], select="user_id, state, data")):
        data = json.loads(row["data"]) if row["data"] else {}
        moved = move(row["state"], data if isinstance(data, dict) else {})
        if moved is None:
            users.update(row["user_id"], {"flow": None, "state": None, "data": None})
        else:
            state, new = moved
            users.update(row["user_id"], {"state": state, "data": json.dumps(new)})
