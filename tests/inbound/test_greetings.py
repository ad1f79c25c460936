"""Registration policy : greeting and stop-word matching, reply texts."""

from __future__ import annotations

from typing import cast

import pytest

from inbound.greetings import (
    DEFAULT_GREETINGS,
    LANGUAGES,
    REPLY_KINDS,
    GreetingMatcher,
    Match,
    ReplyKind,
    normalize,
    reply_text,
)

# The FAQ's 19 greetings and the language each must be answered in (spelled out here, not
# taken from the module, so that a wrong table in the module fails the tests).
FAQ_GREETINGS = [
    ("Hi", "en"),
    ("嗨", "zh"),
    ("你好", "zh"),
    ("安安", "zh"),
    ("こんにちは", "ja"),
    ("ハイ", "ja"),
    ("Ching", "en"),
    ("Ciao", "it"),
    ("Hai", "id"),
    ("Hallo", "de"),
    ("Hola", "es"),
    ("Hoi", "nl"),
    ("Oi", "pt"),
    ("Salut", "fr"),
    ("Здравствуй", "ru"),
    ("Привіт", "uk"),
    ("नमस्ते", "hi"),
    ("היי", "he"),
    ("مرحبا", "ar"),
]

# The FAQ writes "مرحبا" in Arabic presentation forms.
FAQ_PRESENTATION_FORM_ARABIC = "\ufee1\ufeae\ufea4\ufe91\ufe8d"

# The greeting each language's replies tell people to say.
GREETING_BY_LANGUAGE = {
    "en": "Hi",
    "zh": "你好",
    "ja": "こんにちは",
    "nl": "Hoi",
    "it": "Ciao",
    "id": "Hai",
    "de": "Hallo",
    "es": "Hola",
    "pt": "Oi",
    "fr": "Salut",
    "ru": "Здравствуй",
    "uk": "Привіт",
    "hi": "नमस्ते",
    "he": "היי",
    "ar": "مرحبا",
}

# The stop word each language's "registered" reply tells people to send.
STOP_WORD_BY_LANGUAGE = {
    "en": "STOP",
    "zh": "停止",
    "ja": "ストップ",
    "nl": "STOPPEN",
    "it": "BASTA",
    "id": "BERHENTI",
    "de": "STOPP",
    "es": "ALTO",
    "pt": "PARAR",
    "fr": "ARRÊT",
    "ru": "СТОП",
    "uk": "ЗУПИНИТИ",
    "hi": "रोकें",
    "he": "עצור",
    "ar": "توقف",
}


@pytest.fixture
def matcher() -> GreetingMatcher:
    return GreetingMatcher(DEFAULT_GREETINGS)


def test_the_default_greetings_are_the_faqs_nineteen() -> None:
    assert list(DEFAULT_GREETINGS) == [word for word, _ in FAQ_GREETINGS]


@pytest.mark.parametrize(("greeting", "language"), FAQ_GREETINGS)
def test_each_default_greeting_matches_in_its_language(
    matcher: GreetingMatcher, greeting: str, language: str
) -> None:
    assert matcher.greeting(greeting) == Match(language)


def test_presentation_form_arabic_normalizes_to_plain_arabic() -> None:
    assert normalize(FAQ_PRESENTATION_FORM_ARABIC) == normalize("مرحبا")


def test_presentation_form_arabic_from_the_faq_matches_as_arabic(
    matcher: GreetingMatcher,
) -> None:
    assert matcher.greeting(FAQ_PRESENTATION_FORM_ARABIC) == Match("ar")


@pytest.mark.parametrize(
    "variant",
    [
        "hi!",
        " HI ",
        "Hi 👋",
        "¡Hi!",
        "hi :)",
        "hi\t\n",
        "👋🏽 Hi",  # skin-tone modifier
        "Hi ❤️",  # emoji with variation selector U+FE0F
        "Hi 👋\u200d",  # trailing zero-width joiner
        "\u00a0hi\u3000",  # no-break and ideographic spaces
        "Ｈｉ！",  # full-width letters and punctuation
    ],
)
def test_punctuation_emoji_space_and_case_variants_normalize_like_the_greeting(
    variant: str,
) -> None:
    assert normalize(variant) == normalize("Hi")


@pytest.mark.parametrize("variant", ["HOLA 👋", "¡Hola!", "hola..."])
def test_spanish_greeting_variants_match_as_spanish(matcher: GreetingMatcher, variant: str) -> None:
    assert matcher.greeting(variant) == Match("es")


@pytest.mark.parametrize(
    ("variant", "language"),
    [("你好！", "zh"), ("नमस्ते।", "hi"), ("こんにちは〜", "ja"), ("ﾊｲ", "ja"), ("مرحبا؟", "ar")],
)
def test_script_specific_punctuation_and_width_variants_match(
    matcher: GreetingMatcher, variant: str, language: str
) -> None:
    assert matcher.greeting(variant) == Match(language)


@pytest.mark.parametrize("message", ["hi there", "Hola amigo", "hi, there", "Hi! How are you?"])
def test_a_longer_message_containing_a_greeting_does_not_match(
    matcher: GreetingMatcher, message: str
) -> None:
    assert matcher.greeting(message) is None


def test_inner_whitespace_collapses_to_one_space_and_inner_punctuation_stays() -> None:
    assert normalize("  Hi \t  there,  you! ") == "hi there, you"


@pytest.mark.parametrize("message", ["", "   ", "👋", "!!!", "👍🏽"])
def test_an_empty_or_emoji_only_message_is_not_a_greeting(
    matcher: GreetingMatcher, message: str
) -> None:
    assert matcher.greeting(message) is None


def test_a_message_is_not_a_greeting_unless_configured() -> None:
    assert GreetingMatcher(["Hi"]).greeting("Hola") is None


def test_a_configured_custom_greeting_matches_as_english() -> None:
    assert GreetingMatcher(["Yo"]).greeting("YO!") == Match("en")


def test_a_configured_known_variant_is_answered_in_its_language() -> None:
    assert GreetingMatcher(["Bonjour"]).greeting("bonjour !") == Match("fr")


def test_a_known_variant_does_not_match_unless_configured(matcher: GreetingMatcher) -> None:
    assert matcher.greeting("Bonjour") is None


def test_a_configured_greeting_that_is_only_emoji_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        GreetingMatcher(["Hi", "👋"])


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("STOP", "en"),
        ("stop", "en"),
        ("Stop", "en"),
        ("unsubscribe", "en"),
        ("停止", "zh"),
        ("退订", "zh"),
        ("ストップ", "ja"),
        ("stoppen", "nl"),
        ("Basta", "it"),
        ("berhenti", "id"),
        ("Stopp", "de"),
        ("alto", "es"),
        ("baja", "es"),
        ("parar", "pt"),
        ("sair", "pt"),
        ("arrêt", "fr"),
        ("Arret", "fr"),
        ("стоп", "ru"),
        ("зупинити", "uk"),
        ("रोकें", "hi"),
        ("עצור", "he"),
        ("توقف", "ar"),
    ],
)
def test_builtin_stop_words_match_case_insensitively_in_their_language(
    matcher: GreetingMatcher, message: str, language: str
) -> None:
    assert matcher.stop(message) == Match(language)


@pytest.mark.parametrize("message", ["stop!", " STOP. ", "Stop 🛑"])
def test_a_stop_word_with_punctuation_or_emoji_matches(
    matcher: GreetingMatcher, message: str
) -> None:
    assert matcher.stop(message) == Match("en")


def test_a_longer_message_containing_a_stop_word_is_not_a_stop(matcher: GreetingMatcher) -> None:
    assert matcher.stop("please stop sending") is None


def test_a_greeting_is_not_a_stop_word(matcher: GreetingMatcher) -> None:
    assert matcher.stop("Hi") is None


def test_a_stop_word_is_not_a_greeting(matcher: GreetingMatcher) -> None:
    assert matcher.greeting("STOP") is None


def test_configured_stop_words_replace_the_builtin_list() -> None:
    custom = GreetingMatcher(["Hi"], stop_words=["Enough", "Stopp"])
    assert custom.stop("enough!") == Match("en")
    assert custom.stop("STOPP") == Match("de")
    assert custom.stop("STOP") is None


def test_languages_are_the_fifteen_reply_languages() -> None:
    assert len(LANGUAGES) == len(set(LANGUAGES)) == 15
    assert set(LANGUAGES) == set(GREETING_BY_LANGUAGE)


@pytest.mark.parametrize("kind", REPLY_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_its_own_non_empty_text_for_each_kind(
    kind: ReplyKind, language: str
) -> None:
    text = reply_text(kind, language)
    assert text.strip()
    if language != "en":
        assert text != reply_text(kind, "en")


def test_all_reply_texts_are_distinct() -> None:
    texts = [reply_text(kind, language) for language in LANGUAGES for kind in REPLY_KINDS]
    assert len(set(texts)) == len(LANGUAGES) * len(REPLY_KINDS) == 105


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_an_unknown_language_gets_the_english_text(kind: ReplyKind) -> None:
    assert reply_text(kind, "xx") == reply_text(kind, "en")


def test_the_english_full_text_is_the_polite_refusal() -> None:
    assert reply_text("full", "xx") == (
        "Sorry, this gateway cannot take new registrations right now."
    )


def test_a_region_subtag_uses_the_primary_language() -> None:
    assert reply_text("hint", "pt-BR") == reply_text("hint", "pt")


def test_an_override_wins_over_the_builtin_text() -> None:
    overrides = {"de": {"full": "Wir sind voll."}}
    assert reply_text("full", "de", overrides) == "Wir sind voll."


def test_an_override_leaves_other_kinds_and_languages_alone() -> None:
    overrides = {"de": {"full": "Wir sind voll."}}
    assert reply_text("hint", "de", overrides) == reply_text("hint", "de")
    assert reply_text("full", "fr", overrides) == reply_text("full", "fr")


def test_an_english_override_applies_to_unknown_languages() -> None:
    overrides = {"en": {"hint": "Say Hi first."}}
    assert reply_text("hint", "xx", overrides) == "Say Hi first."


def test_an_override_for_an_unknown_language_is_used() -> None:
    overrides = {"sv": {"registered": "Du är registrerad."}}
    assert reply_text("registered", "sv", overrides) == "Du är registrerad."


def test_an_unknown_reply_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reply kind"):
        reply_text(cast(ReplyKind, "welcome"), "en")


@pytest.mark.parametrize(("language", "stop_word"), sorted(STOP_WORD_BY_LANGUAGE.items()))
def test_the_registered_text_names_a_stop_word_of_its_language(
    matcher: GreetingMatcher, language: str, stop_word: str
) -> None:
    assert stop_word in reply_text("registered", language)
    assert stop_word in reply_text("already_registered", language)
    assert matcher.stop(stop_word) == Match(language)


@pytest.mark.parametrize("kind", ["share_contact", "stopped", "hint"])
@pytest.mark.parametrize(("language", "greeting"), sorted(GREETING_BY_LANGUAGE.items()))
def test_texts_asking_to_say_hi_name_a_greeting_of_their_language(
    matcher: GreetingMatcher, kind: ReplyKind, language: str, greeting: str
) -> None:
    assert greeting in reply_text(kind, language)
    assert matcher.greeting(greeting) == Match(language)
