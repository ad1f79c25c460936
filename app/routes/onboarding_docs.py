"""The documentation of logging instances in and out, their profile, sessions and standing, and
of the sandbox's login controls (app/routes/onboarding.py), for the generated OpenAPI
document."""

from __future__ import annotations

from app.routes import onboarding_schemas as models
from app.routes.admin_docs import TAG_SANDBOX
from app.routes.admin_schemas import InstancePath, Profile
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body, Doc, Upload
from app.routes.error_answers import NativeError

TAG_LOGIN = "Admin: login and profile"

LOGIN_ERRORS = (
    "phone_invalid, phone_unregistered, phone_banned, code_invalid, code_expired, "
    "password_invalid, login_failed"
)
NOT_OWNED = "not_logged_in, or another tgw process has the session open."
UNKNOWN = {404: "No such instance."}
NO_ANSWER = Reply("unavailable: Telegram did not answer.", NativeError)


def _flood_wait(text: str) -> Reply:
    return Reply(text, NativeError, retry_after="Seconds.")


def _step(operation_id: str, summary: str, description: str, body: Body | None) -> Doc:
    """A step of a login: each answers where the login stands next."""
    return Doc(
        operation_id,
        TAG_LOGIN,
        summary,
        description,
        {
            200: Reply("The login's next step.", models.LoginState),
            429: _flood_wait("flood_wait: Telegram asks to wait `seconds` (also in Retry-After)."),
            503: Reply("unreachable: Telegram cannot be reached.", NativeError),
        },
        errors=(400, 401, 404, 409),
        error_texts={
            400: f"Missing or bad field, or a login error: {LOGIN_ERRORS}.",
            **UNKNOWN,
            409: "Not expected now (no_login, already_logged_in).",
        },
        path=InstancePath,
        body=body,
    )


START_LOGIN = _step(
    "startLogin",
    "Start a login with the phone number",
    "Telegram sends a code to the Telegram app on that number (sandbox: 12345).",
    Body(models.PhoneBody, "The phone."),
)
LOGIN_STATE = Doc(
    "getLogin",
    TAG_LOGIN,
    "Where the login stands",
    "Poll it: the QR URL changes when its token is refreshed.",
    {200: Reply("The login.", models.LoginState)},
    errors=(401, 404),
    error_texts=UNKNOWN,
    path=InstancePath,
)
SUBMIT_CODE = _step(
    "submitLoginCode",
    "Enter the code",
    "Answers password_needed when the account has two-step verification.",
    Body(models.CodeBody, "The code."),
)
SUBMIT_PASSWORD = _step(
    "submitLoginPassword",
    "Enter the 2FA password",
    "Checked with Telegram's SRP; never logged or stored.",
    Body(models.PasswordBody, "The password."),
)
START_QR = _step(
    "startQrLogin",
    "Start a QR login",
    "Show the URL as a QR code (or GET .../login/qr.png) and scan it with Telegram on the "
    "phone; the token is refreshed before it expires until it is scanned.",
    None,
)
QR_PNG = Doc(
    "getLoginQrPng",
    TAG_LOGIN,
    "The QR code as a PNG image",
    "The current token's QR code.",
    {200: Reply("PNG image.", media="image/png")},
    errors=(401, 404),
    error_texts={404: "No QR login is waiting."},
    path=InstancePath,
)
LOGOUT = Doc(
    "logoutInstance",
    TAG_LOGIN,
    "Log the instance out",
    "Ends the session at Telegram and forgets it; the queue holds until a new login.",
    {200: Reply("Logged out.", models.LoggedOut)},
    errors=(401, 404, 409),
    error_texts=UNKNOWN,
    path=InstancePath,
)
SET_PROFILE = Doc(
    "setProfile",
    TAG_LOGIN,
    "Set the name and bio",
    "first_name is required (at most 64 characters); about at most 70.",
    {200: Reply("The profile.", Profile)},
    errors=(400, 401, 404, 409),
    path=InstancePath,
    body=Body(models.ProfileBody, "The profile."),
)
SET_PHOTO = Doc(
    "setProfilePhoto",
    TAG_LOGIN,
    "Set the profile picture",
    "The body is the JPEG or PNG file; it is resized to at most 1280 px and replaces the "
    "previous picture.",
    {200: Reply("The picture.", models.ProfilePhoto)},
    errors=(400, 401, 404, 409),
    path=InstancePath,
    body=Upload("JPEG or PNG bytes.", ("image/jpeg", "image/png")),
)
GET_PHOTO = Doc(
    "getProfilePhoto",
    TAG_LOGIN,
    "The current profile picture",
    "The JPEG tgw set last.",
    {200: Reply("JPEG image.", media="image/jpeg")},
    errors=(401, 404),
    error_texts={404: "No such instance, or no picture."},
    path=InstancePath,
)
LIST_SESSIONS = Doc(
    "listSessions",
    TAG_LOGIN,
    "The account's sessions (devices)",
    "Telegram's list of the sessions logged in to the account (account.getAuthorizations), "
    "the gateway's own (current) first. Only the tgw process that has the instance's session "
    "open answers it.",
    {200: Reply("The sessions.", models.SessionList), 503: NO_ANSWER},
    errors=(401, 404, 409),
    error_texts={**UNKNOWN, 409: NOT_OWNED},
    path=InstancePath,
)
END_SESSION = Doc(
    "endSession",
    TAG_LOGIN,
    "End another session",
    "Logs that device out (account.resetAuthorization). The gateway's own session cannot be "
    "ended here (409 current_session): log the instance out for that. Telegram lets a session "
    "end others only once it is about a day old (409 session_too_new).",
    {200: Reply("Ended.", models.SessionEnded), 503: NO_ANSWER},
    errors=(400, 401, 404, 409),
    error_texts={
        400: "The hash is not a 64-bit integer.",
        404: "No such instance, or no such session.",
        409: "current_session, session_too_new, not_logged_in, or another tgw process has the "
        "session open.",
    },
    path=models.SessionPath,
)
CHECK_STANDING = Doc(
    "checkStanding",
    TAG_LOGIN,
    "Ask @SpamBot whether the account is limited",
    'Sends @SpamBot "/start" and reads its reply (waiting up to 20 s). Limited: the status '
    "becomes `restricted` with the bot's words (and the end of the limit) as the detail; the "
    "queue is not paused, since Telegram still lets a limited account answer people who wrote "
    "first. Frozen: `frozen`. Not limited: `ready` again if the status was `restricted` or "
    "`frozen` and no pause is pending. Every change is an instance.status event; login "
    "statuses (logged_out, revoked, ...) are never changed. Only the tgw process that has the "
    "instance's session open answers it.",
    {
        200: Reply("The check.", models.StandingCheck),
        429: _flood_wait("flood_wait: Telegram asks to wait `seconds` (Retry-After)."),
        502: Reply(
            "spambot_unrecognised: @SpamBot answered in words tgw cannot read; the error's "
            "`reply` holds them. The status is unchanged.",
            NativeError,
        ),
        503: Reply("unavailable: Telegram did not answer, or has no @SpamBot.", NativeError),
        504: Reply(
            "spambot_timeout: @SpamBot did not answer in time. The status is unchanged.",
            NativeError,
        ),
    },
    errors=(401, 404, 409),
    error_texts={**UNKNOWN, 409: NOT_OWNED},
    path=InstancePath,
)
SANDBOX_SCAN = Doc(
    "sandboxScanQr",
    TAG_SANDBOX,
    "The simulated phone scans the QR code",
    "Completes a QR login waiting on a sandbox instance.",
    {200: Reply("Scanned.", models.Scanned)},
    errors=(401, 404, 409),
    path=InstancePath,
)
SANDBOX_SPAMBOT = Doc(
    "sandboxSpamBot",
    TAG_SANDBOX,
    "Set what the simulated @SpamBot answers",
    "The sandbox account's standing: POST /admin/instances/{n}/check then reads this text as "
    "it reads Telegram's @SpamBot. null (or no field) restores the default, \"Good news, no "
    'limits are currently applied to your account. You’re free as a bird!". Kept in the '
    "database.",
    {200: Reply("The reply now given.", models.SpamBotAnswer)},
    errors=(400, 401, 404),
    error_texts={
        400: "Not a JSON object, or 'reply' not a non-empty string of at most 4096 characters.",
        404: "Unknown instance, or not a sandbox instance.",
    },
    path=InstancePath,
    body=Body(models.SpamBotBody, "The reply ({} or null: the default)."),
)
