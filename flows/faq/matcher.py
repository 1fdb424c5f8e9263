"""The FAQ knowledge base: load ``content/faq.yaml`` and match free-text questions to it.

Matching (chosen on evidence in ``bench/faq_bench.py``; see ``docs/FAQ_METHOD.md``):

1. **Analyze** text into canonical tokens: lower-case, expand the domain's
   abbreviations, spellings and synonyms into one concept token each (``LoR``,
   "rec letter" and "reference letter" all become ``lor``; "observer ship" and
   "obsv" become ``observership``), drop stop words, strip plural/-ing/-ed
   endings, and repair typos by snapping an unknown word to the closest index
   word (Damerau-Levenshtein, rapidfuzz; 4-letter words only when one
   candidate is unambiguous). A few cues become tokens too: a lead time such as
   "15 months before applying" lands on its timeline step, an old graduation
   year reads as a YOG gap, a money amount as cost, a past year as "old".
2. **Score** with TF-IDF cosine over unigrams, bigrams and question-type pairs
   (``who~lor``: the kind of question with each topic word) of those tokens.
   Each entry's topic, question and phrasings are separate documents (an entry
   scores its best one, blended with its centroid); its answer is a further
   document. Words the index has never seen still count in the query's length,
   so a long message whose few known words are incidental scores low. The
   TF-IDF score is fused with BM25 over the same tokens (SQLite FTS5's formula,
   precomputed per term): ``(1 - w) * tfidf + w * top * bm25 / max(bm25)``, which
   reorders neighbours without moving the threshold's scale.
3. **Blend** with a classifier (``flows/faq/model.py``): a logistic regression trained
   on the same phrasings (``make faq-model``) gives each entry, and "out of scope", a
   probability from word n-grams of the tokens and character n-grams of the text. An
   entry's score is ``MODEL_WEIGHT * p + (1 - MODEL_WEIGHT) * matcher score``, the
   out-of-scope score likewise. The matcher knows the domain's words; the classifier
   learns which words and word pieces tell neighbouring entries apart, and reads
   misspellings the typo repair misses.
4. **Decide**: the best entry's score is the confidence. Below the threshold, or
   when the best out-of-scope topic (exam scores, residency visas, named fees,
   clinical advice, visa procedures...) comes within the margin of it, the match is
   declined: a near tie between "answer" and "not ours" is a decline. With the
   classifier the blended scores are compared (``MODEL_THRESHOLD``, ``MODEL_MARGIN``);
   without it — the model file missing, or trained on another ``faq.yaml`` — the
   matcher's own (``THRESHOLD``, ``OOS_MARGIN``), after one warning in the log.

Python with numpy for the score sums and rapidfuzz for typos; index build in milliseconds.
scikit-learn is not needed at run time: the classifier's arrays are read from
``content/faq_model.npz``.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.base.text import MAX_INPUT
from flows.faq.model import FaqModel, ModelError, file_sha256

log = logging.getLogger(__name__)

MAX_TOPIC = 28
MAX_ANSWER_CHARS = 480
MAX_ANSWER_LINES = 5
MAX_MORE_CHARS = 900
MIN_PHRASINGS = 4
MIN_RELATED, MAX_RELATED = 2, 3
_ID_RE = re.compile(r"[a-z][a-z0-9_]*")

# Tuned on the tuning splits (tune + dev) of bench/faq_eval.yaml only: python -m bench.faq_bench --sweep.
THRESHOLD = 0.21
ANSWER_WEIGHT = 1.0
ANSWER_IDF = True  # answers count towards document frequency
INDEX_TOPICS = True  # button labels are matched too
CENTROID_WEIGHT = 0.6  # blend of best-phrasing score with the entry centroid score
BIGRAM_WEIGHT = 0.5
PAIR_WEIGHT = 0.25  # weight of (question type, topic) pairs such as "who~lor"
UNKNOWN_WEIGHT = 0.35
BM25_WEIGHT = 0.2  # share of the BM25 score in the fused score (0: TF-IDF only)
BM25_ROWS = 60  # best BM25 rows read per query
OOS_MARGIN = 0.05  # answer only when the best entry beats the best out-of-scope group by this
LONG_MESSAGE_TOKENS = 18  # from this many tokens on, sentences are scored on their own too
SENTENCE_WEIGHT = 1.0
CONTEXT_WEIGHT = 0.9  # a question sentence scored with the sentence before it
MAX_TYPO_FIXES = 48  # unknown words looked up per message (bounds time on garbage)
OLD_GRADUATION_YEARS = 6  # a graduation year this many years back reads as a YOG gap
OLD_EXPERIENCE_YEARS = 4  # any other year this far back reads as "old" (guide: within 1-3 years)

# The classifier blend (rounds 7 to 9): chosen on the eight tuning splits pooled, after the same
# choice made leave-one-split-out beat the matcher on every split it had not seen, with the
# classifier's probabilities out of fold (python -m bench.faq_train --select; docs/FAQ_METHOD.md).
# The model itself: make faq-model.
MODEL_PATH = CONTENT_DIR / "faq_model.npz"
MODEL_WEIGHT = 0.35  # the classifier's share of an entry's (and out of scope's) score
# Answer only from this blended score on: 0.23 is just under the lowest score of a right answer
# on the tuning splits (out of fold, 0.2331), so no tuning question pays for it, and a lone filler
# word ("what") is declined rather than given the entry the classifier happens to rank first.
MODEL_THRESHOLD = 0.23
MODEL_MARGIN = 0.0  # decline when blended out of scope comes within this of the best entry's score


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    topic: str
    question: str
    answer: str
    more: str | None
    phrasings: tuple[str, ...]
    related: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """A kind of question the guide does not cover; matching it means: decline."""

    id: str
    phrasings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Match:
    entry: FaqEntry | None  # None when declined
    confidence: float  # 0..1
    candidates: tuple[tuple[FaqEntry, float], ...]  # best 3, for the decline's buttons

    @property
    def matched(self) -> bool:
        return self.entry is not None


# --------------------------------------------------------------------------- loading


def load_faq(path: Path = CONTENT_DIR / "faq.yaml") -> tuple[FaqEntry, ...]:
    """Read and validate the FAQ; any mistake raises ContentError naming file:line."""
    return _load(path)[0]


def load_out_of_scope(path: Path = CONTENT_DIR / "faq.yaml") -> tuple[OutOfScope, ...]:
    """The out-of-scope question groups from the same file (may be empty)."""
    return _load(path)[1]


def load_examples(
    path: Path = CONTENT_DIR / "faq_examples.yaml", faq_path: Path = CONTENT_DIR / "faq.yaml"
) -> dict[str, tuple[str, ...]]:
    """The classifier's extra training messages (content/faq_examples.yaml), by entry or
    out-of-scope group id; every id must be one of faq.yaml's. Only training reads them:
    the bot answers from the model trained on them."""
    entries, oos = _load(faq_path)
    known = {e.id for e in entries} | {o.id for o in oos}
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected 'entries' and 'out_of_scope' mappings")
    examples: dict[str, tuple[str, ...]] = {}
    for part in ("entries", "out_of_scope"):
        section = data.get(part) or {}
        if not isinstance(section, dict):
            raise ContentError(path, line_of(data), f"'{part}' must map ids to lists of messages")
        for ident, messages in section.items():
            if ident not in known:
                raise ContentError(path, line_of(section), f"'{ident}' is not an id in {faq_path.name}")
            if not isinstance(messages, list) or not all(isinstance(m, str) and m.strip() for m in messages):
                raise ContentError(path, line_of(section), f"'{ident}': expected a list of non-empty messages")
            examples[ident] = tuple(m.strip() for m in messages)
    return examples


def _load(path: Path) -> tuple[tuple[FaqEntry, ...], tuple[OutOfScope, ...]]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, line_of(data), "expected a mapping with an 'entries' list")
    raw_entries = require(path, data, "entries", list)
    if not raw_entries:
        raise ContentError(path, line_of(raw_entries), "'entries' is empty")
    entries: list[FaqEntry] = []
    lines: dict[str, int | None] = {}
    seen_phrasings: dict[str, str] = {}
    for node in raw_entries:
        entry = _entry(path, node, raw_entries)
        if entry.id in lines:
            raise ContentError(
                path, line_of(node), f"duplicate id '{entry.id}' (first at line {lines[entry.id]})"
            )
        lines[entry.id] = line_of(node)
        for text in (entry.question, *entry.phrasings):
            key = " ".join(text.lower().split())
            other = seen_phrasings.setdefault(key, entry.id)
            if other != entry.id:
                raise ContentError(
                    path, line_of(node), f"'{entry.id}': phrasing {text!r} also used by '{other}'"
                )
        entries.append(entry)
    for entry in entries:
        for rel in entry.related:
            if rel == entry.id:
                raise ContentError(path, lines[entry.id], f"'{entry.id}' lists itself as related")
            if rel not in lines:
                raise ContentError(
                    path, lines[entry.id], f"'{entry.id}': unknown related id '{rel}'"
                )
    oos: list[OutOfScope] = []
    raw_oos = data.get("out_of_scope") or []
    if not isinstance(raw_oos, list):
        raise ContentError(path, line_of(data), "'out_of_scope' must be a list")
    for node in raw_oos:
        if not isinstance(node, dict):
            raise ContentError(path, line_of(raw_oos), "each out_of_scope item must be a mapping")
        oid = _ident(path, node)
        if oid in lines:
            raise ContentError(path, line_of(node), f"duplicate id '{oid}'")
        lines[oid] = line_of(node)
        oos.append(OutOfScope(oid, _phrasings(path, node, oid)))
    return tuple(entries), tuple(oos)


def _ident(path: Path, node: Mapping[str, Any]) -> str:
    ident: str = require(path, node, "id")
    if not _ID_RE.fullmatch(ident):
        raise ContentError(path, line_of(node), f"id '{ident}' must be snake_case")
    return ident


def _phrasings(path: Path, node: Mapping[str, Any], ident: str) -> tuple[str, ...]:
    raw = require(path, node, "phrasings", list)
    items: list[str] = []
    for p in raw:
        if not isinstance(p, (str, int, float)) or not str(p).strip():
            raise ContentError(path, line_of(raw) or line_of(node), f"'{ident}': empty phrasing")
        items.append(str(p).strip())
    if len(items) < MIN_PHRASINGS:
        raise ContentError(
            path, line_of(node), f"'{ident}': needs at least {MIN_PHRASINGS} phrasings, has {len(items)}"
        )
    if len({" ".join(p.lower().split()) for p in items}) != len(items):
        raise ContentError(path, line_of(node), f"'{ident}': repeated phrasing")
    return tuple(items)


def _entry(path: Path, node: Any, parent: Any) -> FaqEntry:
    if not isinstance(node, dict):
        raise ContentError(path, line_of(parent), "each entry must be a mapping")
    ident = _ident(path, node)
    where = line_of(node)
    topic = require(path, node, "topic").strip()
    if len(topic) > MAX_TOPIC:
        raise ContentError(path, where, f"'{ident}': topic is {len(topic)} chars (max {MAX_TOPIC})")
    question = require(path, node, "question").strip()
    answer = require(path, node, "answer").strip()
    n_lines = len([ln for ln in answer.splitlines() if ln.strip()])
    if len(answer) > MAX_ANSWER_CHARS or n_lines > MAX_ANSWER_LINES:
        raise ContentError(
            path,
            where,
            f"'{ident}': answer too long ({len(answer)} chars, {n_lines} lines; "
            f"max {MAX_ANSWER_CHARS}, {MAX_ANSWER_LINES})",
        )
    more: str | None = None
    if node.get("more") is not None:
        more = require(path, node, "more").strip()
        if len(more) > MAX_MORE_CHARS:
            raise ContentError(
                path, where, f"'{ident}': 'more' is {len(more)} chars (max {MAX_MORE_CHARS})"
            )
    related_raw = require(path, node, "related", list)
    related = tuple(str(r) for r in related_raw)
    if not MIN_RELATED <= len(related) <= MAX_RELATED or len(set(related)) != len(related):
        raise ContentError(
            path, where, f"'{ident}': needs {MIN_RELATED}-{MAX_RELATED} distinct related ids"
        )
    return FaqEntry(
        id=ident,
        topic=topic,
        question=question,
        answer=answer,
        more=more,
        phrasings=_phrasings(path, node, ident),
        related=related,
    )


# --------------------------------------------------------------------------- analysis

# canonical token -> ways users say it (words or phrases; matched whole-word, lower case)
CONCEPTS: Mapping[str, tuple[str, ...]] = {
    "usce": ("usce", "us clinical experience", "u.s. clinical experience", "clinical experience",
             "us clinical exp", "us experience", "american experience", "usa experience",
             "american clinical experience", "clinical exp", "us exposure", "american clinical time",
             "us clinical time", "clinical time in the us", "american hospital exposure", "us hospital exposure",
             "american clinical exposure", "us clinical exposure", "american exposure"),
    "lor": ("lor", "lors", "lo r", "letter of recommendation", "letters of recommendation",
            "letter of rec", "letters of rec", "recommendation letter", "recommendation letters",
            "reference letter", "reference letters", "rec letter", "rec letters", "letter",
            "letters", "recommendation", "recommendations", "reference", "references", "lrs"),
    "deanletter": ("dean's letter", "deans letter", "dean letter", "mspe"),
    "observership": ("observership", "observerships", "observer", "observers", "obs",
                     "observing", "observe", "observed", "observation", "observations", "obsv",
                     "observeship", "observer ship", "observer-ship", "observer ships",
                     "observorship", "observership's", "obsership", "observship", "obsy",
                     # an observer's defining limit: "can't touch patients" means observership
                     "can not touch", "cannot touch", "not allowed to touch", "not allowed touch",
                     "no touching", "not touch", "not touching", "without touching",
                     "never touch", "only watching", "just watching", "only watch", "cant touch",
                     "can not examine", "cannot examine", "cant examine", "not allowed to examine"),
    "externship": ("externship", "externships", "extern", "externs", "ext", "externing"),
    "elective": ("elective", "electives", "clerkship", "clerkships", "clinical rotation for students"),
    "subinternship": ("sub-i", "sub i", "subi", "sub-internship", "sub internship",
                      "sub-internships", "acting internship", "acting internships",
                      "acting intern", "acting interns", "ai (acting intern)", "sub-is", "subis",
                      "sub interns", "sub intern", "sub-intern"),
    "handson": ("hands-on", "hands on", "handson", "hand on", "hands-one", "hand-on",
                "hands-on-experience"),
    "email": ("contact", "contacting", "reach out", "reaching out", "write to", "approach",
              "approaching", "email", "emails", "e-mail", "e-mails", "mail", "mails", "emailing", "emailed",
              "cold email", "cold emails", "cold mail", "cold mails", "cold emailing",
              "cold outreach", "outreach"),
    "pd": ("pd", "pds", "apd", "apds", "program director", "program directors",
           "programme director", "associate pd", "associate program director"),
    "internalmed specialty": ("internal medicine", "int med"),
    "fm specialty": ("family medicine", "fm", "family med"),
    "surgery specialty": ("gen surg", "general surgery", "surgery", "surg", "gs"),
    "peds specialty": ("pediatrics", "paediatrics", "peds", "paeds", "pediatric", "paediatric"),
    "psych specialty": ("psych", "psychiatry", "psychiatric"),
    "specialty": ("specialty", "speciality", "specialities", "specialties", "field",
                  "discipline", "cardiology", "neurology", "cards",
                  "neuro", "obgyn", "ob/gyn", "ob gyn", "gyn", "radiology", "rads", "ortho",
                  "orthopedics", "urology", "ent", "ophthalmology", "ophtho", "derm", "pulm",
                  "rheumatology", "rheum", "infectious disease", "nephro", "endo", "geriatrics",
                  "hospitalist", "hospital medicine", "critical care", "pccm", "em", "er", "ed",
                  "emergency room", "emergency department", "emergency", "icu",
                  "anesthesia", "anesthesiology", "pathology", "dermatology", "emergency medicine",
                  "oncology", "nephrology", "gastroenterology", "pulmonology", "endocrinology",
                  "cardio", "gi", "heme onc", "hem onc", "subspecialty", "subspecialties"),
    "ps": ("ps", "personal statement", "personal statements", "personal statment", "sop",
           "personal-statement", "statement", "statements", "personal stmt",
           "statement of purpose", "personal essay", "personnel statement", "p.s.", "essay", "essays"),
    "yog": ("yog", "year of graduation", "years of graduation", "graduation year",
            "graduating year", "passing year", "old graduate", "old grad", "gap year",
            "gap years", "gap", "gaps", "year gap", "years gap", "yrs gap", "yr gap",
            "y.o.g", "y.o.g.", "old grads", "old graduates"),
    "graduate": ("graduate", "graduated", "graduation", "grad", "graduates", "passed out",
                 "graduating"),
    "vslo": ("vslo", "vsas", "visiting student learning opportunities",
             "visiting student application service"),
    "b1b2": ("b1/b2", "b1b2", "b1 b2", "b1-b2", "b1", "b2", "tourist visa", "visitor visa",
             "visit visa", "tourist", "b-1", "b-2", "b1/b2 visa", "b1b2 visa", "visitor status",
             "visitor", "visitors", "b 1 b 2", "b1 /b2"),
    "visaproc": ("embassy", "consulate", "visa interview", "visa appointment", "ds-160", "ds160",
                 "ds 160", "221g", "221 g", "visa slot", "visa slots", "visa stamping", "stamping",
                 "visa processing", "visa refused", "visa rejected", "visa rejection",
                 "visa refusal", "visa denied", "administrative processing", "i-20", "i20",
                 "green card", "greencard", "citizenship", "immigrate", "immigrant",
                 "asylum", "uscis", "sevis", "i-94", "status change", "change of status",
                 "visa extension", "extend my visa", "overstay", "appointment", "appointments",
                 "visa date", "visa dates", "visa wait time", "wait time", "passport",
                 "passports", "renew my visa", "visa renewal"),
    "interviewer": ("interviewer", "interviewers", "they ask", "they will ask", "will they ask",
                    "do they ask", "they asked", "be asked", "get asked", "are asked",
                    "asked at interview", "asked in interview", "asked in the interview",
                    "programs ask", "pds ask", "pd ask", "interview panel", "panel ask"),
    "exam": ("usmle", "step 3", "step3", "comlex", "attempt", "attempts", "pass rate",
             "pass rates", "passing rate", "passing score", "pass fail", "pass/fail", "retake",
             "retakes", "failed step", "fail step", "exam", "exams"),
    "visa": ("visa", "visas", "immigration"),
    "h1b": ("h1b", "h1-b", "h-1b", "h1 b", "h1"),
    "j1": ("j1", "j-1", "j 1", "ecfmg sponsorship"),
    "cost": ("cost", "costs", "price", "prices", "fee", "fees", "expensive", "pay", "paid",
             "paying", "charge", "charges", "dollars", "dollar", "usd", "pricey"),
    "budget": ("can not pay", "cannot pay", "cant pay", "not able to pay", "unable to pay",
               "broke", "tight budget", "short of money", "less money", "little money",
               "financially weak", "financial constraints", "money problem", "money issue",
               "budget", "funds", "fund", "afford", "affordable", "cheap", "cheaper", "cheapest",
               "money", "low cost", "low-cost", "inexpensive", "limited funds", "poor",
               "financial", "finances", "low budget", "cost effective"),
    "month": ("month", "months", "mo", "mos", "week", "weeks", "wk", "wks", "how long",
              "duration"),
    "year": ("year", "years", "yr", "yrs"),
    "us": ("us", "usa", "u.s.", "u.s.a.", "u.s", "america", "american", "united states"),
    "doctor": ("doctor", "doctors", "doc", "docs", "dr", "physician", "physicians"),
    "attending": ("attending", "attendings", "supervisor", "supervisors", "consultant",
                  "preceptor", "mentor", "mentors"),
    "rotation usce": ("rotation", "rotations", "rotate", "rotating", "rota"),
    "telemedicine": ("telemedicine", "telehealth", "tele", "virtual", "online", "remote",
                     "remotely", "video", "tele-medicine", "tele medicine", "teleconsult"),
    "scribe": ("scribe", "scribes", "scribing", "scribed"),
    "reply": ("reply", "replies", "replied", "respond", "responded", "response", "responses",
              "answer my", "ignore", "ignored", "ignoring"),
    "mandatory": ("mandatory", "compulsory", "obligatory", "necessary", "essential",
                  "must have", "a must", "must", "optional", "have to have", "has to have"),
    "cv": ("cv", "resume", "curriculum vitae", "c.v", "c.v.", "cvs", "resumes", "resumé"),
    "enough": ("enough", "enuf", "enogh", "sufficient", "adequate", "minimum", "min",
               "at least", "atleast", "bare minimum", "minimal"),
    "experienc": ("exp", "experiance", "experince", "expirience", "experienc", "experiences",
                  "experience", "exposure", "exposures"),
    "evaluation": ("evaluation", "evaluations", "graded", "grading", "assessment",
                   "assessments", "evals", "eval"),
    "score": ("score", "scores", "grade", "grades", "cutoff", "cut off", "cut-off", "marks",
              "percentile", "passing grade"),
    "salary": ("salary", "salaries", "earn", "earning", "earnings", "income", "wage", "wages",
               "stipend"),
    "housing": ("rent", "housing", "apartment", "accommodation", "where to live",
                "place to live", "living"),
    "star": ("star", "s.t.a.r", "situation task action result", "situation", "situations",
             "task action result"),
    "img": ("img", "imgs", "international medical graduate", "international medical graduates",
            "foreign medical graduate", "fmg", "fmgs", "international graduate"),
    "student": ("student", "students", "med student", "medical student", "medical students",
                "in med school", "in medical school", "still in school", "enrolled"),
    "university": ("uni", "univ", "varsity", "universities", "university"),
    "paperwork": ("paperwork", "paper work", "documents", "document", "docs", "documentation needed",
                  "insurance", "malpractice", "liability insurance", "immunization", "immunizations",
                  "immunisation", "immunisations", "vaccination", "vaccinations", "vaccine",
                  "vaccines", "titer", "titers", "titre", "titres", "background check",
                  "eligibility", "eligible", "requirement", "requirements", "required",
                  "prerequisite", "prerequisites", "criteria"),
    "school": ("school", "college", "med school", "medical school", "university of my country"),
    "ck": ("step 2 ck", "step2 ck", "step 2", "step2", "step two", "ck", "2ck", "step2ck"),
    "step1": ("step 1", "step1", "step one"),
    "emr": ("emr", "ehr", "emrs", "electronic medical record", "electronic medical records",
            "electronic health record", "epic", "chart", "charts"),
    "hp": ("h&p", "h & p", "h and p", "history and physical", "history & physical"),
    "soap": ("soap", "soap note", "soap notes"),
    "pgy1": ("pgy1", "pgy-1", "pgy 1", "intern year"),
    "count": ("count", "counts", "counted", "considered", "consider", "valid", "accepted",
              "recognized", "recognised", "real", "called"),
    "worth": ("worth", "worthwhile", "useful", "valuable", "value", "benefit", "benefits",
              "useless", "waste", "point of", "pointless", "helpful", "good idea", "bad idea",
              "idea", "wise", "smart move", "makes sense", "make sense", "beneficial",
              "advantage", "advantages", "pros and cons", "any use", "of use"),
    "good": ("good", "strong", "best", "better", "great", "excellent", "high-quality",
             "high quality", "solid", "impressive", "outstanding", "remarkable", "top notch"),
    "legit": ("legit", "legitimate", "scam", "scams", "fraud", "fake", "genuine", "trustworthy"),
    "dress": ("dress", "wear", "clothes", "attire", "outfit", "dressing"),
    "behave": ("first day", "day one", "day 1", "behave", "behavior", "behaviour", "etiquette", "manners", "conduct",
               "professionalism", "professional", "act", "expect", "expected", "expectations"),
    "start": ("start", "begin", "beginning", "started", "starting"),
    "find": ("find", "search", "searching", "google", "googling", "look for", "looking for",
             "locate", "finding", "identify", "track down"),
    "attach": ("attach", "attachment", "attachments", "attached", "attaching"),
    "goal": ("goal", "goals", "decide", "priorities", "priority"),
    "reflection": ("reflection", "reflections", "reflect", "journal", "diary", "write down",
                   "log", "write things down", "note down", "jot down", "notes about the rotation"),
    "timeline": ("timeline", "timelines", "time line", "schedule", "timing", "roadmap",
                 "road map"),
    "apply": ("apply", "applying", "application", "applications", "applicant", "applicants",
              "applied"),
    "match": ("match", "matching", "matched"),
    "program": ("program", "programs", "programme", "programmes"),
    "feedback": ("feedback", "feed back", "performance", "happy with my work", "how am i doing",
                 "how i am doing", "improve", "improvement", "doing ok", "doing okay",
                 "doing well", "doing good", "am i ok", "halfway", "half way", "midway",
                 "mid way", "mid rotation", "mid-rotation", "middle of the rotation",
                 "how i'm performing", "how am i performing", "critique", "comments on my work"),
    "volunteer": ("volunteer", "volunteering", "volunteered", "volunteers"),
    "shadow": ("shadow", "shadowing", "shadowed"),
    "faculty": ("faculty", "professor", "professors", "author", "authors", "researcher",
                "researchers", "staff physician"),
    "publication": ("publication", "publications", "papers", "paper", "pubmed", "articles",
                    "published"),
    "research": ("research", "researching", "clinical trial", "clinical trials", "trial", "trials",
                 "research study", "research studies", "research project", "research projects"),
    "subject": ("subject", "subject line", "email title"),
    "define": ("how does it work", "how it works", "how does this work", "how do they work",
               "what is", "what's", "whats", "wat is", "wht is", "what are", "meaning", "means",
               "mean", "define", "definition", "explain", "stand for", "stands for", "kya hai",
               "kya h", "kya", "matlab", "what does it mean", "wat r", "what r"),
    "who": ("who", "whom", "whome", "to whom"),
    "howmany": ("how many", "how much", "how often", "number of"),
    "18 month": ("1.5 years", "1.5 year", "1.5 yrs", "one and a half years", "a year and a half",
                 "year and a half", "one and half year", "one and half years"),
    "guarantee": ("guarantee", "guarantees", "guaranteed", "guaranteeing", "promise", "promises",
                  "promising", "promised", "assured"),
    "compare": ("vs", "versus", "difference", "differences", "different", "differ", "compare",
                "comparison", "compared", "diff"),
    "ask": ("ask", "asking", "asked", "request", "requesting", "requested"),
    "lor writer": ("recommender", "recommenders", "referee", "referees", "letter writer",
                   "letter writers"),
    "bad": ("bad", "weak", "average", "mediocre", "poor quality", "low quality"),
    "family": ("parents", "family", "wife", "husband", "kids", "children", "spouse", "mother",
               "father", "mom", "dad"),
    "old": ("old", "older", "ago", "expire", "expired", "expires", "outdated", "long time"),
    "when": ("when", "by when", "what time", "right time", "how early", "how soon"),
    "why": ("why",),
    "where": ("where", "which place"),
    "find where": ("where to look", "where to find", "where to search", "where can i find",
                   "where do i find", "where can i get"),
    "without": ("no", "zero", "without", "w/o", "w/out", "w.o.", "none", "lack", "lacking", "didnt", "did not",
                "is not", "isnt", "not listed", "not on", "not part of",
                "does not", "doesnt", "do not have", "dont have", "have not", "havent", "never had", "not any"),
    "quantity": ("quantity", "more months", "many months", "more rotations", "many rotations",
                 "number of rotations", "amount", "lots of"),
    "help": ("help", "helping", "assist", "assisting", "contribute", "useful to"),
    "type": ("type", "types", "kind", "kinds", "sort of", "category", "categories", "example",
             "examples", "option", "options"),
    "important": ("important", "imp", "importance", "matter", "matters", "care", "cares",
                  "weight", "weigh", "look at", "shortlist", "shortlisting", "bother", "big deal",
                  "so much", "priority for programs"),
    "patient": ("patient", "patients", "pts", "pt", "pt's", "pts'", "patient contact",
                "pt contact", "patient-contact", "contact with patients", "contact with pts"),
    "active": ("initiative", "proactive", "engaged", "engage", "engaging", "active", "actively",
               "passive", "stand out", "standout", "get noticed", "be noticed", "noticed",
               "impress", "impressed", "show interest", "involved", "participate",
               "participation", "participating", "useful to the team", "make myself useful"),
    "end": ("end of", "the end", "last week", "last day", "last days", "towards the end",
            "toward the end", "near the end", "after i leave", "before i leave", "before leaving",
            "after leaving", "finishing", "wrap up"),
    "semi": ("semi", "partially", "partly", "not fully", "partial", "in between", "in-between", "middle category",
             "intermediate"),
    "judge": ("look for in", "judge", "evaluate", "assess", "how to know if", "how do i know if",
              "tell if", "how to tell", "how can i tell", "check if", "signs of", "red flags",
              "red flag", "checklist", "recognise", "recognize", "legit or not", "how can i know",
              "how do i know", "how to know", "how to check", "how can i check"),
    "choose": ("choose", "choosing", "pick", "picking", "select", "selecting", "chose"),
    "include": ("include", "includes", "offer", "offers", "involve", "involves", "contain",
                "contains"),
    "give": ("give", "provide", "hand over", "share"),
    "study": ("coaching", "course", "courses", "classes", "tutor", "tutoring", "qbank", "qbanks",
              "uworld", "amboss", "nbme", "question bank", "study",
              "studying", "first aid", "anki"),
    "namedplace": ("mayo", "mayo clinic", "cleveland clinic", "johns hopkins", "hopkins",
                   "mount sinai", "mt sinai", "harvard", "stanford", "yale", "columbia", "nyu",
                   "ucla", "ucsf", "duke", "emory", "baylor", "penn", "upenn", "mass general",
                   "mgh", "brigham", "cornell", "northwestern", "vanderbilt", "michigan",
                   "pittsburgh", "upmc", "cedars sinai", "cedars-sinai", "jackson", "montefiore",
                   "beth israel", "kaiser", "hca"),
    "stats": ("match rate", "match rates", "statistics", "stats", "percentage", "percent",
              "success rate", "chance", "chances", "odds"),
    "newyork": ("new york", "nyc", "ny"),
    # medicine itself (doses, drugs, labs, diseases): clinical advice, which the guide leaves out
    "clinicalq": ("dose", "doses", "dosage", "drug", "drugs", "medication", "medications",
                  "medicine for", "antibiotic", "antibiotics", "insulin", "potassium", "sodium",
                  "glucose", "blood sugar", "sugar level", "hemoglobin", "creatinine", "lab value",
                  "lab values", "ecg", "ekg", "x-ray", "xray", "diagnosis", "diagnose",
                  "differential", "symptom", "symptoms", "fever", "chest pain", "headache",
                  "hypertension", "diabetes", "diabetic", "asthma", "pneumonia", "sepsis", "dka",
                  "heart failure", "kidney failure", "stroke", "prescribe", "prescription",
                  "treat", "treatment", "manage a patient", "management of"),
    "service": ("translate", "translation", "write my", "write it for me", "edit my",
                "proofread", "do it for me"),
}

# Concept tokens that say what kind of question it is but not what it is about: a
# message made only of these (plus unknown words) is declined.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


GENERIC = _words(
    """define who when why where howmany type good bad count worth important compare ask help
    give include choose judge find start us new"""
)

# Concept tokens that say what kind of answer is wanted; paired with the topic words.
INTENTS = _words(
    """define who when why where howmany compare worth count judge choose give enough mandatory
    include interviewer find start old good bad"""
)

STOP_WORDS = _words(
    """a an the and or but if of to in on at for from by with about as into onto than then
    is are was were be been being am do does did doing done have has had having i me my mine
    we our you your yours he she him her it its they them their this that these those there
    here what which who whom whose how why where can could would should will shall may might
    so too very just also any some all no not yes ok okay please pls plz sir madam mam hi
    hello hey dear thanks thank thx regards kindly tell know want wanted need needed get got
    really actually exactly something anything thing things like im i'm iam u ur r e g eg
    etc much many more most other else own same such only even still already now again
    wat wht between respected greetings evening morning afternoon namaste salam assalamualaikum"""
)

_SPACE_RE = re.compile(r"\s+")
_TOKEN_RE = re.compile(r"[a-z0-9$]+")
_UPPER_IM_RE = re.compile(r"(?<![A-Za-z0-9])IM(?![A-Za-z0-9])")
_LOWER_IM_RE = re.compile(
    r"(?<![a-z0-9])(for|in|applying|apply|match|into|to|of|and|or)\s+im(?![a-z0-9'])"
    r"|(?<![a-z0-9'])im(?=\s+(residency|program|programs|match|rotation|rotations|elective|"
    r"observership|externship|usce|applicant|applicants|specialty)\b)"
)
_CONTRACTIONS = (("i'm", "i am"), ("can't", "can not"), ("won't", "will not"), ("n't", " not"),
                 ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'d", " would"))
_ORDINAL_RE = re.compile(r"(?<![a-z0-9])(\d+)(?:st|nd|rd|th)(?![a-z0-9])")
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?\n]*")
_ASKING_RE = re.compile(
    r"(please|pls|plz|kindly)\s+(tell|advise|guide|suggest|explain|help)|i\s+(want|would like|need)\s+to\s+know"
    r"|(can|could|would)\s+you\s+(tell|advise|guide|suggest|explain)"
)
_SPLIT_SHIP_RE = re.compile(r"(?<![a-z])(observer|extern|intern|sub-intern|subintern|clerk)[\s-]+ship")
_WHEN_CONJ_RE = re.compile(r"(?<![a-z0-9])when(?=\s+(i|they|you|we|he|she|it|my|the)\b)")
_GRAD_CUE_RE = re.compile(
    r"graduat|(?<![a-z])(grad|yog|mbbs|passed out|pass out|class of|batch)(?![a-z])"
)
_GRAD_YEAR_RE = re.compile(
    r"(?:graduat\w*|grad|passed out|yog|class of|batch of)\s+(?:in\s+|of\s+|year\s+)?"
    r"(?P<year>(?:19|20)\d\d)|(?P<year2>(?:19|20)\d\d)\s+(?:graduate|grad|passout|pass out)"
)
_THIS_YEAR = datetime.date.today().year
_YEAR_RE = re.compile(r"(?<![\d$])(?:19[5-9]\d|20\d\d)(?![\d%$k])")
_MONEY_RE = re.compile(r"\$\s*\d|\d\s*\$|\d+\s*k\b")
_SCORE_RE = re.compile(r"(?<![\d$])(19\d|2[0-7]\d|280)(?![\d%$k])")
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
                 "fifteen": 15, "eighteen": 18, "half a": 0.5}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
# "15 months before applying", "1 year to ERAS", "applying in 2 years", "2-3 yrs left"
_LEAD_TIME_RE = re.compile(
    r"(?<![a-z0-9.])" + _NUM + r"(?:\s*(?:-|to|or|–)\s*" + _NUM + r")?\s*"
    r"(months?|mos?|mnths?|years?|yrs?|weeks?|wks?)(?![a-z])"
    r"(?=(?:\s+(?:and\s+a\s+half|more|or\s+so|from\s+now))?\s+(?:before|till|until|left|ahead|prior|"
    r"away|to\s+(?:go|eras|the\s+match|match|appl\w*|residency)))"
    r"|\b(?:in|within)\s+(?:about\s+|around\s+|approx\w*\s+|~\s*)?" + _NUM
    + r"(?:\s*(?:-|to|or|–)\s*" + _NUM + r")?\s*(months?|mos?|mnths?|years?|yrs?)(?![a-z])"
)
_APPLY_CUE_RE = re.compile(r"appl|eras|match|residency|cycle")
# "1 good externship or 3 observerships": a count of rotations set against something else
_SEVERAL_RE = re.compile(
    r"(?<![a-z0-9])([2-9]|two|three|four|five|several|multiple|many|lots of|a few)\s+(?:\w+\s+)?"
    r"(observerships|externships|rotations|electives|experiences|obs|exts)\b"
)
_COMPARE_CUE_RE = re.compile(r"(?<![a-z])(or|vs|versus|better|instead)(?![a-z])")


def _lead_time_tokens(text: str) -> list[str]:
    """Bucket tokens for how long before applying someone is: a number like
    "15 months before applying" lands on the 12-18-month step of the timeline."""
    if not _APPLY_CUE_RE.search(text):
        return []
    out: list[str] = []
    for m in _LEAD_TIME_RE.finditer(text):
        g = m.groups()
        a, b, unit = (g[0], g[1], g[2]) if g[2] else (g[3], g[4], g[5])
        if a is None or unit is None:
            continue
        lo = float(_NUMBER_WORDS.get(a, a) if a in _NUMBER_WORDS else a)
        hi = float(_NUMBER_WORDS.get(b, b) if b in _NUMBER_WORDS else b) if b else lo
        scale = 12.0 if unit.startswith("y") else (1 / 4.3 if unit.startswith("w") else 1.0)
        if "and a half" in m.group(0) or "and a half" in text[m.end():m.end() + 14]:
            lo, hi = lo + 0.5, hi + 0.5
        months = (lo + hi) / 2 * scale
        out.append("timeline")
        if months >= 22:
            out.append("lead2to3y")
        if 12 <= months < 22:
            out.append("lead12to18m")
        if 6 <= months <= 12:
            out.append("lead6to12m")
    return out


def _stem(word: str) -> str:
    """A light suffix stripper: plurals, -ing, -ed, and a final -e, so that
    require/requires/required/requiring all become ``requir``."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ied") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-1] if word.endswith("eed") else word[:-2]
    else:
        return word[:-1] if word.endswith("e") and len(word) > 4 else word
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeioulsz":
        word = word[:-1]  # planning -> plan
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


class Analyzer:
    """Text -> canonical tokens. ``concepts``/``typos`` can be switched off for ablations."""

    def __init__(self, *, concepts: bool = True, typos: bool = True) -> None:
        self.concepts = concepts
        self.typos = typos
        self._phrase_map: dict[str, str] = {}
        self._word_map: dict[str, str] = {}
        if concepts:
            for canon, variants in CONCEPTS.items():
                for v in variants:
                    v = " ".join(v.split())
                    if len(_TOKEN_RE.findall(v)) > 1 or not re.fullmatch(r"[a-z0-9]+", v):
                        self._phrase_map[v] = canon
                    else:
                        self._word_map[v] = canon
                        if len(_stem(v)) >= 5 and _stem(v) not in STOP_WORDS:
                            self._word_map.setdefault(_stem(v), canon)
            self._canon = frozenset(tok for key in CONCEPTS for tok in key.split())
        else:
            self._canon = frozenset()
        alts = sorted(self._phrase_map, key=len, reverse=True)
        self._phrase_re = (
            re.compile(
                r"(?<![a-z0-9])(" + "|".join(re.escape(a).replace(r"\ ", r"\s+") for a in alts)
                + r")(?![a-z0-9])"
            )
            if alts
            else None
        )
        self.vocab: tuple[str, ...] = ()
        self._vocab_set: frozenset[str] = frozenset()
        self._fix_cache: dict[str, str | None] = {}

    def set_vocab(self, vocab: Iterable[str]) -> None:
        """Words typos may be snapped to: the index's own tokens and the concept words."""
        known = set(vocab)
        self._vocab_set = frozenset(known)
        spell = {v for v in known if v.isalpha() and len(v) >= 4}
        spell.update(w for w in self._word_map if w.isalpha() and len(w) >= 4)
        spell.update(w for w in STOP_WORDS if w.isalpha() and len(w) >= 4)  # "whre" -> dropped
        self.vocab = tuple(sorted(spell))
        self._fix_cache = {}

    def _prepare(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        if self.concepts:
            text = _UPPER_IM_RE.sub(" internal medicine ", text)
        text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
        text = _ORDINAL_RE.sub(r"\1", text)
        for a, b in _CONTRACTIONS:
            text = text.replace(a, b)
        if self.concepts:
            text = _LOWER_IM_RE.sub(lambda m: m.group(0).replace("im", " internal medicine "), text)
            text = _WHEN_CONJ_RE.sub(" ", text)
            text = _SPLIT_SHIP_RE.sub(r"\1ship", text)
            extra = []
            grad_spans: list[int] = []
            for m in _GRAD_YEAR_RE.finditer(text):
                grad_spans.append(m.start())
                if int(m.group("year") or m.group("year2")) <= _THIS_YEAR - OLD_GRADUATION_YEARS:
                    extra.append(" yog old ")
            for m in _YEAR_RE.finditer(text):  # "my usce was in 2017": older than 1-3 years
                if grad_spans or _GRAD_CUE_RE.search(text):
                    break  # a graduation year: the YOG rule above decides
                if int(m.group(0)) <= _THIS_YEAR - OLD_EXPERIENCE_YEARS:
                    extra.append(" old ")
                    break
            if _MONEY_RE.search(text):
                extra.append(" cost ")
            if _SCORE_RE.search(text):
                extra.append(" score ")
            extra.extend(f" {t} " for t in _lead_time_tokens(text))
            if _COMPARE_CUE_RE.search(text) and _SEVERAL_RE.search(text):
                extra.append(" quantity ")
            text = _SPACE_RE.sub(" ", text) + "".join(extra)
            if self._phrase_re is not None:
                text = self._phrase_re.sub(
                    lambda m: f" {self._phrase_map[_SPACE_RE.sub(' ', m.group(0))]} ", text
                )
        return text

    def tokens(self, text: str, *, fix: bool = False) -> list[str]:
        """Canonical tokens of ``text``; ``fix`` repairs typos (at most MAX_TYPO_FIXES words)."""
        out: list[str] = []
        fixes_left = MAX_TYPO_FIXES
        for raw in _TOKEN_RE.findall(self._prepare(text)):
            raw = raw.strip("$")
            mapped = self._word_map.get(raw)
            if mapped is not None:
                out.extend(mapped.split())
                continue
            if raw in self._canon:
                out.append(raw)
                continue
            if not raw or raw in STOP_WORDS:
                continue
            stem = _stem(raw)
            tok = (self._word_map.get(stem) if len(stem) >= 5 else None) or stem
            if fix and self.typos and fixes_left > 0 and tok not in self._vocab_set:
                fixes_left -= 1
                fixed = self._fix(raw)
                if fixed is not None:
                    tok = fixed
            if tok not in STOP_WORDS:
                out.extend(tok.split())
        return out

    def _fix(self, word: str) -> str | None:
        if len(word) < 4 or not word.isalpha() or not self.vocab:
            return None
        if word in self._fix_cache:
            return self._fix_cache[word]
        result: str | None = None
        if len(word) == 4:
            # short words: one edit, and only when exactly one known word is that close
            near = process.extract(
                word, self.vocab, scorer=DamerauLevenshtein.distance, score_cutoff=1, limit=4
            )
            targets = {self._word_map.get(c, c) for c, _, _ in near}
            if len(targets) > 1:  # a swapped pair of letters ("ucse") beats other edits
                targets = {self._word_map.get(c, c) for c, _, _ in near if sorted(c) == sorted(word)}
            result = targets.pop() if len(targets) == 1 else None
        for form in dict.fromkeys((_stem(word), word)) if len(word) > 4 else ():
            if len(form) < 5:
                continue
            best = process.extractOne(
                form, self.vocab, scorer=DamerauLevenshtein.distance,
                score_cutoff=1 if len(form) <= 8 else 2,
            )
            if best is not None:
                cand = best[0]
                result = self._word_map.get(cand, cand)
                break
        if len(self._fix_cache) < 20_000:
            self._fix_cache[word] = result
        return result


def features(
    tokens: Sequence[str], bigram_weight: float = BIGRAM_WEIGHT, pair_weight: float = PAIR_WEIGHT
) -> dict[str, float]:
    """Term counts for unigrams, plus down-weighted bigrams (``a_b``) and
    question-type pairs (``who~lor``: the kind of question with each topic word,
    wherever they sit in the message), which tell neighbouring entries apart."""
    feats: dict[str, float] = dict(Counter(tokens))
    if bigram_weight > 0:
        for a, b in itertools.pairwise(tokens):
            if a != b:
                key = f"{a}_{b}" if a < b else f"{b}_{a}"
                feats[key] = feats.get(key, 0.0) + bigram_weight
    if pair_weight > 0:
        kinds = [t for t in dict.fromkeys(tokens) if t in INTENTS]
        if kinds:
            topics = [t for t in dict.fromkeys(tokens) if t not in GENERIC and t not in INTENTS]
            for k in kinds:
                for t in topics:
                    key = f"{k}~{t}"
                    feats[key] = feats.get(key, 0.0) + pair_weight
    return feats


def _segments(text: str) -> list[tuple[str, str]]:
    """(sentence, the sentence before it) for each sentence of a message that asks something
    — it has a question mark or opens like a request ("please advise", "I want to know") —
    and for its last sentence. A question such as "Is that true?" leans on the sentence
    before it for its topic."""
    sentences = [s.strip() for s in _SENTENCE_RE.findall(text) if s.strip()]
    if len(sentences) < 2:
        return []
    picked = [i for i, s in enumerate(sentences) if "?" in s or _ASKING_RE.match(s.lower())]
    if len(sentences) - 1 not in picked:
        picked.append(len(sentences) - 1)
    return [(sentences[i], sentences[i - 1] if i > 0 else "") for i in picked]


# --------------------------------------------------------------------------- index


_Postings = tuple["np.ndarray[Any, np.dtype[np.intp]]", "np.ndarray[Any, np.dtype[np.float64]]"]


def _arrays(postings: dict[str, list[tuple[int, float]]]) -> dict[str, _Postings]:
    """Each term's postings as (document numbers, weights) arrays."""
    return {
        t: (np.fromiter((d for d, _ in p), np.intp, len(p)), np.fromiter((w for _, w in p), np.float64, len(p)))
        for t, p in postings.items()
    }


def _accumulate(hits: Sequence[_Postings], weights: Sequence[float], size: int) -> np.ndarray[Any, Any]:
    """sum over terms of weight * posting weight, per document (a dense vector)."""
    docs = np.concatenate([d for d, _ in hits])
    values = np.concatenate([w * v for (_, v), w in zip(hits, weights, strict=True)])
    return np.bincount(docs, weights=values, minlength=size)


class _OwnerGroups:
    """Documents numbered owner by owner (each entry's, then each out-of-scope group's,
    contiguous), so an owner's best document is one ``maximum.reduceat``."""

    def __init__(self, doc_owner: Sequence[int]) -> None:
        starts = [d for d in range(len(doc_owner)) if d == 0 or doc_owner[d] != doc_owner[d - 1]]
        owners = [doc_owner[d] for d in starts]
        if len(set(owners)) != len(owners):
            raise ValueError("documents must be grouped by owner")
        self.size = len(doc_owner)
        self.starts = np.array(starts, dtype=np.intp)
        self.owners = owners

    def top(self, scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Each owner's best document score, in owner order."""
        return np.maximum.reduceat(scores, self.starts)

    def positive(self, top: np.ndarray[Any, Any]) -> dict[int, float]:
        """``top`` as {owner: score}, for the owners with a positive score."""
        return {self.owners[i]: float(top[i]) for i in np.flatnonzero(top > 0.0).tolist()}


class _Bm25:
    """Okapi BM25 over the analyzed phrasings, as SQLite FTS5's ``bm25()`` computes it
    (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), never below 1e-6), with each
    term's per-row contribution worked out once at build time, so a query is a few array
    additions instead of an FTS5 ``MATCH`` (which cost more than the rest of matching put
    together). Tokens are lower-case letters and digits, so FTS5's unicode61 tokenizer
    would split the rows exactly as they are split here; ``tests/test_faq.py`` checks the
    scores against a real FTS5 table.

    Returns the best row score per owner (entry index >= 0, out-of-scope group < 0) among
    the ``BM25_ROWS`` best rows, as ``ORDER BY bm25(docs) LIMIT BM25_ROWS`` would."""

    K1 = 1.2
    B = 0.75

    def __init__(self, postings: dict[str, _Postings], row_owner: list[int]) -> None:
        self._postings = postings
        self._groups = _OwnerGroups(row_owner)

    @classmethod
    def build(cls, rows: Sequence[tuple[int, Sequence[str]]]) -> _Bm25 | None:
        body = [(owner, toks) for owner, toks in rows if toks]
        if not body:
            return None
        n = len(body)
        avgdl = sum(len(toks) for _, toks in body) / n
        tf: dict[str, list[tuple[int, int]]] = {}
        for row, (_, toks) in enumerate(body):
            for term, count in Counter(toks).items():
                tf.setdefault(term, []).append((row, count))
        postings: dict[str, list[tuple[int, float]]] = {}
        for term, hits in tf.items():
            idf = math.log((n - len(hits) + 0.5) / (len(hits) + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            postings[term] = [
                (row, idf * c * (cls.K1 + 1) / (c + cls.K1 * (1 - cls.B + cls.B * len(body[row][1]) / avgdl)))
                for row, c in hits
            ]
        return cls(_arrays(postings), [owner for owner, _ in body])

    def scores(self, toks: Sequence[str]) -> dict[int, float]:
        hits = [self._postings[t] for t in dict.fromkeys(toks) if t in self._postings]
        if not hits:
            return {}
        acc = _accumulate(hits, [1.0] * len(hits), self._groups.size)
        if np.count_nonzero(acc) > BM25_ROWS:  # only the BM25_ROWS best rows count
            acc[acc < np.partition(acc, -BM25_ROWS)[-BM25_ROWS]] = 0.0
        return self._groups.positive(self._groups.top(acc))


class FaqIndex:
    """TF-IDF cosine over analyzed phrasings, blended with the classifier when one is
    given; see the module docstring."""

    def __init__(
        self,
        entries: tuple[FaqEntry, ...],
        analyzer: Analyzer,
        idf: dict[str, float],
        postings: dict[str, list[tuple[int, float]]],
        doc_owner: list[int],
        doc_factor: list[float],
        centroid_weight: float,
        unknown_idf: float,
        threshold: float,
        bigram_weight: float,
        unknown_weight: float,
        oos_margin: float,
        pair_weight: float = PAIR_WEIGHT,
        bm25: _Bm25 | None = None,
        bm25_weight: float = 0.0,
        model: FaqModel | None = None,
        model_weight: float = MODEL_WEIGHT,
    ) -> None:
        self.entries = entries
        self.analyzer = analyzer
        self._idf = idf
        self._postings = _arrays(postings)
        self._groups = _OwnerGroups(doc_owner)  # >= 0: entry index; < 0: out-of-scope group
        factor = np.array(doc_factor, dtype=np.float64)  # 0: a centroid document (blended), else a multiplier
        self._doc_factor = factor
        self._centroid = np.flatnonzero(factor == 0.0)  # at most one per owner, after its phrasings
        self._centroid_group = np.searchsorted(self._groups.starts, self._centroid, side="right") - 1
        self._centroid_weight = centroid_weight
        self._unknown_idf = unknown_idf
        self.threshold = threshold
        self._bigram_weight = bigram_weight
        self._unknown_weight = unknown_weight
        self._oos_margin = oos_margin
        self._pair_weight = pair_weight
        self._by_id = {e.id: e for e in entries}
        self._bm25 = bm25
        self._bm25_weight = bm25_weight if bm25 is not None else 0.0
        self.model = model
        self._model_weight = model_weight
        if model is not None:
            if not model.fits(e.id for e in entries):
                raise ValueError("the FAQ model's classes are not these entries")
            self._model_cols = np.array([model.classes.index(e.id) for e in entries], dtype=np.intp)
            self._model_decline = model.classes.index(model.decline)

    @classmethod
    def build(
        cls,
        entries: Sequence[FaqEntry],
        out_of_scope: Sequence[OutOfScope] = (),
        *,
        analyzer: Analyzer | None = None,
        threshold: float | None = None,
        answer_weight: float = ANSWER_WEIGHT,
        answer_idf: bool = ANSWER_IDF,
        centroid_weight: float = CENTROID_WEIGHT,
        index_topics: bool = INDEX_TOPICS,
        bigram_weight: float = BIGRAM_WEIGHT,
        unknown_weight: float = UNKNOWN_WEIGHT,
        oos_margin: float | None = None,
        pair_weight: float = PAIR_WEIGHT,
        bm25_weight: float = BM25_WEIGHT,
        model: FaqModel | None = None,
        model_weight: float = MODEL_WEIGHT,
    ) -> FaqIndex:
        """The index of ``entries``; with ``model``, scores are blended with the classifier's
        probabilities, and the threshold and margin default to the blend's own."""
        entries = tuple(entries)
        if not entries:
            raise ValueError("FaqIndex needs at least one entry")
        analyzer = analyzer or Analyzer()
        docs: list[tuple[int, float, dict[str, float]]] = []  # owner, factor, features
        bm25_rows: list[tuple[int, list[str]]] = []  # owner, tokens: phrasings only, no answers
        groups: list[set[str]] = []
        for i, e in enumerate(entries):
            seen: set[str] = set()
            centroid: Counter[str] = Counter()
            for text in ((e.topic,) if index_topics else ()) + (e.question, *e.phrasings):
                toks = analyzer.tokens(text)
                bm25_rows.append((i, toks))
                f = features(toks, bigram_weight, pair_weight)
                if f:
                    docs.append((i, 1.0, f))
                    seen.update(f)
                    centroid.update(f)
            if centroid_weight > 0 and centroid:
                docs.append((i, 0.0, dict(centroid)))
            if answer_weight > 0:
                f = features(analyzer.tokens(f"{e.answer}\n{e.more or ''}"), bigram_weight, pair_weight)
                if f:
                    docs.append((i, answer_weight, f))
                    if answer_idf:
                        seen.update(f)
            groups.append(seen)
        for j, o in enumerate(out_of_scope):
            seen = set()
            centroid = Counter()
            for text in o.phrasings:
                toks = analyzer.tokens(text)
                bm25_rows.append((-1 - j, toks))
                f = features(toks, bigram_weight, pair_weight)
                if f:
                    docs.append((-1 - j, 1.0, f))
                    seen.update(f)
                    centroid.update(f)
            if centroid_weight > 0 and centroid:
                docs.append((-1 - j, 0.0, dict(centroid)))
            groups.append(seen)
        df: Counter[str] = Counter()
        for g in groups:
            df.update(g)
        n = len(groups)
        idf = {t: math.log((n + 1) / (df.get(t, 0) + 0.5)) for _, _, f in docs for t in f}
        unknown_idf = math.log((n + 1) / 0.5)
        postings: dict[str, list[tuple[int, float]]] = {}
        owners: list[int] = []
        factors: list[float] = []
        for d, (owner, factor, f) in enumerate(docs):
            weights = {t: (1 + math.log(c)) * idf[t] if c >= 1 else c * idf[t] for t, c in f.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                postings.setdefault(t, []).append((d, w / norm))
            owners.append(owner)
            factors.append(factor)
        analyzer.set_vocab(t for t in idf if "_" not in t and "~" not in t)
        bm25 = _Bm25.build(bm25_rows) if bm25_weight > 0 else None
        if threshold is None:
            threshold = THRESHOLD if model is None else MODEL_THRESHOLD
        if oos_margin is None:
            oos_margin = OOS_MARGIN if model is None else MODEL_MARGIN
        return cls(entries, analyzer, idf, postings, owners, factors, centroid_weight, unknown_idf,
                   threshold, bigram_weight, unknown_weight, oos_margin, pair_weight, bm25,
                   bm25_weight, model, model_weight)

    @property
    def oos_margin(self) -> float:
        return self._oos_margin

    def accepts(self, top: float, oos: float, threshold: float | None = None) -> bool:
        """The decline rule: answer only when the best entry scores at least the
        threshold and clearly beats the best out-of-scope group."""
        t = self.threshold if threshold is None else threshold
        return top >= t and top - oos > self._oos_margin

    def get(self, entry_id: str) -> FaqEntry:
        return self._by_id[entry_id]

    def scores(self, question: str) -> tuple[dict[int, float], float]:
        """Score per entry index, and the out-of-scope score: the matcher's, blended with
        the classifier's probabilities when the index has one (then every entry has a
        score)."""
        text = question[:MAX_INPUT] if isinstance(question, str) else ""
        toks = self.analyzer.tokens(text, fix=True)
        best, oos = self._matcher_scores(text, toks)
        if self.model is None:
            return best, oos
        blended, oos = self._blend(text, toks, best, oos)
        return dict(enumerate(blended.tolist())), oos

    def _top(self, question: str, k: int) -> tuple[list[tuple[int, float]], float]:
        """The ``k`` best (entry index, score), best first (ties: file order), and the
        out-of-scope score: ``scores`` without building a dict of every entry."""
        text = question[:MAX_INPUT] if isinstance(question, str) else ""
        toks = self.analyzer.tokens(text, fix=True)
        best, oos = self._matcher_scores(text, toks)
        if self.model is None:
            return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k], oos
        blended, oos = self._blend(text, toks, best, oos)
        order = np.argsort(-blended, kind="stable")[:k].tolist()
        return [(i, float(blended[i])) for i in order], oos

    def _blend(
        self, text: str, toks: list[str], best: dict[int, float], oos: float
    ) -> tuple[np.ndarray[Any, Any], float]:
        """Every entry's ``w * p + (1 - w) * matcher score`` (in entry order), and the
        out-of-scope score blended the same way with the decline class's probability."""
        assert self.model is not None
        w = self._model_weight
        p = self.model.probabilities(text, toks)
        blended = w * p[self._model_cols]
        if best:
            at = np.fromiter(best.keys(), dtype=np.intp, count=len(best))
            blended[at] += (1 - w) * np.fromiter(best.values(), dtype=np.float64, count=len(best))
        return blended, w * float(p[self._model_decline]) + (1 - w) * oos

    def _matcher_scores(self, text: str, toks: list[str]) -> tuple[dict[int, float], float]:
        """Best matcher score per entry index, and the best out-of-scope score.

        A long message is also scored sentence by sentence (the sentences asking
        something, and the last one, each alone and with the sentence before it), so
        a question buried in a paragraph of background still finds its entry.
        """
        best, oos = self._score(toks)
        if len(toks) >= LONG_MESSAGE_TOKENS:
            asked = 0.0  # out of scope as judged on what is asked
            for seg, before in _segments(text):
                parts = [(seg, SENTENCE_WEIGHT)] + ([(f"{before} {seg}", CONTEXT_WEIGHT)] if before else [])
                for part, weight in parts:
                    seg_toks = self.analyzer.tokens(part, fix=True)
                    if len(seg_toks) < 2 or len(seg_toks) >= len(toks):
                        continue
                    seg_best, seg_oos = self._score(seg_toks)
                    for i, s in seg_best.items():
                        s *= weight
                        if s > best.get(i, 0.0):
                            best[i] = s
                    asked = max(asked, seg_oos * weight)
            oos = max(oos, asked)
        return best, oos

    def _score(self, toks: Sequence[str]) -> tuple[dict[int, float], float]:
        if not toks:
            return {}, 0.0
        qf = features(toks, self._bigram_weight, self._pair_weight)
        qw: dict[str, float] = {}
        norm2 = 0.0
        for t, c in qf.items():
            tf = (1 + math.log(c)) if c >= 1 else c
            if t in self._idf:
                w = tf * self._idf[t]
                qw[t] = w
            else:
                w = tf * self._unknown_idf * self._unknown_weight
            norm2 += w * w
        if not qw or all(t in GENERIC or "_" in t or "~" in t for t in qw):
            return {}, 0.0
        known = [t for t in qw if t in self._postings]
        acc = _accumulate([self._postings[t] for t in known], [qw[t] for t in known], self._groups.size)
        acc /= math.sqrt(norm2)
        # an owner's score: its best document, blended with its centroid when the centroid matched
        top = self._groups.top(acc * self._doc_factor)
        lam = self._centroid_weight
        if lam > 0 and len(self._centroid):
            cent = acc[self._centroid]
            hit = cent > 0.0
            groups = self._centroid_group[hit]
            top[groups] = (1 - lam) * top[groups] + lam * cent[hit]
        best = self._groups.positive(top)
        if self._bm25 is not None and self._bm25_weight > 0:
            best = self._fuse(best, self._bm25.scores(toks))
        oos = max((s for o, s in best.items() if o < 0), default=0.0)
        return {o: s for o, s in best.items() if o >= 0}, oos

    def _fuse(self, tfidf: dict[int, float], bm25: dict[int, float]) -> dict[int, float]:
        """Score fusion: ``(1 - w) * tfidf + w * top * bm25 / max(bm25)``, where ``top`` is the
        best entry's TF-IDF score, so BM25 reorders entries without moving the scale the
        threshold is set on. Out-of-scope groups are fused the same way."""
        if not bm25:
            return tfidf
        w = self._bm25_weight
        top = max((s for o, s in tfidf.items() if o >= 0), default=0.0)
        bmax = max(bm25.values())
        scale = w * top / bmax if bmax > 0 else 0.0
        return {
            o: (1 - w) * tfidf.get(o, 0.0) + scale * bm25.get(o, 0.0)
            for o in tfidf.keys() | bm25.keys()
        }

    def match(self, question: str) -> Match:
        ranked, oos = self._top(question, 3)
        cands = [(self.entries[i], min(1.0, s)) for i, s in ranked]
        for e in self.entries:  # always offer three distinct topics
            if len(cands) >= 3:
                break
            if all(c[0].id != e.id for c in cands):
                cands.append((e, 0.0))
        top = ranked[0][1] if ranked else 0.0
        confidence = max(0.0, min(1.0, top))
        ok = bool(ranked) and self.accepts(top, oos)
        return Match(
            entry=self.entries[ranked[0][0]] if ok else None,
            confidence=confidence,
            candidates=tuple(cands),
        )


def load_index(path: Path = CONTENT_DIR / "faq.yaml", model_path: Path = MODEL_PATH) -> FaqIndex:
    """The index of a FAQ file, with the classifier when its model was trained on exactly
    this file. A missing, unreadable or stale model is logged once and the matcher answers
    alone: a content edit without ``make faq-model`` costs accuracy, never the bot."""
    entries, oos = _load(path)
    model: FaqModel | None = None
    try:
        model = FaqModel.load(model_path)
    except ModelError as e:
        log.warning("FAQ classifier off, matching alone (run make faq-model): %s", e)
    else:
        if model.faq_sha256 != file_sha256(path):
            log.warning("FAQ classifier off, matching alone (run make faq-model): %s was trained on"
                        " another %s", model_path.name, path.name)
            model = None
        elif not model.fits(e.id for e in entries):
            log.warning("FAQ classifier off, matching alone (run make faq-model): its classes are"
                        " not the entries of %s", path.name)
            model = None
    return FaqIndex.build(entries, oos, model=model)


@functools.cache
def default_index() -> FaqIndex:
    """The project's FAQ index, built once per process."""
    return load_index()
