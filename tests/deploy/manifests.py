"""Reading deploy/: the Kubernetes manifests (rendered with `kubectl kustomize`), the compose
files and the Dockerfile, for the tests of tests/deploy/ and tests/e2e/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_SCALE = DEPLOY / "compose.scale.yaml"
COMPOSE = DEPLOY / "compose.yaml"
NGINX_CONF = DEPLOY / "nginx.conf"
KUSTOMIZE_LIMIT_S = 60

Obj = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: no `kubectl kustomize` to render the manifests")
    return found


def kustomize(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=KUSTOMIZE_LIMIT_S,
        check=False,
    )


def render(tmp_path: Path, secrets_env: str | None = None) -> list[Obj]:
    """deploy/k8s built as `kubectl apply -k` would, with secrets.env from the example (every
    empty value filled in) unless `secrets_env` is given."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    if secrets_env is None:
        example = (K8S / "secrets.env.example").read_text(encoding="utf-8")
        secrets_env = re.sub(r"^(\w+)=$", r"\1=filled-in", example, flags=re.MULTILINE)
    (copy / "secrets.env").write_text(secrets_env, encoding="utf-8")
    built = kustomize(copy)
    assert built.returncode == 0, built.stderr
    return [obj for obj in yaml.safe_load_all(built.stdout) if obj]


def raw_objects() -> list[tuple[Path, Obj]]:
    """Every object in the manifests' own files (no kustomization, no generator)."""
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        with path.open(encoding="utf-8") as handle:
            found.extend((path, obj) for obj in yaml.safe_load_all(handle) if obj)
    return found


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def dockerfile_user() -> tuple[int, int]:
    """The numeric USER uid:gid of deploy/Dockerfile."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE)
    assert found is not None, "deploy/Dockerfile has no numeric USER uid:gid"
    return int(found.group(1)), int(found.group(2))


# --- the compose file of the scaled-out deployment --------------------------------------------


def compose_services(path: Path = COMPOSE_SCALE) -> dict[str, Obj]:
    services: dict[str, Obj] = load_yaml(path)["services"]
    return services


def role_of(service: Obj) -> str | None:
    """`api` or `worker` from a tgw service's `serve --role R` command; None otherwise."""
    command = service.get("command") or []
    if command[:1] == ["serve"] and "--role" in command:
        role: str = command[command.index("--role") + 1]
        return role
    return None


def services_with_role(role: str, path: Path = COMPOSE_SCALE) -> dict[str, Obj]:
    return {name: s for name, s in compose_services(path).items() if role_of(s) == role}


def nginx_upstream_servers() -> list[str]:
    """The `server host:port` entries of the tgw_api upstream of deploy/nginx.conf."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    block = re.search(r"upstream tgw_api \{(.*?)\}", text, re.DOTALL)
    assert block is not None, "deploy/nginx.conf has no upstream tgw_api"
    return re.findall(r"^\s*server\s+(\S+)", block.group(1), re.MULTILINE)
