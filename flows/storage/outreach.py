"""The outreach log (``outreach``: one row per contact emailed) and what the email draft needs
beyond the profile (``applicant``: the user's name and school, asked once).

Application help (``flows/features/email``) writes both; letters read the applicant's name,
the reminders read the emails still waiting for a reply (:func:`sent_entries`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database, Migrations
from sqlite_utils.db import NotFoundError

from flows.base.errors import NotFound
from flows.storage.store import Store, timestamp

migrations = Migrations("usce-coach.outreach")


@migrations()
def m001_outreach(db: Database) -> None:
    db.table("outreach").create(
        {
            "id": int,
            "user_id": str,
            "contact": str,
            "role": str,  # one of ROLES' values (flows/features/email/outreach.py)
            "institution": str,
            "sent_on": str,  # "YYYY-MM-DD"
            "status": str,  # one of STATUSES' values
            "followed_up_on": str,  # "YYYY-MM-DD" once a follow-up went out
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
        defaults={"status": "sent"},
    )
    db.table("outreach").create_index(["user_id"])
    db.table("outreach").create_index(["status", "sent_on"])  # follow-up reminders scan these


@migrations()
def m002_applicant(db: Database) -> None:
    # What the email draft needs beyond the profile, asked once.
    db.table("applicant").create(
        {"user_id": str, "name": str, "school": str, "specialty": str, "updated_at": str},
        pk="user_id",
        foreign_keys=[("user_id", "users", "user_id")],
    )


# -- the applicant ----------------------------------------------------------------------------
_APPLICANT = ("name", "school", "specialty")


def get_applicant(store: Store, user_id: str) -> dict[str, Any]:
    """The user's name, school and specialty as the email draft knows them ({} before any)."""
    try:
        row = store.db.table("applicant").get(user_id)
    except NotFoundError:
        return {}
    return {name: row[name] for name in _APPLICANT}


def save_applicant(store: Store, user_id: str, now: str, **fields: str) -> None:
    row = {"user_id": user_id, "updated_at": now, **fields}
    store.db.table("applicant").upsert(row, pk="user_id", alter=False)


# -- the log ----------------------------------------------------------------------------------
_ENTRY = ", ".join(("id", "contact", "role", "institution", "sent_on", "status", "followed_up_on"))


def get_entry(store: Store, user_id: str, entry_id: int) -> dict[str, Any]:
    """One contact of the user's log; :class:`NotFound` if gone or someone else's."""
    rows = store.db.table("outreach").rows_where("id = ? AND user_id = ?", [entry_id, user_id], select=_ENTRY)
    row = next(rows, None)
    if row is None:
        raise NotFound()
    return row


def list_entries(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The user's log, the latest email first."""
    rows = store.db.table("outreach").rows_where(
        "user_id = ?", [user_id], order_by="sent_on DESC, id DESC", select=_ENTRY
    )
    return list(rows)


def sent_entries(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The user's emails still without an answer (status "sent"): what follow-ups are due for."""
    rows = store.db.table("outreach").rows_where(
        "user_id = ? AND status = 'sent'", [user_id], select="id, contact, status, sent_on, followed_up_on"
    )
    return list(rows)


def create_entry(store: Store, user_id: str, contact: str, sent_on: str, now: datetime) -> int:
    """A new contact in the user's log, emailed on ``sent_on`` ("YYYY-MM-DD"); returns its id."""
    at = timestamp(now)
    row = {"user_id": user_id, "contact": contact, "status": "sent", "sent_on": sent_on}
    return int(store.db.table("outreach").insert({**row, "created_at": at, "updated_at": at}).last_pk or 0)


_FIELDS = frozenset(_ENTRY.split(", ")) - {"id"}


def change_entry(store: Store, user_id: str, entry_id: int, now: datetime, **fields: Any) -> None:
    """Change some fields of one contact of the user's log; :class:`NotFound` if gone or someone else's."""
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(f"not outreach fields: {sorted(unknown)}")
    get_entry(store, user_id, entry_id)
    store.db.table("outreach").update(entry_id, {**fields, "updated_at": timestamp(now)})


def delete_entry(store: Store, user_id: str, entry_id: int) -> None:
    """One contact of the user's log; :class:`NotFound` if gone or someone else's."""
    get_entry(store, user_id, entry_id)
    store.db.table("outreach").delete(entry_id)
