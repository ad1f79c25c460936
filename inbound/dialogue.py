"""The registration dialogue as a pure plan: a message and what is known of its sender in, a
decision out (how the message is stored, the sender's row afterwards, the reply, the events).

No I/O: inbound/store.py reads the facts for a whole batch, asks `plan` about each message in
order (each decision's row is the next message's fact) and writes the decisions.

What a person can say:
- a greeting: registers them when their phone number is visible, else they are asked for their
  contact card (pending); a registered person is told they are registered already; when the
  gateway is full, no one new is registered;
- their own contact card while pending: completes the registration; someone else's card, or one
  from someone not registered: refused;
- a stop word: ends the registration (or a pending one);
- anything else: forwarded (message.received) from a registered person; from anyone else,
  ignored, with one hint a day at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from app.telegram.port import SERVICE_USER_ID, IncomingMessage, Sender
from app.vocabulary import EventType, RecipientStatus
from inbound.greetings import FALLBACK_LANGUAGE, GreetingMatcher, ReplyKind, reply_text

HINT_INTERVAL: Final = timedelta(days=1)

# How an inbound message is kept (`inbound_message.handling`).
Handling = Literal["forwarded", "registration", "ignored"]


def phone_digits(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits or None


@dataclass(frozen=True)
class Person:
    """The sender's recipient row, as far as the dialogue reads or changes it."""

    status: RecipientStatus
    language: str = FALLBACK_LANGUAGE
    number: str | None = None
    access_hash: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    registered_at: datetime | None = None
    unregistered_at: datetime | None = None
    last_hint_at: datetime | None = None


@dataclass(frozen=True)
class Facts:
    """What the store knows besides the message."""

    person: Person | None  # None: the sender has no recipient row
    seen: bool = False  # this Telegram message is stored already (a replay after catch-up)
    full: bool = False  # the gateway has as many registered people as it may


@dataclass(frozen=True)
class Rules:
    """The instance's dialogue settings."""

    matcher: GreetingMatcher
    replies: Mapping[str, Mapping[str, str]]  # operators' reply texts, by language and kind


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    language: str
    text: str


@dataclass(frozen=True)
class Decision:
    """What to do with one message. `handling` None: nothing at all (not stored, no reply)."""

    handling: Handling | None
    person: Person | None = None  # the sender's row afterwards (None: there is none)
    number: str | None = None  # the number the stored message and its events carry
    reply: Reply | None = None
    # In order: recipient.registered, recipient.unregistered (reason stop_word),
    # message.received.
    events: tuple[EventType, ...] = ()
    # A number this registration takes over: any other person registered with it (a re-used
    # SIM) is unregistered, without an event.
    releases: str | None = None


NOTHING: Final = Decision(handling=None)


def dialogue_text(msg: IncomingMessage) -> str:
    """The text greetings and stop words are looked for in: a caption, a contact card or a
    location never greets."""
    if msg.media is not None or msg.contact is not None or msg.location is not None:
        return ""
    return msg.text


def asks_capacity(msg: IncomingMessage, person: Person | None, rules: Rules) -> bool:
    """Whether `plan` needs `Facts.full` for this message (a greeting from someone not
    registered): the store counts the registered people only then."""
    if person is not None and person.status == RecipientStatus.REGISTERED:
        return False
    text = dialogue_text(msg)
    return bool(text) and rules.matcher.greeting(text) is not None


def plan(msg: IncomingMessage, facts: Facts, rules: Rules, now: datetime) -> Decision:
    """The decision for `msg` given `facts` (pure)."""
    sender = msg.sender
    if sender.user_id == SERVICE_USER_ID or sender.is_bot or facts.seen:
        # Never answer Telegram's service account (login codes) or bots; a replay is done.
        return NOTHING
    return _Plan(msg, facts.person, rules, now).decide(facts.full)


class _Plan:
    def __init__(
        self, msg: IncomingMessage, person: Person | None, rules: Rules, now: datetime
    ) -> None:
        self.msg = msg
        self.sender = msg.sender
        self.person = person
        self.rules = rules
        self.now = now

    def decide(self, full: bool) -> Decision:
        return self._contact() or self._greeting(full) or self._stop() or self._other()

    def _contact(self) -> Decision | None:
        contact, person = self.msg.contact, self.person
        if contact is None:
            return None
        own = contact.user_id == self.sender.user_id
        if person is not None and person.status == RecipientStatus.PENDING:
            if not own:
                return self._answer("contact_refused", person.language)
            number = phone_digits(contact.phone)
            if number is not None:
                return self._register(number, person.language)
        elif not own and (person is None or person.status != RecipientStatus.REGISTERED):
            return self._answer("contact_refused", FALLBACK_LANGUAGE)
        return None  # on to the other rules, as any message

    def _greeting(self, full: bool) -> Decision | None:
        text = dialogue_text(self.msg)
        greeting = self.rules.matcher.greeting(text) if text else None
        if greeting is None:
            return None
        language, person = greeting.language, self.person
        if person is not None and person.status == RecipientStatus.REGISTERED:
            after = replace(self._refreshed(person), language=language)
            return self._answer("already_registered", language, after)
        if full:
            return self._answer("full", language)
        number = phone_digits(self.sender.phone)
        if number is None:
            after = replace(
                self._refreshed(person or self._new()),
                status=RecipientStatus.PENDING,
                language=language,
            )
            return self._answer("share_contact", language, after)
        return self._register(number, language)

    def _stop(self) -> Decision | None:
        text = dialogue_text(self.msg)
        stop = self.rules.matcher.stop(text) if text else None
        person = self.person
        if stop is None or person is None or person.status == RecipientStatus.UNREGISTERED:
            return None
        after = replace(person, status=RecipientStatus.UNREGISTERED, unregistered_at=self.now)
        events: tuple[EventType, ...] = (EventType.RECIPIENT_UNREGISTERED,)
        if person.status != RecipientStatus.REGISTERED:
            events = ()  # a pending registration ends silently
        return self._answer("stopped", stop.language, after, events)

    def _other(self) -> Decision:
        person = self.person
        if person is not None and person.status == RecipientStatus.REGISTERED:
            return Decision(
                "forwarded",
                self._refreshed(person),
                number=person.number,
                events=(EventType.MESSAGE_RECEIVED,),
            )
        # Someone who is not registered: one hint a day at most, nothing forwarded.
        after = person or self._refreshed(self._new())
        if after.last_hint_at is not None and after.last_hint_at + HINT_INTERVAL > self.now:
            return Decision("ignored", after, number=self._number(after))
        after = replace(after, last_hint_at=self.now)
        return self._answer("hint", after.language, after, handling="ignored")

    def _register(self, number: str, language: str) -> Decision:
        after = replace(
            self._refreshed(self.person or self._new()),
            status=RecipientStatus.REGISTERED,
            language=language,
            number=number,
            registered_at=self.now,
            unregistered_at=None,
        )
        decision = self._answer("registered", language, after, (EventType.RECIPIENT_REGISTERED,))
        return replace(decision, releases=number)

    def _answer(
        self,
        kind: ReplyKind,
        language: str,
        after: Person | None = None,
        events: tuple[EventType, ...] = (),
        handling: Handling = "registration",
    ) -> Decision:
        person = after or self.person
        text = reply_text(kind, language, self.rules.replies)
        return Decision(
            handling,
            person,
            number=self._number(person),
            reply=Reply(kind, language, text),
            events=events,
        )

    def _number(self, after: Person | None) -> str | None:
        """The stored message's number: the row's (as the dialogue left it) when the sender had
        one before, else the phone Telegram shows."""
        if self.person is None or after is None:
            return phone_digits(self.sender.phone)
        return after.number

    def _new(self) -> Person:
        return Person(status=RecipientStatus.UNREGISTERED)

    def _refreshed(self, person: Person) -> Person:
        return refreshed(person, self.sender)


def refreshed(person: Person, sender: Sender) -> Person:
    """`person` with the names and access hash Telegram shows now."""
    return replace(
        person,
        access_hash=sender.access_hash,
        first_name=sender.first_name,
        last_name=sender.last_name,
        username=sender.username,
    )
