"""Standard Webhooks signatures, verified with the `standardwebhooks` library, not our code."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from inbound.webhooks.signing import (
    SecretError,
    new_secret,
    secret_key_bytes,
    webhook_headers,
)

BODY = b'{"type":"message.received","id":"evt_1","seq":7}'


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert new_secret() != secret


def test_the_library_verifies_our_signature() -> None:
    secret = new_secret()
    now = int(time.time())
    headers = webhook_headers([secret_key_bytes(secret)], "evt_1", now, BODY)
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(now)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "message.received",
        "id": "evt_1",
        "seq": 7,
    }


def test_another_secret_or_an_altered_body_does_not_verify() -> None:
    secret = new_secret()
    headers = webhook_headers([secret_key_bytes(secret)], "evt_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"7", b"8"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "evt_2"})


def test_during_a_rotation_both_old_and_new_secrets_verify() -> None:
    old, new = new_secret(), new_secret()
    keys = [secret_key_bytes(new), secret_key_bytes(old)]
    headers = webhook_headers(keys, "evt_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("abc", "starts with 'whsec_'"),
        ("whsec_!!!", "standard base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "24 to 64 bytes"),
    ],
)
def test_malformed_secrets_are_refused_with_the_reason(secret: str, why: str) -> None:
    with pytest.raises(SecretError, match=why):
        secret_key_bytes(secret)
