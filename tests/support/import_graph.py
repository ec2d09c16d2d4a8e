"""The import graph of a package, read from source with `ast`: nothing is imported or executed.

Used by ``tests/test_architecture.py`` to enforce the rules of ARCHITECTURE.md.  Standard
library only, so it checks the code without loading trio, quart or the Azure SDK.

What counts as an import of module ``m``:

* ``import a.b.c`` imports ``a.b.c`` -- and, as Python does, the packages ``a`` and ``a.b``
  (their ``__init__`` runs first).  Every module of ours also runs its parent packages'
  ``__init__``: ``app.store.base`` brings in ``app.store``, and whatever that imports.
* ``from a.b import c`` imports ``a.b``, and ``a.b.c`` too when that is a module of ours
  (a submodule, not a name defined in ``a.b``).  Relative imports are resolved against ``m``.
* Imports under ``if TYPE_CHECKING:`` are skipped: they never run.
* Every import records whether it runs when ``m`` is imported (``at_import``: module level,
  class bodies, ``try`` and other statements at the top) or only when a function of ``m`` is
  called (``at_import`` False).  The rules choose which ones they follow.

A third-party module is a leaf: its own imports are not followed (a pure library such as
``phonenumbers`` may well import ``re`` or ``json``; that is its business).
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Import", "ImportGraph", "Violation", "top_level", "within"]

#: The ``line`` of the edge from a submodule to its parent package (no statement: Python runs it).
PARENT_PACKAGE = 0


@dataclass(frozen=True)
class Import:
    """One edge: ``source`` imports ``target`` at ``line``."""

    source: str
    target: str
    line: int
    at_import: bool

    def where(self) -> str:
        """``app.x:12``, ``app.x:40 (in a function)``, or ``app.x.y (its package)``."""
        if self.line == PARENT_PACKAGE:
            return f"{self.source} (its package)"
        return f"{self.source}:{self.line}{'' if self.at_import else ' (in a function)'}"


@dataclass(frozen=True)
class Violation:
    """A module reached a forbidden one; ``chain`` runs from the checked module to it."""

    chain: tuple[Import, ...]
    rule: str

    @property
    def modules(self) -> tuple[str, ...]:
        return (self.chain[0].source, *(edge.target for edge in self.chain))

    def __str__(self) -> str:
        steps = " -> ".join(self.modules)
        where = ", ".join(edge.where() for edge in self.chain)
        return f"{steps}  [{self.rule}; imported at {where}]"


def top_level(name: str) -> str:
    return name.partition(".")[0]


def within(name: str, prefix: str) -> bool:
    """Whether module ``name`` is ``prefix`` or lies under it (``app.store.x`` in ``app.store``)."""
    return name == prefix or name.startswith(prefix + ".")


@dataclass(frozen=True)
class ImportGraph:
    """The modules of the packages under ``root`` (a directory on ``sys.path``), read lazily."""

    root: Path
    #: Top-level packages whose modules are followed (``("app",)``); all else is a leaf.
    packages: tuple[str, ...]

    def is_ours(self, name: str) -> bool:
        return top_level(name) in self.packages

    def path_of(self, name: str) -> Path | None:
        """The source file of module ``name`` of ours, or None if there is none."""
        base = self.root.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def modules(self, under: str) -> list[str]:
        """Every module of ours within package (or module) ``under``, sorted."""
        path = self.path_of(under)
        if path is None:
            raise LookupError(f"no module {under} under {self.root}")
        if path.name != "__init__.py":
            return [under]
        found = [under]
        for file in sorted(path.parent.rglob("*.py")):
            relative = file.relative_to(self.root).with_suffix("")
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            name = ".".join(parts)
            if name != under:
                found.append(name)
        return sorted(found)

    def imports(self, name: str) -> tuple[Import, ...]:
        """What module ``name`` of ours imports, in source order (parents' packages first)."""
        return _imports(self, name)

    def chains(
        self, start: str, *, follow: Callable[[Import], bool] = lambda _: True
    ) -> Iterator[tuple[Import, ...]]:
        """Every module reachable from ``start`` by edges ``follow`` accepts, once each, by its
        shortest chain (breadth first).  Only modules of ours are expanded; others are leaves."""
        seen = {start}
        queue: deque[tuple[str, tuple[Import, ...]]] = deque([(start, ())])
        while queue:
            name, chain = queue.popleft()
            for edge in self.imports(name):
                if edge.target in seen or not follow(edge):
                    continue
                seen.add(edge.target)
                path = (*chain, edge)
                yield path
                if self.is_ours(edge.target) and self.path_of(edge.target) is not None:
                    queue.append((edge.target, path))

    def violations(
        self,
        start: str,
        forbidden: Callable[[str], str | None],
        *,
        follow: Callable[[Import], bool] = lambda _: True,
    ) -> list[Violation]:
        """The modules reachable from ``start`` that ``forbidden`` names a rule for.

        A forbidden module is reported and not expanded further: its own imports would only
        repeat the same break.
        """
        found: list[Violation] = []
        broken: set[str] = set()

        def follow_allowed(edge: Import) -> bool:
            return follow(edge) and edge.source not in broken

        for chain in self.chains(start, follow=follow_allowed):
            target = chain[-1].target
            rule = forbidden(target)
            if rule is not None:
                broken.add(target)
                found.append(Violation(chain, rule))
        return found


@cache
def _imports(graph: ImportGraph, name: str) -> tuple[Import, ...]:
    path = graph.path_of(name)
    if path is None:
        return ()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: list[Import] = []
    # Importing a submodule runs its parent package first.
    parent = name.rpartition(".")[0]
    if parent:
        edges.append(Import(name, parent, PARENT_PACKAGE, at_import=True))
    for node, at_import in _import_nodes(tree.body, at_import=True):
        for target in _targets(graph, node, package):
            edges.append(Import(name, target, node.lineno, at_import))
    unique: dict[str, Import] = {}
    for edge in edges:
        # One edge per target: the first that runs at import time, else the first seen.
        known = unique.get(edge.target)
        if known is None or (edge.at_import and not known.at_import):
            unique[edge.target] = edge
    return tuple(unique.values())


def _import_nodes(
    body: Iterable[ast.stmt], *, at_import: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """The import statements in ``body``, and whether each runs at import time."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, at_import
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse, at_import=at_import)  # the `else:` does run
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _import_nodes(node.body, at_import=False)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    nested = [c for c in children if isinstance(c, ast.stmt)]
                    for child in children:
                        if isinstance(child, ast.ExceptHandler | ast.match_case):
                            nested.extend(child.body)
                    yield from _import_nodes(nested, at_import=at_import)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _targets(graph: ImportGraph, node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _absolute(node, package)
        names = [base]
        if graph.is_ours(base):
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if alias.name != "*" and graph.path_of(submodule) is not None:
                    names.append(submodule)
    targets: list[str] = []
    for full in names:
        # `import a.b.c` runs a, then a.b, then a.b.c.
        parts = full.split(".")
        targets.extend(".".join(parts[: i + 1]) for i in range(len(parts)))
    return targets


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        assert node.module is not None
        return node.module
    parts = package.split(".")
    if node.level - 1 >= len(parts):
        raise ImportError(f"relative import beyond the top-level package in {package}")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)
