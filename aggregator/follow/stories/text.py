"""From an entry's title and HTML to the tokens the matcher compares.

Normalisation, in order: HTML is reduced to its text; Unicode NFKC folds
compatibility forms (full-width digits, ligatures, non-breaking spaces);
curly apostrophes become straight ones; the text is cut into words and
numbers. Numbers keep their digits without grouping ("3,000" and "3000" are
one token) and spelled-out counts up to twenty, and the round tens, become
digits ("Sixteen" is "16"). Words are casefolded, possessives dropped
("Azerbaijan's" is "azerbaijan"), stop words (function words and the
newsroom's reporting verbs: "said", "according", "statement") removed, and a
light suffix stripper folds inflections ("captured", "capture" and
"capturing" are one token). Punctuation never survives.

Each token also has a class that the scorer weighs: a number, a proper noun
(a capitalised word somewhere other than the start of a sentence, or an
acronym such as NATO), or a plain word. Numbers and names carry most of what
tells one fact from another on the same topic.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

PLAIN, PROPER, NUMBER = 0, 1, 2

_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"</?(?:p|div|br|li|h[1-6]|blockquote|figcaption|tr|td)\b[^>]*>", re.I)
_TOKEN = re.compile(r"(?P<number>\d+(?:[.,]\d+)*)|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# Where a capital letter says nothing: after these, a new sentence or quotation starts.
_SENTENCE_BREAK = frozenset(".!?:;\n([|\u2013\u2014\u201c\u00ab")
# Quotes that may close a quotation: looked through, so that `"strategic" Murovdag`
# still counts as mid-sentence, while `"Get` after a space opens one.
_QUOTES = frozenset("\"'\u201d\u2019\u00bb")

_NUMBER_WORDS: Mapping[str, str] = {
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
}

# Function words, and the newsroom's reporting verbs: "said", "according to"
# and "in a statement" are in every update and tell none apart.
_STOP_WORDS_TEXT = """
    a about above after again against all also am among an and any are around as at be been
    before being below between both but by can could did do does doing down during each either
    else even ever every few for from further had has have having he her here hers herself him
    himself his how however i if in into is it its itself just least less many may me might more
    most much must my myself neither no nor not now of off on once one only or other others our
    ours ourselves out over own per quite rather same several shall she should since so some
    such than that the their theirs them themselves then there these they this those though
    through thus to too under until up upon us very via was we were what when where whether
    which while who whom whose why will with within without would yet you your yours yourself
    yourselves th st nd rd
    said say says saying told tell tells according added adding reported reports reportedly
    statement statements stated claimed claims claim claiming announced
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""))


def plain_text(content_html: str) -> str:
    """The text a reader sees in sanitised HTML: tags dropped, entities decoded."""
    spaced = _BLOCK_TAG.sub("\n", content_html)
    return html.unescape(_TAG.sub("", spaced))


def stem(word: str) -> str:
    """Strip one inflectional suffix from a casefolded word of five letters or more."""
    if len(word) < 5:
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix):
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            stemmed = word[: len(word) - len(suffix)] + replacement
            return stemmed if len(stemmed) >= 3 else word
    return word


def token_sequence(text: str) -> list[tuple[str, int]]:
    """The tokens of `text` in order, each with its class (PLAIN, PROPER or NUMBER).

    A word is PROPER where it is capitalised away from the start of a sentence
    or written as an acronym; `classes` merges the occurrences of one token.
    """
    folded = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    found: list[tuple[str, int]] = []
    for match in _TOKEN.finditer(folded):
        if match.lastgroup == "number":
            found.append((match.group().replace(",", ""), NUMBER))
            continue
        word = _word(match.group())
        if word is None:
            continue
        token, kind, capitalised = word
        if capitalised and not _sentence_start(folded, match.start()):
            kind = PROPER
        found.append((token, kind))
    return found


@functools.lru_cache(maxsize=65_536)
def _word(raw: str) -> tuple[str, int, bool] | None:
    """A word's token, its class, and whether it is capitalised (a name unless it opens
    a sentence); None for a word that is dropped."""
    if raw.endswith("'s"):
        raw = raw[:-2]
    raw = raw.replace("'", "")
    lowered = raw.casefold()
    if lowered in _NUMBER_WORDS:
        return _NUMBER_WORDS[lowered], NUMBER, False
    acronym = len(raw) >= 2 and raw.isupper()
    if len(lowered) < 2 or (lowered in STOP_WORDS and not acronym):
        return None
    if acronym:
        return stem(lowered), PROPER, False
    return stem(lowered), PLAIN, raw[:1].isupper()


def classes(sequence: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each distinct token with its highest class, in order of first appearance."""
    merged: dict[str, int] = {}
    for token, kind in sequence:
        if kind > merged.get(token, -1):
            merged[token] = kind
    return merged


def _sentence_start(text: str, index: int) -> bool:
    """Whether the word at `index` opens a sentence, a quotation or the text."""
    position = index - 1
    # A quote straight against the word opens a quotation unless a word precedes it.
    if (
        position >= 0
        and text[position] in _QUOTES
        and (position == 0 or text[position - 1].isspace())
    ):
        return True
    while position >= 0 and (text[position] in " \t\r\u00a0" or text[position] in _QUOTES):
        position -= 1
    return position < 0 or text[position] in _SENTENCE_BREAK


def shingles(words: Sequence[str], size: int) -> set[tuple[str, ...]]:
    """Runs of `size` consecutive tokens (all of them, when fewer)."""
    if len(words) < size:
        return {tuple(words)} if words else set()
    return set(zip(*(words[i:] for i in range(size)), strict=False))
