"""Tracked US clinical experiences: the records behind /log, /experiences and /progress.

The tracker feature writes them; readiness, nudges, letters, reflections and ERAS drafts
read them through :func:`list_experiences`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database, Migrations

from flows.store import Store

migrations = Migrations("usce-coach.experiences")

TYPES = (
    "elective",  # elective or clerkship
    "subi",  # sub-internship / acting internship
    "externship",
    "observership",
    "research",  # research with clinical exposure
    "scribe",  # scribe or clinical support
    "telemedicine",
    "volunteering",  # hospital volunteering
)
LEVELS = ("hands_on", "semi", "non")
STATUSES = ("planned", "ongoing", "done")
LETTERS = ("none", "asked", "promised", "received")
SETTINGS = ("inpatient", "outpatient", "both")


@migrations()
def m001_experiences(db: Database) -> None:
    db.table("experiences").create(
        {
            "id": int,
            "user_id": str,
            "type": str,  # one of TYPES
            "level": str,  # one of LEVELS
            "specialty": str,
            "institution": str,
            "teaching": int,  # 1 teaching hospital, 0 not, NULL unknown
            "setting": str,  # one of SETTINGS
            "start": str,  # "YYYY-MM"
            "end": str,  # "YYYY-MM", inclusive
            "status": str,  # one of STATUSES
            "letter": str,  # one of LETTERS
            "letter_writer": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
    )
    db.table("experiences").create_index(["user_id"])


@dataclass(frozen=True, slots=True)
class Experience:
    id: int
    user_id: str
    type: str
    level: str
    specialty: str
    institution: str
    teaching: int | None
    setting: str | None
    start: str
    end: str
    status: str
    letter: str
    letter_writer: str | None
    created_at: str
    updated_at: str


def list_experiences(store: Store, user_id: str) -> list[Experience]:
    rows = store.db.table("experiences").rows_where("user_id = ?", [user_id], order_by="start, id")
    return [Experience(**row) for row in rows]
