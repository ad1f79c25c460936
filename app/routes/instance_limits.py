"""A key limited to some instances acting on one message: the message's instance decides.

The handlers of the message operations (get, edit, delete, react, actions, cancel) find the
message themselves and answer 404 when it is not the client's; this check only refuses (403
`instance_forbidden`) a message, sent or received, on an instance the key may not use. A
message's instance never changes, so checking it before the operation leaves no gap.
"""

from __future__ import annotations

from starlette.requests import Request

from app.client_limits import require_instance
from app.models import InboundMessage, Message
from app.routes.common import services
from app.routes.surfaces import client_instances
from outbound.validation import is_message_id


async def require_message_instance(request: Request, message_id: str) -> None:
    """403 if `message_id` is a message (ours or received) on an instance the key may not
    use; nothing for a key with no instance limit, nor for an unknown id (the handler's 404)."""
    allowed = client_instances(request)
    if allowed is None or not is_message_id(message_id):
        return
    async with services(request).database.read() as session:
        found: Message | InboundMessage | None = await session.get(Message, message_id)
        if found is None:
            found = await session.get(InboundMessage, message_id)
    if found is not None:
        require_instance(allowed, found.instance)
