"""Named domain errors. Flows and storage raise them; the engine's edge turns
them into friendly text (the texts live in ``content/texts/errors.yaml``)."""

from __future__ import annotations


class CoachError(Exception):
    """Base of every error the engine knows how to explain to a user."""

    text_key = "errors.generic"


class NotFound(CoachError):
    """A record the user referred to (by a button) is gone or is not theirs."""

    text_key = "errors.not_found"


class StaleButton(CoachError):
    """A button from an old message, or button data that was never ours."""

    text_key = "errors.stale_button"


class InvalidAnswer(CoachError):
    """An answer a flow cannot accept; ``text`` explains what was wrong."""

    text_key = "errors.invalid"

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class StorageUnavailable(Exception):
    """The database cannot be written right now (a read-only or full disk). Nothing of the
    input was stored; the user is asked to try again later, and it works once the disk does."""
