"""MTProto TCP transports, server side: framing only (https://core.telegram.org/mtproto/mtproto-transports).

The transport is recognised from the first bytes the client sends, as Telegram does:

- `0xef`                  abridged (Telethon's ConnectionTcpAbridged)
- `0xeeeeeeee`            intermediate (ConnectionTcpIntermediate)
- `0xdddddddd`            padded intermediate
- length + seq 0 + ...    full, with a CRC32 (ConnectionTcpFull, Telethon's default)
- 64 random bytes         obfuscated2 (ConnectionTcpObfuscated), then one of the above inside
"""

from __future__ import annotations

import asyncio
import os
import struct
from zlib import crc32

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_MAX_PACKET = 16 * 1024 * 1024


class TransportError(Exception):
    """The client sent something that is not a valid packet: the connection is dropped."""


class Stream:
    """The raw byte stream of one TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)

    def write(self, data: bytes) -> None:
        self._writer.write(data)


class ObfuscatedStream(Stream):
    """obfuscated2: AES-256-CTR over the whole stream, keys taken from the 64-byte header."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, header: bytes
    ) -> None:
        super().__init__(reader, writer)
        reversed_part = header[8:56][::-1]
        self._decrypt = Cipher(algorithms.AES(header[8:40]), modes.CTR(header[40:56])).decryptor()
        self._encrypt = Cipher(
            algorithms.AES(reversed_part[:32]), modes.CTR(reversed_part[32:48])
        ).encryptor()
        # The header itself went through the client's encryptor: run it through ours too so
        # that the counters agree, and read the transport tag at bytes 56..60.
        self.tag = self._decrypt.update(header)[56:60]

    async def readexactly(self, n: int) -> bytes:
        return self._decrypt.update(await self._reader.readexactly(n))

    def write(self, data: bytes) -> None:
        self._writer.write(self._encrypt.update(data))


class Codec:
    """Cuts the stream into packets (MTProto messages) and frames the answers."""

    name = "?"

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def read_packet(self) -> bytes:
        raise NotImplementedError

    def encode(self, data: bytes) -> bytes:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        self.stream.write(self.encode(data))

    def send_error(self, code: int) -> None:
        """A transport error: a 4-byte packet holding -code (e.g. -404: unknown auth key)."""
        self.send(struct.pack("<i", -code))


class FullCodec(Codec):
    name = "full"

    def __init__(self, stream: Stream, first: bytes = b"") -> None:
        super().__init__(stream)
        self._pending = first  # bytes already read while recognising the transport
        self._send_counter = 0

    async def read_packet(self) -> bytes:
        head = self._pending + await self.stream.readexactly(8 - len(self._pending))
        self._pending = b""
        length, _seq = struct.unpack("<ii", head)
        if not 12 <= length <= _MAX_PACKET:
            raise TransportError(f"bad full-transport length {length}")
        rest = await self.stream.readexactly(length - 8)
        body, checksum = rest[:-4], struct.unpack("<I", rest[-4:])[0]
        if crc32(head + body) != checksum:
            raise TransportError("bad CRC32")
        return body

    def encode(self, data: bytes) -> bytes:
        packet = struct.pack("<ii", len(data) + 12, self._send_counter) + data
        self._send_counter += 1
        return packet + struct.pack("<I", crc32(packet))


class IntermediateCodec(Codec):
    name = "intermediate"

    async def read_packet(self) -> bytes:
        length = struct.unpack("<I", await self.stream.readexactly(4))[0] & 0x7FFFFFFF
        if length > _MAX_PACKET:
            raise TransportError(f"bad intermediate length {length}")
        return await self.stream.readexactly(length)

    def encode(self, data: bytes) -> bytes:
        return struct.pack("<i", len(data)) + data


class PaddedIntermediateCodec(IntermediateCodec):
    name = "padded-intermediate"

    async def read_packet(self) -> bytes:
        packet = await super().read_packet()
        extra = len(packet) % 4
        return packet[:-extra] if extra else packet

    def encode(self, data: bytes) -> bytes:
        return super().encode(data + os.urandom(os.urandom(1)[0] % 4))


class AbridgedCodec(Codec):
    name = "abridged"

    async def read_packet(self) -> bytes:
        length = (await self.stream.readexactly(1))[0] & 0x7F
        if length == 0x7F:
            length = int.from_bytes(await self.stream.readexactly(3), "little")
        return await self.stream.readexactly(length * 4)

    def encode(self, data: bytes) -> bytes:
        words = len(data) // 4
        if words < 0x7F:
            return bytes([words]) + data
        return b"\x7f" + words.to_bytes(3, "little") + data


_TAGS: dict[bytes, type[Codec]] = {
    b"\xee\xee\xee\xee": IntermediateCodec,
    b"\xdd\xdd\xdd\xdd": PaddedIntermediateCodec,
    b"\xef\xef\xef\xef": AbridgedCodec,
}


async def detect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Codec:
    """Read the first bytes of a new connection and return the matching codec."""
    stream = Stream(reader, writer)
    first = await reader.readexactly(1)
    if first == b"\xef":
        return AbridgedCodec(stream)
    head = first + await reader.readexactly(7)
    codec_class = _TAGS.get(head[:4])
    if codec_class is not None and codec_class is not AbridgedCodec:
        # The tag was 4 bytes; the other 4 already belong to the first packet.
        return _prefixed(codec_class(stream), head[4:])
    if head[4:8] == b"\0\0\0\0":
        return FullCodec(stream, head)  # length, then packet counter 0
    header = head + await reader.readexactly(56)
    obfuscated = ObfuscatedStream(reader, writer, header)
    inner = _TAGS.get(obfuscated.tag)
    if inner is None:
        raise TransportError(f"unknown obfuscated transport tag {obfuscated.tag.hex()}")
    codec = inner(obfuscated)
    codec.name = "obfuscated-" + codec.name
    return codec


class _PrefixStream(Stream):
    """A stream that first replays bytes read while recognising the transport."""

    def __init__(self, inner: Stream, prefix: bytes) -> None:
        self._inner = inner
        self._prefix = prefix

    async def readexactly(self, n: int) -> bytes:
        if not self._prefix:
            return await self._inner.readexactly(n)
        taken, self._prefix = self._prefix[:n], self._prefix[n:]
        if len(taken) < n:
            taken += await self._inner.readexactly(n - len(taken))
        return taken

    def write(self, data: bytes) -> None:
        self._inner.write(data)


def _prefixed(codec: Codec, prefix: bytes) -> Codec:
    codec.stream = _PrefixStream(codec.stream, prefix)
    return codec
