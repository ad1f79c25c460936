"""The Kubernetes deployment, both forms: the kustomize manifests (deploy/k8s/, rendered with
`kubectl kustomize` as `kubectl apply -k` would) and the Helm chart (deploy/helm/tgw, rendered
with `helm template`, its postgresql dependency stubbed). Every object is checked against the
Kubernetes API schema (kubernetes-validate, strict: no unknown field), and the facts the
deployment relies on are asserted on both. tests/deploy/test_helm.py has the chart's values."""

from __future__ import annotations

import base64
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from app.settings import Settings
from app.settings.loading import load_settings
from tests.deploy.manifests import (
    K8S,
    Obj,
    dockerfile_user,
    kustomize,
    raw_objects,
    render,
    render_chart,
)

# The oldest Kubernetes the manifests are meant for, and the newest the schemas know.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
SHARED_SECRETS = ["TGW_SECURITY__ADMIN_TOKEN", "TGW_SECURITY__SECRET_KEY"]


@pytest.fixture(params=["kustomize", "helm"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> list[Obj]:
    if request.param == "helm":
        return render_chart(tmp_path)
    return render(tmp_path)


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def config_map(objects: list[Obj], workload: Obj) -> Obj:
    """The ConfigMap of the workload's `config` volume (its tgw.toml)."""
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    return one(objects, "ConfigMap", volumes["config"]["configMap"]["name"])


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def container(workload: Obj) -> Obj:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    found: Obj = containers[0]
    return found


def env(workload: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container(workload).get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pods_selected(objects: list[Obj], selector: dict[str, str]) -> list[str]:
    """The workloads whose pods a label selector picks."""
    return [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        and matches(selector, o["spec"]["template"]["metadata"]["labels"])
    ]


def api(objects: list[Obj]) -> Obj:
    return one(objects, "Deployment", "tgw-api")


def worker(objects: list[Obj]) -> Obj:
    return one(objects, "Deployment", "tgw-worker")


def tgw_workloads(objects: list[Obj]) -> list[Obj]:
    return [api(objects), worker(objects)]


# --- the schema -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_for_the_kubernetes_api(
    objects: list[Obj], version: str
) -> None:
    assert {o["kind"] for o in objects} >= {
        "Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret",
    }  # fmt: skip
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{obj['kind']} {obj['metadata']['name']}: {exc}") from exc


def test_every_object_in_the_manifest_files_is_valid_even_without_kubectl() -> None:
    found = raw_objects()
    assert len(found) >= 7
    for path, obj in found:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{path.name}: {obj['kind']}: {exc}") from exc


def test_a_misspelt_field_fails_the_schema_check(objects: list[Obj]) -> None:
    probe = container(api(objects))["readinessProbe"]["httpGet"]
    probe["paht"] = probe.pop("path")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api(objects), KUBERNETES_VERSIONS[-1], strict=True)


def test_without_secrets_env_the_manifests_do_not_build(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "secrets.env").unlink(missing_ok=True)
    built = kustomize(copy)
    assert built.returncode != 0
    assert "secrets.env" in built.stderr


# --- roles, image, probes ---------------------------------------------------------------------


def test_the_api_pods_run_the_api_role_and_the_worker_pods_the_worker_role(
    objects: list[Obj],
) -> None:
    assert container(api(objects))["args"] == ["serve", "--role", "api"]
    assert container(worker(objects))["args"] == ["serve", "--role", "worker"]
    for workload in tgw_workloads(objects):
        assert "TGW_CLUSTER__ROLE" not in env(workload)  # nothing to contradict the argument


def test_two_api_and_two_worker_pods_run_the_same_image(objects: list[Obj]) -> None:
    assert api(objects)["spec"]["replicas"] == 2
    assert worker(objects)["spec"]["replicas"] == 2
    images = {container(w)["image"] for w in tgw_workloads(objects)}
    assert len(images) == 1, images


@pytest.mark.parametrize("role", ["api", "worker"])
def test_liveness_is_healthz_and_readiness_is_readyz_on_the_http_port(
    objects: list[Obj], role: str
) -> None:
    tgw = container(one(objects, "Deployment", f"tgw-{role}"))
    ports = {p["name"]: p["containerPort"] for p in tgw["ports"]}
    assert ports == {"http": 8080}
    assert tgw["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert tgw["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Migrations at start are covered by the startup probe, not by a liveness restart.
    startup = tgw["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


# --- what reaches the processes ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["api", "worker"])
def test_the_shared_secrets_reach_every_process_from_one_secret(
    objects: list[Obj], role: str
) -> None:
    variables = env(one(objects, "Deployment", f"tgw-{role}"))
    refs = [variables[name]["valueFrom"]["secretKeyRef"] for name in SHARED_SECRETS]
    assert len({ref["name"] for ref in refs}) == 1
    secret = one(objects, "Secret", refs[0]["name"])
    for name, ref in zip(SHARED_SECRETS, refs, strict=True):
        assert ref["key"] in secret["data"], f"{name}: no key {ref['key']} in the Secret"
        assert not ref.get("optional", False), f"{name} must stop the pod when missing"


def test_every_secret_and_config_map_a_pod_refers_to_is_rendered(objects: list[Obj]) -> None:
    have = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    checked = 0
    for workload in [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]:
        spec = pod_spec(workload)
        for c in spec["containers"]:
            for variable in c.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                secret = have.get(("Secret", ref["name"]))
                assert secret is not None, f"{workload['metadata']['name']}: no {ref['name']}"
                assert ref.get("optional") or ref["key"] in secret["data"], ref
                checked += 1
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in have, volume
                checked += 1
    assert checked >= 2 * (len(SHARED_SECRETS) + 1) + 2


def test_the_config_file_is_mounted_where_tgw_config_names_it_and_is_valid(
    objects: list[Obj],
) -> None:
    for workload in tgw_workloads(objects):
        config = config_map(objects, workload)
        mounts = {m["name"]: m for m in container(workload)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        path = env(workload)["TGW_CONFIG"]["value"]
        folder, file_name = path.rsplit("/", 1)
        mounted = [n for n, m in mounts.items() if m["mountPath"] == folder]
        assert len(mounted) == 1
        assert volumes[mounted[0]]["configMap"]["name"] == config["metadata"]["name"]
        assert file_name in config["data"]
        Settings.model_validate(_toml(config["data"][file_name]))


def _toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def test_service_links_are_off_so_no_foreign_tgw_variable_reaches_the_processes(
    objects: list[Obj],
) -> None:
    # A Service named tgw-api would give every later pod TGW_API_PORT=tcp://...: tgw refuses
    # TGW_ variables it does not know.
    for workload in [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]:
        assert pod_spec(workload)["enableServiceLinks"] is False, workload["metadata"]["name"]


# --- services and disruption budgets ----------------------------------------------------------


def test_the_api_service_sends_to_the_api_pods_only(objects: list[Obj]) -> None:
    service = one(objects, "Service", "tgw-api")
    assert pods_selected(objects, service["spec"]["selector"]) == ["tgw-api"]
    assert service["spec"].get("clusterIP") != "None"
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_worker_service_is_headless_and_names_only_the_workers(objects: list[Obj]) -> None:
    service = one(objects, "Service", "tgw-workers")
    assert service["spec"]["clusterIP"] == "None"
    assert pods_selected(objects, service["spec"]["selector"]) == ["tgw-worker"]


@pytest.mark.parametrize("role", ["api", "worker"])
def test_each_role_has_a_disruption_budget_that_selects_its_own_pods(
    objects: list[Obj], role: str
) -> None:
    budget = one(objects, "PodDisruptionBudget", f"tgw-{role}")
    assert pods_selected(objects, budget["spec"]["selector"]["matchLabels"]) == [f"tgw-{role}"]
    spec = budget["spec"]
    replicas = one(objects, "Deployment", f"tgw-{role}")["spec"]["replicas"]
    allowed = spec.get("maxUnavailable", replicas - spec.get("minAvailable", replicas))
    assert 1 <= allowed < replicas  # evictions go on, one pod at a time


# --- shutdown and security --------------------------------------------------------------------


def test_a_worker_has_more_time_to_stop_than_its_leases_take_to_pass_on(
    objects: list[Obj], tmp_path: Path
) -> None:
    environ = pod_environment(objects, worker(objects), tmp_path / "tgw.toml")
    ttl_s = load_settings(environ=environ).telegram.lease_ttl_s
    assert pod_spec(worker(objects))["terminationGracePeriodSeconds"] > ttl_s
    # The api pods leave the Service's endpoints before they stop accepting connections.
    pre_stop = container(api(objects))["lifecycle"]["preStop"]["exec"]["command"]
    assert (
        pre_stop[0] == "sleep"
        and int(pre_stop[1]) < pod_spec(api(objects))["terminationGracePeriodSeconds"]
    )


@pytest.mark.parametrize("role", ["api", "worker"])
def test_the_processes_run_as_the_image_user_on_a_read_only_root_with_tmp_writable(
    objects: list[Obj], role: str
) -> None:
    workload = one(objects, "Deployment", f"tgw-{role}")
    uid, gid = dockerfile_user()
    pod = pod_spec(workload)["securityContext"]
    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"]) == (True, uid, gid)
    own = container(workload)["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    writable = {
        m["mountPath"]
        for m in container(workload)["volumeMounts"]
        if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")
    }
    assert writable >= {"/tmp", "/var/lib/tgw"}  # spooled request bodies; the working folder
    assert "memory" in container(workload)["resources"]["limits"]


# --- what tgw makes of it ---------------------------------------------------------------------

POD_IP = "10.42.0.7"


def pod_environment(objects: list[Obj], workload: Obj, config_file: Path) -> dict[str, str]:
    """The environment Kubernetes gives the container: values with $(VAR) references expanded,
    the pod IP, the Secret's keys; TGW_CONFIG pointed at a copy of the ConfigMap's file."""
    secrets = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "Secret"}
    environ: dict[str, str] = {}
    for variable in container(workload)["env"]:
        if "value" in variable:
            value = re.sub(r"\$\((\w+)\)", lambda m: environ[m.group(1)], variable["value"])
        elif "fieldRef" in variable["valueFrom"]:
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            value = POD_IP
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            if ref["key"] not in secrets[ref["name"]]:
                assert ref.get("optional"), ref
                continue
            value = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
        environ[variable["name"]] = value
    config_file.write_text(config_map(objects, workload)["data"]["tgw.toml"], encoding="utf-8")
    environ["TGW_CONFIG"] = str(config_file)
    return environ


@pytest.mark.parametrize("role", ["api", "worker"])
def test_tgw_accepts_the_environment_and_config_a_pod_gets(
    objects: list[Obj], role: str, tmp_path: Path
) -> None:
    workload = one(objects, "Deployment", f"tgw-{role}")
    environ = pod_environment(objects, workload, tmp_path / "tgw.toml")
    settings = load_settings(environ=environ)
    assert settings.cluster.advertise_url == f"http://{POD_IP}:8080"
    # The database: the bundled PostgreSQL's Service, with the password of its Secret.
    url = urlsplit(settings.database.url)
    assert url.scheme == "postgresql+asyncpg" and url.port == 5432 and url.path == "/tgw"
    database = one(objects, "Service", url.hostname or "")
    assert pods_selected(objects, database["spec"]["selector"]) in (["tgw-postgres"], [])
    assert url.password in ("CHANGE-ME", "stub-password")
    assert settings.security.secret_key == "filled-in"
    assert settings.security.admin_token == "filled-in"
    assert settings.server.trusted_proxies  # the ingress's forwarded client address is believed
