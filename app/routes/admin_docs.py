"""The documentation of the admin API's operations (app/routes/admin.py): clients, instances
and the sandbox's controls, for the generated OpenAPI document."""

from __future__ import annotations

from app.routes import admin_schemas as doc_models
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body as DocBody
from app.routes.apidoc import Doc, Model

TAG_CLIENTS = "Admin: clients"
TAG_INSTANCES = "Admin: instances"
TAG_SANDBOX = "Admin: sandbox"


def _sandbox_doc(
    operation_id: str,
    summary: str,
    description: str,
    answer: Reply,
    body: DocBody | None,
    status: int = 200,
    query: type[Model] | None = None,
) -> Doc:
    return Doc(
        operation_id,
        TAG_SANDBOX,
        summary,
        description,
        {status: answer},
        errors=(400, 401, 404, 471),
        error_texts={404: "Unknown instance, or not a sandbox instance."},
        path=doc_models.InstancePath,
        query=query,
        body=body,
    )


LIST_INSTANCES = Doc(
    "listInstances",
    TAG_INSTANCES,
    "List instances",
    "Every gateway instance with its state and queue.",
    {200: Reply("Instances.", doc_models.InstanceList)},
    errors=(401,),
)

GET_INSTANCE = Doc(
    "getInstance",
    TAG_INSTANCES,
    "Get an instance",
    "One instance with its state and queue.",
    {200: Reply("The instance.", doc_models.Instance)},
    errors=(401, 404),
    error_texts={404: "No such instance."},
    path=doc_models.InstancePath,
)

SANDBOX_INBOUND = _sandbox_doc(
    "sandboxInbound",
    "A person writes to the gateway",
    "Simulate an incoming text, shared contact or medium, privately or in a sandbox group "
    "(`group`, of which the sender must be a member); answers once the gateway has handled it "
    "(or after 5 s).",
    Reply("Delivered to the gateway.", doc_models.InboundHandled),
    DocBody(doc_models.InboundBody, "What the person sends."),
)

SANDBOX_SENT = _sandbox_doc(
    "sandboxSent",
    "What the gateway sent",
    "Messages the sandbox account sent, oldest first.",
    Reply("Sent messages.", doc_models.SandboxSentList),
    None,
    query=doc_models.SentQuery,
)

SANDBOX_READ = _sandbox_doc(
    "sandboxRead",
    "A person reads messages",
    "Mark the gateway's messages to this person read up to max_message_id.",
    Reply("Read.", doc_models.ReadHandled),
    DocBody(doc_models.ReadBody, "Who read up to where."),
)

SANDBOX_GROUPS = _sandbox_doc(
    "sandboxGroup",
    "Create a group",
    "A group with the gateway account as a member, for /v3 group sends.",
    Reply("The group.", doc_models.SandboxGroup),
    DocBody(doc_models.GroupBody, "The group."),
)

SANDBOX_FAULTS = _sandbox_doc(
    "sandboxFault",
    "Inject a send fault",
    "The next sends (to one number, or any) fail with this error or flood wait.",
    Reply("Armed.", doc_models.FaultArmed),
    DocBody(doc_models.FaultBody, "The fault."),
    status=201,
)

SANDBOX_NEW_LOGIN = Doc(
    "sandboxNewLogin",
    TAG_SANDBOX,
    "Someone logs in from another device",
    "Adds a session to the sandbox account and announces it as Telegram does "
    '(updateNewAuthorization, then the 777000 "New login" notice): one account.login_alert '
    "event follows. Answers once the gateway has handled it.",
    {200: Reply("The new session.", doc_models.NewLoginDone)},
    errors=(400, 401, 404, 409),
    error_texts={404: "Unknown instance, or not a sandbox instance.", 409: "not_logged_in."},
    path=doc_models.InstancePath,
    body=DocBody(doc_models.NewLoginBody, "The device (both fields optional).", required=False),
)
