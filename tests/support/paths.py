"""Where things are: the repository and the tests' own folders, found from this file.

One place for these paths, so moving a test module between the test folders changes nothing."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TESTS_DIR.parent
# The local Cosmos DB server (node): scripts/install-cosmos-server installs its packages there.
COSMOS_DIR = TESTS_DIR / "cosmos"
# Recorded calls, one JSON event a line.
DATA_DIR = TESTS_DIR / "data"
# Azurite, the local Azure Blob Storage server (node): scripts/install-azurite installs it there.
AZURITE_DIR = TESTS_DIR / "azurite"
