"""Building and serialising Telethon's TL objects on the server side, across API layers."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
import struct
from typing import Any

from telethon.extensions import BinaryReader
from telethon.tl import functions

log = logging.getLogger(__name__)

VECTOR_ID = 0x1CB5C415
BOOL_TRUE = struct.pack("<I", 0x997275B5)
BOOL_FALSE = struct.pack("<I", 0xBC799737)
RPC_RESULT_ID = 0xF35C6D01


class RpcFail(Exception):
    """Raised by a method handler: answered as rpc_error(code, message)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.message = message
        self.code = code


class Raw:
    """An already serialised result (e.g. Vector<long>, which Telethon cannot build)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@functools.cache
def _required(cls: Any) -> tuple[tuple[str, str], ...]:
    params = inspect.signature(cls.__init__).parameters.values()
    return tuple(
        (p.name, str(p.annotation))
        for p in params
        if p.name != "self" and p.default is inspect.Parameter.empty
    )


@functools.cache
def _accepted(cls: Any) -> frozenset[str]:
    return frozenset(inspect.signature(cls.__init__).parameters) - {"self"}


_PRIMITIVE_DEFAULTS: dict[str, Any] = {
    "int": 0,
    "str": "",
    "bool": False,
    "bytes": b"",
    "float": 0.0,
}


def _default(cls: Any, name: str, annotation: str) -> Any:
    ann = annotation.replace("typing.", "")
    if ann.startswith("Optional[") and ann.endswith("]"):
        ann = ann[len("Optional[") : -1]
    if ann.startswith(("List[", "list[")):
        return []
    if ann == "datetime.datetime":
        return now()
    if ann.startswith("<class '") and ann.endswith("'>"):
        ann = ann[len("<class '") : -2]
    if ann in _PRIMITIVE_DEFAULTS:
        return _PRIMITIVE_DEFAULTS[ann]
    raise TypeError(f"{cls.__name__}.{name} ({annotation}) needs an explicit value")


def make(cls: Any, **kwargs: Any) -> Any:
    """`cls(**kwargs)`, robust across layers: arguments this layer lacks are dropped, required
    primitive arguments nobody passed get a neutral default (0, "", False, [], now)."""
    accepted = _accepted(cls)
    args = {k: v for k, v in kwargs.items() if k in accepted}
    for name, annotation in _required(cls):
        if name not in args:
            args[name] = _default(cls, name, annotation)
    return cls(**args)


def serialize_result(result: Any) -> bytes:
    if isinstance(result, Raw):
        return result.data
    if result is True:
        return BOOL_TRUE
    if result is False:
        return BOOL_FALSE
    if isinstance(result, list):
        return struct.pack("<Ii", VECTOR_ID, len(result)) + b"".join(
            serialize_result(x) for x in result
        )
    data: bytes = bytes(result)
    return data


def vector_of_longs(values: list[int]) -> Raw:
    return Raw(
        struct.pack("<Ii", VECTOR_ID, len(values)) + b"".join(struct.pack("<q", v) for v in values)
    )


def read_object(data: bytes) -> Any:
    with BinaryReader(data) as reader:
        return reader.tgread_object()


# invokeWithLayer, initConnection, invokeWithoutUpdates, ...: all have `.query`.
_WRAPPERS: tuple[Any, ...] = tuple(
    getattr(functions, name)
    for name in (
        "InvokeWithLayerRequest",
        "InitConnectionRequest",
        "InvokeWithoutUpdatesRequest",
        "InvokeAfterMsgRequest",
        "InvokeAfterMsgsRequest",
        "InvokeWithTakeoutRequest",
        "InvokeWithMessagesRangeRequest",
        "InvokeWithBusinessConnectionRequest",
        "InvokeWithApnsSecretRequest",
        "InvokeWithGooglePlayIntegrityRequest",
        "InvokeWithReCaptchaRequest",
    )
    if hasattr(functions, name)
)


def unwrap(request: Any) -> tuple[Any, list[Any]]:
    """The inner request and the wrappers around it (outermost first)."""
    wrappers: list[Any] = []
    while isinstance(request, _WRAPPERS):
        wrappers.append(request)
        request = request.query
    return request, wrappers


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
