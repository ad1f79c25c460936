"""Server-side MTProto 2.0 cryptography, written from https://core.telegram.org/mtproto.

Independent of Telethon's own crypto code (only `cryptography` primitives), so a mistake on
one side cannot cancel out the same mistake on the other.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The 2048-bit safe prime Telegram uses both for auth-key creation and for 2FA (SRP), with g = 3.
DH_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
    16,
)
DH_G = 3
DH_PRIME_BYTES = DH_PRIME.to_bytes(256, "big")


def int_to_bytes(value: int) -> bytes:
    """Big-endian bytes without leading zeros (what MTProto and Telethon put in `bytes` fields)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _tl_bytes(data: bytes) -> bytes:
    """TL `bytes` serialisation (length prefix and padding), used by the key fingerprint."""
    short = len(data) < 254
    head = bytes([len(data)]) if short else b"\xfe" + len(data).to_bytes(3, "little")
    body = head + data
    return body + b"\0" * (-len(body) % 4)


# --- RSA: the server's key, and the two ways clients encrypt p_q_inner_data with it ---


@dataclass(frozen=True)
class ServerKey:
    n: int
    e: int
    d: int
    public_key_pem: str  # PKCS#1, "-----BEGIN RSA PUBLIC KEY-----"

    @property
    def fingerprint(self) -> int:
        """The lower 64 bits of SHA1(n, e) as TL bytes, signed (Telethon's dict key)."""
        digest = sha1(_tl_bytes(int_to_bytes(self.n)), _tl_bytes(int_to_bytes(self.e)))
        value: int = struct.unpack("<q", digest[-8:])[0]
        return value

    def decrypt_raw(self, data: bytes) -> bytes:
        return pow(int.from_bytes(data, "big"), self.d, self.n).to_bytes(256, "big")


def generate_server_key() -> ServerKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.private_numbers()
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode("ascii")
    )
    return ServerKey(
        n=numbers.public_numbers.n, e=numbers.public_numbers.e, d=numbers.d, public_key_pem=pem
    )


@functools.cache
def shared_server_key() -> ServerKey:
    """One key per test process: generating it is the slow part of starting a fake server."""
    return generate_server_key()


def rsa_decrypt_inner_data(key: ServerKey, encrypted: bytes) -> list[bytes]:
    """Candidate plaintexts of `encrypted_data` in req_DH_params, most likely first.

    Two schemes exist: RSA_PAD (current clients: AES-wrapped, SHA256-checked) and the old one
    Telethon 1.39..1.45 still use (`crypto/rsa.py::encrypt`: SHA1(data) + data + random
    padding, raw RSA). The RSA_PAD candidate is returned only when its hash checks out; the
    old scheme's candidate is checked by the caller (SHA1 over the parsed object).
    """
    plain = key.decrypt_raw(encrypted)
    candidates: list[bytes] = []
    # RSA_PAD: temp_key_xor (32) + aes_encrypted (224)
    temp_key_xor, aes_encrypted = plain[:32], plain[32:]
    temp_key = bytes(a ^ b for a, b in zip(temp_key_xor, sha256(aes_encrypted), strict=True))
    data_with_hash = ige_decrypt(aes_encrypted, temp_key, b"\0" * 32)
    data_pad_reversed, digest = data_with_hash[:192], data_with_hash[192:]
    data_with_padding = data_pad_reversed[::-1]
    if sha256(temp_key, data_with_padding) == digest:
        candidates.append(data_with_padding)
    # Old scheme: 0x00 + SHA1(data) + data + padding (255 bytes under RSA)
    if plain[0] == 0:
        candidates.append(plain[1:])
    return candidates


# --- AES-256-IGE (https://core.telegram.org/mtproto/description) ---


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(16, "little")


def ige_encrypt(plain: bytes, key: bytes, iv: bytes) -> bytes:
    if len(plain) % 16:
        raise ValueError("IGE needs whole 16-byte blocks")
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    prev_cipher, prev_plain = iv[:16], iv[16:32]
    out = bytearray()
    for i in range(0, len(plain), 16):
        block = plain[i : i + 16]
        cipher = _xor16(ecb.update(_xor16(block, prev_cipher)), prev_plain)
        out += cipher
        prev_cipher, prev_plain = cipher, block
    return bytes(out)


def ige_decrypt(cipher: bytes, key: bytes, iv: bytes) -> bytes:
    if len(cipher) % 16:
        raise ValueError("IGE needs whole 16-byte blocks")
    ecb = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    prev_cipher, prev_plain = iv[:16], iv[16:32]
    out = bytearray()
    for i in range(0, len(cipher), 16):
        block = cipher[i : i + 16]
        plain = _xor16(ecb.update(_xor16(block, prev_plain)), prev_cipher)
        out += plain
        prev_cipher, prev_plain = block, plain
    return bytes(out)


# --- auth key creation helpers ---


def nonce_key_iv(server_nonce: int, new_nonce: int) -> tuple[bytes, bytes]:
    """tmp_aes_key / tmp_aes_iv for the server_DH_inner_data exchange."""
    sn = server_nonce.to_bytes(16, "little", signed=True)
    nn = new_nonce.to_bytes(32, "little", signed=True)
    hash1, hash2, hash3 = sha1(nn, sn), sha1(sn, nn), sha1(nn, nn)
    return hash1 + hash2[:12], hash2[12:20] + hash3 + nn[:4]


@dataclass(frozen=True)
class AuthKeyData:
    key: bytes

    @property
    def key_id(self) -> int:
        value: int = struct.unpack("<Q", sha1(self.key)[-8:])[0]
        return value

    @property
    def aux_hash(self) -> bytes:
        return sha1(self.key)[:8]

    def new_nonce_hash(self, new_nonce: int, number: int) -> int:
        data = new_nonce.to_bytes(32, "little", signed=True) + bytes([number]) + self.aux_hash
        return int.from_bytes(sha1(data)[4:20], "little", signed=True)


# --- MTProto 2.0 message encryption: x = 0 client to server, x = 8 server to client ---


def _aes_key_iv(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    a = sha256(msg_key, auth_key[x : x + 36])
    b = sha256(auth_key[40 + x : 76 + x], msg_key)
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


class DecryptError(Exception):
    pass


def decrypt_client_message(auth_key: bytes, packet: bytes) -> bytes:
    """`packet` is auth_key_id + msg_key + encrypted data; returns the checked plaintext."""
    if len(packet) < 24 + 32 or (len(packet) - 24) % 16:
        raise DecryptError("bad encrypted packet length")
    msg_key = packet[8:24]
    aes_key, aes_iv = _aes_key_iv(auth_key, msg_key, 0)
    plain = ige_decrypt(packet[24:], aes_key, aes_iv)
    if sha256(auth_key[88:120], plain)[8:24] != msg_key:
        raise DecryptError("msg_key mismatch")
    return plain


def encrypt_server_message(auth_key: bytes, key_id: int, plain: bytes) -> bytes:
    padding = os.urandom(12 + (-(len(plain) + 12) % 16))
    data = plain + padding
    msg_key = sha256(auth_key[96:128], data)[8:24]
    aes_key, aes_iv = _aes_key_iv(auth_key, msg_key, 8)
    return struct.pack("<Q", key_id) + msg_key + ige_encrypt(data, aes_key, aes_iv)
