"""`tgw profile set`: the account's name, bio and picture from the terminal.

Only one process may have the session open (app/lease.py). When a `tgw serve` holds it, the
change goes through that gateway's admin API; otherwise this command opens the session itself
for the moment it takes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from app.errors import ApiError
from app.lease import InstanceLease
from app.settings import Settings
from app.telegram.port import Profile

READY_WITHIN_S = 30.0


class ProfileFailure(Exception):
    """Stop with this message (exit status 1)."""


async def set_profile(
    settings: Settings,
    admin_token: str,
    key: str,
    instance: int,
    *,
    first_name: str | None,
    last_name: str | None,
    about: str | None,
    photo: Path | None,
) -> dict[str, Any]:
    from app.cluster.ownership import start_instance
    from app.services import build_services

    photo_bytes = await asyncio.to_thread(photo.read_bytes) if photo is not None else None
    services = build_services(settings, admin_token, secret_key=key, run_workers=False)
    lease = InstanceLease(services.database.engine, settings.database.url, instance)
    try:
        if instance not in services.telegram.backends:
            raise ProfileFailure(f"instance {instance} has no Telegram backend configured")
        if not await lease.try_acquire():
            return await _through_gateway(
                settings, admin_token, instance, first_name, last_name, about, photo_bytes
            )
        services.telegram.leases[instance] = lease
        from app.instances import sync_instances

        async with services.database.write() as session:
            await sync_instances(session, settings, services.clock())
        await start_instance(services, instance, workers=False)
        backend = services.telegram.backends[instance]
        deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
        while await backend.me() is None or not getattr(backend, "connected", True):
            if asyncio.get_running_loop().time() > deadline:
                raise ProfileFailure(f"instance {instance} is not logged in (run `tgw login`)")
            await asyncio.sleep(0.2)
        try:
            if first_name is not None or last_name is not None or about is not None:
                now = await backend.get_profile() or Profile(None, None, None)
                await services.accounts.profiles.set_names(
                    instance,
                    first_name or now.first_name or "",
                    last_name if last_name is not None else now.last_name,
                    about if about is not None else now.about,
                )
            if photo_bytes is not None:
                await services.accounts.profiles.set_photo(instance, photo_bytes)
        except ApiError as exc:
            raise ProfileFailure(exc.message) from exc
        conf = settings.instance(instance)
        return await services.accounts.profiles.view(instance, conf.profile if conf else None)
    finally:
        for backend in services.telegram.backends.values():
            await backend.stop()
        await services.close()
        await lease.release()


async def _through_gateway(
    settings: Settings,
    admin_token: str,
    instance: int,
    first_name: str | None,
    last_name: str | None,
    about: str | None,
    photo: bytes | None,
) -> dict[str, Any]:
    host = settings.server.host if settings.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{host}:{settings.server.port}"
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        try:
            current = (await http.get(f"/admin/instances/{instance}")).json().get("profile", {})
            if first_name is not None or last_name is not None or about is not None:
                body = {
                    "first_name": first_name or current.get("first_name") or "",
                    "last_name": last_name if last_name is not None else current.get("last_name"),
                    "about": about if about is not None else current.get("about"),
                }
                response = await http.put(f"/admin/instances/{instance}/profile", json=body)
                _check(response)
            if photo is not None:
                path = f"/admin/instances/{instance}/profile/photo"
                response = await http.put(path, content=photo)
                _check(response)
            response = await http.get(f"/admin/instances/{instance}")
            _check(response)
        except httpx.TransportError as exc:
            raise ProfileFailure(
                f"another process holds instance {instance}'s session but its admin API at"
                f" {base} ([server] host and port of this configuration) does not answer"
                f" ({exc!r})"
            ) from exc
    profile: dict[str, Any] = response.json()["profile"]
    return profile


def _check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except Exception:
            message = response.text[:200]
        raise ProfileFailure(f"the gateway refused: {message}")
