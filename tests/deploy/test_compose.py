"""The compose files (deploy/): the scaled-out one runs 2 api + 2 worker processes of one image
behind one published port (nginx), PostgreSQL with a health check, the shared secrets from .env
(required); the single-process quick start is still there. The processes it describes are run
for real in tests/e2e/test_compose_scale_process.py."""

from __future__ import annotations

import re
from ipaddress import ip_address, ip_network

from app.settings.loading import load_settings
from tests.deploy.manifests import (
    COMPOSE,
    NGINX_CONF,
    compose_services,
    nginx_upstream_servers,
    role_of,
    services_with_role,
)

# ${NAME:?message}: Compose refuses to start while NAME is unset or empty.
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
SHARED_SECRETS = {
    "TGW_SECURITY__ADMIN_TOKEN": "TGW_ADMIN_TOKEN",
    "TGW_SECURITY__SECRET_KEY": "TGW_SECRET_KEY",
}


def required_variables(value: str) -> list[str]:
    return REQUIRED.findall(value)


def test_two_api_and_two_worker_services_run_the_same_image() -> None:
    api, workers = services_with_role("api"), services_with_role("worker")
    assert sorted(api) == ["api-1", "api-2"]
    assert sorted(workers) == ["worker-1", "worker-2"]
    tgw = [*api.values(), *workers.values()]
    assert {s["image"] for s in tgw} == {"tgw:latest"}
    assert {s["build"]["dockerfile"] for s in tgw} == {"deploy/Dockerfile"}
    for service in tgw:
        assert "TGW_CLUSTER__ROLE" not in service["environment"]  # --role alone says it


def test_only_the_proxy_publishes_a_port_and_it_is_one() -> None:
    published = {name: s["ports"] for name, s in compose_services().items() if s.get("ports")}
    assert list(published) == ["proxy"]
    assert published["proxy"] == ["8080:8080"]
    proxy = compose_services()["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert re.search(r"^\s*listen 8080;", NGINX_CONF.read_text(encoding="utf-8"), re.MULTILINE)


def test_the_proxy_shares_requests_out_to_the_api_services_and_never_to_a_worker() -> None:
    assert sorted(nginx_upstream_servers()) == [f"{name}:8080" for name in ("api-1", "api-2")]
    waits_for = compose_services()["proxy"]["depends_on"]
    assert waits_for == {name: {"condition": "service_healthy"} for name in ("api-1", "api-2")}


def test_every_tgw_service_is_healthy_only_while_readyz_answers() -> None:
    for name, service in compose_services().items():
        if role_of(service) is None:
            continue
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD" and "http://127.0.0.1:8080/readyz" in " ".join(check), name
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name
        # Time to release the leases: the other worker takes the sessions over at once.
        assert int(service["stop_grace_period"].rstrip("s")) > 30, name


def test_postgresql_has_a_health_check_and_the_password_is_required() -> None:
    postgres = compose_services()["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    password = postgres["environment"]["POSTGRES_PASSWORD"]
    assert required_variables(password) == ["POSTGRES_PASSWORD"]


def test_every_process_gets_the_same_required_secrets_and_database_from_env() -> None:
    tgw = [s for s in compose_services().values() if role_of(s) is not None]
    for variable, dotenv in SHARED_SECRETS.items():
        values = {s["environment"][variable] for s in tgw}
        assert len(values) == 1, variable
        assert required_variables(values.pop()) == [dotenv]
    urls = {s["environment"]["TGW_DATABASE__URL"] for s in tgw}
    assert len(urls) == 1
    url = urls.pop()
    assert url.startswith("postgresql+asyncpg://tgw:") and url.endswith("@postgres:5432/tgw")
    assert required_variables(url) == ["POSTGRES_PASSWORD"]


def test_each_process_advertises_its_own_address() -> None:
    tgw = {n: s for n, s in compose_services().items() if role_of(s) is not None}
    for name, service in tgw.items():
        assert service["environment"]["TGW_CLUSTER__ADVERTISE_URL"] == f"http://{name}:8080"


def test_the_single_process_quick_start_is_unchanged() -> None:
    services = compose_services(COMPOSE)
    assert sorted(services) == ["postgres", "tgw"]
    tgw = services["tgw"]
    assert tgw["ports"] == ["8080:8080"]
    assert tgw["deploy"]["replicas"] == 1
    assert role_of(tgw) is None  # `serve` from the image: the role "all"


def test_tgw_accepts_the_environment_each_service_gets() -> None:
    dotenv = {"TGW_ADMIN_TOKEN": "a" * 32, "TGW_SECRET_KEY": "k" * 32, "POSTGRES_PASSWORD": "pw"}
    for name, service in compose_services().items():
        if role_of(service) is None:
            continue
        environ = {
            key: REQUIRED.sub(lambda found: dotenv[found.group(1)], str(value))
            for key, value in service["environment"].items()
        }
        settings = load_settings(environ=environ)
        assert settings.database.url == "postgresql+asyncpg://tgw:pw@postgres:5432/tgw"
        assert settings.security.secret_key == "k" * 32
        assert settings.cluster.advertise_url == f"http://{name}:8080"
        # The proxy's address (on the compose network) is believed for the client's.
        trusted = [ip_network(n) for n in settings.server.trusted_proxies]
        assert any(ip_address("172.18.0.5") in network for network in trusted)
