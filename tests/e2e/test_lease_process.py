"""End to end: one owner per session. A second `tgw serve` on the same database serves HTTP
but leaves the instance to the first; after a kill -9 of the first it takes over. `tgw profile
set` works with no gateway running and through a running one."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.e2e.test_serve_process import ServeHarness, child_env
from tests.waiting import eventually


async def owner(server_url: str, harness: ServeHarness) -> str:
    async with httpx.AsyncClient(base_url=server_url, timeout=5) as http:
        response = await http.get("/admin/instances/1", headers=harness.admin_headers)
    assert response.status_code == 200, response.text
    value: str = response.json()["session_owner"]
    return value


async def test_a_second_gateway_serves_http_and_takes_over_after_a_kill_9(
    harness: ServeHarness,
) -> None:
    first = await harness.start()
    second = await harness.start()
    assert await owner(first.base_url, harness) == "this process"
    assert await owner(second.base_url, harness) == "another process"
    first.kill9()

    async def taken_over() -> bool | None:
        return True if await owner(second.base_url, harness) == "this process" else None

    await eventually(
        taken_over, "the second gateway to take the instance over", timeout_s=30, interval_s=0.1
    )


async def tgw(harness: ServeHarness, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, "--config", str(harness.config_path),
        cwd=harness.root, env=child_env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def picture(path: Path) -> Path:
    Image.new("RGB", (1600, 900), (10, 120, 200)).save(path, format="PNG")
    return path


async def test_profile_set_from_the_terminal_with_and_without_a_running_gateway(
    harness: ServeHarness, tmp_path: Path
) -> None:
    harness.write_config()
    with harness.config_path.open("a", encoding="utf-8") as config:
        config.write('\n[[instances]]\nnumber = 1\nbackend = "sandbox"\n')
    # No gateway runs: the command opens the (sandbox) session itself.
    code, out, err = await tgw(
        harness, "profile", "set", "--first-name", "Acme", "--about", "Orders", "--json"
    )
    assert code == 0, out + err
    assert '"first_name": "Acme"' in out
    # A gateway runs: the command goes through its admin API.
    server = await harness.start()
    with harness.config_path.open("a", encoding="utf-8") as config:
        config.write(f"\n[server]\nport = {server.port}\n")
    code, out, err = await tgw(
        harness, "profile", "set", "--last-name", "Support", "--photo",
        str(picture(tmp_path / "logo.png")),
    )  # fmt: skip
    assert code == 0, out + err
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        view = await http.get("/admin/instances/1", headers=harness.admin_headers)
        profile: dict[str, Any] = view.json()["profile"]
        assert (profile["first_name"], profile["last_name"], profile["about"]) == (
            "Acme",
            "Support",
            "Orders",
        )
        photo = await http.get(profile["photo_url"], headers=harness.admin_headers)
    with Image.open(io.BytesIO(photo.content)) as shown:
        assert shown.size == (1280, 720)
