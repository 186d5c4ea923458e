"""The title an update gets when its source gives none: its first sentence.

Live-blog updates without a headline and feed entries without a title are
named the same way, so a reader sees one convention whatever the format: the
first sentence of the first paragraph, cut at a word to at most 120
characters. A sentence ends at . ! or ? (a closing quote may follow) before
an uppercase letter or an opening quote, and only where at least 20
characters stand on each side, so "U.S." or "Dr." near the start does not end
it.

A title the source does give is kept as given, unless it is absurdly long (a
body pasted into the title field, or a hostile feed): past `GIVEN_TITLE_LIMIT`
characters it is cut the same way, at a word, and the cut is noted.
"""

from __future__ import annotations

import re

TITLE_LIMIT = 120
GIVEN_TITLE_LIMIT = 300
_MIN_SENTENCE = 20
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019]?\s+(?P<next>\S)")
_OPENING_QUOTES = "\"'\u201c\u2018"


def first_sentence_title(paragraph: str) -> str:
    """The paragraph's first sentence, cut at a word to at most 120 characters."""
    return cut_title(_first_sentence(paragraph), TITLE_LIMIT)


def cut_title(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at a word and ended with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-\u2013\u2014") + "\u2026"


def _first_sentence(text: str) -> str:
    for match in _SENTENCE_END.finditer(text):
        following = match["next"]
        if not (following.isupper() or following in _OPENING_QUOTES):
            continue
        sentence, rest = text[: match.start("next")].rstrip(), text[match.start("next") :]
        if len(sentence) >= _MIN_SENTENCE and len(rest) >= _MIN_SENTENCE:
            return sentence
    return text
