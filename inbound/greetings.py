"""Registration policy: greeting and stop-word matching, and the gateway's reply texts.

Pure functions and values (the tables are read once, at import, from greetings.toml):

- :func:`normalize` turns a message into the form that greetings and stop words are compared in.
- :class:`GreetingMatcher` says whether a whole message is a configured greeting or stop word,
  and in which language.
- :func:`reply_text` gives the gateway's answer in that language (English fallback).
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal, get_args

__all__ = [
    "DEFAULT_GREETINGS",
    "DEFAULT_STOP_WORDS",
    "LANGUAGES",
    "REPLY_KINDS",
    "GreetingMatcher",
    "Match",
    "ReplyKind",
    "normalize",
    "reply_text",
]

FALLBACK_LANGUAGE: Final = "en"

ReplyKind = Literal[
    "registered",
    "already_registered",
    "share_contact",
    "contact_refused",
    "full",
    "stopped",
    "hint",
]
REPLY_KINDS: Final[tuple[ReplyKind, ...]] = get_args(ReplyKind)

_DATA_FILE: Final = "greetings.toml"


def _load() -> dict[str, Any]:
    """The tables of greetings.toml (beside this module), checked: a missing English reply
    would otherwise surface only when someone is answered."""
    text = resources.files(__package__ or "inbound").joinpath(_DATA_FILE).read_text("utf-8")
    data = tomllib.loads(text)
    missing = [kind for kind in get_args(ReplyKind) if kind not in data["replies"]["en"]]
    if missing:
        raise ValueError(f"{_DATA_FILE}: no English reply for {missing}")
    return data


def _pairs(entries: Sequence[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((word, language) for word, language in entries)


_DATA: Final = _load()

LANGUAGES: Final[tuple[str, ...]] = tuple(_DATA["languages"])

# Greetings and stop words with the language each is answered in (see greetings.toml).
_DEFAULT_GREETING_LANGUAGES: Final = _pairs(_DATA["default_greetings"])
_VARIANT_GREETING_LANGUAGES: Final = _pairs(_DATA["variant_greetings"])
_STOP_WORD_LANGUAGES: Final = _pairs(_DATA["stop_words"])

DEFAULT_GREETINGS: Final[tuple[str, ...]] = tuple(word for word, _ in _DEFAULT_GREETING_LANGUAGES)
DEFAULT_STOP_WORDS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(word for word, _ in _STOP_WORD_LANGUAGES)
)

# Code points that carry no meaning at the ends of a message besides punctuation (P*), symbols
# (S*, which covers emoji and skin-tone modifiers), separators (Z*) and controls/format
# characters (C*, which covers ZWJ and the emoji tag characters): variation selectors and
# enclosing marks such as the keycap U+20E3.
_EXTRA_TRIM_RANGES: Final[tuple[tuple[int, int], ...]] = (
    (0xFE00, 0xFE0F),  # variation selectors, U+FE0F is the emoji presentation selector
    (0xE0100, 0xE01EF),  # variation selectors supplement
)


def _is_trimmable(char: str) -> bool:
    if char.isspace():
        return True
    category = unicodedata.category(char)
    if category[0] in "PSZC" or category == "Me":
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _EXTRA_TRIM_RANGES)


def normalize(text: str) -> str:
    """Return ``text`` in the form greetings and stop words are compared in.

    NFKC normalisation (which also turns Arabic presentation forms and full-width letters into
    the ordinary letters), case folding, then removal of whitespace, punctuation, symbols and
    emoji (with their modifiers, variation selectors and joiners) at both ends; inner runs of
    whitespace become one space. Inner punctuation is kept, so "hi, there" stays two words.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    start, end = 0, len(folded)
    while start < end and _is_trimmable(folded[start]):
        start += 1
    while end > start and _is_trimmable(folded[end - 1]):
        end -= 1
    return " ".join(folded[start:end].split())


@dataclass(frozen=True)
class Match:
    """A recognised greeting or stop word; ``language`` is the language to answer in."""

    language: str


def _language_index(entries: Sequence[tuple[str, str]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for word, language in entries:
        index.setdefault(normalize(word), language)
    return index


_GREETING_LANGUAGE_BY_KEY: Final = _language_index(
    _DEFAULT_GREETING_LANGUAGES + _VARIANT_GREETING_LANGUAGES
)
_STOP_LANGUAGE_BY_KEY: Final = _language_index(_STOP_WORD_LANGUAGES)


def _configured_index(
    words: Sequence[str], known: Mapping[str, str], what: str
) -> dict[str, Match]:
    index: dict[str, Match] = {}
    for word in words:
        key = normalize(word)
        if not key:
            raise ValueError(
                f"{what} {word!r} is empty once spaces, punctuation and emoji are removed"
            )
        index.setdefault(key, Match(known.get(key, FALLBACK_LANGUAGE)))
    return index


class GreetingMatcher:
    """Matches whole messages against the configured greetings and stop words.

    A configured word not in the built-in language tables is answered in English. A configured
    word that normalises to nothing (only emoji or punctuation) is refused with ``ValueError``,
    since it would match every empty or emoji-only message.
    """

    def __init__(self, greetings: Sequence[str], stop_words: Sequence[str] | None = None) -> None:
        if isinstance(greetings, str) or isinstance(stop_words, str):
            raise TypeError("greetings and stop_words must be sequences of words, not a str")
        self._greetings = _configured_index(greetings, _GREETING_LANGUAGE_BY_KEY, "greeting")
        self._stop_words = _configured_index(
            DEFAULT_STOP_WORDS if stop_words is None else stop_words,
            _STOP_LANGUAGE_BY_KEY,
            "stop word",
        )

    def greeting(self, text: str) -> Match | None:
        """The match if the whole message is a configured greeting, else None."""
        return self._greetings.get(normalize(text))

    def stop(self, text: str) -> Match | None:
        """The match if the whole message is a stop word, else None."""
        return self._stop_words.get(normalize(text))


_REPLIES: Final[Mapping[str, Mapping[str, str]]] = _DATA["replies"]


def _language_candidates(language: str) -> list[str]:
    """``language`` itself, then its primary subtag ("pt-BR" -> "pt"), then English."""
    primary = language.replace("_", "-").split("-", 1)[0].lower()
    return list(dict.fromkeys((language, primary, FALLBACK_LANGUAGE)))


def reply_text(
    kind: ReplyKind,
    language: str,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The gateway's reply of ``kind`` in ``language``.

    For ``language`` (then its primary subtag, then English) ``overrides[language][kind]`` is
    used when present, else the built-in text; unknown languages get the English text.
    """
    if kind not in REPLY_KINDS:
        raise ValueError(f"unknown reply kind {kind!r}; expected one of {REPLY_KINDS}")
    for candidate in _language_candidates(language):
        override = (overrides or {}).get(candidate, {}).get(kind)
        if override is not None:
            return override
        builtin = _REPLIES.get(candidate, {}).get(kind)
        if builtin is not None:
            return builtin
    return _REPLIES[FALLBACK_LANGUAGE][kind]
