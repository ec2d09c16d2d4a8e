"""The Bicep in infra/ matches the relay: names, partition key, indexes, and its settings.

No Bicep compiler runs here (it is not on a registry this project reaches), so the tests read
the values out of the files: parameter defaults, what main.bicep passes each module, and the
environment the Container App gives the relay, which must be settings that
`Settings.from_env` reads, with values it accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from app.store.cosmos_connect import DATA_CONTRIBUTOR_ROLE
from app.store.cosmos_schema import INDEXING_POLICY, PARTITION_KEY_PATH
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
INFRA = ROOT / "infra"
MAIN = (INFRA / "main.bicep").read_text()
COSMOS = (INFRA / "modules" / "cosmos" / "cosmos.bicep").read_text()
RELAY = (INFRA / "modules" / "app" / "relay.bicep").read_text()

#: Variables the container gets that the relay does not read itself, and who reads them.
READ_BY_LIBRARIES = {"AZURE_CLIENT_ID": "azure-identity's DefaultAzureCredential"}
#: What the other modules' outputs look like, for the settings that come from them.
OUTPUT_SAMPLES = {
    "cosmos.outputs.endpoint": "https://cosmos-abc.documents.azure.com:443/",
    "cosmos.outputs.databaseName": "GenAI",
    "cosmos.outputs.containerName": "AI_Conversations",
    "openAi.outputs.endpoint": "https://oai-abc.openai.azure.com/",
    "openAi.outputs.deploymentName": "gpt-realtime",
    "appIdentity.outputs.clientId": "00000000-0000-0000-0000-000000000001",
}


def param_default(bicep: str, name: str) -> str:
    match = re.search(rf"^param {name} \w+ = '([^']*)'$", bicep, re.MULTILINE)
    assert match, f"no param {name} with a string default"
    return match.group(1)


def params(bicep: str) -> dict[str, str | None]:
    """Every ``param NAME TYPE [= DEFAULT]``: the default's text, or None."""
    found: dict[str, str | None] = {}
    for match in re.finditer(r"^param (\w+) \w+(?: = (.+))?$", bicep, re.MULTILINE):
        found[match.group(1)] = match.group(2)
    return found


def block(text: str, opening: str) -> str:
    """The text between ``opening`` (which ends with ``{``) and its matching ``}``."""
    start = text.index(opening) + len(opening)
    depth = 1
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    raise AssertionError(f"unbalanced braces after {opening!r}")


def top_level_entries(body: str) -> Iterator[tuple[str, str]]:
    """``key: value`` lines of an object body, nested objects skipped."""
    depth = 0
    for line in body.splitlines():
        if depth == 0 and (match := re.match(r"\s*'?([\w-]+)'?: (.+)$", line)):
            yield match.group(1), match.group(2).strip()
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")


def modules() -> dict[str, tuple[Path, dict[str, str]]]:
    """main.bicep's modules: symbolic name -> (file, the params it passes)."""
    found = {}
    for match in re.finditer(r"^module (\w+) '([^']+)' = \{", MAIN, re.MULTILINE):
        body = block(MAIN, match.group(0))
        passed = dict(top_level_entries(block(body, "params: {")))
        found[match.group(1)] = (INFRA / match.group(2), passed)
    return found


def bicep_literal(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if match := re.fullmatch(r"'([^']*)'", text):
        return match.group(1)
    raise AssertionError(f"not a literal: {text}")


def main_value(expression: str) -> Any:
    """What main.bicep passes, with its parameters at their defaults."""
    main_params = params(MAIN)
    if expression in main_params:
        default = main_params[expression]
        assert default is not None, f"main.bicep param {expression} has no default"
        return bicep_literal(default)
    return OUTPUT_SAMPLES[expression]


def relay_env() -> dict[str, str]:
    """The environment the relay's container gets by default, secrets set to samples."""
    passed = modules()["relay"][1]
    variables = dict(re.findall(r"^var (\w+) = (\S+)$", RELAY, re.MULTILINE))

    def value(expression: str) -> Any:
        if match := re.fullmatch(r"string\((\w+)\)", expression):
            return str(value(match.group(1)))
        if match := re.fullmatch(r"(\w+) \? '(\w+)' : '(\w+)'", expression):
            return match.group(2) if value(match.group(1)) else match.group(3)
        if expression in variables:
            return value(variables[expression])
        if expression in passed:
            return main_value(passed[expression])
        return bicep_literal(expression)

    settings = block(RELAY, "var settings = {")
    env = {name: str(value(expression)) for name, expression in top_level_entries(settings)}
    for name in re.findall(r"name: '(\w+)'\s+secretRef: '[\w-]+'", RELAY):
        env[name] = "s" * 40
    return env


class RecordingEnv(dict[str, str]):
    """A mapping that remembers every name looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def test_database_container_and_partition_key_match_the_app_defaults() -> None:
    defaults = Settings()
    assert param_default(MAIN, "cosmosDatabaseName") == defaults.cosmos_database == "GenAI"
    assert param_default(MAIN, "cosmosContainerName") == defaults.cosmos_container
    assert param_default(COSMOS, "databaseName") == defaults.cosmos_database
    assert param_default(COSMOS, "containerName") == defaults.cosmos_container
    assert re.search(rf"^var partitionKeyPath = '{PARTITION_KEY_PATH}'$", COSMOS, re.MULTILINE)
    assert "partitionKeyPath\n" in COSMOS.split("paths: [", 1)[1][:80]


def test_main_passes_its_names_and_identity_to_the_cosmos_module() -> None:
    _, passed = modules()["cosmos"]
    assert passed["databaseName"] == "cosmosDatabaseName"
    assert passed["containerName"] == "cosmosContainerName"
    assert passed["defaultTtlSeconds"] == "conversationTtlSeconds"
    assert passed["dataContributorPrincipalIds"].startswith(
        "concat([appIdentity.outputs.principalId]"
    )
    for output in ("COSMOSDB_ENDPOINT", "COSMOSDB_DATABASE", "COSMOSDB_CONTAINER"):
        assert f"output {output} string" in MAIN
    assert "output AZURE_CLIENT_ID string = appIdentity.outputs.clientId" in MAIN


def test_the_indexing_policy_is_the_one_the_app_creates() -> None:
    policy_file = INFRA / "modules" / "cosmos" / "indexing-policy.json"
    assert json.loads(policy_file.read_text()) == INDEXING_POLICY
    assert "indexingPolicy: loadJsonContent('indexing-policy.json')" in COSMOS


def test_serverless_account_retention_and_data_contributor_role() -> None:
    assert "name: 'EnableServerless'" in COSMOS
    assert "defaultTtl: defaultTtlSeconds > 0 ? defaultTtlSeconds : null" in COSMOS
    assert f"var dataContributorRoleId = '{DATA_CONTRIBUTOR_ROLE}'" in COSMOS
    assert "sqlRoleAssignments@" in COSMOS
    assert "for principalId in dataContributorPrincipalIds" in COSMOS


def test_every_module_gets_its_required_params_and_only_params_it_has() -> None:
    found = modules()
    assert set(found) >= {"appIdentity", "logs", "registry", "cosmos", "openAi", "relay"}
    for name, (path, passed) in found.items():
        declared = params(path.read_text())
        required = {param for param, default in declared.items() if default is None}
        assert required <= set(passed), f"{name}: {required - set(passed)} not passed"
        assert set(passed) <= set(declared), f"{name}: {set(passed) - set(declared)} unknown"


@pytest.mark.parametrize(
    "path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: str(p.relative_to(INFRA))
)
def test_every_parameter_is_documented(path: Path) -> None:
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("param "):
            above = lines[:number]
            while above and above[-1].startswith("@") and not above[-1].startswith("@desc"):
                above.pop()
            assert above and above[-1].startswith("@description('"), f"{path}: {line}"


def test_api_versions_are_dated_and_not_previews() -> None:
    for path in INFRA.rglob("*.bicep"):
        for version in re.findall(r"'[\w./]+@([^']+)'", path.read_text()):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", version), f"{path}: {version}"


def test_every_variable_the_container_gets_is_a_valid_relay_setting() -> None:
    env = relay_env()
    recording = RecordingEnv(env)
    settings = Settings.from_env(recording)  # raises SettingsError on a bad value
    unread = set(env) - recording.read - set(READ_BY_LIBRARIES)
    assert not unread, f"the relay reads no {sorted(unread)}"
    assert {"ADMIN_TOKEN", "CALL_TOKEN_SECRET"} <= set(env)  # as Container App secrets
    assert settings.log_format == "json"  # Log Analytics parses each line
    assert settings.store_kind == "cosmos"
    assert settings.cosmos_key is None  # Entra ID: the managed identity, no key
    assert settings.azure_openai_api_key is None
    assert not settings.uses_simulator
    assert settings.host == "0.0.0.0"
    assert settings.workers == 1
    assert settings.redact_pii is True
    assert settings.max_calls_per_customer == 5
    assert settings.max_frame_rate == 250.0


def test_container_settings_keep_calls_alive() -> None:
    env = relay_env()
    template = block(RELAY, "template: {")
    variables = dict(re.findall(r"^var (\w+) = (\d+)$", RELAY, re.MULTILINE))
    port = variables["port"]
    assert env["PORT"] == port
    assert "targetPort: port" in block(RELAY, "ingress: {")
    assert "transport: 'http'" in RELAY  # HTTP/1.1: WebSocket upgrades pass
    probes = re.findall(r"type: '(\w+)'\s+httpGet: \{\s+path: '([^']+)'\s+port: port", template)
    assert probes == [("Startup", "/healthz"), ("Liveness", "/healthz"), ("Readiness", "/readyz")]
    # SIGTERM drains; the platform waits longer than SHUTDOWN_GRACE before it kills.
    assert "var terminationGracePeriodSeconds = shutdownGraceSeconds + 30" in RELAY
    assert "terminationGracePeriodSeconds: terminationGracePeriodSeconds" in template
    grace = int(env["SHUTDOWN_GRACE"])
    assert grace + 30 <= 600 and int(params(MAIN)["shutdownGraceSeconds"] or 0) == grace
    # DATA_DIR is the mounted share, as the image's user.
    assert re.search(r"volumeName: 'data'\s+mountPath: dataDir", template)
    assert env["DATA_DIR"] == "/data"
    assert "storageType: 'AzureFile'" in template
    uid = variables["imageUid"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"useradd --system --uid {uid} --gid {uid}" in dockerfile
    assert f"USER {uid}" in dockerfile
    assert "ENV PYTHONUNBUFFERED=1" in dockerfile and "DATA_DIR=/data" in dockerfile
    # Never scale to zero; scale on live connections.
    assert "param minReplicas int = 1" in MAIN and "@minValue(1)\nparam minReplicas" in MAIN
    assert "concurrentConnections: string(callsPerReplica)" in template
    per_replica = int(params(MAIN)["callsPerReplica"] or 0)
    assert per_replica <= int(env["MAX_CALLS"]) * int(env["WORKERS"])


def test_azd_finds_the_service_and_every_parameter_it_fills_exists() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^services:\n  relay:\n", azure_yaml, re.MULTILINE)
    assert "host: containerapp" in azure_yaml
    assert "path: ./Dockerfile" in azure_yaml
    assert "{ 'azd-service-name': 'relay' }" in MAIN
    assert "targetScope = 'subscription'" in MAIN
    filled = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = params(MAIN)
    assert set(filled) <= set(declared)
    assert {name for name, default in declared.items() if default is None} <= set(filled)
