"""The features the assistant is made of, in menu and help order. Add a new one here."""

from __future__ import annotations

from flows.engine.engine import Feature
from flows.features.admin import Admin
from flows.features.ask import Questions
from flows.features.calendar import CalendarFeature
from flows.features.email import Outreach
from flows.features.eras import Eras
from flows.features.interview import Interview
from flows.features.letters import Letters
from flows.features.log import Tracker
from flows.features.nudges import Nudges
from flows.features.plan import Onboarding
from flows.features.privacy import Privacy
from flows.features.reflect import Reflections
from flows.features.settings import Settings
from flows.features.start import Core
from flows.features.vet import Vetting


def all_features() -> list[Feature]:
    return [
        Core(),
        Onboarding(),
        Privacy(),
        Admin(),
        Tracker(),
        Vetting(),
        Outreach(),
        Letters(),
        Reflections(),
        Eras(),
        Interview(),
        Nudges(),
        Settings(),
        CalendarFeature(),
        Questions(),
    ]
