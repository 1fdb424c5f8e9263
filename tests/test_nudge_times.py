"""The nudges tables keep times in the format of every other table (``2026-11-25T09:00:00+00:00``).
Values written the old way (``…Z``) are rewritten by ``m002_times_in_one_format``; until then
(or when a process started before it still writes them) they are read, compared and claimed
as the instants they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.engine.engine import Engine
from flows.features.nudges import reschedule
from flows.storage.nudges import (
    TIMES,
    before,
    claim_due,
    claim_one_for,
    last_sent,
    migrations,
    new_token,
    parse_stamp,
    recover,
    stamp,
    until,
)
from flows.storage.profiles import save_answer
from flows.storage.store import Store, core_migrations, timestamp
from tests.chat import Clock

USER = "tg:1001"
NOW = datetime(2026, 11, 25, 9, 0, 0, 400_000, tzinfo=UTC)  # a moment within the second 09:00:00


def old(moment: datetime) -> str:
    """How the nudges tables wrote a time before the move."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def nudge(key: str, due_at: str, user: str = USER, **fields: str) -> dict[str, str]:
    return {"user_id": user, "key": key, "kind": "milestone", "channel": "tg", "status": "scheduled",
            "due_on": "2026-11-25", "due_at": due_at, "expires_on": "2026-12-25", "args": "{}", **fields}


def test_stamps_are_the_tables_one_format_and_both_formats_read() -> None:
    assert stamp(NOW) == timestamp(NOW.replace(microsecond=0)) == "2026-11-25T09:00:00+00:00"
    assert parse_stamp("2026-11-25T09:00:00Z") == parse_stamp(stamp(NOW)) == NOW.replace(microsecond=0)
    # The bounds hold both formats of their second: "<=" takes them, "<" leaves them.
    for value in (old(NOW), stamp(NOW)):
        assert value <= until(NOW) and not value < before(NOW)
        assert not value <= until(NOW - timedelta(seconds=1)) and value < before(NOW + timedelta(seconds=1))


def test_the_migration_rewrites_every_old_time_and_nothing_else(store: Store) -> None:
    store.migrate([core_migrations])
    migrations.apply(store.db, stop_before="m002_times_in_one_format")
    store.add_user(USER, NOW)
    columns = TIMES["nudges"]
    times = {name: old(NOW + timedelta(minutes=i)) for i, name in enumerate(columns) if name != "claimed_at"}
    store.db.table("nudges").insert({**nudge("ms:secure", times["due_at"]), **times, "id": 1})
    store.db.table("nudges").insert({**nudge("ms:apply", stamp(NOW)), "id": 2})  # already in the one format
    store.db.table("nudge_settings").insert({"user_id": USER, "amount": "all", "updated_at": old(NOW)})
    migrations.apply(store.db)

    row = store.db.table("nudges").get(1)
    assert {name: row[name] for name in times} == {name: stamp(parse_stamp(v)) for name, v in times.items()}
    assert row["claimed_at"] is None and (row["due_on"], row["expires_on"]) == ("2026-11-25", "2026-12-25")
    assert store.db.table("nudges").get(2)["due_at"] == stamp(NOW)
    assert store.db.table("nudge_settings").get(USER)["updated_at"] == "2026-11-25T09:00:00+00:00"
    for table, names in TIMES.items():  # every time column of the two tables is in TIMES
        assert {c for c in store.db.table(table).columns_dict if c.endswith("_at")} == set(names)


def test_rows_of_either_format_are_claimed_from_their_very_second(engine: Engine) -> None:
    store, later = engine.store, NOW + timedelta(seconds=1)
    store.add_user(USER, NOW, chat_id=1)
    store.add_user("tg:2", NOW, chat_id=2)
    with store.atomic():
        store.db.table("nudges").insert_all([
            nudge("old-now", old(NOW)), nudge("new-now", stamp(NOW)),
            nudge("old-later", old(later)), nudge("new-later", stamp(later)),
            nudge("theirs", old(NOW), user="tg:2", channel="term"),
        ])
    assert sorted(n.key for n in claim_due(store, NOW, 10, new_token())) == ["new-now", "old-now"]
    taken = claim_one_for(store, "tg:2", NOW, new_token())
    assert taken is not None and taken.key == "theirs"
    assert sorted(n.key for n in claim_due(store, later, 10, new_token())) == ["new-later", "old-later"]


def test_claims_left_behind_are_recovered_by_their_instant_in_either_format(engine: Engine) -> None:
    store, lease = engine.store, timedelta(minutes=5)
    store.add_user(USER, NOW, chat_id=1)
    claimed = {"at-cutoff": old(NOW), "just-before": old(NOW - timedelta(seconds=1)), "new-at-cutoff": stamp(NOW)}
    with store.atomic():
        store.db.table("nudges").insert_all(
            nudge(key, old(NOW), status="claimed", claimed_at=at) for key, at in claimed.items()
        )
    assert recover(store, NOW + lease, lease) == (1, 0)  # only the one claimed before the cutoff's second
    statuses = {r["key"]: r["status"] for r in store.db.table("nudges").rows_where(select="key, status")}
    assert statuses == {"at-cutoff": "claimed", "just-before": "scheduled", "new-at-cutoff": "claimed"}


def test_the_latest_sent_is_found_across_formats(engine: Engine) -> None:
    store = engine.store
    store.add_user(USER, NOW, chat_id=1)
    assert last_sent(store, USER) is None
    with store.atomic():
        store.db.table("nudges").insert_all([
            nudge("a", old(NOW), status="sent", sent_at=old(NOW + timedelta(hours=1))),
            nudge("b", old(NOW), status="sent", sent_at=stamp(NOW)),
        ])
    assert last_sent(store, USER) == NOW.replace(microsecond=0) + timedelta(hours=1)


def test_a_waiting_row_in_the_old_format_is_left_alone_when_its_instant_is_right(engine: Engine, clock: Clock) -> None:
    engine.store.add_user(USER, clock())
    with engine.store.atomic():
        save_answer(engine.store, USER, clock().isoformat(), application="2029-09", timezone="Asia/Kolkata")
        reschedule(engine.store, USER, clock())
    table = engine.store.db.table("nudges")
    row = next(table.rows_where("key = 'ms:secure'"))
    table.update(row["id"], {"due_at": old(parse_stamp(row["due_at"])), "updated_at": "untouched"})
    clock.advance(days=1)
    with engine.store.atomic():
        reschedule(engine.store, USER, clock())
    again = table.get(row["id"])
    assert (again["due_at"], again["updated_at"]) == ("2028-03-01T04:00:00Z", "untouched")
