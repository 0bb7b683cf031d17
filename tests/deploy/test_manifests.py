"""The Kubernetes manifests (deploy/k8s), validated without a cluster: built-in kinds
against the Kubernetes JSON schemas kubernetes-validate bundles, the Strimzi and
CloudNativePG resources against their CRDs' openAPIV3Schema bundled in
deploy/k8s/schemas; and what they say checked against the code they deploy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from services.cli import build_parser, emit
from services.grpc.health import HealthSettings
from services.grpc.server import LOG_HEALTH, SERVICES
from services.kafka.topics import DEFAULT_PARTITIONS, TOPICS
from tests.deploy.documents import (
    CRD_SCHEMAS,
    KUBERNETES_VERSION,
    KUSTOMIZATION,
    ROOT,
    SECRET_TEMPLATES,
    all_documents,
    by_name,
    containers,
    crd_schema,
    documented_settings,
    documents,
    manifest_files,
    of_kind,
    strict,
)

DOCUMENTS = all_documents()
WORKLOADS = [
    "lienthong-api",
    "lienthong-ingest-worker",
    "lienthong-relay",
    "lienthong-reminders",
    "lienthong-checkpointer",
]
HEALTH_NAMES = {"", *SERVICES, LOG_HEALTH}
BACKGROUND = {  # served by services.grpc.health
    "lienthong-ingest-worker": "ingest-worker",
    "lienthong-relay": "relay",
    "lienthong-reminders": "reminders",
    "lienthong-checkpointer": "checkpointer",
}


def name_of(path: Path, doc: dict[str, Any]) -> str:
    return f"{path.name}:{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize(
    "doc",
    [doc for _, doc in DOCUMENTS if (doc["apiVersion"], doc["kind"]) not in CRD_SCHEMAS],
    ids=[name_of(p, d) for p, d in DOCUMENTS if (d["apiVersion"], d["kind"]) not in CRD_SCHEMAS],
)
def test_every_built_in_resource_is_valid_for_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "doc",
    [doc for _, doc in DOCUMENTS if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS],
    ids=[name_of(p, d) for p, d in DOCUMENTS if (d["apiVersion"], d["kind"]) in CRD_SCHEMAS],
)
def test_every_custom_resource_is_valid_against_its_bundled_crd(doc: dict[str, Any]) -> None:
    schema = crd_schema(CRD_SCHEMAS[doc["apiVersion"], doc["kind"]])
    kind = schema["x-kubernetes-group-version-kind"]
    assert doc["apiVersion"] == f"{kind['group']}/{kind['version']}"
    assert doc["kind"] == kind["kind"]
    jsonschema.Draft7Validator(strict(schema)).validate(doc)
    # The metadata the CRD leaves open: a name Kubernetes accepts.
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"])


def test_a_typo_in_a_custom_resource_is_caught() -> None:
    """The strict reading: an unknown field is an error, not silently pruned."""
    kafka = by_name("Kafka", "lienthong-kafka")
    typo = {**kafka, "spec": {**kafka["spec"], "kafka": {**kafka["spec"]["kafka"], "confg": {}}}}
    schema = strict(crd_schema(CRD_SCHEMAS["kafka.strimzi.io/v1", "Kafka"]))
    with pytest.raises(jsonschema.ValidationError, match="confg"):
        jsonschema.Draft7Validator(schema).validate(typo)
    service = by_name("Service", "lienthong-api")
    wrong = {**service, "spec": {**service["spec"], "prots": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_secret_templates() -> None:
    (kustomization,) = documents(KUSTOMIZATION)
    listed = set(kustomization["resources"])
    expected = {p.name for p in manifest_files()} - {SECRET_TEMPLATES.name}
    assert listed == expected
    namespace = kustomization["namespace"]
    assert by_name("Namespace", namespace)
    for secret in documents(SECRET_TEMPLATES):
        assert secret["metadata"]["namespace"] == namespace


def test_the_kafka_topics_are_those_of_services_kafka_topics() -> None:
    topics = of_kind("KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(TOPICS)
    for topic in topics:
        assert topic["spec"]["partitions"] == DEFAULT_PARTITIONS
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "lienthong-kafka"


def test_kafka_is_three_kraft_nodes_replicating_three_times_with_two_in_sync() -> None:
    kafka = by_name("Kafka", "lienthong-kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    pools = [
        p
        for p in of_kind("KafkaNodePool")
        if p["metadata"]["labels"]["strimzi.io/cluster"] == "lienthong-kafka"
    ]
    assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) == 3
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3
    bootstrap = by_name("ConfigMap", "lienthong-config")["data"]["LIENTHONG_KAFKA_BOOTSTRAP"]
    listener = kafka["spec"]["kafka"]["listeners"][0]
    assert bootstrap == f"lienthong-kafka-kafka-bootstrap:{listener['port']}"
    assert listener["tls"] is False  # the clients (kafka-python, aiokafka) are set for plaintext
    # ... so the listener admits Lienthong's pods only, and every process is one of them.
    (peer,) = listener["networkPolicyPeers"]
    for workload in WORKLOADS:
        labels = by_name("Deployment", workload)["spec"]["template"]["metadata"]["labels"]
        assert peer["podSelector"]["matchLabels"].items() <= labels.items(), workload


def test_postgresql_is_three_instances_with_synchronous_replication() -> None:
    cluster = by_name("Cluster", "lienthong-db")
    assert cluster["spec"]["instances"] == 3
    synchronous = cluster["spec"]["postgresql"]["synchronous"]
    assert synchronous["number"] >= 1
    assert synchronous["dataDurability"] == "required"
    # The Secret CloudNativePG writes for the application (`<cluster>-app`) is the URL's.
    for workload in WORKLOADS:
        (container,) = containers(by_name("Deployment", workload))
        (url,) = [e for e in container["env"] if e["name"] == "LIENTHONG_DATABASE_URL"]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "lienthong-db-app", "key": "uri"}


def test_every_setting_is_documented_in_readme() -> None:
    documented = documented_settings()
    assert "LIENTHONG_DATABASE_URL" in documented
    assert "LIENTHONG_INGEST_WITHIN_SECONDS" in documented  # a row naming two
    config = by_name("ConfigMap", "lienthong-config")["data"]
    assert set(config) - documented == set()
    for workload in WORKLOADS:
        for container in containers(by_name("Deployment", workload)):
            names = {e["name"] for e in container.get("env", [])}
            assert names - documented == set(), workload


def test_every_process_runs_a_command_lienthong_has() -> None:
    parser = build_parser()
    for workload in WORKLOADS:
        for container in containers(by_name("Deployment", workload)):
            parser.parse_args(container["args"])  # SystemExit on a command it lacks


def files_of(workload: dict[str, Any]) -> dict[str, str]:
    """Where each Secret is mounted in ``workload``'s container: mount path → Secret."""
    spec = workload["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    (container,) = spec["containers"]
    return {
        m["mountPath"]: secrets[m["name"]]
        for m in container.get("volumeMounts", [])
        if m["name"] in secrets
    }


def test_every_secret_a_workload_uses_has_a_template_and_its_file_is_the_setting() -> None:
    templates = {s["metadata"]["name"]: s for s in documents(SECRET_TEMPLATES)}
    config = by_name("ConfigMap", "lienthong-config")["data"]
    needs = {
        "lienthong-api": ["LIENTHONG_TLS_CERT", "LIENTHONG_TLS_KEY", "LIENTHONG_TRUST_ANCHORS"],
        "lienthong-ingest-worker": ["LIENTHONG_TRUST_ANCHORS"],
        "lienthong-checkpointer": ["LIENTHONG_LOG_KEY_FILE"],
    }
    for workload in BACKGROUND:  # their health service: mutual TLS, as the API's
        needs[workload] = [
            *needs.get(workload, []),
            "LIENTHONG_TLS_CERT",
            "LIENTHONG_TLS_KEY",
            "LIENTHONG_TRUST_ANCHORS",
        ]
    for workload, settings in needs.items():
        mounted = files_of(by_name("Deployment", workload))
        for setting in settings:
            folder, file = config[setting].rsplit("/", 1)
            assert folder in mounted, f"{workload} does not mount {setting}'s {config[setting]}"
            assert file in templates[mounted[folder]]["stringData"], (workload, setting)
    for workload in WORKLOADS:
        assert set(files_of(by_name("Deployment", workload)).values()) <= set(templates)
    for secret in templates.values():  # templates only: no key material committed
        for value in secret["stringData"].values():
            assert "REPLACE" in value
            assert not re.search(r"[A-Za-z0-9+/]{60,}", value)


def probe_arguments(probe: dict[str, Any]) -> dict[str, str]:
    command = probe["exec"]["command"]
    assert command[0] == "grpc_health_probe"
    return dict(arg.lstrip("-").partition("=")[::2] for arg in command[1:])


def test_the_api_probes_ask_the_health_service_for_names_the_server_registers() -> None:
    api = by_name("Deployment", "lienthong-api")
    (container,) = containers(api)
    (port,) = container["ports"]
    listen = by_name("ConfigMap", "lienthong-config")["data"]["LIENTHONG_GRPC_ADDRESS"]
    assert listen.rsplit(":", 1)[1] == str(port["containerPort"])
    probe_files = {
        path: secret
        for path, secret in files_of(api).items()
        if secret == "lienthong-probe-tls"  # noqa: S105 - a Secret's name
    }
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        arguments = probe_arguments(container[kind])
        assert arguments["addr"] == f"127.0.0.1:{port['containerPort']}"
        assert arguments["service"] in HEALTH_NAMES
        assert "tls" in arguments  # the server speaks mutual TLS only
        for file in ("tls-client-cert", "tls-client-key"):
            assert arguments[file].rsplit("/", 1)[0] in probe_files
    service = by_name("Service", "lienthong-api")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_the_background_processes_probes_ask_their_health_service_where_it_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = by_name("ConfigMap", "lienthong-config")["data"]
    monkeypatch.setenv("LIENTHONG_HEALTH_ADDRESS", config["LIENTHONG_HEALTH_ADDRESS"])
    settings = HealthSettings.from_env()
    for workload, command in BACKGROUND.items():
        deployment = by_name("Deployment", workload)
        (container,) = containers(deployment)
        assert container["args"] == [command]
        where = settings.address(command)
        assert where is not None
        assert where.startswith("127.0.0.1:")  # the probes run in the pod: loopback only
        probe_files = {
            path
            for path, secret in files_of(deployment).items()
            if secret == "lienthong-probe-tls"  # noqa: S105 - a Secret's name
        }
        kinds = ["startupProbe", "livenessProbe"]
        if workload != "lienthong-checkpointer":  # its readiness: the log's tree
            kinds.append("readinessProbe")
        for kind in kinds:
            arguments = probe_arguments(container[kind])
            assert arguments["addr"] == where, (workload, kind)
            assert arguments["service"] == ""  # the whole process
            assert "tls" in arguments
            for file in ("tls-client-cert", "tls-client-key"):
                assert arguments[file].rsplit("/", 1)[0] in probe_files, (workload, kind)
        assert "No probes" not in (ROOT / "deploy" / "k8s" / f"{command}.yaml").read_text()


def test_selectors_match_their_pods_and_every_workload_has_a_disruption_budget_or_one_replica() -> (
    None
):
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    assert set(deployments) == set(WORKLOADS)
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    covered = set()
    for budget in of_kind("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        (match,) = [
            name
            for name, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        covered.add(match)
    assert "lienthong-api" in covered
    for name, deployment in deployments.items():
        assert name in covered or deployment["spec"]["replicas"] == 1
    service = by_name("Service", "lienthong-api")
    api_labels = deployments["lienthong-api"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= api_labels.items()


def test_every_container_has_requests_and_limits_from_a_committed_benchmark() -> None:
    for path in manifest_files():
        text = path.read_text()
        for doc in documents(path):
            if doc["kind"] != "Deployment":
                continue
            for container in containers(doc):
                resources = container["resources"]
                assert {"cpu", "memory"} <= set(resources["requests"])
                assert "memory" in resources["limits"]
            cited = re.findall(r"(b\d_[a-z_]+\.json)", text)
            assert cited, f"{path.name} cites no benchmark"
            for name in cited:
                assert (ROOT / "bench" / "results" / name).is_file(), name


def test_the_checkpointers_readiness_reads_what_audit_status_prints(capsys) -> None:
    """k8s readiness and compose's health check: ``lienthong audit status --format json``
    piped to a grep for its ``healthy`` field, as ``emit`` prints it."""
    (container,) = containers(by_name("Deployment", "lienthong-checkpointer"))
    shell, flag, script = container["readinessProbe"]["exec"]["command"]
    assert (shell, flag) == ("sh", "-c")
    (compose,) = documents(ROOT / "deploy" / "compose.yaml")
    kind, compose_script = compose["services"]["checkpointer"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    for text in (script, compose_script):
        command, pattern = re.fullmatch(r"lienthong (.+) \| grep -q '(.+)'", text).groups()  # type: ignore[union-attr]
        build_parser().parse_args(command.split())
        for healthy in (True, False):
            emit({"tree_size": 3, "lag": 0, "healthy": healthy}, "json")
            assert (pattern in capsys.readouterr().out) is healthy
