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

from app.settings import SPOOL_MARGIN, Settings, SettingsError
from app.store.cosmos_connect import DATA_CONTRIBUTOR_ROLE
from app.store.cosmos_schema import INDEXING_POLICY, PARTITION_KEY_PATH
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
INFRA = ROOT / "infra"
MAIN = (INFRA / "main.bicep").read_text()
COSMOS = (INFRA / "modules" / "cosmos" / "cosmos.bicep").read_text()
RELAY = (INFRA / "modules" / "app" / "relay.bicep").read_text()

#: Container Apps' most for terminationGracePeriodSeconds.
CONTAINER_APPS_MAX_TERMINATION_GRACE = 600
#: Variables the container gets that the relay does not read itself, and who reads them.
READ_BY_LIBRARIES = {"AZURE_CLIENT_ID": "azure-identity's DefaultAzureCredential"}
#: What the other modules' outputs look like, for the settings that come from them.
OUTPUT_SAMPLES = {
    "recordings.outputs.accountUrl": "https://stabc.blob.core.windows.net/",
    "cosmos.outputs.endpoint": "https://cosmos-abc.documents.azure.com:443/",
    "cosmos.outputs.databaseName": "GenAI",
    "cosmos.outputs.containerName": "AI_Conversations",
    "openAi.outputs.endpoint": "https://oai-abc.openai.azure.com/",
    "openAi.outputs.deploymentName": "gpt-realtime",
    "appIdentity.outputs.clientId": "00000000-0000-0000-0000-000000000001",
    "acs.outputs.endpoint": "https://acs-abc.communication.azure.com",
    "acs.outputs.immutableResourceId": "3d20e1de-0f28-41c5-84c6-0ad12a8cbe2b",
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
    """The text between ``opening`` (which ends with ``{`` or ``[``) and its match."""
    start = text.index(opening) + len(opening)
    pair = {"{": "}", "[": "]"}[opening[-1]]
    depth = 1
    for index in range(start, len(text)):
        depth += {opening[-1]: 1, pair: -1}.get(text[index], 0)
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


def main_value(expression: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """What main.bicep passes, with its parameters at their defaults (or ``overrides``)."""
    main_params = params(MAIN)
    if overrides and expression in overrides:
        return overrides[expression]
    if expression in main_params:
        default = main_params[expression]
        assert default is not None, f"main.bicep param {expression} has no default"
        return bicep_literal(default)
    if match := re.fullmatch(r"(\w+) \? (\S+) : (\S+)", expression):
        chosen = match.group(2) if main_value(match.group(1), overrides) else match.group(3)
        return main_value(chosen, overrides)
    if expression in OUTPUT_SAMPLES:
        return OUTPUT_SAMPLES[expression]
    return bicep_literal(expression)


def relay_env(**overrides: Any) -> dict[str, str]:
    """The environment the relay's container gets by default (main.bicep's parameters at their
    defaults, or ``overrides``), secrets set to samples."""
    passed = modules()["relay"][1]
    variables = dict(re.findall(r"^var (\w+) = (\S+)$", RELAY, re.MULTILINE))

    def value(expression: str) -> Any:
        if match := re.fullmatch(r"string\((\w+)\)", expression):
            return str(value(match.group(1)))
        if match := re.fullmatch(r"(\w+) \? '(\w+)' : '(\w+)'", expression):
            return match.group(2) if value(match.group(1)) else match.group(3)
        if match := re.fullmatch(r"empty\((\w+)\) \? (\w+) : (\w+)", expression):
            return value(match.group(3)) if value(match.group(1)) else value(match.group(2))
        if expression in variables:
            return value(variables[expression])
        if expression in passed:
            return main_value(passed[expression], overrides)
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
    # Phone calls (docs/phone.md): secrets when given; the app's own address by default.
    assert {"TWILIO_AUTH_TOKEN", "CALLER_ID_SECRET"} <= set(env)
    assert settings.phone_enabled
    assert (settings.public_base_url or "").startswith("https://")
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
    assert settings.spool_locks is False  # the share is mounted by every replica: leases


def test_with_acs_on_the_container_gets_valid_acs_settings() -> None:
    """``acsEnabled``: the ACS module's outputs and the webhook key reach the relay, with
    Entra ID (no connection string) and the app's own address as PUBLIC_BASE_URL."""
    env = relay_env(acsEnabled=True)
    env["CALLER_ID_SECRET"] = "c" * 40  # the phone settings' own secret (docs/phone.md)
    settings = Settings.from_env(env)
    assert settings.acs_enabled
    assert settings.acs_endpoint == OUTPUT_SAMPLES["acs.outputs.endpoint"]
    assert settings.acs_resource_id == OUTPUT_SAMPLES["acs.outputs.immutableResourceId"]
    assert settings.acs_connection_string is None
    assert settings.acs_webhook_key == "s" * 40  # a Container App secret
    assert settings.public_base_url and settings.public_base_url.startswith("https://")
    # Event Grid posts to the address the relay builds its own URLs from.
    assert (
        "var relayPublicUrl = empty(publicBaseUrl) ? "
        "'https://${relayName}.${appsEnvironment.outputs.defaultDomain}' : publicBaseUrl" in MAIN
    )
    assert "'${relayPublicUrl}/api/phone/acs/incoming?key=${acsWebhookKey}'" in MAIN
    acs = (INFRA / "modules" / "acs" / "acs.bicep").read_text()
    assert "includedEventTypes: [\n        'Microsoft.Communication.IncomingCall'" in acs
    assert "eventDeliverySchema: 'EventGridSchema'" in acs
    assert "output immutableResourceId string = communication.properties.immutableResourceId" in acs


def test_container_settings_keep_calls_alive() -> None:
    env = relay_env()
    template = block(RELAY, "template: {")
    variables = dict(re.findall(r"^var (\w+) = (\d+)$", RELAY, re.MULTILINE))
    assert env["PORT"] == variables["relayPort"]
    assert "targetPort: port" in block(RELAY, "ingress: {")
    assert "transport: 'http'" in RELAY  # HTTP/1.1: WebSocket upgrades pass
    # SIGTERM drains; the platform waits longer than SHUTDOWN_GRACE before it kills.
    assert "var terminationGracePeriodSeconds = shutdownGraceSeconds + 30" in RELAY
    assert "terminationGracePeriodSeconds: terminationGracePeriodSeconds" in template
    # DATA_DIR is the mounted share, as the image's user.
    assert re.search(r"volumeName: 'data'\s+mountPath: dataDir", template)
    assert env["DATA_DIR"] == "/data"
    assert "storageType: 'AzureFile'" in template
    uid = variables["imageUid"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"useradd --system --uid {uid} --gid {uid}" in dockerfile
    assert f"USER {uid}" in dockerfile
    assert "ENV PYTHONUNBUFFERED=1" in dockerfile and "DATA_DIR=/data" in dockerfile
    # Never scale to zero.
    assert "param minReplicas int = 1" in MAIN and "@minValue(1)\nparam minReplicas" in MAIN


def decorators(bicep: str, param: str) -> dict[str, str]:
    """The decorators right above ``param NAME`` but its description: ``{"minValue": "15"}``."""
    lines = bicep.splitlines()
    [index] = [i for i, line in enumerate(lines) if re.match(rf"param {param} \w+\b", line)]
    found = {}
    while index > 0 and lines[index - 1].startswith("@"):
        index -= 1
        match = re.fullmatch(r"@(\w+)\((.*)\)", lines[index])
        assert match, lines[index]
        found[match.group(1)] = match.group(2)
    found.pop("description", None)
    return found


@pytest.mark.parametrize("bicep", [MAIN, RELAY], ids=["main", "relay"])
def test_the_shutdown_grace_bounds_are_the_relays_own(bicep: str) -> None:
    """A grace the relay refuses would deploy and then crash-loop: the template's bounds are
    the app's (SAVE_TIMEOUT + SPOOL_MARGIN at least) and the platform's (600 s in all)."""
    bounds = decorators(bicep, "shutdownGraceSeconds")
    least, most = int(bounds["minValue"]), int(bounds["maxValue"])
    defaults = Settings()
    assert least == defaults.save_timeout + SPOOL_MARGIN  # SAVE_TIMEOUT is not set in Azure
    assert "SAVE_TIMEOUT" not in relay_env()
    Settings.from_env({"SHUTDOWN_GRACE": str(least)})
    with pytest.raises(SettingsError, match="SHUTDOWN_GRACE"):
        Settings.from_env({"SHUTDOWN_GRACE": str(least - 1)})
    assert most + 30 == CONTAINER_APPS_MAX_TERMINATION_GRACE
    Settings.from_env({"SHUTDOWN_GRACE": str(most)})
    default = int(params(MAIN)["shutdownGraceSeconds"] or 0)
    assert least <= default <= most and int(relay_env()["SHUTDOWN_GRACE"]) == default


def test_the_platform_probes_a_replica_by_what_it_needs() -> None:
    """Readiness on /readyz/platform (ready unless starting or draining: a full relay keeps
    its pages, admin API and /metrics reachable); liveness and startup on /healthz."""
    relay_probes = block(RELAY, "var relayProbes = [")
    probe = r"type: '(\w+)'\s+httpGet: \{\s+path: '([^']+)'\s+port: (\w+)"
    probes = re.findall(probe, relay_probes)
    assert probes == [
        ("Startup", "/healthz", "relayPort"),
        ("Liveness", "/healthz", "relayPort"),
        ("Readiness", "/readyz/platform", "relayPort"),
    ]
    routes = (ROOT / "app" / "web" / "routes.py").read_text()
    for _, path, _ in probes:
        assert f'@web.get("{path}")' in routes, f"the relay serves no {path}"
    assert "probes: placeholder ? placeholderProbes : relayProbes" in RELAY


def test_the_placeholder_runs_on_its_own_port_until_the_relay_is_deployed() -> None:
    """The first revision runs a public placeholder (port 80): its port and a probe it passes,
    or it never becomes ready; then azure.yaml provisions once more for the relay's."""
    assert re.search(r"^var placeholderPort = 80$", RELAY, re.MULTILINE)
    assert "var port = placeholder ? placeholderPort : relayPort" in RELAY
    placeholder = block(RELAY, "var placeholderProbes = [")
    assert re.search(r"path: '/'\s+port: placeholderPort", placeholder)
    _, passed = modules()["relay"]
    assert passed["image"] == "image" and passed["placeholder"] == "image == placeholderImage"
    assert "output RELAY_PLACEHOLDER bool = image == placeholderImage" in MAIN
    hooks = (ROOT / "azure.yaml").read_text().split("\nhooks:\n", 1)[1]
    assert hooks.count("RELAY_PLACEHOLDER") == 2 and hooks.count("azd provision --no-prompt") == 2


def test_the_scale_rule_follows_cpu_not_connections() -> None:
    """HTTP and TCP rules count new connections per 15 s, not open WebSockets, and a tcp rule
    needs TCP ingress: the relay scales on CPU, which follows its live calls."""
    scale = block(RELAY, "scale: {")
    assert "tcp:" not in scale and "http:" not in scale
    assert re.search(
        r"custom: \{\s+type: 'cpu'\s+metadata: \{\s+type: 'Utilization'\s+"
        r"value: string\(cpuScaleThreshold\)",
        scale,
    )
    bounds = decorators(MAIN, "cpuScaleThreshold")
    default = int(params(MAIN)["cpuScaleThreshold"] or 0)
    assert int(bounds["minValue"]) <= default <= int(bounds["maxValue"]) <= 100
    assert decorators(RELAY, "cpuScaleThreshold") == bounds


def test_role_assignments_deploy_under_any_principal_without_collisions() -> None:
    # azd from a pipeline deploys as a service principal: its type is a parameter.
    assert decorators(MAIN, "principalType") == {"allowed": "['User', 'ServicePrincipal']"}
    assert params(MAIN)["principalType"] == "'User'"
    filled = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert filled["principalType"] == {"value": "${AZURE_PRINCIPAL_TYPE=User}"}
    # A principal named twice gets one assignment (their names would collide).
    assert re.search(r"^var developers = union\(", MAIN, re.MULTILINE)
    assert "developer == principalId ? principalType : 'User'" in MAIN
    _, openai = modules()["openAi"]
    assert openai["userPrincipalTypes"] == "concat(['ServicePrincipal'], developerTypes)"
    # Cosmos DB locks the account for each data-plane assignment: one at a time, after the
    # container (412 "another operation in progress" otherwise).
    assert re.search(
        r"@batchSize\(1\)\nresource dataContributorAssignments '[^']+sqlRoleAssignments@", COSMOS
    )
    assignments = COSMOS.split("resource dataContributorAssignments ", 1)[1].split("\n]\n", 1)[0]
    assert re.search(r"dependsOn: \[\s+container\s+\]", assignments)


def test_cosmos_and_openai_take_entra_id_only() -> None:
    opening = re.search(r"resource account '[\w./]+/databaseAccounts@[\d-]+' = \{", COSMOS)
    assert opening
    account = block(COSMOS, opening.group(0))
    assert "disableLocalAuth: true" in account
    assert "disableKeyBasedMetadataWriteAccess: true" in account
    openai = (INFRA / "modules" / "openai" / "openai.bicep").read_text()
    assert "disableLocalAuth: true" in openai
    env = relay_env()
    assert "COSMOSDB_KEY" not in env and "AZURE_OPENAI_API_KEY" not in env


def test_comments_cite_files_that_exist_and_the_az_command_is_complete() -> None:
    for path in INFRA.rglob("*.bicep"):
        for cited in re.findall(r"\b((?:tests|app|docs)/[\w/.-]+\.(?:py|md))", path.read_text()):
            assert (ROOT / cited).exists(), f"{path.relative_to(ROOT)} cites {cited}"
    command = MAIN.split("az deployment sub create", 1)[1].split("\n//\n", 1)[0]
    assert "-l " in command and "location=" in command and "environmentName=" in command


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
