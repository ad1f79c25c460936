"""Per-message callbacks: the status events of a message sent with a `callback_url` are
delivered to that URL, through the webhook delivery queue (retries, attempts, dead letters,
replay and metrics as for any webhook).

Each (API client, callback URL) has a hidden webhook endpoint (`source` "callback", its id
derived from the two, `callback_endpoint_id`), made when its first event is fanned out. The
normal fan-out (fanout.py) and GET /admin/webhooks leave these out; it is signed with the
client's callback secret (callback_secrets.py), copied onto it.

Which events: message.sent, message.read, message.failed, and message.edited,
message.deleted and message.reaction whose `data.id` is the message (an edit, deletion or
reaction of it through the API, or a person's reaction to it): everything the event log says
about that message, nothing about any other.

Crash safety: one cursor (`callback_cursor.last_seq`) over the event log, read and moved in
the same transaction that inserts the delivery rows (the worker's round, rounds.py). A crash
before the commit loses both the rows and the move, and the next round reads those events
again; after it, the cursor is past them. Seq order is commit order (app/events.py), so the
cursor never passes an event that is not yet visible. On PostgreSQL the cursor row is locked
(skip locked: one process fans callbacks out at a time, the others go on with their round),
and the unique (endpoint_id, event_seq) of a delivery forbids a second row for the same event
whatever happens. So each event concerning a message is queued once for its callback; the
delivery itself is at least once, with the event id as the stable webhook-id.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.engine import Connection

from app.models import CallbackCursor, Message, table_of
from app.vocabulary import EventType
from inbound.webhooks.callback_secrets import SOURCE, endpoint_secrets, insert_ignore, secret_row
from inbound.webhooks.endpoints import SecretBox
from inbound.webhooks.fanout import EV, FANOUT_BATCH, D, E, delivery_row

C = table_of(CallbackCursor)
M = table_of(Message)
CURSOR_ID = 1
CALLBACK_TYPES = (
    EventType.MESSAGE_SENT,
    EventType.MESSAGE_READ,
    EventType.MESSAGE_FAILED,
    EventType.MESSAGE_EDITED,
    EventType.MESSAGE_DELETED,
    EventType.MESSAGE_REACTION,
)

_SEL_CURSOR = select(C.c.last_seq).where(C.c.id == CURSOR_ID)
# Every event after the cursor (so that it moves past the others too); the body only of those
# that may concern a message.
_SEL_EVENTS = (
    select(
        EV.c.seq,
        EV.c.id,
        EV.c.type,
        EV.c.conversation,
        case((EV.c.type.in_(CALLBACK_TYPES), EV.c.payload), else_=None).label("payload"),
    )
    .where(EV.c.seq > bindparam("after"))
    .order_by(EV.c.seq)
    .limit(bindparam("limit"))
)
_MOVE_CURSOR = update(C).where(C.c.id == CURSOR_ID).values(last_seq=bindparam("b_seq"))


CALLBACK_ID_PREFIX = "cb_"


def callback_endpoint_id(client_id: str, url: str) -> str:
    """The hidden endpoint of a client's callback URL: the same in every process."""
    digest = hashlib.sha256(f"{client_id}\n{url}".encode()).hexdigest()
    return f"{CALLBACK_ID_PREFIX}{digest[:32]}"


def is_callback_endpoint(endpoint_id: str) -> bool:
    """Whether the endpoint is a client's hidden callback endpoint (ids are never chosen by
    the admin: an API or config endpoint's id has another prefix)."""
    return endpoint_id.startswith(CALLBACK_ID_PREFIX)


def fan_out_callbacks(
    conn: Connection, now: datetime, box: SecretBox, batch: int = FANOUT_BATCH
) -> tuple[int, bool]:
    """Queue the callbacks of the next events; (rows created, more events waiting)."""
    after = _cursor(conn)
    if after is None:
        return 0, False  # another process is at it
    events = conn.execute(_SEL_EVENTS, {"after": after, "limit": batch}).all()
    if not events:
        return 0, False
    about: dict[str, list[Any]] = {}
    for event in events:
        message_id = _message_id(event.payload)
        if message_id is not None:
            about.setdefault(message_id, []).append(event)
    rows: list[dict[str, Any]] = []
    if about:
        targets = conn.execute(
            select(M.c.id, M.c.client_id, M.c.callback_url).where(
                M.c.id.in_(list(about)),
                M.c.callback_url.is_not(None),
                M.c.client_id.is_not(None),
            )
        ).all()
        _ensure_endpoints(conn, box, {(m.client_id, m.callback_url) for m in targets}, now)
        for message in targets:
            endpoint_id = callback_endpoint_id(message.client_id, message.callback_url)
            rows.extend(
                delivery_row(endpoint_id, ev.seq, ev.id, ev.type, ev.conversation, now)
                for ev in about[message.id]
            )
    if rows:
        rows.sort(key=lambda row: int(row["event_seq"]))
        conn.execute(insert(D), rows)
    conn.execute(_MOVE_CURSOR, {"b_seq": events[-1].seq})
    return len(rows), len(events) >= batch


def _cursor(conn: Connection) -> int | None:
    """The cursor, locked for this transaction; None while another process holds it."""
    query = _SEL_CURSOR
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    found = conn.execute(query).first()
    if found is None:
        # A database made without the migration (which starts it after the log): from 0.
        insert_ignore(conn, C, {"id": CURSOR_ID, "last_seq": 0}, ["id"])
        found = conn.execute(query).first()
    return None if found is None else int(found.last_seq)


def _message_id(payload: str | None) -> str | None:
    if payload is None:
        return None
    data = orjson.loads(payload).get("data")
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def _ensure_endpoints(
    conn: Connection, box: SecretBox, wanted: set[tuple[str, str]], now: datetime
) -> None:
    """The hidden endpoint of each (client, URL), made if missing."""
    by_id = {callback_endpoint_id(client, url): (client, url) for client, url in wanted}
    if not by_id:
        return
    existing = set(conn.execute(select(E.c.id).where(E.c.id.in_(list(by_id)))).scalars())
    for endpoint_id, (client_id, url) in sorted(by_id.items()):
        if endpoint_id in existing:
            continue
        client = secret_row(conn, box, client_id, now)
        conn.execute(
            insert(E).values(
                id=endpoint_id,
                url=url,
                client_id=client_id,
                source=SOURCE,
                format="standard",
                events=None,
                token=None,
                enabled=True,
                last_seq=0,
                created_at=now,
                updated_at=now,
                **endpoint_secrets(box, client, endpoint_id, now),
            )
        )
