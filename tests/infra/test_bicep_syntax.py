"""Every Bicep file under infra/ parses: a syntax error fails here, not on the first deployment.

No Bicep compiler can be installed on this project's machines, so the grammar comes from
tree-sitter-bicep (PyPI), the one the editors use.  It checks syntax only: a wrong property name
or type still passes (tests/infra/test_infra.py checks what the relay relies on, and
tests/infra/test_checkov.py scans the resources against Azure's policies).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

from tests.support.paths import REPO_ROOT

INFRA = REPO_ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def syntax_errors(source: bytes) -> list[str]:
    """Each place the grammar could not parse, as ``line:column: what``; empty when none."""
    tree = Parser(Language(tree_sitter_bicep.language())).parse(source)
    found: list[str] = []

    def walk(node: Node) -> None:
        if node.is_error or node.is_missing:
            line, column = node.start_point
            what = f"missing {node.type}" if node.is_missing else "unexpected text"
            text = (node.text or b"").decode(errors="replace").splitlines()
            found.append(f"{line + 1}:{column + 1}: {what} {text[0][:40] if text else ''!r}")
            return
        if node.has_error:
            for child in node.children:
                walk(child)

    walk(tree.root_node)
    return found


def test_infra_has_bicep_files() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}
    assert {"main.bicep", "modules/app/relay.bicep", "modules/cosmos/cosmos.bicep"} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    assert syntax_errors(path.read_bytes()) == [], f"{path.relative_to(REPO_ROOT)}"


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        # A property with no value, as a half-finished edit leaves it.
        ("resource a 'Microsoft.X/y@2024-01-01' = {\n  name: 'a'\n  location:\n}\n", "3:"),
        # A parameter with "=" and no default.
        ("param port int = \n", "1:16:"),
        # A quote that never ends.
        ("param name string = 'relay\n", "2:1:"),
        # A resource with no type.
        ("resource relay = {\n}\n", "1:1:"),
        # A for-expression with no colon.
        ("var env = [for s in items(settings) s.key]\n", "1:12:"),
    ],
)
def test_a_broken_file_fails_with_where(broken: str, where: str) -> None:
    errors = syntax_errors(broken.encode())
    assert errors, f"no error found in {broken!r}"
    assert errors[0].startswith(where), errors


def test_a_real_file_broken_by_one_character_fails() -> None:
    relay = (INFRA / "modules" / "app" / "relay.bicep").read_text()
    assert syntax_errors(relay.encode()) == []
    broken = relay.replace("targetPort: port\n", "targetPort:\n", 1)
    assert broken != relay
    assert syntax_errors(broken.encode())
