"""`tgw serve`, `tgw migrate`, `tgw admin-token`: running the gateway and what it needs."""

from __future__ import annotations

import contextlib
import logging
import sys

import click

from app.cli.base import _ctx, _migrate, admin_token, config_option, main, secret_key

# A configured admin token shorter than this is warned about at `tgw serve`.
MIN_ADMIN_TOKEN_CHARS = 24


def configure_logging(level: str) -> None:
    """The log of `tgw serve`: never a statement's parameters or a fetched row (message texts,
    numbers, secret hashes), at any level; the engines also hide parameters in their errors."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    chosen = logging.getLogger().getEffectiveLevel()
    # Alembic says at INFO which plugins it set up and which migrations ran, at every start.
    alembic = chosen if chosen <= logging.DEBUG else max(chosen, logging.WARNING)
    logging.getLogger("alembic").setLevel(alembic)
    # aiosqlite logs each call at DEBUG with its arguments: the SQL and its parameters.
    # (SQLAlchemy's own loggers stay at the WARNING it gives them: at INFO and DEBUG they
    # would print each statement and each row fetched.)
    logging.getLogger("aiosqlite").setLevel(max(chosen, logging.INFO))


@main.command()
@config_option
@click.option("--sandbox", is_flag=True, help="Make every instance a sandbox instance.")
@click.option("--host", default=None, help="Override [server] host.")
@click.option("--port", default=None, type=int, help="Override [server] port.")
@click.option(
    "--role",
    type=click.Choice(["api", "worker", "all"]),
    default=None,
    help="Override [cluster] role: api (HTTP only), worker (sessions and workers), all.",
)
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
def serve(
    ctx: click.Context,
    sub_config: str | None,
    sandbox: bool,
    host: str | None,
    port: int | None,
    role: str | None,
    log_level: str,
) -> None:
    """Run the HTTP API and the workers (by default all in one process; migrates first)."""
    import uvicorn

    from app.cli.serving import stream_ending_server
    from app.http_limits import header_deadline_protocol
    from app.main import create_app
    from app.services import build_services

    obj = _ctx(ctx, sub_config)
    obj.sandbox = sandbox
    settings = obj.settings
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    cluster = settings.cluster
    if role is not None:
        cluster = cluster.model_copy(update={"role": role})
    settings = settings.model_copy(update={"server": server, "cluster": cluster})
    configure_logging(log_level)
    _migrate(settings)
    token, token_path = admin_token(settings)
    key = secret_key(settings)
    if token_path is not None:
        click.echo(f"tgw: admin token in {token_path} (print it with `tgw admin-token`)")
    elif len(token) < MIN_ADMIN_TOKEN_CHARS:
        # The lockout never refuses the right token, so it cannot bound guessing: the token's
        # length does (the generated one is 32 random bytes).
        click.echo(
            f"tgw: warning: [security] admin_token is {len(token)} characters; use at least "
            f"{MIN_ADMIN_TOKEN_CHARS} random ones (e.g. `openssl rand -hex 32`)",
            err=True,
        )
    backends = ", ".join(f"{i.number}:{i.backend}" for i in settings.instances)
    click.echo(
        f"tgw: serving on http://{server.host}:{server.port} (instances {backends};"
        f" role {cluster.role})"
    )
    services = build_services(settings, token, secret_key=key)
    config = uvicorn.Config(
        create_app(services),
        host=server.host,
        port=server.port,
        log_level=log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
        # The app decides which forwarding headers to believe ([server] trusted_proxies, in
        # app/client_address.py); uvicorn's own would believe any peer on loopback.
        proxy_headers=False,
        # Slow clients (app/http_limits.py): headers are timed by the protocol, bodies by the
        # app's middleware; idle kept-alive connections close after keep_alive_timeout_s.
        http=header_deadline_protocol(server.header_timeout_s),
        timeout_keep_alive=server.keep_alive_timeout_s,
        # uvicorn answers 503 once `len(connections) >= limit`, the new one included.
        limit_concurrency=server.max_connections + 1,
    )
    serving = stream_ending_server(config, lambda: services.event_tail.close(wait_s=2))
    # As uvicorn.run: a Ctrl-C (re-raised by uvicorn once it has stopped) is a normal end.
    with contextlib.suppress(KeyboardInterrupt):
        serving.run()
    if not serving.started:
        sys.exit(3)  # uvicorn's own exit code when the server could not start


@main.command()
@config_option
@click.pass_context
def migrate(ctx: click.Context, sub_config: str | None) -> None:
    """Apply the database migrations."""
    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    from app.db import display_url

    click.echo(f"tgw: database at {display_url(settings.database.url)} is up to date")


@main.command("admin-token")
@config_option
@click.pass_context
def admin_token_cmd(ctx: click.Context, sub_config: str | None) -> None:
    """Print the admin token (generating it once if needed)."""
    click.echo(admin_token(_ctx(ctx, sub_config).settings)[0])
