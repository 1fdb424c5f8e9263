"""The timeline pictures' sample cases (empty, typical, crowded), rendered with the real texts.

``python -m tests.timeline_samples DIR`` writes them as PNGs to look at.
"""

from __future__ import annotations

import itertools
import sys
from datetime import date
from pathlib import Path

from flows.base.content import texts
from flows.base.text import to_plain
from flows.domain import timeline_image
from flows.storage.experiences import Experience, month_index

_ids = itertools.count(1)
TODAY = month_index(date(2026, 11, 25))
APPLICATION = date(2027, 9, 1)


def exp(start: str, end: str, level: str = "hands_on", status: str = "done", institution: str = "St. Mary",
        kind: str = "externship", specialty: str = "Internal Medicine") -> Experience:
    return Experience(next(_ids), "u", kind, level, specialty, institution, 1, "both", start, end,
                      status, "none", None, "", "")


def label(key: str, **values: object) -> str:
    """The words of the picture, as the /timeline command gives them."""
    name = key if key.startswith("tracker.") else f"tracker.timeline.{key}"
    return to_plain(texts().fmt(name, **values))


MONTHS = texts()["tracker.months"]

TYPICAL = [
    exp("2025-06", "2025-06", "non", kind="observership", institution="Mount Sinai, New York"),
    exp("2025-09", "2025-10", "semi", kind="research", specialty="Cardiology",
        institution="Cleveland Clinic"),
    exp("2026-10", "2026-11", status="ongoing", institution="St. Mary's Hospital, Detroit"),
    exp("2027-02", "2027-03", status="planned", kind="elective", specialty="Family Medicine",
        institution="University of Florida Health"),
]

CROWDED = [
    exp("2017-01", "2017-01", "non", kind="volunteering", specialty="Pediatrics", institution="Children's Mercy"),
    exp("2024-01", "2024-02", "semi", kind="scribe", institution="Baptist Health South Florida Emergency Department"),
    exp("2025-03", "2025-03", "non", kind="observership", specialty="Neurology",
        institution="Johns Hopkins Hospital"),
    exp("2025-06", "2025-07", "semi", kind="telemedicine", institution="Hôpital – Saint 😀 <Louis> " + "x" * 300),
    exp("2026-01", "2026-02", kind="subi", specialty="Obstetrics and Gynecology and Women's Health Services",
        institution="Brigham and Women's Hospital, Boston, Massachusetts"),
    exp("2026-06", "2026-06", institution="A" * 80),
    exp("2026-09", "2026-10", status="ongoing", kind="externship", specialty="Psychiatry",
        institution="Kings County Hospital Center"),
    exp("2026-12", "2027-01", status="planned", specialty="Internal Medicine", institution="Henry Ford Health"),
    exp("2027-04", "2027-04", status="planned", kind="elective", specialty="Family Medicine",
        institution="Mayo Clinic"),
]

CASES: dict[str, tuple[list[Experience], date | None]] = {
    "empty": ([], APPLICATION),
    "empty_no_application": ([], None),
    "typical": (TYPICAL, APPLICATION),
    "typical_no_application": (TYPICAL, None),
    "crowded": (CROWDED, APPLICATION),
}


def render(case: str) -> timeline_image.Picture:
    experiences, application = CASES[case]
    return timeline_image.render(
        experiences, month_index(application) if application else None, TODAY,
        timeline_image.windows(application, label), label, MONTHS)


def main(directory: str) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        picture = render(case)
        picture.image.save(out / f"timeline-{case}.png")
        smallest = min(box.size for box in picture.texts)
        print(f"{case}: {picture.image.size[0]}x{picture.image.size[1]}, smallest text {smallest} px")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/timeline")
