"""The features the assistant is made of, in menu and help order. Add a new one here."""

from __future__ import annotations

from flows.admin import Admin
from flows.core import Core
from flows.engine import Feature
from flows.eras import Eras
from flows.interview import Interview
from flows.letters import Letters
from flows.nudges import Nudges
from flows.onboarding import Onboarding
from flows.outreach import Outreach
from flows.privacy import Privacy
from flows.questions import Questions
from flows.reflections import Reflections
from flows.tracker import Tracker
from flows.vetting import Vetting


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
        Questions(),
    ]
