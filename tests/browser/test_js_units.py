"""The voice client's pure JavaScript (resampling, PCM16 and base64 framing, the jitter buffer,
transcript order, plain-words messages), unit-tested with Node's own runner, from pytest so one
test command runs everything.  Test files: tests/js/*.test.mjs."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest
import trio

from app.rules.frames import is_plain_audio_append
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
JS_TESTS = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))
PCM_MODULE = ROOT / "app" / "web" / "static" / "js" / "pcm.mjs"
NODE_TIMEOUT = 60.0


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is missing: run scripts/install-chromium (scripts/test does)")
    return path


async def run_node(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(NODE_TIMEOUT):
        return await trio.run_process(
            [node(), *args], capture_stdout=True, capture_stderr=True, check=False, cwd=ROOT
        )


async def test_javascript_unit_tests_pass() -> None:
    assert JS_TESTS, "no tests/js/*.test.mjs found"
    result = await run_node("--test", "--test-reporter=tap", *map(str, JS_TESTS))
    output = result.stdout.decode()
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    failures = "\n".join(line for line in output.splitlines() if line.startswith("not ok"))
    assert result.returncode == 0, failures or output[-3000:] or result.stderr.decode()
    assert passed is not None and int(passed.group(1)) >= 20, output[-3000:]
    assert failed is not None and int(failed.group(1)) == 0


async def test_the_pages_audio_frames_take_the_relays_fast_path() -> None:
    """What the browser sends is exactly the layout the relay forwards without parsing."""
    script = (
        f"import {{ appendEvent, bytesToBase64, floatToPcm16 }} from {str(PCM_MODULE)!r};\n"
        "const frame = new Float32Array(480).map((_, i) => Math.sin(i / 10) * 0.3);\n"
        "process.stdout.write(appendEvent(bytesToBase64(floatToPcm16(frame))));\n"
    )
    result = await run_node("--input-type=module", "-e", script)
    assert result.returncode == 0, result.stderr.decode()
    frame = result.stdout.decode()
    assert is_plain_audio_append(frame)
    audio = re.search(r'"audio":"([^"]*)"', frame)
    assert audio is not None
    assert len(base64.b64decode(audio.group(1))) == 960  # 20 ms of 24 kHz PCM16


async def test_every_page_module_parses() -> None:
    """A syntax error in a module only the browser loads (a worklet, the admin page) fails
    here with its line, not as a blank page."""
    modules = sorted((ROOT / "app" / "web" / "static" / "js").glob("*.mjs"))
    assert len(modules) >= 10
    for module in modules:
        result = await run_node("--check", str(module))
        assert result.returncode == 0, f"{module.name}: {result.stderr.decode()}"
