"""Reading @SpamBot's replies (app/telegram/spambot.py): realistic texts, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.telegram.port import SpamBotUnclear
from app.telegram.spambot import NOT_LIMITED_REPLY, classify, limited_until

LIMITED_UNTIL = (
    "I’m afraid some Telegram users found your messages annoying and forwarded them to our team "
    "of moderators for inspection. The moderators have confirmed the report and your account is "
    "now limited until 3 Jan 2027, 12:00 UTC.\n\nWhile the account is limited, you will not be "
    "able to send messages to people who do not have your number in their phone contacts or add "
    "them to groups and channels. Of course, when people contact you first, you can always reply "
    "to them."
)
LIMITED_NO_DATE = (
    "I'm afraid some Telegram users found your messages annoying and forwarded them to our team "
    "of moderators for inspection. The moderators have confirmed the report and your account is "
    "now limited.\n\nYou will not be able to send messages to people who do not have your number "
    "in their contacts."
)
HARSH = (
    "Dear Acme, I'm very sorry that you had to contact me. Unfortunately, some phone numbers may "
    "trigger a harsh response from our anti-spam systems. If you think this is the case with "
    "you, you can submit a complaint to our moderators or subscribe to Telegram Premium to get "
    "less strict limits."
)
FROZEN = (
    "Your account was frozen for violating the Telegram Terms of Service. While it is frozen, "
    "you can't send messages, but you can submit an appeal."
)
BLOCKED = (
    "Your account has been blocked for violations of the Telegram Terms of Service based on "
    "user reports confirmed by our moderators."
)


def test_the_good_news_reply_is_ok_without_an_end() -> None:
    check = classify(NOT_LIMITED_REPLY)
    assert (check.condition, check.until) == ("ok", None)
    assert check.reply == NOT_LIMITED_REPLY


def test_the_good_news_reply_with_a_plain_apostrophe_and_other_spacing_is_ok() -> None:
    assert classify("Good news,  no limits are currently\napplied to your account.").condition == (
        "ok"
    )
    assert classify("You're free as a bird!").condition == "ok"


def test_a_limit_with_a_date_is_restricted_until_that_time_in_utc() -> None:
    check = classify(LIMITED_UNTIL)
    assert check.condition == "restricted"
    assert check.until == datetime(2027, 1, 3, 12, 0, tzinfo=UTC)
    assert check.reply == LIMITED_UNTIL


def test_a_limit_without_a_date_is_restricted_with_no_end() -> None:
    check = classify(LIMITED_NO_DATE)
    assert (check.condition, check.until) == ("restricted", None)


def test_the_harsh_anti_spam_reply_is_restricted() -> None:
    assert classify(HARSH).condition == "restricted"


@pytest.mark.parametrize("text", [FROZEN, BLOCKED])
def test_a_frozen_or_blocked_account_is_frozen(text: str) -> None:
    assert classify(text).condition == "frozen"


def test_russian_replies_are_read_too() -> None:
    assert classify("Ваш аккаунт свободен от каких-либо ограничений.").condition == "ok"
    assert classify("К сожалению, ваш аккаунт ограничен до 3 янв 2027.").condition == ("restricted")
    assert classify("Ваш аккаунт заморожен.").condition == "frozen"


@pytest.mark.parametrize("text", ["Hello! What can I do for you?", "   ", "🤖"])
def test_an_unknown_reply_is_not_guessed_but_refused_with_its_text(text: str) -> None:
    with pytest.raises(SpamBotUnclear) as unclear:
        classify(text)
    assert unclear.value.reply == text.strip()
    assert "could not interpret @SpamBot's reply" in str(unclear.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("limited until 3 Jan 2027, 12:00 UTC.", datetime(2027, 1, 3, 12, 0, tzinfo=UTC)),
        ("limited until 17 September 2026.", datetime(2026, 9, 17, tzinfo=UTC)),
        ("limited until January 3, 2027 08:30", datetime(2027, 1, 3, 8, 30, tzinfo=UTC)),
        ("limited until Mar 1st, 2027", datetime(2027, 3, 1, tzinfo=UTC)),
        ("limited until 2027-01-03 12:00", datetime(2027, 1, 3, 12, 0, tzinfo=UTC)),
        ("limited until 31 Feb 2027", None),
        ("limited until further notice", None),
        ("limited until 3 Smarch 2027", None),
    ],
)
def test_the_end_of_a_limit_is_read_where_the_date_is_clear(
    text: str, expected: datetime | None
) -> None:
    assert limited_until(text) == expected
