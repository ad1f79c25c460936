"""The admin console in a real browser: headless Chromium (Debian's) through Playwright, against
the real `tgw serve --sandbox` process.

It signs in with the admin token, logs the sandbox instance out and in again through the page
(phone, then code 12345), uploads a profile picture through the file input, saves the name,
creates an API client (the secret is shown once, works, and the client is listed), finds a
newly registered person and a message sent to them with that client, looks at the console on a
phone-sized screen, and signs out. Screenshots are kept as test artifacts:
`test-artifacts/console.png` and `test-artifacts/console-phone.png` at the repository root (and
in the test's tmp_path).

Playwright's own browser download is never used: `.ci/run` installs Debian's `chromium`. The
test is skipped only when Playwright or Chromium is missing outside CI; in CI it fails instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.e2e.receiver import WebhookReceiver, running
from tests.e2e.test_serve_process import (
    PERSON,
    REPO_ROOT,
    ServeHarness,
    free_port,
    make_png,
    register,
)
from tests.waiting import eventually

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STEP_TIMEOUT_MS = 20_000
CLIENT_ID = "console@example.com"


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; .ci/run installs it, so CI must have it")
    pytest.skip(reason)


def chromium_path() -> str | None:
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def save_artifact(source: Path) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / source.name
    shutil.copyfile(source, target)
    return target


@dataclass
class Console:
    """A signed-in console page, an HTTP client to the same server, what went wrong in the page."""

    page: Any
    http: httpx.AsyncClient
    harness: ServeHarness
    problems: list[str] = field(default_factory=list)

    async def no_error_shown(self, where: str) -> None:
        shown = await self.page.locator("#view .error:not([hidden])").all_inner_texts()
        assert not shown, f"{where}: {shown}"

    async def instance(self) -> dict[str, Any]:
        response = await self.http.get("/admin/instances/1", headers=self.harness.admin_headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def log_out_instance(self) -> None:
        """From the instance page: log the instance out (the confirm dialog is accepted)."""
        await self.page.wait_for_selector('#login[data-step="ready"]')
        await self.page.click("#logout")
        await self.page.wait_for_selector('#login[data-step="idle"]')
        await self.page.wait_for_selector('#instance-status .badge[data-status="logged_out"]')


@asynccontextmanager
async def signed_in_console(harness: ServeHarness) -> AsyncIterator[Console]:
    """A running `tgw serve --sandbox` and Chromium signed in to its console (after a wrong
    token, which the page reports)."""
    try:
        from playwright.async_api import Dialog, async_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        _missing("Debian's chromium is not installed (apt-get install chromium)")
    server = await harness.start()
    base = server.base_url

    async with (
        async_playwright() as playwright,
        httpx.AsyncClient(base_url=base, timeout=10.0) as http,
    ):
        browser = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            console = Console(page, http, harness)

            def on_console(message: Any) -> None:
                text = message.text
                if "Content Security Policy" in text or "Refused to" in text:
                    console.problems.append(f"console: {text}")
                elif message.type == "error" and not text.startswith("Failed to load resource"):
                    console.problems.append(f"console: {text}")  # 401/404 answers are expected

            async def accept(dialog: Dialog) -> None:
                await dialog.accept()

            page.on("pageerror", lambda exc: console.problems.append(f"page error: {exc}"))
            page.on("console", on_console)
            page.on("dialog", accept)

            # Sign in (GET /admin redirects to the page); a wrong token is said to be wrong.
            await page.goto(f"{base}/admin")
            assert page.url == f"{base}/admin/"
            await page.fill("#token", "not-the-token")
            await page.click("#sign-in-form button[type=submit]")
            await page.wait_for_selector("#sign-in-error:has-text('admin token is wrong')")
            await page.fill("#token", harness.admin_token)
            await page.click("#sign-in-form button[type=submit]")
            card = page.locator('#instances [data-instance="1"]')
            await card.locator('.badge[data-status="ready"]').wait_for()
            cookies = await context.cookies()
            session = [c for c in cookies if c["name"] == "tgw_console"]
            assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
            yield console
        finally:
            await browser.close()
    assert not console.problems, console.problems


async def test_console_signs_in_logs_in_uploads_a_picture_and_creates_a_client(
    harness: ServeHarness, tmp_path: Path
) -> None:
    started = time.monotonic()
    png = make_png(160, 160)
    async with signed_in_console(harness) as console:
        page, http = console.page, console.http
        no_error_shown = console.no_error_shown
        # Log the sandbox instance out, and in again with a phone and the code 12345.
        await page.click('#instances [data-instance="1"] a.button')
        await console.log_out_instance()
        await page.fill("#login-phone", "+34 600 000 001")
        await page.click("#login-phone-form button[type=submit]")
        await page.wait_for_selector('#login[data-step="code_sent"]')
        await page.fill("#login-code", "12345")
        await page.click("#login-code-form button[type=submit]")
        await page.wait_for_selector('#instance-status .badge[data-status="ready"]')
        await page.wait_for_selector('#login[data-step="ready"]')
        assert "+34600000001" in await page.inner_text("#login")
        view = await console.instance()
        assert view["status"] == "ready"
        assert view["phone"] == "34600000001"
        await no_error_shown("after the login")

        # Upload a profile picture through the file input, and save the name.
        picture = tmp_path / "logo.png"
        picture.write_bytes(png)
        await page.set_input_files("#profile-photo-file", str(picture))
        await page.click("#profile-photo-form button[type=submit]")
        await page.wait_for_function(
            "() => { const i = document.querySelector('img#profile-photo');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        await page.fill("#profile-first", "Acme")
        await page.fill("#profile-last", "Support")
        await page.click("#profile-form button[type=submit]")
        await page.wait_for_selector("#toast:has-text('Profile saved')")
        view = await console.instance()
        assert view["profile"]["first_name"] == "Acme"
        assert view["profile"]["last_name"] == "Support"
        assert view["profile"]["photo_url"], view["profile"]
        photo = await http.get(view["profile"]["photo_url"], headers=harness.admin_headers)
        assert photo.status_code == 200
        assert photo.headers["content-type"] == "image/jpeg"
        await no_error_shown("on the instance page")
        screenshot = tmp_path / "console.png"
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(screenshot), full_page=True)

        # Create an API client: the secret is shown once, works, and the client is listed.
        await page.click('#nav a[data-section="clients"]')
        await page.fill("#client-id", CLIENT_ID)
        await page.click("#client-form button[type=submit]")
        secret_box = page.locator('[data-role="secret"]')
        secret = await secret_box.locator("input[data-secret]").input_value()
        assert len(secret) >= 20
        assert "only once" in await secret_box.inner_text()
        await page.wait_for_selector(f'#clients tr[data-key="{CLIENT_ID}"]')
        api = {"X-WM-CLIENT-ID": CLIENT_ID, "X-WM-CLIENT-SECRET": secret}
        assert (await http.get("/api/v1/messages", headers=api)).status_code == 200
        await secret_box.locator("button:has-text('Done')").click()
        assert await page.locator('[data-role="secret"]').count() == 0
        await no_error_shown("on the clients page")

        # Its limits changed in place: without `recipients`, it is refused on the recipients.
        row = page.locator(f'#clients tr[data-key="{CLIENT_ID}"]')
        await row.locator("summary:has-text('Edit limits')").click()
        await row.locator('.limits-form input[name="scopes"][value="recipients"]').uncheck()
        await row.locator(".limits-form button[type=submit]").click()
        await page.wait_for_selector("#toast:has-text('Limits of')")
        await page.wait_for_selector(
            f'#clients tr[data-key="{CLIENT_ID}"] td:has-text("send, read, events")'
        )
        refused = await http.get("/api/v1/recipients", headers=api)
        assert refused.status_code == 403, refused.text
        assert (await http.get("/api/v1/messages", headers=api)).status_code == 200
        await no_error_shown("after editing the limits")

        # A person registers and the new client writes to them: the console shows both.
        await register(http, harness, PERSON, "Hi")
        send = await http.post(
            "/v3/telegram/single/text/message/1",
            json={"number": PERSON, "message": "Sent with the console's client"},
            headers=api,
        )
        assert send.status_code == 200, send.text
        await page.click('#nav a[data-section="recipients"]')
        await page.wait_for_selector(f"#recipients td:has-text('+{PERSON}')")
        await no_error_shown("on the recipients page")
        await page.click('#nav a[data-section="messages"]')
        await page.wait_for_selector(f"#messages td:has-text('+{PERSON}')")
        await no_error_shown("on the messages page")
        # Webhooks: the section works; against a gateway without them it says so.
        await page.click('#nav a[data-section="webhooks"]')
        await page.wait_for_selector("#webhook-form")
        await no_error_shown("on the webhooks page")
        not_found = '{"error": {"code": "not_found", "message": "No such endpoint"}}'

        async def without_webhooks(route: Any) -> None:
            await route.fulfill(status=404, content_type="application/json", body=not_found)

        await page.route("**/admin/webhooks", without_webhooks)
        await page.click('#nav a[data-section="messages"]')
        await page.click('#nav a[data-section="webhooks"]')
        await page.wait_for_selector("#webhooks-unavailable")
        assert await page.locator("#webhook-form").count() == 0
        await page.unroute("**/admin/webhooks", without_webhooks)

        # A phone-sized screen: nothing wider than the screen, large touch targets.
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.click('#nav a[data-section="instances"]')
        await page.wait_for_selector('#instances [data-instance="1"] .badge')
        widths = await page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], widths
        button = await page.locator('#instances [data-instance="1"] a.button').bounding_box()
        assert button is not None and button["height"] >= 44
        phone_shot = tmp_path / "console-phone.png"
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(phone_shot), full_page=True)

        # Sign out: the cookie no longer opens the admin API.
        await page.click("#sign-out")
        await page.wait_for_selector("#sign-in:not([hidden])")
        status = await page.evaluate(
            "async () => (await fetch('instances', {credentials: 'same-origin'})).status"
        )
        assert status == 401

    saved = [save_artifact(screenshot), save_artifact(phone_shot)]
    print(f"console browser test: {time.monotonic() - started:.1f} s; screenshots: {saved}")


SANDBOX_PASSWORD = "correct horse battery staple"


async def test_console_logs_in_by_qr_code_and_asks_for_the_2fa_password(
    harness: ServeHarness,
) -> None:
    """QR login: the picture loads, a scan leads to the password field, a wrong password is
    reported, the right one logs in."""
    harness.write_config()
    with harness.config_path.open("a", encoding="utf-8") as config:
        config.write(
            f'\n[[instances]]\nnumber = 1\nbackend = "sandbox"\n'
            f'sandbox_password = "{SANDBOX_PASSWORD}"\n'
        )
    async with signed_in_console(harness) as console:
        page, http = console.page, console.http
        await page.click('#instances [data-instance="1"] a.button')
        await console.log_out_instance()

        await page.click("#login-qr")
        await page.wait_for_selector('#login[data-step="awaiting_qr"]')
        await page.wait_for_function(
            "() => { const i = document.querySelector('img#login-qr-image');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        assert (await console.instance())["status"] == "awaiting_qr"
        scan = await http.post("/admin/sandbox/1/scan", headers=console.harness.admin_headers)
        assert scan.status_code == 200, scan.text

        await page.wait_for_selector('#login[data-step="password_needed"]')  # by polling
        await page.fill("#login-password", "not the password")
        await page.click("#login-password-form button[type=submit]")
        await page.wait_for_selector("#login-error:has-text('password_invalid')")
        assert await page.input_value("#login-password") == ""  # not kept in the page
        await page.fill("#login-password", SANDBOX_PASSWORD)
        await page.click("#login-password-form button[type=submit]")
        await page.wait_for_selector('#login[data-step="ready"]')
        await page.wait_for_selector('#instance-status .badge[data-status="ready"]')
        assert (await console.instance())["status"] == "ready"
        await console.no_error_shown("after the QR login")


async def _delivery_statuses(console: Console) -> list[str]:
    """Refresh the deliveries page; the statuses it shows."""
    await console.page.click("#delivery-filter button[type=submit]")
    await console.page.wait_for_selector("#deliveries :is(table, .empty)")
    return await console.page.locator("#deliveries .badge").evaluate_all(
        "nodes => nodes.map(n => n.dataset.status)"
    )


async def test_console_manages_a_webhook_and_replays_a_delivery(harness: ServeHarness) -> None:
    """Create a webhook (its secret shown once), send a test event to a real local receiver,
    see the delivery, replay it, disable and delete the webhook."""
    receiver = WebhookReceiver(free_port(), secret="whsec_" + "A" * 32)  # replaced below
    harness.write_config(webhook_delivery={"allow_private_targets": True, "timeout_s": 5})
    with running(receiver):
        async with signed_in_console(harness) as console:
            page = console.page
            await page.click('#nav a[data-section="webhooks"]')
            await page.fill("#webhook-url", receiver.url)
            await page.click("#webhook-form button[type=submit]")
            secret_box = page.locator('[data-role="secret"]')
            receiver.secret = await secret_box.locator("input[data-secret]").input_value()
            assert receiver.secret.startswith("whsec_")
            # Sealed, not hashed: the page says the admin API shows it again, not "only once".
            notice = await secret_box.inner_text()
            assert "shows it again" in notice and "only once" not in notice
            await secret_box.locator("button:has-text('Done')").click()
            row = page.locator("#webhooks tbody tr")
            await row.locator('.badge[data-status="enabled"]').wait_for()
            assert await row.count() == 1

            await row.locator("button:has-text('Send a test')").click()
            await page.wait_for_selector("#toast:has-text('Test event queued')")
            await row.locator("a:has-text('Deliveries')").click()

            async def delivered() -> bool | None:
                return True if await _delivery_statuses(console) == ["delivered"] else None

            await eventually(
                delivered, "the test event to be delivered", timeout_s=15.0, interval_s=0.3
            )
            assert len(receiver.delivered()) == 1
            await page.click("#deliveries button:has-text('Replay')")
            await page.wait_for_selector("#toast:has-text('queued again')")
            await eventually(
                delivered, "the replayed event to be delivered", timeout_s=15.0, interval_s=0.3
            )
            assert len(receiver.snapshot()) == 2  # the same event (webhook-id) twice
            assert not receiver.bad_signatures, receiver.bad_signatures
            await console.no_error_shown("on the deliveries page")

            await page.click("a:has-text('All webhooks')")
            await row.locator("button:has-text('Disable')").click()
            await row.locator('.badge[data-status="disabled"]').wait_for()
            await row.locator("button:has-text('Delete')").click()  # confirmed by the handler
            await page.wait_for_selector("#webhooks .empty")
            listed = await console.http.get("/admin/webhooks", headers=harness.admin_headers)
            assert listed.json()["data"] == []
            await console.no_error_shown("on the webhooks page")


async def test_console_creates_a_whatsmate_webhook_and_changes_its_format(
    harness: ServeHarness,
) -> None:
    """The format select and the token field: a whatsmate webhook with a token gets a test
    event in WhatsMate's shape; changed in place to standard without a token, it says so."""
    receiver = WebhookReceiver(free_port(), secret="whsec_" + "A" * 32)  # replaced below
    harness.write_config(webhook_delivery={"allow_private_targets": True, "timeout_s": 5})
    with running(receiver):
        async with signed_in_console(harness) as console:
            page = console.page
            await page.click('#nav a[data-section="webhooks"]')
            await page.fill("#webhook-url", receiver.url)
            await page.select_option("#webhook-format", "whatsmate")
            assert await page.locator("#webhook-form input[name=events]").first.is_disabled()
            await page.fill("#webhook-token", "tok-from-the-console")
            await page.click("#webhook-form button[type=submit]")
            secret_box = page.locator('[data-role="secret"]')
            receiver.secret = await secret_box.locator("input[data-secret]").input_value()
            await secret_box.locator("button:has-text('Done')").click()
            row = page.locator("#webhooks tbody tr")
            await row.locator('.webhook-format[data-format="whatsmate"]').wait_for()
            assert "token set" in await row.inner_text()
            [hook] = (
                await console.http.get("/admin/webhooks", headers=harness.admin_headers)
            ).json()["data"]
            assert (hook["format"], hook["events"]) == ("whatsmate", ["message.received"])

            await row.locator("button:has-text('Send a test')").click()
            await page.wait_for_selector("#toast:has-text('Test event queued')")

            async def arrived() -> list[Any] | None:
                return list(receiver.delivered().values()) or None

            [test] = await eventually(
                arrived, "the whatsmate test event", timeout_s=15.0, interval_s=0.3
            )
            assert test.body == {
                "token": "tok-from-the-console",
                "type": "webhook.test",
                "message": "A test event from tgw.",
            }
            assert not receiver.bad_signatures, receiver.bad_signatures

            # In place: the form shows the current token; emptied and saved, it is removed.
            await row.locator("details.format-edit summary").click()
            token = row.locator("details.format-edit input[name=token]")
            await page.wait_for_function(
                "el => el.value === 'tok-from-the-console'", arg=await token.element_handle()
            )
            await row.locator("details.format-edit select").select_option("standard")
            await token.fill("")
            await row.locator("details.format-edit button[type=submit]").click()
            await page.wait_for_selector("#toast:has-text('Webhook saved')")
            await row.locator('.webhook-format[data-format="standard"]').wait_for()
            assert "token set" not in await row.inner_text()
            one = await console.http.get(
                f"/admin/webhooks/{hook['id']}", headers=harness.admin_headers
            )
            assert (one.json()["format"], one.json()["token"]) == ("standard", None)

            # A bad change is refused with the API's message on the page.
            await page.route(
                "**/admin/webhooks/*",
                lambda route: (
                    route.continue_(post_data='{"format": "xml"}')
                    if route.request.method == "PATCH"
                    else route.continue_()
                ),
            )
            await row.locator("details.format-edit summary").click()  # a fresh table: closed
            await row.locator("details.format-edit button[type=submit]").click()
            error = page.locator("#view .error:not([hidden])")
            await error.wait_for()
            assert "'format' must be one of standard, whatsmate" in await error.inner_text()
            assert not console.problems, console.problems


async def test_console_shows_a_login_alert_and_ends_that_session(harness: ServeHarness) -> None:
    """A login from another device appears on the instance page (the alert, then the session in
    the list); its End button logs it out; the gateway's own session has none."""
    async with signed_in_console(harness) as console:
        page, http = console.page, console.http
        await page.click('#instances [data-instance="1"] a.button')
        own = page.locator("#sessions tbody tr")
        await own.locator("text=this gateway").wait_for()
        assert await own.count() == 1
        assert await page.locator("#sessions button[data-end]").count() == 0
        login = await http.post(
            "/admin/sandbox/1/new-login",
            json={"device": "Pixel 8", "location": "Lisbon, Portugal"},
            headers=harness.admin_headers,
        )
        assert login.status_code == 200, login.text
        other = login.json()["hash"]
        await page.wait_for_selector("#login-alerts li:has-text('Pixel 8')")
        await page.wait_for_selector("#toast:has-text('New login to the account')")
        await page.click(f'#sessions button[data-end="{other}"]')  # confirmed by the handler
        await page.wait_for_selector("#toast:has-text('Session ended')")
        await page.wait_for_selector(f'#sessions tr[data-key="{other}"]', state="detached")
        listed = await http.get("/admin/instances/1/sessions", headers=harness.admin_headers)
        assert [s["current"] for s in listed.json()["data"]] == [True]
        await console.no_error_shown("on the instance page with its sessions")


async def test_console_checks_the_account_with_spambot(harness: ServeHarness) -> None:
    """The instance page's "Check with @SpamBot" button shows the bot's answer; a limited answer
    makes the instance restricted, a later clean one ready again."""
    async with signed_in_console(harness) as console:
        page, http = console.page, console.http
        await page.click('#instances [data-instance="1"] a.button')
        await page.wait_for_selector("#standing-check:not([disabled])")
        await page.click("#standing-check")
        await page.wait_for_selector("#standing-result:has-text('not limited')")
        await page.wait_for_selector("#standing-result:has-text('free as a bird')")
        limited = (
            "I'm afraid some Telegram users found your messages annoying. Your account is now"
            " limited until 3 Jan 2027, 12:00 UTC."
        )
        answer = await http.post(
            "/admin/sandbox/1/spambot", json={"reply": limited}, headers=harness.admin_headers
        )
        assert answer.json()["condition"] == "restricted", answer.text
        await page.click("#standing-check")
        await page.wait_for_selector("#standing-result:has-text('Limited until')")
        await page.wait_for_selector("#instance-status:has-text('restricted')")
        await http.post("/admin/sandbox/1/spambot", json={}, headers=harness.admin_headers)
        await page.click("#standing-check")
        await page.wait_for_selector("#standing-result:has-text('not limited')")
        await page.wait_for_selector("#instance-status:has-text('ready')")
        await console.no_error_shown("after the @SpamBot checks")


async def test_console_shows_the_processes_and_who_holds_each_session(
    harness: ServeHarness,
) -> None:
    async with signed_in_console(harness) as console:
        page = console.page
        await page.click('#nav a[data-section="cluster"]')
        row = page.locator("#cluster-processes tbody tr")
        await row.locator('.badge[data-live="true"]').wait_for()
        assert await row.count() == 1
        text = await row.inner_text()
        assert "(this one)" in text and "all" in text
        held = page.locator('#cluster-instances tbody tr[data-key="1"]')
        assert "pid" in await held.inner_text()  # held by this process, shown by host and pid
        summary = await page.locator("#cluster-summary").inner_text()
        assert summary == "1 live worker process, each holding at most 1 instance."
        await console.no_error_shown("on the cluster page")
