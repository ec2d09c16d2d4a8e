"""The documentation builds in strict mode, and the README is a front door that links all of it.

`mkdocs build --strict` with the `validation:` options of mkdocs.yml fails on a link to a page
that does not exist, a link to a heading that does not exist, a page left out of `nav` and a
`nav` entry without its page.  That it really fails is proven here on copies of the docs broken
on purpose (in `tmp_path`), so a change to mkdocs.yml that quietly turned a check off fails too.
MkDocs runs in a subprocess, as a reader would run it, and writes only under `tmp_path`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from app.settings import Settings
from tests.support.paths import REPO_ROOT

DOCS_DIR = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
# What a build needs besides docs/: the config, the hook, and the page it publishes.
BUILD_INPUTS = ("mkdocs.yml", "ARCHITECTURE.md", "scripts/docs_hooks.py")
README_MAX_LINES = 300
# [text](target) in Markdown, targets without spaces; images and links alike.
LINK = re.compile(r"\]\(([^()\s]+)\)")
HEADING_ID = re.compile(r'\sid="([^"]+)"')


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of ``config`` into ``site``: its exit status and its log."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_docs(dest: Path) -> Path:
    """A copy of everything the build reads, under ``dest``; returns its mkdocs.yml."""
    shutil.copytree(DOCS_DIR, dest / "docs")
    for name in BUILD_INPUTS:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, dest / name)
    return dest / "mkdocs.yml"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real docs, built once for this module."""
    out = tmp_path_factory.mktemp("site")
    result = build(REPO_ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, f"the docs do not build in strict mode:\n{result.stderr}"
    return out


def test_the_docs_build_in_strict_mode(site: Path) -> None:
    assert (site / "index.html").is_file()
    # ARCHITECTURE.md stays at the top of the repository and is published as a page.
    architecture = (site / "architecture.html").read_text(encoding="utf-8")
    assert "Architecture" in architecture
    # Links written for the repository (../ARCHITECTURE.md) point at that page in the site.
    assert 'href="architecture.html"' in (site / "calls.html").read_text(encoding="utf-8")


def _append(name: str, text: str) -> Callable[[Path], None]:
    def breaks(root: Path) -> None:
        with (root / name).open("a", encoding="utf-8") as page:
            page.write(text)

    return breaks


def _add_page(root: Path) -> None:
    (root / "docs" / "forgotten.md").write_text("# A page nobody put in nav\n", encoding="utf-8")


def _nav_to_missing_page(root: Path) -> None:
    config = root / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    assert "      - Settings: settings.md\n" in text
    config.write_text(
        text.replace(
            "      - Settings: settings.md\n",
            "      - Settings: settings.md\n      - Gone: gone.md\n",
        ),
        encoding="utf-8",
    )


BREAKAGES: Mapping[str, tuple[Callable[[Path], None], str]] = {
    "a link to a page that does not exist": (
        _append("docs/calls.md", "\nSee [the old page](no-such-page.md).\n"),
        "contains a link 'no-such-page.md', but the target is not found",
    ),
    "a link to a heading that does not exist": (
        _append("docs/calls.md", "\nSee [a setting](settings.md#no-such-heading).\n"),
        "does not contain an anchor '#no-such-heading'",
    ),
    "a link to a heading of its own page that does not exist": (
        _append("docs/api.md", "\nSee [above](#no-such-section).\n"),
        "contains a link '#no-such-section', but there is no such anchor on this page",
    ),
    "a page missing from nav": (
        _add_page,
        'are not included in the "nav" configuration',
    ),
    "a nav entry without its page": (
        _nav_to_missing_page,
        "'gone.md'",
    ),
    "a broken link in ARCHITECTURE.md": (
        _append("ARCHITECTURE.md", "\nSee [the settings](docs/no-such-page.md).\n"),
        "'no-such-page.md'",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_copy_of_the_docs_fails_the_build(tmp_path: Path, breakage: str) -> None:
    breaks, message = BREAKAGES[breakage]
    config = copy_docs(tmp_path / "repo")
    breaks(tmp_path / "repo")
    result = build(config, tmp_path / "site")
    assert result.returncode != 0, f"{breakage} did not fail the build:\n{result.stderr}"
    assert message in result.stderr, result.stderr


def test_an_unbroken_copy_builds(tmp_path: Path) -> None:
    """The copies above fail for their breakage, not because a copy lacks something."""
    result = build(copy_docs(tmp_path / "repo"), tmp_path / "site")
    assert result.returncode == 0, result.stderr


def _readme_links() -> Iterator[str]:
    for target in LINK.findall(README.read_text(encoding="utf-8")):
        if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not ours to check
            yield target


def test_the_readme_fits_on_a_few_screens() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the reference goes in docs/"


def test_the_readme_links_every_page() -> None:
    linked = {
        (README.parent / target.split("#")[0]).resolve()
        for target in _readme_links()
        if target.split("#")[0].endswith(".md")
    }
    # Every page at the top of docs/, and the front page of each folder (which links its own).
    pages = {page.resolve() for page in DOCS_DIR.glob("*.md")}
    pages |= {page.resolve() for page in DOCS_DIR.glob("*/README.md")}
    pages.add((REPO_ROOT / "ARCHITECTURE.md").resolve())
    missing = sorted(str(page.relative_to(REPO_ROOT)) for page in pages - linked)
    assert not missing, f"README.md does not link these pages: {missing}"


def test_the_readme_links_resolve(site: Path) -> None:
    """Every relative link of the README names a file that exists, and a heading that exists."""
    broken = []
    for target in _readme_links():
        path, _, anchor = target.partition("#")
        if not (README.parent / path).exists():
            broken.append(target)
        elif anchor:
            if not path.startswith("docs/") or not path.endswith(".md"):
                broken.append(f"{target} (only anchors into docs/ pages can be checked)")
                continue
            html = site / (path.removeprefix("docs/").removesuffix(".md") + ".html")
            if anchor not in HEADING_ID.findall(html.read_text(encoding="utf-8")):
                broken.append(target)
    assert not broken, f"README.md has broken links: {broken}"


class _RecordingEnvironment(Mapping[str, str]):
    """An empty environment that remembers every variable the settings asked it for."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_every_setting_is_on_the_settings_page() -> None:
    env = _RecordingEnvironment()
    Settings.from_env(env)
    assert len(env.read) > 20, f"the settings read only {sorted(env.read)}: is the spy working?"
    page = (DOCS_DIR / "settings.md").read_text(encoding="utf-8")
    documented = {
        name
        for row in page.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    }
    assert sorted(env.read - documented) == [], "settings read but not on docs/settings.md"
    assert sorted(documented - env.read) == [], "docs/settings.md lists settings nobody reads"
