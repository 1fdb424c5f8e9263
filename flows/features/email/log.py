"""The outreach log (/outreach): the list with its response rate, one contact's card, its
status, follow-up draft and deletion. Plain screens: each takes the turn and returns replies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from flows.base.errors import StaleButton
from flows.base.types import Button, Reply, column, keyboard
from flows.domain.outreach import followup_days, followup_due_on, is_followup_due, settings
from flows.engine.engine import Turn
from flows.features.common import hub_button, local_today, pre, short
from flows.features.email.outreach import ROLES, STATUSES, count, update_entry
from flows.storage.outreach import delete_entry, get_applicant, get_entry, list_entries

ADD_FLOW = "outreach_add"  # the dialog adding a contact (a deleted contact ends it)


def log_page(turn: Turn, page: int) -> list[Reply]:
    rows = list_entries(turn.store, turn.user_id)
    actions = [Button(turn.t("outreach.button_add"), "or:add"),
               Button(turn.t("outreach.button_email"), "go:email")]
    if not rows:
        return [Reply(turn.t("outreach.log_empty"), keyboard(actions, [hub_button(turn)]))]
    conf = settings()
    today = local_today(turn)
    counts = count(r["status"] for r in rows)
    due = sum(is_followup_due(r, today, conf.followup_days) for r in rows)
    lines = [
        turn.t("outreach.log_title"),
        turn.t("outreach.log_counts", total=counts.total, replied=counts.replied,
               declined=counts.declined, accepted=counts.accepted),
        turn.t("outreach.log_rate", rate=counts.rate, answered=counts.answered, total=counts.total),
        turn.t("outreach.log_expectation", rate=conf.expected_response_rate, volume=conf.typical_volume),
    ]
    if due:
        lines.append(turn.t("outreach.log_due", count=due, days=conf.followup_days))
    pages = math.ceil(len(rows) / conf.page_size)
    page = min(max(page, 0), pages - 1)
    if pages > 1:
        lines.append(turn.t("outreach.log_page", page=page + 1, pages=pages))
    shown = rows[page * conf.page_size : (page + 1) * conf.page_size]
    entries = [Button(label(turn, r, today), f"or:v:{r['id']}") for r in shown]
    paging = []
    if page > 0:
        paging.append(Button(turn.t("outreach.button_newer"), f"or:l:{page - 1}"))
    if page < pages - 1:
        paging.append(Button(turn.t("outreach.button_older"), f"or:l:{page + 1}"))
    buttons = (*column(entries, 1), *keyboard(paging, actions, [hub_button(turn)]))
    return [Reply("\n".join(lines), buttons)]


def label(turn: Turn, row: Mapping[str, Any], today: date) -> str:
    mark = "⏰" if is_followup_due(row, today, followup_days()) else turn.t(f"outreach.status_{row['status']}")[:1]
    where = f" · {row['institution']}" if row["institution"] else ""
    return short(f"{mark} {row['contact']}{where}")


def entry_view(turn: Turn, entry_id: int, note: str = "") -> list[Reply]:
    entry = get_entry(turn.store, turn.user_id, entry_id)
    unknown = turn.t("outreach.unknown")
    lines = [note] if note else []
    lines.append(
        turn.t(
            "outreach.entry",
            contact=entry["contact"],
            role=turn.t(f"outreach.role_{entry['role']}") if entry["role"] in ROLES.values() else unknown,
            institution=entry["institution"] or unknown,
            sent_on=entry["sent_on"] or unknown,
            status=turn.t(f"outreach.status_{entry['status']}"),
        )
    )
    today = local_today(turn)
    due_on = followup_due_on(entry, followup_days())
    if entry["followed_up_on"]:
        lines.append(turn.t("outreach.followup_done", date=entry["followed_up_on"]))
    elif due_on and due_on <= today:
        waited = (today - date.fromisoformat(entry["sent_on"])).days
        lines.append(turn.t("outreach.followup_due", days=waited))
    elif due_on:
        lines.append(turn.t("outreach.followup_later", date=due_on.isoformat()))
    statuses = [
        Button(turn.t("outreach.button_status", status=turn.t(f"outreach.status_{status}")),
               f"or:st:{entry_id}:{code}")
        for code, status in STATUSES.items()
        if status != entry["status"]
    ]
    followup = []
    if entry["status"] == "sent":
        followup.append(Button(turn.t("outreach.button_followup_draft"), f"or:fu:{entry_id}"))
        if not entry["followed_up_on"]:
            followup.append(Button(turn.t("outreach.button_followup_sent"), f"or:fs:{entry_id}"))
    buttons = (
        *column(statuses, 2),
        *keyboard(
            followup,
            [Button(turn.t("outreach.button_delete"), f"or:x:{entry_id}"),
             Button(turn.t("outreach.button_log"), "or:l:0")],
        ),
    )
    return [Reply("\n".join(lines), buttons)]


def set_status(turn: Turn, entry_id: int, code: str) -> list[Reply]:
    if code not in STATUSES:
        raise StaleButton()
    update_entry(turn, entry_id, status=STATUSES[code])
    entry = get_entry(turn.store, turn.user_id, entry_id)
    note = turn.t("outreach.status_changed", contact=entry["contact"],
                  status=turn.t(f"outreach.status_{entry['status']}"))
    return entry_view(turn, entry_id, note)


def followup_draft(turn: Turn, entry_id: int) -> list[Reply]:
    entry = get_entry(turn.store, turn.user_id, entry_id)
    applicant = get_applicant(turn.store, turn.user_id)
    sent_on = entry["sent_on"] or turn.t("outreach.unknown_year")
    draft = "\n\n".join(
        [
            turn.t("outreach.followup_subject", date=sent_on),
            turn.t("outreach.greeting"),
            turn.t("outreach.followup_body", date=sent_on),
            turn.t("outreach.followup_signature", name=applicant.get("name") or turn.t("outreach.your_name")),
        ]
    )
    buttons = keyboard(
        [Button(turn.t("outreach.button_followup_sent"), f"or:fs:{entry_id}")]
        if not entry["followed_up_on"] else [],
        [Button(turn.t("outreach.button_log"), "or:l:0")],
    )
    after = (
        turn.t("outreach.followup_done", date=entry["followed_up_on"])
        if entry["followed_up_on"]
        else turn.t("outreach.followup_after")
    )
    return [Reply(turn.t("outreach.draft_intro")), pre(draft), Reply(after, buttons)]


def followup_sent(turn: Turn, entry_id: int) -> list[Reply]:
    today = local_today(turn).isoformat()
    update_entry(turn, entry_id, followed_up_on=today)
    return entry_view(turn, entry_id, turn.t("outreach.followup_marked", date=today))


def confirm_delete(turn: Turn, entry_id: int) -> list[Reply]:
    entry = get_entry(turn.store, turn.user_id, entry_id)
    buttons = keyboard(
        [Button(turn.t("outreach.button_confirm_delete"), f"or:X:{entry_id}"),
         Button(turn.t("outreach.button_log"), f"or:v:{entry_id}")]
    )
    return [Reply(turn.t("outreach.confirm_delete", contact=entry["contact"]), buttons)]


def delete(turn: Turn, entry_id: int) -> list[Reply]:
    delete_entry(turn.store, turn.user_id, entry_id)
    turn.changed.add("outreach")
    if turn.session.flow == ADD_FLOW and turn.session.data.get("id") == entry_id:
        turn.session.leave()
    return [Reply(turn.t("outreach.deleted")), *log_page(turn, 0)]
