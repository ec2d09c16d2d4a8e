"""The Dockerfile's own CMD and HEALTHCHECK, run as processes (no container engine needed).

The test reads the final stage's ENV, CMD and HEALTHCHECK out of the Dockerfile, starts the CMD
with that environment (on 127.0.0.1 and a free port instead of the image's 0.0.0.0:8000, with
``python`` being this interpreter), and runs the HEALTHCHECK command against it: 0 while the
relay serves, non-zero once it has stopped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.support.commands import COMMAND_TIMEOUT
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.slow

ROOT = REPO_ROOT
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ANNOUNCED = re.compile(rb"relay listening on http://127\.0\.0\.1:(\d+)")


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of each line, continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    last_from = max(n for n, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def exec_form(rest: str) -> list[str]:
    """A JSON-array (exec form) command; the shell form would need a shell in the image."""
    command = json.loads(rest)
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    return command


def image_cmd() -> list[str]:
    (cmd,) = [rest for keyword, rest in final_stage() if keyword == "CMD"]
    return exec_form(cmd)


def image_healthcheck() -> list[str]:
    (check,) = [rest for keyword, rest in final_stage() if keyword == "HEALTHCHECK"]
    options, _, command = check.partition(" CMD ")
    assert all(option.startswith("--") for option in options.split())
    return exec_form(command)


def runnable(command: list[str]) -> list[str]:
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_the_image_is_slim_non_root_and_carries_no_test_dependencies() -> None:
    stages = [rest for keyword, rest in instructions(DOCKERFILE) if keyword == "FROM"]
    assert all(re.match(r"python:\$\{PYTHON_VERSION\}-slim( AS \w+)?$", s) for s in stages)
    (user,) = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert user not in ("root", "0")
    assert "pip install --no-cache-dir --prefix=/install ." in DOCKERFILE
    assert "[test]" not in DOCKERFILE.replace("never the [test] extra", "")
    assert image_cmd() == ["python", "-m", "app"]
    assert image_healthcheck() == ["python", "-m", "app", "healthcheck"]
    assert image_env()["DATA_DIR"] == "/data"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1:4] == ["*", "!pyproject.toml", "!README.md"]  # tests/ and .venv/ stay out
    assert "tests" not in " ".join(line for line in ignored if line.startswith("!"))
    assert (ROOT / "Procfile").read_text().strip() == "web: HOST=0.0.0.0 python -m app"


async def test_cmd_serves_and_healthcheck_passes_then_fails_once_stopped(tmp_path: Path) -> None:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COSMOSDB_", "REALTIME_", "AZURE_OPENAI_"))
    }
    env = {**base, **image_env()}
    served = {**env, "HOST": "127.0.0.1", "PORT": "0", "DATA_DIR": str(tmp_path)}
    process = await trio.lowlevel.open_process(
        runnable(image_cmd()), env=served, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        port = await announced_port(process)
        # The image's own HOST (0.0.0.0) and the port the relay took: the check asks loopback.
        check_env = {**env, "PORT": str(port)}
        assert check_env["HOST"] == "0.0.0.0"
        with trio.fail_after(COMMAND_TIMEOUT):
            healthy = await trio.run_process(
                runnable(image_healthcheck()), env=check_env, capture_stderr=True, check=False
            )
        assert healthy.returncode == 0, healthy.stderr
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(COMMAND_TIMEOUT):
            assert await process.wait() == 0
        with trio.fail_after(COMMAND_TIMEOUT):
            stopped = await trio.run_process(
                runnable(image_healthcheck()), env=check_env, capture_stderr=True, check=False
            )
        assert stopped.returncode == 1
        assert stopped.stderr.decode().startswith(f"unhealthy: http://127.0.0.1:{port}/healthz")
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(COMMAND_TIMEOUT, shield=True):
            await process.wait()


async def announced_port(process: trio.Process) -> int:
    """The port in the relay's ``relay listening on http://127.0.0.1:PORT`` line."""
    assert process.stdout is not None
    output = b""
    with trio.fail_after(COMMAND_TIMEOUT):
        while (
            match := re.search(rb"relay listening on http://127\.0\.0\.1:(\d+)", output)
        ) is None:
            chunk = await process.stdout.receive_some(4096)
            assert chunk, f"the relay exited: {output.decode(errors='replace')}"
            output += chunk
    return int(match.group(1))
