"""Telethon's errors become the port's error tree (reference/telethon-notes.md §4.4)."""

from __future__ import annotations

import pytest
from telethon import errors
from telethon.tl.types import RpcError

from app.telegram import port
from app.telegram.telethon import to_port_error


def test_flood_wait_keeps_its_seconds() -> None:
    mapped = to_port_error(errors.FloodWaitError(request=None, capture=42))
    assert isinstance(mapped, port.FloodWait) and mapped.seconds == 42


def test_random_id_duplicate_means_already_sent_although_it_is_a_server_error() -> None:
    error = errors.RandomIdDuplicateError(request=None)
    assert isinstance(error, errors.ServerError)  # the trap: a 500 that must not be retried
    assert isinstance(to_port_error(error), port.AlreadySent)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.UserIsBlockedError, "user_blocked"),
        (errors.YouBlockedUserError, "user_blocked"),
        (errors.InputUserDeactivatedError, "user_deactivated"),
        (errors.UserPrivacyRestrictedError, "privacy_restricted"),
        (errors.PeerIdInvalidError, "peer_invalid"),
        (errors.UserIdInvalidError, "peer_invalid"),
    ],
)
def test_recipient_errors_get_their_stable_codes(error: type[Exception], code: str) -> None:
    mapped = to_port_error(error(request=None))
    assert isinstance(mapped, port.RecipientError) and mapped.code == code


def test_peer_flood_stops_the_account_not_one_message() -> None:
    assert isinstance(to_port_error(errors.PeerFloodError(request=None)), port.PeerFlood)


@pytest.mark.parametrize(
    "error",
    [
        errors.AuthKeyUnregisteredError,
        errors.SessionRevokedError,
        errors.UserDeactivatedBanError,
        errors.AuthKeyDuplicatedError,
    ],
)
def test_a_dead_session_is_revoked(error: type[Exception]) -> None:
    assert isinstance(to_port_error(error(request=None)), port.SessionRevoked)


def test_the_2fa_prompt_is_not_mistaken_for_a_revoked_session() -> None:
    # SessionPasswordNeededError is an UnauthorizedError like AUTH_KEY_UNREGISTERED.
    mapped = to_port_error(errors.SessionPasswordNeededError(request=None))
    assert not isinstance(mapped, port.SessionRevoked)


def test_content_problems_are_rejected_not_retried() -> None:
    mapped = to_port_error(errors.MessageTooLongError(request=None))
    assert isinstance(mapped, port.MessageRejected)


@pytest.mark.parametrize(
    "error",
    [
        errors.RpcCallFailError(request=None),
        errors.TimedOutError(request=None, message="Timeout"),
        ConnectionError("reset"),
        TimeoutError(),
    ],
)
def test_server_and_network_trouble_is_transient(error: Exception) -> None:
    assert isinstance(to_port_error(error), port.TransientError)


def test_an_unknown_400_is_rejected_with_its_message() -> None:
    error = errors.BadRequestError(request=None, message="SOMETHING_NEW", code=400)
    mapped = to_port_error(error)
    assert isinstance(mapped, port.MessageRejected) and "SOMETHING_NEW" in str(mapped)


def test_an_auth_key_the_server_no_longer_knows_is_a_revoked_session() -> None:
    assert isinstance(to_port_error(errors.AuthKeyNotFound()), port.SessionRevoked)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.UserDeactivatedBanError, "banned"),
        (errors.PhoneNumberBannedError, "banned"),
        (errors.UserDeactivatedError, "deactivated"),
        (errors.AuthKeyUnregisteredError, "revoked"),
    ],
)
def test_a_dead_session_names_the_accounts_condition(error: type[Exception], status: str) -> None:
    mapped = to_port_error(error(request=None))
    assert isinstance(mapped, port.SessionRevoked) and mapped.status == status


def test_a_frozen_account_is_told_apart_from_a_refused_message() -> None:
    frozen = errors.rpc_message_to_error(RpcError(420, "FROZEN_METHOD_INVALID"), None)
    mapped = to_port_error(frozen)
    assert isinstance(mapped, port.AccountFrozen) and "froze" in str(mapped)
