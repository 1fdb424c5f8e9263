"""Goal clarification (/plan, /profile): the questions as declared steps (:mod:`.questions`),
the feature running them (:mod:`.feature`)."""

from __future__ import annotations

from flows.domain.goals import parse_timezone
from flows.features.plan.feature import EDIT_FLOW, FLOW, Onboarding
from flows.features.plan.questions import EDITABLE, QUESTIONS, STEP, TOTAL_STEPS

__all__ = ["EDITABLE", "EDIT_FLOW", "FLOW", "QUESTIONS", "STEP", "TOTAL_STEPS", "Onboarding", "parse_timezone"]
