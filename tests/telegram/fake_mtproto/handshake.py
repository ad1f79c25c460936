"""Creating an auth key: the server half of https://core.telegram.org/mtproto/auth_key.

Mirrors Telethon's `network/authenticator.py` step by step:
req_pq_multi -> resPQ, req_DH_params -> server_DH_params_ok, set_client_DH_params -> dh_gen_ok.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from .crypto import (
    DH_G,
    DH_PRIME,
    DH_PRIME_BYTES,
    AuthKeyData,
    ServerKey,
    ige_decrypt,
    ige_encrypt,
    int_to_bytes,
    nonce_key_iv,
    rsa_decrypt_inner_data,
    sha1,
)

log = logging.getLogger(__name__)

_SAFETY = 2 ** (2048 - 64)

# Two ~31-bit primes: the client factorises pq (Telethon in pure Python), so keep it quick.
_PQ_PRIMES = (1_229_739_323, 1_400_287_211, 1_500_450_271, 2_147_483_647)

_INNER_DATA_TYPES = tuple(
    getattr(types, name)
    for name in ("PQInnerData", "PQInnerDataDc", "PQInnerDataTemp", "PQInnerDataTempDc")
    if hasattr(types, name)
)


class HandshakeError(Exception):
    pass


@dataclass
class _State:
    nonce: int
    server_nonce: int
    p: int
    q: int
    new_nonce: int = 0
    a: int = 0


class Handshake:
    """The auth-key exchange on one connection (plain, unencrypted messages)."""

    def __init__(self, server_key: ServerKey) -> None:
        self._key = server_key
        self._state: _State | None = None

    def handle(self, request: Any) -> tuple[Any, bytes | None]:
        """Answer one plain request; the second value is the new auth key once created."""
        if isinstance(request, functions.ReqPqMultiRequest | functions.ReqPqRequest):
            return self._req_pq(request), None
        if isinstance(request, functions.ReqDHParamsRequest):
            return self._req_dh_params(request), None
        if isinstance(request, functions.SetClientDHParamsRequest):
            return self._set_client_dh_params(request)
        raise HandshakeError(f"unexpected plain message {type(request).__name__}")

    def _req_pq(self, request: Any) -> Any:
        p, q = sorted(secrets.SystemRandom().sample(_PQ_PRIMES, 2))
        self._state = _State(
            nonce=request.nonce,
            server_nonce=int.from_bytes(os.urandom(16), "little", signed=True),
            p=p,
            q=q,
        )
        return types.ResPQ(
            nonce=request.nonce,
            server_nonce=self._state.server_nonce,
            pq=int_to_bytes(p * q),
            server_public_key_fingerprints=[self._key.fingerprint],
        )

    def _checked_state(self, request: Any) -> _State:
        state = self._state
        if (
            state is None
            or request.nonce != state.nonce
            or request.server_nonce != state.server_nonce
        ):
            raise HandshakeError("nonce mismatch")
        return state

    def _req_dh_params(self, request: Any) -> Any:
        state = self._checked_state(request)
        if request.public_key_fingerprint != self._key.fingerprint:
            raise HandshakeError("unknown public key fingerprint")
        if (
            int.from_bytes(request.p, "big") != state.p
            or int.from_bytes(request.q, "big") != state.q
        ):
            raise HandshakeError("wrong factorisation of pq")
        inner = self._decrypt_inner_data(request.encrypted_data)
        if inner.nonce != state.nonce or inner.server_nonce != state.server_nonce:
            raise HandshakeError("nonce mismatch in p_q_inner_data")
        state.new_nonce = inner.new_nonce
        while True:
            state.a = int.from_bytes(os.urandom(256), "big")
            g_a = pow(DH_G, state.a, DH_PRIME)
            if _SAFETY <= g_a <= DH_PRIME - _SAFETY:
                break
        answer = bytes(
            types.ServerDHInnerData(
                nonce=state.nonce,
                server_nonce=state.server_nonce,
                g=DH_G,
                dh_prime=DH_PRIME_BYTES,
                g_a=int_to_bytes(g_a),
                server_time=int(time.time()),
            )
        )
        with_hash = sha1(answer) + answer
        with_hash += os.urandom(-len(with_hash) % 16)
        key, iv = nonce_key_iv(state.server_nonce, state.new_nonce)
        return types.ServerDHParamsOk(
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            encrypted_answer=ige_encrypt(with_hash, key, iv),
        )

    def _decrypt_inner_data(self, encrypted: bytes) -> Any:
        for candidate in rsa_decrypt_inner_data(self._key, encrypted):
            # Old scheme: SHA1(data) + data + padding; RSA_PAD: data (already hash-checked).
            for offset in (20, 0):
                obj, length = _try_read(candidate[offset:])
                if not isinstance(obj, _INNER_DATA_TYPES):
                    continue
                if offset == 20 and sha1(candidate[20 : 20 + length]) != candidate[:20]:
                    continue
                return obj
        raise HandshakeError("could not decrypt p_q_inner_data")

    def _set_client_dh_params(self, request: Any) -> tuple[Any, bytes]:
        state = self._checked_state(request)
        key, iv = nonce_key_iv(state.server_nonce, state.new_nonce)
        plain = ige_decrypt(request.encrypted_data, key, iv)
        with BinaryReader(plain[20:]) as reader:
            inner = reader.tgread_object()
            length = reader.tell_position()
        if (
            not isinstance(inner, types.ClientDHInnerData)
            or sha1(plain[20 : 20 + length]) != plain[:20]
        ):
            raise HandshakeError("bad client_DH_inner_data")
        if inner.nonce != state.nonce or inner.server_nonce != state.server_nonce:
            raise HandshakeError("nonce mismatch in client_DH_inner_data")
        g_b = int.from_bytes(inner.g_b, "big")
        if not _SAFETY <= g_b <= DH_PRIME - _SAFETY:
            raise HandshakeError("g_b out of range")
        # Variable length, exactly like Telethon (`rsa.get_byte_array(gab)`): a value with a
        # leading zero byte gives a 255-byte key on both sides.
        auth_key = AuthKeyData(int_to_bytes(pow(g_b, state.a, DH_PRIME)))
        self._state = None
        answer = types.DhGenOk(
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            new_nonce_hash1=auth_key.new_nonce_hash(state.new_nonce, 1),
        )
        log.debug("auth key %016x created", auth_key.key_id)
        return answer, auth_key.key


def _try_read(data: bytes) -> tuple[Any, int]:
    """The TL object at the start of `data` and its length, or (None, 0) if there is none."""
    with BinaryReader(data) as reader:
        try:
            obj = reader.tgread_object()
        except Exception:  # random bytes: any parse error means "not this layout"
            return None, 0
        return obj, reader.tell_position()
