"""The Helm chart's values (deploy/helm/tgw): what it refuses, an existing Secret, an existing
database, the workers' cap. What both Kubernetes forms share is in test_kubernetes.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.settings.loading import load_settings
from tests.deploy.manifests import CHART, Obj, helm, helm_template, load_yaml, render_chart
from tests.deploy.test_kubernetes import api, config_map, env, pod_environment, worker


def kinds_named(objects: list[Obj]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


def test_the_chart_depends_on_the_bitnami_postgresql_chart_unless_disabled() -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    (dependency,) = chart["dependencies"]
    assert dependency["name"] == "postgresql"
    assert dependency["condition"] == "postgresql.enabled"
    assert "bitnami" in dependency["repository"]
    assert load_yaml(CHART / "values.yaml")["postgresql"]["enabled"] is True


def test_the_chart_passes_helm_lint(tmp_path: Path) -> None:
    helm_template(tmp_path)  # the copy, with its dependency stubbed
    linted = subprocess.run(
        [helm(), "lint", str(tmp_path / "chart"), "--set", "secrets.adminToken=a",
         "--set", "secrets.secretKey=k"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (["secrets.secretKey=k"], "secrets.adminToken"),
        (["secrets.adminToken=a"], "secrets.secretKey"),
        (["secrets.adminToken=a", "secrets.secretKey=k", "postgresql.enabled=false",
          "externalDatabase.password=x"], "externalDatabase.host"),
        (["secrets.adminToken=a", "secrets.secretKey=k", "postgresql.enabled=false",
          "externalDatabase.host=db"], "externalDatabase.password"),
        (["secrets.adminToken=a", "secrets.secretKey=k", "leaseTtlSeconds=60"],
         "terminationGracePeriodSeconds"),
    ],
)  # fmt: skip
def test_the_chart_refuses_to_render_without_what_every_process_needs(
    tmp_path: Path, values: list[str], says: str
) -> None:
    built = helm_template(tmp_path, *values)
    assert built.returncode != 0
    assert says in built.stderr


def test_an_existing_secret_is_used_and_none_is_made(tmp_path: Path) -> None:
    objects = render_chart(tmp_path, "secrets.existingSecret=my-tgw-secrets")
    assert ("Secret", "tgw") not in kinds_named(objects)
    for workload in (api(objects), worker(objects)):
        variables = env(workload)
        for name in ("TGW_SECURITY__ADMIN_TOKEN", "TGW_SECURITY__SECRET_KEY"):
            assert variables[name]["valueFrom"]["secretKeyRef"]["name"] == "my-tgw-secrets"


def test_an_existing_database_replaces_the_bundled_one(tmp_path: Path) -> None:
    objects = render_chart(
        tmp_path,
        "postgresql.enabled=false",
        "externalDatabase.host=db.example.com",
        "externalDatabase.existingSecret=db-credentials",
        "externalDatabase.query=ssl=require",
    )
    assert not [o for o in objects if "postgresql" in o["metadata"]["name"]]
    for workload in (api(objects), worker(objects)):
        variables = env(workload)
        ref = variables["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "db-credentials", "key": "password"}
        assert variables["TGW_DATABASE__URL"]["value"] == (
            "postgresql+asyncpg://tgw:$(DATABASE_PASSWORD)@db.example.com:5432/tgw?ssl=require"
        )


def test_an_existing_databases_password_given_as_a_value_goes_into_the_charts_secret(
    tmp_path: Path,
) -> None:
    objects = render_chart(
        tmp_path,
        "postgresql.enabled=false",
        "externalDatabase.host=db.example.com",
        "externalDatabase.password=s3cret",
    )
    environ = pod_environment(objects, worker(objects), tmp_path / "tgw.toml")
    url = load_settings(environ=environ).database.url
    assert url == "postgresql+asyncpg://tgw:s3cret@db.example.com:5432/tgw"


def test_max_sessions_reaches_the_workers_only(tmp_path: Path) -> None:
    objects = render_chart(tmp_path, "worker.maxSessions=7")
    assert "TGW_CLUSTER__MAX_SESSIONS" not in env(api(objects))
    environ = pod_environment(objects, worker(objects), tmp_path / "tgw.toml")
    assert load_settings(environ=environ).cluster.max_sessions == 7


def test_the_config_value_becomes_every_pods_tgw_toml(tmp_path: Path) -> None:
    config = '[[instances]]\nnumber = 3\nbackend = "telethon"\n'
    objects = render_chart(tmp_path, f"config={config}", "publicUrl=https://tgw.example.com")
    for workload in (api(objects), worker(objects)):
        assert config_map(objects, workload)["data"]["tgw.toml"].endswith(config)
        settings = load_settings(environ=pod_environment(objects, workload, tmp_path / "t.toml"))
        assert [i.number for i in settings.instances] == [3]
        assert settings.public_url == "https://tgw.example.com"
