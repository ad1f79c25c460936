from __future__ import annotations

import pytest

from app.sealing import SealError, derive_key, seal, unseal


def test_a_sealed_blob_opens_with_the_same_key_and_owner() -> None:
    key = derive_key("secret", "telegram-session")
    blob = seal(key, b"auth key bytes", b"instance:1")
    assert b"auth key bytes" not in blob
    assert unseal(key, blob, b"instance:1") == b"auth key bytes"


def test_another_secret_key_does_not_open_it() -> None:
    blob = seal(derive_key("secret", "p"), b"x", b"instance:1")
    with pytest.raises(SealError, match="another secret_key"):
        unseal(derive_key("other", "p"), blob, b"instance:1")


def test_a_blob_moved_to_another_owner_does_not_open() -> None:
    key = derive_key("secret", "p")
    with pytest.raises(SealError):
        unseal(key, seal(key, b"x", b"instance:1"), b"instance:2")


def test_a_tampered_blob_does_not_open() -> None:
    key = derive_key("secret", "p")
    blob = bytearray(seal(key, b"payload", b"i"))
    blob[-1] ^= 1
    with pytest.raises(SealError):
        unseal(key, bytes(blob), b"i")


def test_purposes_get_different_keys() -> None:
    assert derive_key("secret", "a") != derive_key("secret", "b")
