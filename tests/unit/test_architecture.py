"""The import rules of ARCHITECTURE.md, checked on the source (nothing under app/ is imported).

Two kinds of rule:

* **Pure modules** (the tracker, the document builder, redaction, the frame policy...) must not
  reach, through ANY import of theirs or of the app modules they import -- module level or
  inside a function -- an I/O library (`IO_LIBRARIES`) or an app module that is not pure itself.
  A failure prints the chain, e.g. ``app.record.document -> app.x -> trio``.
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

#: Packages with no I/O: events or values in, values out; the caller does the I/O and passes the
#: time.  A module in a pure package (or listed in `PURE_MODULES`) may import only pure ones, so a
#: new module is covered by where it is put.
PURE_PACKAGES = ("app.rules", "app.record")
#: Pure modules in packages that also do I/O.
PURE_MODULES = (
    "app.live.projection",
    # Signed links to a recording (HMAC over values; the route passes the time).
    "app.recording.links",
    # The store's pure helpers: keys, paging, the Cosmos DB query shapes and indexing policy.
    "app.store.base",
    "app.store.paging",
    "app.store.cosmos_schema",
    "app.store.cosmos_indexing",
    # The phone callers' sans-IO parts: the client dialects, playback, caller ids.
    "app.phone.dialect",
    "app.phone.playback",
    "app.phone.caller_id",
    "app.phone.twilio_media",
    "app.phone.acs_media",
    # The recording's pure parts: the as-heard mixer, the WAV header, G.711, the document field.
    "app.recording.mixer",
    "app.recording.wav",
    "app.recording.field",
    "app.recording.stats",
)
PURE = (*PURE_PACKAGES, *PURE_MODULES)
#: Packages whose ``__init__`` runs on the way to a pure module: checked like one (their other
#: modules are not pure: ``app.live.hub`` uses trio; ``app/store/__init__.py`` names its
#: back ends but imports them only on first use).
PURE_PACKAGE_INITS = ("app", "app.live", "app.store", "app.recording", "app.phone")
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


#: The parts of the app, as packages (ARCHITECTURE.md).  Every subpackage of ``app`` must be one.
PARTS = (
    "app.process",
    "app.web",
    "app.admission",
    "app.phone",
    "app.call",
    "app.model",
    "app.rules",
    "app.record",
    "app.live",
    "app.store",
    "app.simulator",
    "app.agents",
    "app.tools",
    "app.cli",
    "app.fastpath",
    "app.recording",
)
#: Modules directly under ``app`` (a part of one module each, or the package's own entry points).
TOP_MODULES = ("app", "app.__main__", "app.settings")
#: What only the entry points import: the process (server, workers, logging).
PROCESS = "app.process"
#: Above the calls: the HTTP side and the admission of calls.
SERVING = ("app.web", "app.admission")
#: The parts of a call that reach the call only through the callbacks they are given.
CALL_PARTS = (
    "app.call.client_loop",
    "app.call.upstream_loop",
    "app.call.tool_runner",
    "app.call.agent_runtime",
)

ARROWS = (
    Arrow(
        "the store knows no call, model, live board, simulator, web, admission or process",
        "app.store",
        (PROCESS, *SERVING, "app.call", "app.model.upstream", "app.live", "app.simulator"),
    ),
    Arrow(
        "a call reaches the store only through its CallRecorder protocol",
        "app.call",
        (PROCESS, *SERVING, "app.store"),
    ),
    *(
        Arrow(
            "a part of the call reaches the call only through the callbacks it is given",
            part,
            ("app.call.call",),
        )
        for part in CALL_PARTS
    ),
    Arrow(
        "the model knows no call, store, web, admission or process",
        "app.model",
        (PROCESS, *SERVING, "app.call", "app.store"),
    ),
    Arrow(
        "the recording knows no call, store, live board, web, admission or process",
        "app.recording",
        (PROCESS, *SERVING, "app.call", "app.store", "app.live", "app.simulator"),
    ),
    Arrow(
        "the live board knows calls by their feed only",
        "app.live",
        (PROCESS, *SERVING, "app.call", "app.store", "app.model"),
    ),
    Arrow(
        "admission knows nothing of the web above it",
        "app.admission",
        (PROCESS, "app.web"),
    ),
    Arrow(
        "a phone caller is admitted like a browser: nothing of the web above it",
        "app.phone",
        (PROCESS, "app.web"),
    ),
    Arrow(
        "the simulator is a peer: of the relay it shares only the pure rules",
        "app.simulator",
        (),
        only=("app", "app.simulator", "app.rules"),
    ),
    Arrow(
        "the operator commands load the server only when they serve",
        "app.cli",
        (
            PROCESS,
            *SERVING,
            "app.call",
            "app.model",
            "hypercorn",
            "quart",
            "quart_trio",
            "trio_websocket",
            "wsproto",
        ),
    ),
    *(
        Arrow("only the entry points import the process", part, (PROCESS,))
        for part in PARTS
        if part not in (PROCESS, "app.cli")
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


def part_of(module: str) -> str:
    """The part (``app.x``) a module belongs to."""
    return ".".join(module.split(".")[:2])


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: every set of two or more nodes that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def part_circles(graph: ImportGraph, parts: Iterable[str]) -> list[str]:
    """Circles between parts, over imports that run at import time, with one edge of each."""
    parts = tuple(parts)
    edges: dict[str, set[str]] = {}
    witness: dict[tuple[str, str], Import] = {}
    for part in parts:
        for module in graph.modules(part):
            for edge in graph.imports(module):
                target = next((p for p in parts if within(edge.target, p)), None)
                if edge.at_import and target is not None and target != part:
                    edges.setdefault(part, set()).add(target)
                    witness.setdefault((part, target), edge)
    return [
        " <-> ".join(circle)
        + "  ["
        + "; ".join(
            witness[a, b].where() for a in circle for b in circle if (a, b) in witness
        )
        + "]"
        for circle in _strongly_connected(edges)
    ]


def module_circles(graph: ImportGraph, under: str) -> list[str]:
    """Circles between modules (a package importing its own submodules does not count)."""
    edges: dict[str, set[str]] = {}
    for module in graph.modules(under):
        for edge in graph.imports(module):
            if graph.is_ours(edge.target) and not within(module, edge.target):
                edges.setdefault(module, set()).add(edge.target)
    return [" <-> ".join(circle) for circle in _strongly_connected(edges)]


def report(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


# -- the rules on the app --------------------------------------------------------------------------

APP = ImportGraph(ROOT, ("app",))


def test_every_module_the_rules_name_exists() -> None:
    """A rule about a module that was renamed or moved would pass without checking anything."""
    named = {*PURE, *PURE_PACKAGE_INITS, *STORE_PURE_MODULES, *PARTS, *TOP_MODULES, *CALL_PARTS}
    named |= {arrow.source for arrow in ARROWS}
    missing = sorted(name for name in named if APP.path_of(name) is None)
    assert not missing, f"ARCHITECTURE.md rules name modules that do not exist: {missing}"


def test_the_packages_are_the_parts() -> None:
    """``ls app`` shows the parts and nothing else: a new module goes in the part it belongs to."""
    modules = APP.modules("app")
    loose = sorted(m for m in modules if m not in TOP_MODULES and part_of(m) not in PARTS)
    assert not loose, f"modules outside the parts of ARCHITECTURE.md: {loose}"


def test_pure_packages_do_no_io() -> None:
    violations = pure_violations(APP, PURE, PURE_PACKAGE_INITS)
    assert not violations, "A pure module reaches I/O:\n" + report(violations)


def test_the_stores_pure_helpers_do_no_io_of_their_own() -> None:
    violations = pure_violations(
        APP,
        (*PURE, *STORE_PURE_MODULES),
        PURE_PACKAGE_INITS,
        unfollowed=("app.store",),
        check=STORE_PURE_MODULES,
    )
    assert not violations, "A pure module of the store reaches I/O:\n" + report(violations)


def test_no_circles_between_parts() -> None:
    """Part A importing part B (at import time) and B importing A, directly or round a longer
    circle, would make the layers of ARCHITECTURE.md a tangle."""
    circles = part_circles(APP, PARTS)
    assert not circles, "Parts that import each other:\n" + "\n".join(circles)


def test_no_circles_between_modules() -> None:
    """No module reaches itself through imports, counting those inside functions."""
    circles = module_circles(APP, "app")
    assert not circles, "Modules that import each other:\n" + "\n".join(circles)


@pytest.mark.parametrize("arrow", ARROWS, ids=lambda a: f"{a.source}: {a.name}")
def test_arrows_between_layers(arrow: Arrow) -> None:
    violations = arrow_violations(APP, arrow)
    assert not violations, f"Broken arrow ({arrow.name}):\n" + report(violations)


def test_the_graph_sees_the_imports_that_matter() -> None:
    """The checker must see what the app really imports, or every rule passes vacuously."""
    call = {edge.target for edge in APP.imports("app.call.call")}
    expected = {"trio", "app.record.tracker", "app.store", "app.record.document"}
    assert expected - call == {"app.store"}
    reached = {chain[-1].target for chain in APP.chains("app.web.routes")}
    assert {"quart_trio", "app.admission.relay", "app.store.sqlite", "sqlite3", "trio"} <= reached
    serve = {edge.target: edge.at_import for edge in APP.imports("app.cli.serve")}
    assert serve["app.process.server"] is False  # imported inside serve_relay
    assert "app.process.workers" in serve  # the lazy import, not the TYPE_CHECKING one


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


def test_circles_are_found_between_parts_and_between_modules(tmp_path: Path) -> None:
    graph = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a/__init__.py": "",
            "pkg/a/one.py": "from pkg.b import two\n",
            "pkg/b/__init__.py": "",
            "pkg/b/two.py": "def later() -> None:\n    from pkg.c import three\n",
            "pkg/b/four.py": "import pkg.a.one\n",
            "pkg/c/__init__.py": "",
            "pkg/c/three.py": "import pkg.a.one\n",
        },
    )
    parts = ("pkg.a", "pkg.b", "pkg.c")
    # a -> b at import time, b -> a at import time (four); c is reached only inside a function.
    circles = part_circles(graph, parts)
    assert len(circles) == 1 and circles[0].startswith("pkg.a <-> pkg.b  [")
    assert "pkg.b.four:1" in circles[0]
    # Between modules, imports inside functions count: one -> two -> three -> one.
    assert module_circles(graph, "pkg") == ["pkg.a.one <-> pkg.b.two <-> pkg.c.three"]
    assert part_of("pkg.a.one") == "pkg.a"

