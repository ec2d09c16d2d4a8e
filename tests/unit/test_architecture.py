"""The import rules of ARCHITECTURE.md, checked on the source (nothing under app/ is imported).

Two kinds of rule:

* **Pure modules** (the tracker, the document builder, redaction, the frame policy...) must not
  reach, through ANY import of theirs or of the app modules they import -- module level or
  inside a function -- an I/O library (`IO_LIBRARIES`) or an app module that is not pure itself.
  A failure prints the chain, e.g. ``app.document -> app.x -> trio``.
* **Arrows** between the layers: a module under ``source`` must not reach a module under a
  forbidden target through imports that run when it is imported (module level).  Imports inside
  functions are allowed there: that is how the CLI loads the server only when it serves.

Imports under ``if TYPE_CHECKING:`` never run and are skipped by both.  See
tests/support/import_graph.py for how an import is read (parent packages count: importing
``app.store.base`` runs ``app/store/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.import_graph import Import, ImportGraph, Violation, top_level, within

ROOT = Path(__file__).resolve().parents[2]

#: Modules (or whole packages) with no I/O: events or values in, values out; the caller does
#: the I/O and passes the time.  A module listed here may import only others listed here.
PURE_MODULES = (
    "app.tracker",
    "app.document",
    "app.redaction",
    "app.pii_checks",
    "app.pii_runs",
    "app.function_calls",
    "app.frame_policy",
    "app.rate_limit",
    "app.handoff",
    "app.live.projection",
    "app.dialect",
    "app.frames",
    "app.close_codes",
    "app.session_config",
    # The store's pure helpers: keys, paging, the Cosmos DB query shapes and indexing policy.
    "app.store.base",
    "app.store.paging",
    "app.store.cosmos_schema",
    "app.store.cosmos_indexing",
)
#: Packages whose ``__init__`` runs on the way to a pure module: checked like one (their other
#: modules are not pure: ``app.live.hub`` uses trio; ``app/store/__init__.py`` names its
#: back ends but imports them only on first use).
PURE_PACKAGE_INITS = ("app", "app.live", "app.store")
#: Checked again without following ``app/store/__init__.py``: each helper is pure in itself.
STORE_PURE_MODULES = (
    "app.store.base",
    "app.store.paging",
    "app.store.cosmos_schema",
    "app.store.cosmos_indexing",
)

#: Libraries that do I/O, or exist to: a pure module must not reach any of them.  Matched as a
#: prefix (``azure`` covers ``azure.cosmos``); ``time`` because a pure module is handed the time.
IO_LIBRARIES = (
    "trio",
    "trio_websocket",
    "quart",
    "quart_trio",
    "hypercorn",
    "wsproto",
    "h11",
    "azure",
    "sqlite3",
    "socket",
    "ssl",
    "asyncio",
    "selectors",
    "select",
    "subprocess",
    "multiprocessing",
    "threading",
    "concurrent",
    "signal",
    "fcntl",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "time",
    "http",
    "urllib.request",
    "requests",
    "urllib3",
    "aiohttp",
    "httpx",
    "websockets",
    "prometheus_client",
    "rich",
)


@dataclass(frozen=True)
class Arrow:
    """Modules within ``source`` must not reach ``forbidden`` at import time."""

    name: str
    source: str
    forbidden: tuple[str, ...]
    #: Modules within ``source`` the rule does not apply to (with the reason in ARCHITECTURE.md).
    exempt: tuple[str, ...] = ()
    #: If set, the only modules of ours ``source`` may reach (besides itself).
    only: tuple[str, ...] | None = None


#: The process, the app's lifetime and the web: what only the entry points may import.
PROCESS = ("app.asgi", "app.application", "app.server", "app.workers", "app.worker", "app.cli")
WEB = ("app.web", "app.admin_api", "app.live_api", "app.endpoint")
#: What only lives once per process (the relay's services and the live calls' registry).
PROCESS_WIDE = ("app.relay", "app.registry")

ARROWS = (
    Arrow(
        "the store knows no call, upstream, web or process",
        "app.store",
        (
            *PROCESS,
            *WEB,
            *PROCESS_WIDE,
            "app.call",
            "app.client_loop",
            "app.upstream_loop",
            "app.tool_runner",
            "app.agent_runtime",
            "app.upstream",
            "app.live",
            "app.simulator",
        ),
    ),
    Arrow(
        "a call reaches the recorder only through its CallRecorder protocol",
        "app.call",
        (*PROCESS, *WEB, *PROCESS_WIDE, "app.store"),
    ),
    *(
        Arrow(
            "a part of the call reaches the call only through the callbacks it is given",
            part,
            (*PROCESS, *WEB, *PROCESS_WIDE, "app.call", "app.store"),
        )
        for part in (
            "app.client_loop",
            "app.upstream_loop",
            "app.tool_runner",
            "app.agent_runtime",
            "app.upstream",
        )
    ),
    Arrow(
        "the live board knows calls by their feed only",
        "app.live",
        (*PROCESS, *WEB, *PROCESS_WIDE, "app.call", "app.store", "app.upstream"),
    ),
    Arrow(
        "the simulator is a peer: of the relay it shares only the protocol helpers",
        "app.simulator",
        (),
        exempt=("app.simulator.connector",),
        only=("app", "app.simulator", "app.dialect", "app.frames", "app.handoff"),
    ),
    Arrow(
        "the operator commands load the server only when they serve",
        "app.cli",
        (
            *(p for p in PROCESS if p != "app.cli"),
            *WEB,
            *PROCESS_WIDE,
            "app.call",
            "app.upstream",
            "hypercorn",
            "quart",
            "quart_trio",
            "trio_websocket",
            "wsproto",
        ),
    ),
    *(
        Arrow("only the entry points import the process", layer, PROCESS)
        for layer in (*WEB, *PROCESS_WIDE, "app.call", "app.store", "app.live", "app.metrics")
    ),
)


# -- the rules, over any graph (the synthetic tests below run them on packages of their own) ----


def pure_violations(
    graph: ImportGraph,
    pure: Iterable[str],
    package_inits: Iterable[str] = (),
    *,
    unfollowed: Iterable[str] = (),
    check: Iterable[str] | None = None,
) -> list[Violation]:
    """Every way a module of ``check`` (default: all of ``pure``) reaches I/O, following all
    its imports (functions included), except into the packages ``unfollowed``."""
    pure, inits, skip = tuple(pure), tuple(package_inits), frozenset(unfollowed)

    def follow(edge: Import) -> bool:
        return edge.target not in skip

    def forbidden(name: str) -> str | None:
        if graph.is_ours(name):
            if name in inits or any(within(name, p) for p in pure):
                return None
            return f"{name} is not a pure module"
        if any(within(name, lib) for lib in IO_LIBRARIES):
            return f"{top_level(name)} does I/O"
        return None

    found: list[Violation] = []
    for start in sorted({m for p in (pure if check is None else check) for m in graph.modules(p)}):
        found.extend(graph.violations(start, forbidden, follow=follow))
    return found


def arrow_violations(graph: ImportGraph, arrow: Arrow) -> list[Violation]:
    """Every way a module under ``arrow.source`` reaches a forbidden one at import time."""

    def forbidden(name: str) -> str | None:
        if any(within(name, target) for target in arrow.forbidden):
            return arrow.name
        if (
            arrow.only is not None
            and graph.is_ours(name)
            and not any(within(name, allowed) for allowed in arrow.only)
        ):
            return arrow.name
        return None

    def at_import(edge: Import) -> bool:
        return edge.at_import

    found: list[Violation] = []
    for start in graph.modules(arrow.source):
        if any(within(start, exempt) for exempt in arrow.exempt):
            continue
        found.extend(graph.violations(start, forbidden, follow=at_import))
    return found


def report(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


# -- the rules on the app --------------------------------------------------------------------------

APP = ImportGraph(ROOT, ("app",))


def test_every_module_the_rules_name_exists() -> None:
    """A rule about a module that was renamed or moved would pass without checking anything."""
    named = {*PURE_MODULES, *PURE_PACKAGE_INITS, *STORE_PURE_MODULES, *PROCESS, *WEB, *PROCESS_WIDE}
    named |= {arrow.source for arrow in ARROWS}
    missing = sorted(name for name in named if APP.path_of(name) is None)
    assert not missing, f"ARCHITECTURE.md rules name modules that do not exist: {missing}"


def test_pure_modules_do_no_io() -> None:
    violations = pure_violations(APP, PURE_MODULES, PURE_PACKAGE_INITS)
    assert not violations, "A pure module reaches I/O:\n" + report(violations)


def test_the_stores_pure_helpers_do_no_io_of_their_own() -> None:
    violations = pure_violations(
        APP,
        (*PURE_MODULES, *STORE_PURE_MODULES),
        PURE_PACKAGE_INITS,
        unfollowed=("app.store",),
        check=STORE_PURE_MODULES,
    )
    assert not violations, "A pure module of the store reaches I/O:\n" + report(violations)


@pytest.mark.parametrize("arrow", ARROWS, ids=lambda a: f"{a.source}: {a.name}")
def test_arrows_between_layers(arrow: Arrow) -> None:
    violations = arrow_violations(APP, arrow)
    assert not violations, f"Broken arrow ({arrow.name}):\n" + report(violations)


def test_the_graph_sees_the_imports_that_matter() -> None:
    """The checker must see what the app really imports, or every rule passes vacuously."""
    call = {edge.target for edge in APP.imports("app.call")}
    assert {"trio", "app.tracker", "app.store", "app.document"} - call == {"app.store"}
    reached = {chain[-1].target for chain in APP.chains("app.web")}
    assert {"quart_trio", "app.relay", "app.store.sqlite", "sqlite3", "trio"} <= reached
    serve = {edge.target: edge.at_import for edge in APP.imports("app.cli.serve")}
    assert serve["app.server"] is False  # imported inside serve_relay
    assert "app.workers" in serve  # the lazy import, not the TYPE_CHECKING one


# -- the checker fails when a rule is broken (synthetic packages in tmp_path) --------------------


def write_package(root: Path, files: dict[str, str]) -> ImportGraph:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return ImportGraph(root, ("pkg",))


def chains(violations: list[Violation]) -> list[str]:
    return [" -> ".join(v.modules) for v in violations]


def test_a_pure_module_importing_a_helper_that_imports_trio_is_flagged(tmp_path: Path) -> None:
    graph = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/pure.py": "from pkg import helper\nimport attrs\n",
            "pkg/helper.py": '"""A helper."""\nimport json\nimport trio\n',
        },
    )
    violations = pure_violations(graph, ["pkg.pure"], ["pkg"])
    assert chains(violations) == ["pkg.pure -> pkg.helper"]
    assert violations[0].rule == "pkg.helper is not a pure module"
    # Declared pure, the helper is followed instead, and trio found behind it.
    violations = pure_violations(graph, ["pkg.pure", "pkg.helper"], ["pkg"])
    assert chains(violations) == ["pkg.helper -> trio", "pkg.pure -> pkg.helper -> trio"]
    assert "pkg.helper:3" in str(violations[1])


def test_the_pure_rule_follows_relative_function_level_and_package_imports(tmp_path: Path) -> None:
    graph = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/pure.py": (
                "from typing import TYPE_CHECKING\n"
                "from .sub.values import Value\n"
                "if TYPE_CHECKING:\n"
                "    import trio\n"  # never runs: skipped
                "def later() -> None:\n"
                "    from . import lazy\n"
            ),
            "pkg/lazy.py": "import subprocess\n",
            "pkg/sub/__init__.py": "from pkg.sub import net\n",  # runs before sub.values
            "pkg/sub/values.py": "import dataclasses\n",
            "pkg/sub/net.py": "import socket\n",
        },
    )
    pure = ["pkg.pure", "pkg.lazy", "pkg.sub.values", "pkg.sub.net"]
    found = chains(pure_violations(graph, pure, ["pkg", "pkg.sub"]))
    assert found == [
        "pkg.lazy -> subprocess",
        "pkg.pure -> pkg.lazy -> subprocess",
        "pkg.pure -> pkg.sub -> pkg.sub.net -> socket",
        "pkg.sub.net -> socket",
        "pkg.sub.values -> pkg.sub -> pkg.sub.net -> socket",
    ]
    # Pure in itself: the same module, checked without its package's __init__.
    assert (
        pure_violations(graph, pure, ["pkg"], unfollowed=["pkg.sub"], check=["pkg.sub.values"])
        == []
    )


def test_arrows_follow_module_level_imports_only(tmp_path: Path) -> None:
    graph = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/cli.py": "import pkg.common\ndef serve() -> None:\n    import pkg.server\n",
            "pkg/common.py": "class Shared:\n    from pkg import server\n",  # a class body runs
            "pkg/server.py": "import hypercorn\n",
        },
    )
    arrow = Arrow("the cli loads the server lazily", "pkg.cli", ("pkg.server",))
    assert chains(arrow_violations(graph, arrow)) == ["pkg.cli -> pkg.common -> pkg.server"]
    only = Arrow("peer", "pkg.server", (), only=("pkg",))
    assert chains(arrow_violations(graph, only)) == []
    narrow = Arrow("peer", "pkg.common", (), only=("pkg.common",))
    assert chains(arrow_violations(graph, narrow)) == [
        "pkg.common -> pkg",
        "pkg.common -> pkg.server",
    ]
