"""The registration dialogue as a pure plan (inbound/dialogue.py): no database, no backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.telegram.port import IncomingMedia, IncomingMessage, Sender, SharedContact
from app.vocabulary import EventType, RecipientStatus
from inbound.dialogue import (
    NOTHING,
    Decision,
    Facts,
    Person,
    Reply,
    Rules,
    asks_capacity,
    plan,
)
from inbound.greetings import DEFAULT_GREETINGS, GreetingMatcher, reply_text

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RULES = Rules(GreetingMatcher(DEFAULT_GREETINGS), {})
ANA = Sender(user_id=5005, access_hash=9, phone="+34 612 345 678", first_name="Ana")
HIDDEN = replace(ANA, phone=None)
REGISTERED = Person(
    status=RecipientStatus.REGISTERED,
    language="es",
    number="34612345678",
    access_hash=1,
    first_name="Old",
    registered_at=NOW - timedelta(days=3),
)
PENDING = Person(status=RecipientStatus.PENDING, language="uk", first_name="Ana")
STOPPED = Person(
    status=RecipientStatus.UNREGISTERED,
    language="de",
    number="34612345678",
    unregistered_at=NOW - timedelta(days=2),
)


def says(text: str = "", sender: Sender = ANA, **fields: object) -> IncomingMessage:
    return IncomingMessage(message_id=7, date=NOW, sender=sender, text=text, **fields)  # type: ignore[arg-type]


def decide(msg: IncomingMessage, person: Person | None, **facts: bool) -> Decision:
    return plan(msg, Facts(person, **facts), RULES, NOW)


def reply(kind: str, language: str) -> Reply:
    return Reply(kind, language, reply_text(kind, language))  # type: ignore[arg-type]


def card(phone: str = "+34612345678", user_id: int = ANA.user_id) -> SharedContact:
    return SharedContact(phone=phone, user_id=user_id)


# --- nothing at all ---


@pytest.mark.parametrize(
    "sender",
    [replace(ANA, user_id=777000), replace(ANA, is_bot=True)],
    ids=["service account", "bot"],
)
def test_the_service_account_and_bots_are_neither_stored_nor_answered(sender: Sender) -> None:
    assert decide(says("Hi", sender), None) == NOTHING


def test_a_replay_changes_nothing() -> None:
    assert decide(says("Hi"), None, seen=True) == NOTHING
    assert decide(says("hello"), REGISTERED, seen=True) == NOTHING


# --- greetings ---


def test_a_greeting_with_a_visible_phone_registers_in_its_language() -> None:
    decision = decide(says("¡Hola!"), None)
    assert decision.handling == "registration"
    assert decision.reply == reply("registered", "es")
    assert decision.events == (EventType.RECIPIENT_REGISTERED,)
    assert decision.releases == "34612345678"  # a re-used SIM: the older registration ends
    assert decision.number == "34612345678"
    assert decision.person == Person(
        status=RecipientStatus.REGISTERED,
        language="es",
        number="34612345678",
        access_hash=9,
        first_name="Ana",
        registered_at=NOW,
    )


def test_a_greeting_with_a_hidden_phone_is_pending_and_asks_for_the_contact_card() -> None:
    decision = decide(says("Привіт", HIDDEN), None)
    assert decision.handling == "registration"
    assert decision.reply == reply("share_contact", "uk")
    assert decision.events == () and decision.releases is None
    assert decision.person is not None
    assert decision.person.status == RecipientStatus.PENDING
    assert decision.person.language == "uk" and decision.person.number is None
    assert decision.number is None


def test_a_full_gateway_answers_politely_and_registers_no_one() -> None:
    decision = decide(says("Hallo"), None, full=True)
    assert decision == Decision(
        "registration", None, number="34612345678", reply=reply("full", "de")
    )


def test_a_registered_person_greeting_again_is_told_so_in_the_new_language() -> None:
    decision = decide(says("Ciao"), REGISTERED)
    assert decision.reply == reply("already_registered", "it")
    assert decision.events == ()
    assert decision.person == replace(REGISTERED, language="it", access_hash=9, first_name="Ana")
    assert decision.number == REGISTERED.number


def test_an_unregistered_person_greeting_registers_again() -> None:
    decision = decide(says("Hi"), STOPPED)
    assert decision.events == (EventType.RECIPIENT_REGISTERED,)
    assert decision.person is not None
    assert decision.person.status == RecipientStatus.REGISTERED
    assert decision.person.unregistered_at is None and decision.person.registered_at == NOW


def test_a_caption_never_greets() -> None:
    photo = IncomingMedia(kind="image", data=b"x", filename=None, mime_type="image/png")
    decision = decide(says("Hi", media=photo), REGISTERED)
    assert decision.handling == "forwarded"


# --- contact cards ---


def test_the_own_contact_card_completes_a_pending_registration_in_its_language() -> None:
    decision = decide(says(sender=HIDDEN, contact=card()), PENDING)
    assert decision.reply == reply("registered", "uk")
    assert decision.events == (EventType.RECIPIENT_REGISTERED,)
    assert decision.person is not None and decision.person.number == "34612345678"
    assert decision.number == "34612345678"


def test_someone_elses_card_while_pending_is_refused_in_the_persons_language() -> None:
    decision = decide(says(sender=HIDDEN, contact=card(user_id=1)), PENDING)
    assert decision == Decision(
        "registration", PENDING, number=None, reply=reply("contact_refused", "uk")
    )


def test_someone_elses_card_from_a_stranger_is_refused_in_english() -> None:
    decision = decide(says(sender=HIDDEN, contact=card(user_id=1)), None)
    assert decision == Decision("registration", None, reply=reply("contact_refused", "en"))


def test_a_card_from_a_registered_person_is_forwarded() -> None:
    decision = decide(says(contact=card(user_id=1)), REGISTERED)
    assert decision.handling == "forwarded"
    assert decision.events == (EventType.MESSAGE_RECEIVED,)


# --- stop words ---


def test_a_stop_word_ends_a_registration_with_an_event() -> None:
    decision = decide(says("stop!"), REGISTERED)
    assert decision.reply == reply("stopped", "en")
    assert decision.events == (EventType.RECIPIENT_UNREGISTERED,)
    assert decision.person == replace(
        REGISTERED, status=RecipientStatus.UNREGISTERED, unregistered_at=NOW
    )  # the names are not refreshed by a stop word


def test_a_stop_word_ends_a_pending_registration_silently() -> None:
    decision = decide(says("СТОП", HIDDEN), PENDING)
    assert decision.reply == reply("stopped", "ru")
    assert decision.events == ()
    assert decision.person is not None
    assert decision.person.status == RecipientStatus.UNREGISTERED


def test_a_stop_word_from_someone_not_registered_gets_the_hint() -> None:
    decision = decide(says("STOP"), STOPPED)
    assert decision.handling == "ignored"
    assert decision.reply == reply("hint", "de")


# --- anything else ---


def test_a_registered_persons_message_is_forwarded_with_fresh_names() -> None:
    decision = decide(says("Where is my parcel?"), REGISTERED)
    assert decision == Decision(
        "forwarded",
        replace(REGISTERED, access_hash=9, first_name="Ana"),
        number=REGISTERED.number,
        events=(EventType.MESSAGE_RECEIVED,),
    )


def test_a_strangers_message_is_ignored_with_a_hint_and_a_row_for_them() -> None:
    decision = decide(says("hello?"), None)
    assert decision.handling == "ignored"
    assert decision.reply == reply("hint", "en")
    assert decision.events == ()
    assert decision.person == Person(
        status=RecipientStatus.UNREGISTERED, access_hash=9, first_name="Ana", last_hint_at=NOW
    )
    assert decision.number == "34612345678"


def test_the_hint_is_given_once_a_day_at_most() -> None:
    hinted = replace(STOPPED, last_hint_at=NOW - timedelta(hours=23))
    assert decide(says("hello?"), hinted) == Decision("ignored", hinted, number=STOPPED.number)
    day_later = replace(hinted, last_hint_at=NOW - timedelta(days=1))
    decision = decide(says("hello?"), day_later)
    assert decision.reply == reply("hint", "de")
    assert decision.person == replace(hinted, last_hint_at=NOW)


def test_the_operators_reply_texts_come_first() -> None:
    rules = Rules(RULES.matcher, {"es": {"registered": "¡Listo!"}})
    decision = plan(says("Hola"), Facts(None), rules, NOW)
    assert decision.reply == Reply("registered", "es", "¡Listo!")


def test_the_registered_count_is_asked_for_only_for_a_greeting_from_someone_new() -> None:
    assert asks_capacity(says("Hi"), None, RULES)
    assert asks_capacity(says("Hi"), STOPPED, RULES)
    assert not asks_capacity(says("Hi"), REGISTERED, RULES)
    assert not asks_capacity(says("hello?"), None, RULES)
    assert not asks_capacity(says("STOP"), PENDING, RULES)
