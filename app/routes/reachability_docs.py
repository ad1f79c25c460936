"""The documentation of the reachability check and of the sandbox's people control
(app/routes/reachability.py), for the generated OpenAPI document."""

from __future__ import annotations

from app.routes import reachability_schemas as models
from app.routes.admin_docs import _sandbox_doc
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body, Doc
from outbound.reach import MAX_NUMBERS

TAG_RECIPIENTS = "Recipients"
HOW = (
    "Stored facts first: registrations, what earlier sends found (blocked, deleted account, "
    "Premium or paid messages required) and Telegram's answers of the last hour. Otherwise "
    "Telegram is asked (users.getRequirementsToContact and users.getUsers), for all the numbers "
    "of the request in one call, by the gateway process that holds the instance's session "
    "(in a deployment of several processes, the request is passed to it); when it cannot be "
    "asked (not connected, logged out, a FloodWait, that process out of reach), the stored "
    "facts answer ('unknown' when there are none). " + models.MEANINGS
)

GET_ONE = Doc(
    "getReachability",
    TAG_RECIPIENTS,
    "Can this number be messaged?",
    "Whether a send to this number would reach them, before a campaign. " + HOW,
    {200: Reply("The answer.", models.RecipientReachability)},
    errors=(400, 401, 404, 471, 474),
    error_texts={400: "Bad instance.", 404: "No such instance."},
    path=models.ReachabilityPath,
    query=models.ReachabilityQuery,
)

CHECK_MANY = Doc(
    "checkReachability",
    TAG_RECIPIENTS,
    "Can these numbers be messaged?",
    f"The same check for up to {MAX_NUMBERS} numbers at once. " + HOW,
    {
        200: Reply(
            "One answer per distinct number, in the order given.", models.RecipientReachabilityList
        )
    },
    errors=(400, 401, 404, 471, 474),
    error_texts={
        400: f"Not a JSON object, no numbers or more than {MAX_NUMBERS}, an unknown field, or "
        "a bad instance.",
        404: "No such instance.",
        471: "One of the numbers is not a valid phone number (the message names it).",
    },
    body=Body(models.ReachabilityBody, "The instance and the numbers."),
)

SANDBOX_PEOPLE = _sandbox_doc(
    "sandboxPerson",
    "Make a person Premium-only, paid-only or deleted",
    "How a sandbox person takes messages from now on: only from Premium accounts, only paid "
    "messages, or not at all (their account was deleted). The reachability check reports it, "
    "and sends to them fail with premium_required, paid_messages_required or user_deactivated. "
    'Give {"requires": null, "deactivated": false} to make them ordinary again.',
    Reply("How they take messages now.", models.SandboxPerson),
    Body(models.SandboxPersonBody, "The person and their rule."),
)
