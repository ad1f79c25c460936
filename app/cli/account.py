"""`tgw login`, `tgw logout`, `tgw profile set`: the instance's Telegram account.

The terminal side lives here (app/cli/terminal_login.py, terminal_profile.py: prompts, QR codes
in the terminal, a running gateway's admin API); the account's own work is app/account/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.cli.base import _ctx, _echo, _migrate, _run, admin_token, config_option, main, secret_key


@main.command()
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--phone", default=None, help="The account's number (asked for if not given).")
@click.option("--qr", is_flag=True, help="Log in by scanning a QR code with the phone instead.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace a session that is still logged in (stop `tgw serve` first).",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def login(
    ctx: click.Context,
    instance: int,
    phone: str | None,
    qr: bool,
    force: bool,
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Log the instance's Telegram account in: phone, code, 2FA password (or --qr)."""
    from app.cli import terminal_login
    from app.telegram.port import LoginError

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    key = secret_key(settings)
    try:
        step = _run(terminal_login.login(settings, key, instance, phone=phone, qr=qr, force=force))
    except terminal_login.Abort as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    except LoginError as exc:
        if as_json:
            click.echo(json.dumps({"error": {"code": exc.code, "message": str(exc)}}))
        click.echo(f"tgw: login failed ({exc.code}): {exc}", err=True)
        sys.exit(1)
    account = step.account
    data = {
        "instance": instance,
        "step": step.step,
        "user_id": account.user_id if account else None,
        "phone": account.phone if account else None,
    }
    _echo(
        data,
        as_json,
        f"instance {instance}: {terminal_login.describe(step)}."
        " `tgw serve` uses this session (a running one picks it up within seconds).",
    )


@main.command()
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def logout(ctx: click.Context, instance: int, as_json: bool, sub_config: str | None) -> None:
    """Log the instance's Telegram session out (at Telegram too) and forget it."""
    from app.cli import terminal_login

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    key = secret_key(settings)
    try:
        had = _run(terminal_login.logout(settings, key, instance))
    except terminal_login.Abort as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    text = f"instance {instance}: logged out" if had else f"instance {instance}: no session"
    _echo({"instance": instance, "logged_out": had}, as_json, text)


@main.group()
def profile() -> None:
    """The account's profile: name, bio, picture."""


@profile.command("set")
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
@click.option("--about", default=None, help="The bio (at most 70 characters).")
@click.option(
    "--photo",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JPEG or PNG picture (resized to at most 1280 px).",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def profile_set(
    ctx: click.Context,
    instance: int,
    first_name: str | None,
    last_name: str | None,
    about: str | None,
    photo: Path | None,
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Set the name, bio and/or picture (through the running gateway if there is one)."""
    from app.cli import terminal_profile

    if first_name is None and last_name is None and about is None and photo is None:
        click.echo(
            "tgw: nothing to set (give --first-name, --last-name, --about or --photo)", err=True
        )
        sys.exit(2)
    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    token, _ = admin_token(settings)
    key = secret_key(settings)
    try:
        view = _run(
            terminal_profile.set_profile(
                settings,
                token,
                key,
                instance,
                first_name=first_name,
                last_name=last_name,
                about=about,
                photo=photo,
            )
        )
    except terminal_profile.ProfileFailure as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    name = " ".join(p for p in (view.get("first_name"), view.get("last_name")) if p)
    _echo(view, as_json, f"instance {instance}: profile set ({name or 'no name'})")
