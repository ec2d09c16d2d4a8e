"""The Bicep in infra/ describes the container the relay expects (names, partition key, indexes).

No Bicep compiler runs here (it is not on a registry this project reaches), so the test reads
the values out of the files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.settings import Settings
from app.store.cosmos_connect import DATA_CONTRIBUTOR_ROLE
from app.store.cosmos_schema import INDEXING_POLICY, PARTITION_KEY_PATH

INFRA = Path(__file__).parent.parent / "infra"
MAIN = (INFRA / "main.bicep").read_text()
COSMOS = (INFRA / "modules" / "cosmos" / "cosmos.bicep").read_text()


def param_default(bicep: str, name: str) -> str:
    match = re.search(rf"^param {name} \w+ = '([^']*)'$", bicep, re.MULTILINE)
    assert match, f"no param {name} with a string default"
    return match.group(1)


def test_database_container_and_partition_key_match_the_app_defaults() -> None:
    defaults = Settings()
    assert param_default(MAIN, "cosmosDatabaseName") == defaults.cosmos_database == "GenAI"
    assert param_default(MAIN, "cosmosContainerName") == defaults.cosmos_container
    assert param_default(COSMOS, "databaseName") == defaults.cosmos_database
    assert param_default(COSMOS, "containerName") == defaults.cosmos_container
    assert re.search(rf"^var partitionKeyPath = '{PARTITION_KEY_PATH}'$", COSMOS, re.MULTILINE)
    assert "partitionKeyPath\n" in COSMOS.split("paths: [", 1)[1][:80]


def test_main_passes_its_names_and_identity_to_the_cosmos_module() -> None:
    assert "module cosmos 'modules/cosmos/cosmos.bicep'" in MAIN
    for line in (
        "databaseName: cosmosDatabaseName",
        "containerName: cosmosContainerName",
        "defaultTtlSeconds: conversationTtlSeconds",
        "[appIdentity.properties.principalId]",
    ):
        assert line in MAIN
    for output in (
        "COSMOSDB_ENDPOINT",
        "COSMOSDB_DATABASE",
        "COSMOSDB_CONTAINER",
        "AZURE_CLIENT_ID",
    ):
        assert f"output {output} string" in MAIN


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
