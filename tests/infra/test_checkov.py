"""checkov's Bicep scan finds nothing in infra/: a new finding fails CI.

checkov (PyPI) checks each resource against Azure's security policies, offline.  It lives in a
virtual environment of its own (scripts/install-checkov, run by scripts/test), since its pins
would shift the relay's test environment.  A check that does not apply here is suppressed in the
Bicep file itself, inside the resource, with the reason (``// checkov:skip=ID: why``); the list
below is the whole set, so a new suppression is a visible change to this file as well.

One scan covers a copy of infra/ and, beside it, files broken on purpose, proving that a
finding does fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

INFRA = REPO_ROOT / "infra"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
#: Checks suppressed in infra/, by file: each does not apply, for the reason in the file.
SUPPRESSED = {
    "modules/cosmos/cosmos.bicep": {"CKV_AZURE_99", "CKV_AZURE_101"},
    "modules/openai/openai.bicep": {"CKV_AZURE_134", "CKV_AZURE_238"},
    "modules/registry/registry.bicep": {"CKV_AZURE_139", "CKV_AZURE_163", "CKV_AZURE_166"},
    "modules/storage/file-share.bicep": {"CKV_AZURE_35", "CKV_AZURE_43", "CKV_AZURE_206"},
}
#: Checks that fail unless the files keep what the relay's identity-only access relies on.
FIXED = {
    "CKV_AZURE_140": "Cosmos DB local (key) auth off",
    "CKV_AZURE_132": "Cosmos DB key-based metadata writes off",
}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over ``infra/`` (a copy) and ``broken/`` (two files with a fault each)."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run scripts/install-checkov"
    root = tmp_path_factory.mktemp("scan")
    shutil.copytree(INFRA, root / "infra")
    broken = root / "broken"
    broken.mkdir()
    cosmos = (INFRA / "modules" / "cosmos" / "cosmos.bicep").read_text()
    (broken / "cosmos.bicep").write_text(
        re.sub(r"disableLocalAuth: \w+", "disableLocalAuth: false", cosmos, count=1)
    )
    shutil.copy(INFRA / "modules" / "cosmos" / "indexing-policy.json", broken)
    registry = (INFRA / "modules" / "registry" / "registry.bicep").read_text()
    (broken / "registry.bicep").write_text(
        "\n".join(line for line in registry.splitlines() if "CKV_AZURE_139" not in line)
    )
    environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    completed = subprocess.run(
        [str(CHECKOV), "--framework", "bicep", "--skip-download", "--output", "json",
         "--directory", str(root)],
        capture_output=True, text=True, timeout=300, env=environment, check=False,
    )  # fmt: skip
    assert completed.stdout.strip(), completed.stderr[-2000:]
    report: dict[str, Any] = json.loads(completed.stdout)
    report["infra_dir"] = str(root / "infra")
    report["broken_dir"] = str(broken)
    report["exit_code"] = completed.returncode
    return report


def _where(check: dict[str, Any]) -> Path:
    return Path(check["file_abs_path"]).resolve()


def _in_infra(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    infra = Path(report["infra_dir"]).resolve()
    return [c for c in report["results"].get(kind, []) if _where(c).is_relative_to(infra)]


def _relative(report: dict[str, Any], check: dict[str, Any]) -> str:
    return _where(check).relative_to(Path(report["infra_dir"]).resolve()).as_posix()


@pytest.mark.slow
def test_infra_has_no_finding_and_every_file_parses(scan: dict[str, Any]) -> None:
    assert scan["summary"]["parsing_errors"] == 0  # e.g. a lambda checkov's parser cannot read
    failed = [
        f"{c['check_id']} {c['check_name']} at infra/{_relative(scan, c)}:{c['file_line_range']}"
        for c in _in_infra(scan, "failed_checks")
    ]
    assert failed == []
    scanned = {_relative(scan, c) for c in _in_infra(scan, "passed_checks")}
    assert {"modules/cosmos/cosmos.bicep", "modules/openai/openai.bicep"} <= scanned
    passed = {c["check_id"] for c in _in_infra(scan, "passed_checks")}
    assert set(FIXED) <= passed


@pytest.mark.slow
def test_every_suppression_is_listed_and_has_a_reason(scan: dict[str, Any]) -> None:
    found: dict[str, set[str]] = {}
    for check in _in_infra(scan, "skipped_checks"):
        name = _relative(scan, check)
        found.setdefault(name, set()).add(check["check_id"])
        reason = check.get("check_result", {}).get("suppress_comment", "")
        assert len(reason.strip()) > 20, f"{check['check_id']} in {name}: no reason given"
    assert found == SUPPRESSED


@pytest.mark.slow
def test_a_new_finding_fails_the_scan(scan: dict[str, Any]) -> None:
    assert scan["exit_code"] != 0  # checkov's own verdict over both folders
    broken = Path(scan["broken_dir"]).resolve()
    failed = {
        (_where(c).name, c["check_id"])
        for c in scan["results"]["failed_checks"]
        if _where(c).is_relative_to(broken)
    }
    # Key auth turned back on, and a suppression removed: each is a failure.
    assert failed == {("cosmos.bicep", "CKV_AZURE_140"), ("registry.bicep", "CKV_AZURE_139")}
