"""The OpenAPI description of logging instances in and out and of their profile
(app/routes/onboarding.py); merged into the document by app/routes/docs.py."""

from __future__ import annotations

from typing import Any

from app.routes.docs import (
    ADMIN_AUTH,
    INSTANCE_NUMBER_MAX,
    Schema,
    array,
    body,
    boolean,
    closed,
    errors,
    integer,
    json_content,
    nullable,
    obj,
    ok,
    operation,
    param,
    ref,
    string,
    timestamp,
)

TAG_LOGIN = "Admin: login and profile"
TAG_CONSOLE = "Admin: console"
TAGS = [
    {
        "name": TAG_LOGIN,
        "description": (
            "Admin token: bring a number into service (phone, code, 2FA password, or QR), log "
            "it out, set its name, bio and picture, see and end the account's other sessions, "
            "ask @SpamBot whether the account is limited. "
            "Every login step is an instance.status event; a login from another device is an "
            "account.login_alert event."
        ),
    },
    {
        "name": TAG_CONSOLE,
        "description": (
            "The web console at /admin/ signs in with the admin token and then uses a cookie "
            "session; requests that change something carry its X-CSRF-Token header."
        ),
    },
]

_STEPS = ["idle", "code_sent", "password_needed", "awaiting_qr", "ready"]
_LOGIN_ERRORS = (
    "phone_invalid, phone_unregistered, phone_banned, code_invalid, code_expired, "
    "password_invalid, login_failed"
)


def schemas() -> dict[str, Schema]:
    error = obj(
        {"code": string("Stable error code."), "message": string("What happened.")},
        ("code", "message"),
    )
    return {
        "LoginState": obj(
            {
                "step": string("Where the login stands.", enum=_STEPS),
                "method": string("How it started.", enum=["code", "qr"]),
                "url": string("The QR code's tg://login?token=... (awaiting_qr)."),
                "expires_at": timestamp("When that QR token expires.", null=True),
                "password_hint": nullable(string("The 2FA password's hint.")),
                "user_id": integer("The account (ready)."),
                "phone": nullable(string("The account's number (ready).")),
                "error": error,
            },
            ("step",),
        ),
        "Profile": obj(
            {
                "first_name": nullable(string("First name.")),
                "last_name": nullable(string("Last name.")),
                "about": nullable(string("Bio.")),
                "photo_url": nullable(string("The current picture.")),
            }
        ),
        "ConsoleSession": obj(
            {
                "signed_in": {"type": "boolean"},
                "csrf_token": string("Send it as X-CSRF-Token with every change."),
                "expires_at": timestamp("When the session ends (12 h)."),
            },
            ("signed_in",),
        ),
        "Session": obj(
            {
                "hash": string("Names the session (a 64-bit integer, as a string)."),
                "current": boolean("The gateway's own session (ended only by logging out)."),
                "device_model": string("Device, as the app reports it."),
                "platform": string("Platform."),
                "system_version": string("Operating system."),
                "app_name": string("The Telegram app."),
                "app_version": string("Its version."),
                "ip": string("Last IP address."),
                "country": string("Country (from the IP address)."),
                "region": string("Region."),
                "date_created": timestamp("When it logged in (UTC).", null=True),
                "date_active": timestamp("When it was last active (UTC).", null=True),
                "official_app": boolean("An official Telegram app."),
                "password_pending": boolean("Logged in with the code, the 2FA password not yet."),
            },
            ("hash", "current", "device_model", "app_name", "date_created", "date_active"),
        ),
        "SessionList": obj(
            {"data": array(ref("Session"), "The gateway's own first, then the most recent.")},
            ("data",),
        ),
        "LoginAlert": obj(
            {
                "instance": integer("Instance."),
                "hash": nullable(
                    string("The new session (null when only the 777000 notice was seen).")
                ),
                "device": nullable(string("Its device, as Telegram names it.")),
                "location": nullable(string("Where, as Telegram says (city, country, IP).")),
                "date": timestamp("When it logged in."),
                "unconfirmed": nullable(
                    boolean("Awaiting confirmation from another session (null: not known).")
                ),
                "source": string(
                    "What announced it first: Telegram's update or its 777000 notice.",
                    enum=["update", "service_notice"],
                ),
                "text": nullable(string("The notice's text (source service_notice).")),
            },
            ("instance", "date", "source"),
            "The data of an account.login_alert event: someone logged in to the account from "
            "another device. One event per login, whether Telegram's update, its notice or both "
            "arrive.",
        ),
        "StandingCheck": obj(
            {
                "condition": string(
                    "What @SpamBot says: not limited, limited, or frozen.",
                    enum=["ok", "restricted", "frozen"],
                ),
                "reply": string("@SpamBot's own words."),
                "until": timestamp("When the limit ends, where the reply says so.", null=True),
                "status": string("The instance status after the check."),
                "status_detail": nullable(string("Its detail.")),
                "checked_at": timestamp("When the check was made."),
            },
            ("condition", "reply", "until", "status", "checked_at"),
        ),
        "ProfilePhoto": obj(
            {
                "photo_url": nullable(string("The new picture.")),
                "width": integer("Width in pixels (at most 1280)."),
                "height": integer("Height in pixels (at most 1280)."),
            },
            ("photo_url", "width", "height"),
        ),
    }


def _native(description: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref("NativeError"))}


def paths() -> dict[str, Any]:
    n = param(
        "n",
        "path",
        integer("Instance.", minimum=1, maximum=INSTANCE_NUMBER_MAX),
        "Instance number.",
    )
    unknown = errors("Admin", 401, 404, e404="No such instance.")
    step_errors = {
        **errors("Admin", 400, e400=f"Missing or bad field, or a login error: {_LOGIN_ERRORS}."),
        **unknown,
        **errors("Admin", 409, e409="Not expected now (no_login, already_logged_in)."),
        "429": {
            **_native("flood_wait: Telegram asks to wait `seconds` (also in Retry-After)."),
            "headers": {"Retry-After": {"description": "Seconds.", "schema": {"type": "integer"}}},
        },
        "503": _native("unreachable: Telegram cannot be reached."),
    }

    def step(operation_id: str, summary: str, description: str, field: str | None) -> Any:
        request = None
        if field is not None:
            request = body(
                closed(obj({field: string(f"The {field}.", maxLength=256)}, (field,))),
                f"The {field}.",
            )
        return operation(
            operation_id,
            TAG_LOGIN,
            summary,
            description,
            {"200": ok("The login's next step.", ref("LoginState")), **step_errors},
            security=ADMIN_AUTH,
            parameters=[n],
            request_body=request,
        )

    return {
        "/admin/instances/{n}/login": {
            "post": step(
                "startLogin",
                "Start a login with the phone number",
                "Telegram sends a code to the Telegram app on that number (sandbox: 12345).",
                "phone",
            ),
            "get": operation(
                "getLogin",
                TAG_LOGIN,
                "Where the login stands",
                "Poll it: the QR URL changes when its token is refreshed.",
                {"200": ok("The login.", ref("LoginState")), **unknown},
                security=ADMIN_AUTH,
                parameters=[n],
            ),
        },
        "/admin/instances/{n}/login/code": {
            "post": step(
                "submitLoginCode",
                "Enter the code",
                "Answers password_needed when the account has two-step verification.",
                "code",
            )
        },
        "/admin/instances/{n}/login/password": {
            "post": step(
                "submitLoginPassword",
                "Enter the 2FA password",
                "Checked with Telegram's SRP; never logged or stored.",
                "password",
            )
        },
        "/admin/instances/{n}/login/qr": {
            "post": step(
                "startQrLogin",
                "Start a QR login",
                "Show the URL as a QR code (or GET .../login/qr.png) and scan it with Telegram on"
                " the phone; the token is refreshed before it expires until it is scanned.",
                None,
            )
        },
        "/admin/instances/{n}/login/qr.png": {
            "get": operation(
                "getLoginQrPng",
                TAG_LOGIN,
                "The QR code as a PNG image",
                "The current token's QR code.",
                {
                    "200": {
                        "description": "PNG image.",
                        "content": {"image/png": {"schema": string("PNG", format="binary")}},
                    },
                    **errors("Admin", 401, 404, e404="No QR login is waiting."),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            )
        },
        "/admin/instances/{n}/logout": {
            "post": operation(
                "logoutInstance",
                TAG_LOGIN,
                "Log the instance out",
                "Ends the session at Telegram and forgets it; the queue holds until a new login.",
                {
                    "200": ok(
                        "Logged out.",
                        obj(
                            {"status": string("logged_out"), "instance": integer("Instance.")},
                            ("status",),
                        ),
                    ),
                    **unknown,
                    **errors("Admin", 409),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            )
        },
        "/admin/instances/{n}/profile": {
            "put": operation(
                "setProfile",
                TAG_LOGIN,
                "Set the name and bio",
                "first_name is required (at most 64 characters); about at most 70.",
                {
                    "200": ok("The profile.", ref("Profile")),
                    **errors("Admin", 400, 401, 404, 409),
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    closed(
                        obj(
                            {
                                "first_name": string("First name.", maxLength=64),
                                "last_name": nullable(string("Last name.", maxLength=64)),
                                "about": nullable(string("Bio.", maxLength=70)),
                            },
                            ("first_name",),
                        )
                    ),
                    "The profile.",
                ),
            )
        },
        "/admin/instances/{n}/profile/photo": {
            "put": operation(
                "setProfilePhoto",
                TAG_LOGIN,
                "Set the profile picture",
                "The body is the JPEG or PNG file; it is resized to at most 1280 px and replaces"
                " the previous picture.",
                {
                    "200": ok("The picture.", ref("ProfilePhoto")),
                    **errors("Admin", 400, 401, 404, 409),
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body={
                    "description": "JPEG or PNG bytes.",
                    "required": True,
                    "content": {
                        "image/jpeg": {"schema": string("JPEG", format="binary")},
                        "image/png": {"schema": string("PNG", format="binary")},
                    },
                },
            ),
            "get": operation(
                "getProfilePhoto",
                TAG_LOGIN,
                "The current profile picture",
                "The JPEG tgw set last.",
                {
                    "200": {
                        "description": "JPEG image.",
                        "content": {"image/jpeg": {"schema": string("JPEG", format="binary")}},
                    },
                    **errors("Admin", 401, 404, e404="No such instance, or no picture."),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            ),
        },
        "/admin/session": {
            "post": operation(
                "consoleSignIn",
                TAG_CONSOLE,
                "Sign in to the console",
                "Checks the admin token and sets an HttpOnly, SameSite=Strict session cookie. "
                "After 10 wrong tokens from one address in 5 minutes (counted with wrong Bearer "
                "tokens), its wrong tokens are answered 429; the right token is always accepted.",
                {
                    "200": ok("Signed in.", ref("ConsoleSession")),
                    **errors("Admin", 400, 401),
                    "429": _native("too_many_attempts: wait `Retry-After` seconds."),
                },
                security=[],
                request_body=body(
                    closed(obj({"token": string("The admin token.")}, ("token",))),
                    "The admin token (JSON or a form field).",
                ),
            ),
            "get": operation(
                "consoleSession",
                TAG_CONSOLE,
                "The current console session",
                "Its CSRF token again (after a page reload).",
                {"200": ok("The session.", ref("ConsoleSession")), **errors("Admin", 401)},
                security=[],
            ),
            "delete": operation(
                "consoleSignOut",
                TAG_CONSOLE,
                "Sign out",
                "Deletes the cookie; the session is refused from then on.",
                {"200": ok("Signed out.", ref("ConsoleSession")), **errors("Admin", 401)},
                security=[],
            ),
        },
        "/admin/recipients": {
            "get": operation(
                "adminListRecipients",
                TAG_CONSOLE,
                "List recipients (admin)",
                "The answer of GET /api/v1/recipients, with the admin token or the console "
                "session.",
                {"200": ok("Recipients.", ref("RecipientList")), **errors("Admin", 400, 401)},
                security=ADMIN_AUTH,
                parameters=[
                    param(
                        "status",
                        "query",
                        string("registered|pending|unregistered|all"),
                        "By status.",
                    ),
                    param("instance", "query", integer("Instance.", minimum=1), "One instance."),
                    param("limit", "query", integer("Page size.", minimum=1), "Page size."),
                ],
            )
        },
        "/admin/messages": {
            "get": operation(
                "adminListMessages",
                TAG_CONSOLE,
                "List messages (admin)",
                "Every client's messages and the gateway's own replies, newest first by default.",
                {"200": ok("A page of messages.", ref("MessageList")), **errors("Admin", 400, 401)},
                security=ADMIN_AUTH,
                parameters=[
                    param("status", "query", string("queued|sending|sent|read|failed"), "Filter."),
                    param(
                        "after", "query", string("Cursor (`next` of the previous page)."), "Cursor."
                    ),
                    param("limit", "query", integer("Page size.", minimum=1), "Page size."),
                    param(
                        "order",
                        "query",
                        string("newest or oldest", enum=["newest", "oldest"]),
                        "Order.",
                    ),
                ],
            )
        },
        "/admin/instances/{n}/sessions": {
            "get": operation(
                "listSessions",
                TAG_LOGIN,
                "The account's sessions (devices)",
                "Telegram's list of the sessions logged in to the account "
                "(account.getAuthorizations), the gateway's own (current) first. Only the tgw "
                "process that has the instance's session open answers it.",
                {
                    "200": ok("The sessions.", ref("SessionList")),
                    **unknown,
                    **errors(
                        "Admin",
                        409,
                        e409="not_logged_in, or another tgw process has the session open.",
                    ),
                    "503": _native("unavailable: Telegram did not answer."),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            )
        },
        "/admin/instances/{n}/sessions/{hash}": {
            "delete": operation(
                "endSession",
                TAG_LOGIN,
                "End another session",
                "Logs that device out (account.resetAuthorization). The gateway's own session "
                "cannot be ended here (409 current_session): log the instance out for that. "
                "Telegram lets a session end others only once it is about a day old (409 "
                "session_too_new).",
                {
                    "200": ok(
                        "Ended.",
                        obj(
                            {"hash": string("The session."), "ended": boolean("true")},
                            ("hash", "ended"),
                        ),
                    ),
                    **errors("Admin", 400, e400="The hash is not a 64-bit integer."),
                    **errors("Admin", 401),
                    **errors("Admin", 404, e404="No such instance, or no such session."),
                    **errors(
                        "Admin",
                        409,
                        e409="current_session, session_too_new, not_logged_in, or another tgw"
                        " process has the session open.",
                    ),
                    "503": _native("unavailable: Telegram did not answer."),
                },
                security=ADMIN_AUTH,
                parameters=[
                    n,
                    param(
                        "hash",
                        "path",
                        string("Session hash.", pattern="^-?[0-9]{1,19}$"),
                        "The session, from GET .../sessions.",
                    ),
                ],
            )
        },
        "/admin/instances/{n}/check": {
            "post": operation(
                "checkStanding",
                TAG_LOGIN,
                "Ask @SpamBot whether the account is limited",
                'Sends @SpamBot "/start" and reads its reply (waiting up to 20 s). Limited: '
                "the status becomes `restricted` with the bot's words (and the end of the limit) "
                "as the detail; the queue is not paused, since Telegram still lets a limited "
                "account answer people who wrote first. Frozen: `frozen`. Not limited: `ready` "
                "again if the status was `restricted` or `frozen` and no pause is pending. Every "
                "change is an instance.status event; login statuses (logged_out, revoked, ...) "
                "are never changed. Only the tgw process that has the instance's session open "
                "answers it.",
                {
                    "200": ok("The check.", ref("StandingCheck")),
                    **unknown,
                    **errors(
                        "Admin",
                        409,
                        e409="not_logged_in, or another tgw process has the session open.",
                    ),
                    "429": {
                        **_native("flood_wait: Telegram asks to wait `seconds` (Retry-After)."),
                        "headers": {
                            "Retry-After": {
                                "description": "Seconds.",
                                "schema": {"type": "integer"},
                            }
                        },
                    },
                    "502": _native(
                        "spambot_unrecognised: @SpamBot answered in words tgw cannot read; the "
                        "error's `reply` holds them. The status is unchanged."
                    ),
                    "503": _native("unavailable: Telegram did not answer, or has no @SpamBot."),
                    "504": _native(
                        "spambot_timeout: @SpamBot did not answer in time. The status is unchanged."
                    ),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            )
        },
        "/admin/sandbox/{n}/spambot": {
            "post": operation(
                "sandboxSpamBot",
                "Admin: sandbox",
                "Set what the simulated @SpamBot answers",
                "The sandbox account's standing: POST /admin/instances/{n}/check then reads "
                "this text as it reads Telegram's @SpamBot. null (or no field) restores the "
                'default, "Good news, no limits are currently applied to your account. You’re '
                'free as a bird!". Kept in the database.',
                {
                    "200": ok(
                        "The reply now given.",
                        obj(
                            {
                                "reply": string("The reply."),
                                "condition": nullable(
                                    string(
                                        "How a check reads it (null: not readable, so a check "
                                        "answers 502).",
                                        enum=["ok", "restricted", "frozen", None],
                                    )
                                ),
                            },
                            ("reply", "condition"),
                        ),
                    ),
                    **errors(
                        "Admin",
                        400,
                        e400="Not a JSON object, or 'reply' not a non-empty"
                        " string of at most 4096 characters.",
                    ),
                    **errors("Admin", 401),
                    **errors("Admin", 404, e404="Unknown instance, or not a sandbox instance."),
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    closed(
                        obj(
                            {
                                "reply": nullable(
                                    string("@SpamBot's answer from now on.", maxLength=4096)
                                )
                            }
                        )
                    ),
                    "The reply ({} or null: the default).",
                ),
            )
        },
        "/admin/sandbox/{n}/new-login": {
            "post": operation(
                "sandboxNewLogin",
                "Admin: sandbox",
                "Someone logs in from another device",
                "Adds a session to the sandbox account and announces it as Telegram does "
                '(updateNewAuthorization, then the 777000 "New login" notice): one '
                "account.login_alert event follows. Answers once the gateway has handled it.",
                {
                    "200": ok(
                        "The new session.",
                        obj(
                            {
                                "hash": string("The new session."),
                                "device": string("Its device."),
                                "location": string("Its location."),
                                "handled": boolean("Whether the gateway handled it in time."),
                            },
                            ("hash", "device", "location", "handled"),
                        ),
                    ),
                    **errors("Admin", 400, 401),
                    **errors("Admin", 404, e404="Unknown instance, or not a sandbox instance."),
                    **errors("Admin", 409, e409="not_logged_in."),
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    closed(
                        obj(
                            {
                                "device": string(
                                    "Device name.",
                                    maxLength=255,
                                    default="Telegram Desktop, 5.0, Windows 10",
                                ),
                                "location": string(
                                    "Location.", maxLength=255, default="Berlin, Germany"
                                ),
                            }
                        )
                    ),
                    "The device (both fields optional).",
                    required=False,
                ),
            )
        },
        "/admin/sandbox/{n}/scan": {
            "post": operation(
                "sandboxScanQr",
                "Admin: sandbox",
                "The simulated phone scans the QR code",
                "Completes a QR login waiting on a sandbox instance.",
                {
                    "200": ok("Scanned.", obj({"scanned": {"type": "boolean"}}, ("scanned",))),
                    **errors("Admin", 401, 404, 409),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            )
        },
    }
