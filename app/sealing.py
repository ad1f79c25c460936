"""Encryption at rest for secrets the gateway keeps in its database (Telegram sessions).

An auth key is the whole login of the company's account: whoever reads it *is* the account.
It is stored sealed with AES-256-GCM under a key derived (HKDF-SHA256) from `[security]
secret_key`, bound to what it belongs to (associated data), so a blob copied to another row
or tampered with does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12


class SealError(Exception):
    """The blob does not open: another secret_key, another owner, or tampering."""


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose from the deployment's secret_key."""
    if not secret_key:
        raise ValueError("secret_key is empty")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"tgw-sealing-v1",
        info=purpose.encode("utf-8"),
    ).derive(secret_key.encode("utf-8"))


def seal(key: bytes, plaintext: bytes, bound_to: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, bound_to)


def unseal(key: bytes, blob: bytes, bound_to: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise SealError("not a sealed blob of a known format")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, bound_to)
    except InvalidTag as exc:
        raise SealError(
            "the sealed blob does not open: another secret_key, another owner, or tampering"
        ) from exc
