"""The server side of the 2FA password check (SRP-2048, https://core.telegram.org/api/srp).

The client side is Telethon's `password.py::compute_check`. The algorithm is
`passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow`:

    x  = PH2(password, salt1, salt2)          v = g^x mod p
    k  = H(p | g)                             B = (k*v + g^b) mod p
    u  = H(A | B)                             S = (A * v^u)^b mod p,  K = H(S)
    M1 = H(H(p) xor H(g) | H(salt1) | H(salt2) | A | B | K)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field

from .crypto import DH_G, DH_PRIME, DH_PRIME_BYTES, sha256

_MIN_BITS = 2048 - 64


def _pad(value: int) -> bytes:
    return value.to_bytes(256, "big")


def password_hash(password: str, salt1: bytes, salt2: bytes) -> bytes:
    """PH2 from the SRP page (the x of SRP, before reduction)."""
    ph1 = sha256(salt2, sha256(salt1, password.encode("utf-8"), salt1), salt2)
    return sha256(salt2, hashlib.pbkdf2_hmac("sha512", ph1, salt1, 100000), salt2)


def _good(value: int) -> bool:
    """Telethon's `is_good_mod_exp_first`: both value and p - value must be about 2048 bits."""
    return value.bit_length() >= _MIN_BITS and (DH_PRIME - value).bit_length() >= _MIN_BITS


@dataclass
class Challenge:
    srp_id: int
    b: int
    srp_b: bytes  # B, 256 bytes big-endian


@dataclass
class SrpPassword:
    """A 2FA password as the server stores it: salts and the verifier v, never the password."""

    salt1: bytes
    salt2: bytes
    verifier: int
    challenges: dict[int, Challenge] = field(default_factory=dict)

    @classmethod
    def create(cls, password: str) -> SrpPassword:
        salt1, salt2 = os.urandom(40), os.urandom(16)
        x = int.from_bytes(password_hash(password, salt1, salt2), "big")
        return cls(salt1=salt1, salt2=salt2, verifier=pow(DH_G, x, DH_PRIME))

    @property
    def k(self) -> int:
        return int.from_bytes(sha256(DH_PRIME_BYTES, _pad(DH_G)), "big")

    def new_challenge(self) -> Challenge:
        """A fresh (srp_id, B) for account.getPassword."""
        while True:
            b = int.from_bytes(os.urandom(256), "big")
            g_b = pow(DH_G, b, DH_PRIME)
            if _good(g_b):
                break
        big_b = (self.k * self.verifier + g_b) % DH_PRIME
        challenge = Challenge(srp_id=secrets.randbits(63), b=b, srp_b=_pad(big_b))
        self.challenges[challenge.srp_id] = challenge
        return challenge

    def check(self, srp_id: int, a_bytes: bytes, m1: bytes) -> bool | None:
        """True if M1 proves the password; False if not; None if srp_id is unknown."""
        challenge = self.challenges.get(srp_id)
        if challenge is None:
            return None
        big_a = int.from_bytes(a_bytes, "big")
        if not 0 < big_a < DH_PRIME:
            return False
        a_pad, b_pad = _pad(big_a), challenge.srp_b
        u = int.from_bytes(sha256(a_pad, b_pad), "big")
        s = pow(big_a * pow(self.verifier, u, DH_PRIME) % DH_PRIME, challenge.b, DH_PRIME)
        k_session = sha256(_pad(s))
        hp, hg = sha256(DH_PRIME_BYTES), sha256(_pad(DH_G))
        expected = sha256(
            bytes(x ^ y for x, y in zip(hp, hg, strict=True)),
            sha256(self.salt1),
            sha256(self.salt2),
            a_pad,
            b_pad,
            k_session,
        )
        ok = hmac.compare_digest(expected, m1)
        if ok:
            del self.challenges[srp_id]  # single use
        return ok
