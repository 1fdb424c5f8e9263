"""Records put straight into the store, for tests that start from an existing state."""

from __future__ import annotations

from flows.storage.store import Store

EXPERIENCE: dict[str, object] = {
    "type": "observership", "level": "non", "specialty": "Internal Medicine",
    "institution": "XYZ University Hospital", "setting": "inpatient", "start": "2026-03", "end": "2026-04",
    "status": "done", "letter": "none", "created_at": "x", "updated_at": "x",
}


def insert_experience(store: Store, user: str, **fields: object) -> int:
    """A tracked experience for ``user`` (created if new); ``fields`` override the defaults."""
    store.conn.execute(
        "INSERT OR IGNORE INTO users (user_id, first_seen, last_seen) VALUES (?, 'x', 'x')", (user,)
    )
    row = {**EXPERIENCE, "user_id": user, **fields}
    return int(store.db.table("experiences").insert(row).last_pk or 0)
