"""The README's `openai` SDK example, run as written against a real relay process.

A client nobody here wrote: the official `openai` package's realtime client (its own websocket
library, its own event models) places a call through ``python -m app``.  The snippet is read
out of README.md, so the example people copy is the one that is tested; only the port changes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import trio

from tests.support.app_process import relay_process, stored_documents, wait_exit
from tests.support.paths import REPO_ROOT
from tests.support.polling import eventually_async

#: The README's sentence that introduces the example, then its first python block.
SNIPPET = re.compile(r"\*\*With the official `openai` SDK\.\*\*.*?```python\n(.*?)```", re.S)
README_URL = "http://127.0.0.1:8000/api"
SDK_TIMEOUT = 60.0


def readme_snippet() -> str:
    match = SNIPPET.search((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md no longer has the openai SDK example"
    code = match.group(1)
    assert README_URL in code
    return code


async def test_the_readmes_openai_sdk_example_places_a_logged_call(tmp_path: Path) -> None:
    code = readme_snippet()
    async with relay_process(tmp_path / "data") as relay:
        script = tmp_path / "example.py"
        script.write_text(
            code.replace(README_URL, f"http://127.0.0.1:{relay.port}/api"), encoding="utf-8"
        )
        with trio.fail_after(SDK_TIMEOUT):
            result = await trio.run_process(
                [sys.executable, str(script)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                # The SDK must not reach for a real key or a proxy of this machine's.
                env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"},
            )
        out = result.stdout.decode()
        assert result.returncode == 0, result.stderr.decode()
        assert out.startswith("assistant: ") and len(out.strip()) > len("assistant:"), out
        documents = await eventually_documents(tmp_path / "data")
        relay.process.terminate()
        assert await wait_exit(relay.process) == 0
    [doc] = documents
    assert doc["customer_id"] == "demo"
    assert doc["disconnect_reason"] == "user_hangup"
    user, assistant = doc["messages"][:2]
    assert user == {**user, "sender": "user", "message": "Hi, I need some help, please."}
    assert assistant["sender"] == "assistant"
    assert out.strip() == f"assistant: {assistant['message']}"


async def eventually_documents(data_dir: Path) -> list[dict[str, Any]]:
    """The SQLite store's documents once there is one (the save follows the hang-up)."""
    found: list[dict[str, Any]] = []

    async def stored() -> bool:
        found[:] = await stored_documents(data_dir)
        return bool(found)

    await eventually_async(stored, 10.0)
    return found

