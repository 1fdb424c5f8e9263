"""The figures the admins' /stats shows, read across tables (nothing here writes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flows.base.text import clean
from flows.storage import unanswered
from flows.storage.store import Store, timestamp

TOP_UNANSWERED = 5  # questions without an answer shown


def collect_stats(store: Store, now: datetime) -> dict[str, Any]:
    """Users (all, blocking the bot, seen in 7 and 30 days), completed flows (all, and the ten
    most completed: a grouping, so SQL, as in ``unanswered``), reminders sent and failed, and
    the questions most asked without an answer in 30 days."""
    users, completions, nudges = store.db.table("users"), store.db.table("completions"), store.db.table("nudges")
    week, month = timestamp(now - timedelta(days=7)), now - timedelta(days=30)
    flows = store.db.query("SELECT flow, count(*) AS n FROM completions GROUP BY flow ORDER BY 2 DESC, 1 LIMIT 10")
    asked = unanswered.most_asked_since(store, month, TOP_UNANSWERED)
    return {
        "users": {
            "users": users.count_where(),
            "blocked": users.count_where("active = 0"),
            "active_7": users.count_where("last_seen >= ?", [week]),
            "active_30": users.count_where("last_seen >= ?", [timestamp(month)]),
            "completed": completions.count_where(),
        },
        "flows": [(str(r["flow"]), int(r["n"])) for r in flows],
        "nudges": {"sent": nudges.count_where("status = 'sent'"), "failed": nudges.count_where("status = 'failed'")},
        "unanswered": [(clean(t, 120), n) for t, n in asked],
    }
