"""The FAQ: knowledge at the grain of a fact, learned retrieval, answers for the reader's case.

- ``entries``: ``content/faq.yaml`` loaded and checked;
- ``words``, ``embed``, ``model``: the message as the model reads it, the embeddings and the
  classifier's arrays (``content/faq_model.npz``, written by ``make faq-model``);
- ``index``: which entry a message asks about, or a decline;
- ``reader``: the reader's case, from their profile and the message;
- ``compose``: one entry, or two for a two-part question.
"""

from flows.faq.compose import Part, Response, is_polar, respond
from flows.faq.entries import CASES, Case, FaqEntry, OutOfScope, load_examples, load_faq, load_out_of_scope
from flows.faq.index import FaqIndex, Match, Query, default_index, load_index
from flows.faq.reader import Reader

__all__ = [
    "CASES",
    "Case",
    "FaqEntry",
    "FaqIndex",
    "Match",
    "OutOfScope",
    "Part",
    "Query",
    "Reader",
    "Response",
    "default_index",
    "is_polar",
    "load_examples",
    "load_faq",
    "load_index",
    "load_out_of_scope",
    "respond",
]
