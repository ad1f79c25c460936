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


# --- the Helm chart ---------------------------------------------------------------------------

CHART = DEPLOY / "helm" / "tgw"
RELEASE = "tgw"
HELM_LIMIT_S = 60
# Stands in for the bitnami postgresql chart (Chart.yaml `dependencies:`), which cannot be
# fetched offline: what tgw's templates use of it, named as that chart names them (its
# Service and its Secret with the key `password`, both <release>-postgresql).
POSTGRESQL_STUB = {
    "Chart.yaml": "apiVersion: v2\nname: postgresql\nversion: 16.0.0\n",
    "templates/stub.yaml": """\
{{- $own := contains "postgresql" .Release.Name }}
{{- $name := ternary .Release.Name (printf "%s-postgresql" .Release.Name) $own }}
{{- if not .Values.auth.existingSecret }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
data:
  password: {{ "stub-password" | b64enc }}
{{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
spec:
  selector:
    app.kubernetes.io/name: postgresql
  ports:
    - name: tcp-postgresql
      port: 5432
""",
}


def helm() -> str:
    found = shutil.which("helm")
    if found is None:
        pytest.skip("helm is not installed: the chart cannot be rendered (helm template)")
    return found


def helm_template(tmp_path: Path, *values: str) -> subprocess.CompletedProcess[str]:
    """`helm template` of a copy of the chart, the postgresql dependency stubbed; `values` are
    --set arguments."""
    chart = tmp_path / "chart"
    if not chart.exists():
        shutil.copytree(CHART, chart)
        for name, text in POSTGRESQL_STUB.items():
            path = chart / "charts" / "postgresql" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    command = [helm(), "template", RELEASE, str(chart), "--namespace", "tgw"]
    for value in values:
        command += ["--set", value]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=HELM_LIMIT_S, check=False
    )


def render_chart(tmp_path: Path, *values: str) -> list[Obj]:
    secrets = ("secrets.adminToken=filled-in", "secrets.secretKey=filled-in")
    built = helm_template(tmp_path, *secrets, *values)
    assert built.returncode == 0, built.stderr
    return [obj for obj in yaml.safe_load_all(built.stdout) if obj]
