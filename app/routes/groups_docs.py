"""The documentation of the groups' admin API and the sandbox's controls for a person's edits,
deletions and reactions (app/routes/groups.py), for the generated OpenAPI document."""

from __future__ import annotations

from app.routes import groups_schemas as doc_models
from app.routes.admin_docs import TAG_INSTANCES, _sandbox_doc
from app.routes.admin_schemas import InstancePath
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body as DocBody
from app.routes.apidoc import Doc

_RULE = (
    "The admin API's word wins over `[[instances]] allowed_groups`, both ways; a group need "
    "not have been seen yet."
)

LIST_GROUPS = Doc(
    "listGroups",
    TAG_INSTANCES,
    "List an instance's groups",
    "The groups messages came from, the configured ones and those ruled on here, each with "
    "whether anyone's messages in it are forwarded (`allowed`). In any group, registered "
    "people's messages are forwarded; the gateway never answers in a group.",
    {200: Reply("Groups.", doc_models.GroupList)},
    errors=(401, 404),
    error_texts={404: "No such instance."},
    path=InstancePath,
)

ALLOW_GROUP = Doc(
    "allowGroup",
    TAG_INSTANCES,
    "Allow a group",
    "Forward everyone's messages in this group (message.received with `data.group`). " + _RULE,
    {200: Reply("The group.", doc_models.Group)},
    errors=(400, 401, 404),
    error_texts={404: "No such instance."},
    path=doc_models.GroupPath,
)

DISALLOW_GROUP = Doc(
    "disallowGroup",
    TAG_INSTANCES,
    "Disallow a group",
    "Forward only registered people's messages in this group. " + _RULE,
    {200: Reply("The group.", doc_models.Group)},
    errors=(400, 401, 404),
    error_texts={404: "No such instance."},
    path=doc_models.GroupPath,
)

SANDBOX_EDIT = _sandbox_doc(
    "sandboxEdit",
    "A person edits their message",
    "As if the person edited a message they wrote (private or in a group); a forwarded "
    "message's edit becomes message.edited. Answers once the gateway has handled it.",
    Reply("Delivered to the gateway.", doc_models.ChangeHandled),
    DocBody(doc_models.EditBody, "Who edits what."),
)

SANDBOX_DELETE = _sandbox_doc(
    "sandboxDelete",
    "A person deletes messages",
    "As if the person deleted messages for both sides: their own, or in their private chat "
    "the gateway's too. Each one the gateway knows becomes message.deleted.",
    Reply("Delivered to the gateway.", doc_models.ChangeHandled),
    DocBody(doc_models.DeleteBody, "Who deletes what."),
)

SANDBOX_REACT = _sandbox_doc(
    "sandboxReact",
    "A person reacts to a message",
    "As if the person set (or, emoji null, took back) their reaction on a message of their "
    "chat or group, the gateway's own included: message.reaction.",
    Reply("Delivered to the gateway.", doc_models.ChangeHandled),
    DocBody(doc_models.ReactBody, "Who reacts to what."),
)
