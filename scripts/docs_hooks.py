"""MkDocs hooks: publish the repository's top-level ARCHITECTURE.md as the page architecture.md.

ARCHITECTURE.md stays at the top of the repository, beside the code it describes, where a reader
of the tree finds it first. The docs link it as `../ARCHITECTURE.md`, which works when the pages
are read as files (on a forge, in an editor); in the built site that file is outside `docs/`, so
this hook adds it to the site as `architecture.md` and points those links there. Its own links
are written from the top of the repository (`docs/settings.md`); in the site they lose the
`docs/` prefix. Every link in it is then checked by the strict build like any page's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

PAGE = "architecture.md"
SOURCE_NAME = "ARCHITECTURE.md"

# A Markdown link or image target that starts with the given prefix: "](prefix".
_TO_ARCHITECTURE = re.compile(r"\]\((?:\.\./)+ARCHITECTURE\.md")
_INTO_DOCS = re.compile(r"\]\(docs/")


def _source(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).parent / SOURCE_NAME


def on_files(files: Files, /, *, config: MkDocsConfig) -> Files:
    text = _source(config).read_text(encoding="utf-8")
    files.append(File.generated(config, PAGE, content=_INTO_DOCS.sub("](", text)))
    return files


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == PAGE:
        return markdown
    depth = page.file.src_uri.count("/")
    return _TO_ARCHITECTURE.sub("](" + "../" * depth + PAGE, markdown)


def on_serve(server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
    """`mkdocs serve` rebuilds when ARCHITECTURE.md changes too."""
    server.watch(str(_source(config)))
    return server
