"""``scripts/phone-call``: one simulated Twilio phone call on this machine, and its record.

A relay on the built-in simulator (its own port and data directory) with Twilio's routes on,
dialled the way Twilio does it (`tests.support.twilio`): the signed webhook, the TwiML's media
stream, the caller's speech (espeak-ng) in 20 ms mu-law frames.  The caller talks over the
agent's first reply, asks a second question, hangs up; the conversation document is printed.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
from pathlib import Path

import trio

from app.simulator import SimulatorOptions
from tests.support.harness import relay_settings, running_relay
from tests.support.twilio import PUBLIC_BASE_URL, TwilioStream, place_call, speech_ulaw

STEP_TIMEOUT = 20.0


async def _until(stream: TwilioStream, what: str, done: object) -> None:
    print(f"... {what}", file=sys.stderr)
    with trio.fail_after(STEP_TIMEOUT):
        while not done():  # type: ignore[operator]
            await stream.silence(20)


async def phone_call(data_dir: Path) -> dict[str, object]:
    auth_token = secrets.token_urlsafe(24)
    settings = relay_settings(
        data_dir,
        twilio_auth_token=auth_token,
        public_base_url=PUBLIC_BASE_URL,
        caller_id_secret=secrets.token_urlsafe(32),
    )
    async with (
        running_relay(settings, simulator=SimulatorOptions(speed=1.0)) as relay,
        trio.open_nursery() as nursery,
    ):
        print(f"relay on 127.0.0.1:{relay.port}; dialling +15551234567", file=sys.stderr)
        stream = await place_call(
            relay.port,
            auth_token,
            nursery,
            call_sid="CA" + secrets.token_hex(16),
            caller="+15551234567",
        )
        print("caller: Hello, I would like to check on my order.", file=sys.stderr)
        await stream.say(speech_ulaw("Hello, I would like to check on my order."))
        await _until(stream, "the agent answers", lambda: len(stream.received_audio) > 8000)
        print("caller (talking over the agent): Sorry, it is order 1042.", file=sys.stderr)
        await stream.say(speech_ulaw("Sorry, it is order 1042."))
        await _until(stream, "the agent answers again", lambda: stream.clears > 0)
        await stream.silence(3000)
        print("caller hangs up", file=sys.stderr)
        await stream.hang_up()
        await relay.wait_calls_ended()
        [document] = await relay.documents()
        return document


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="phone-call-") as tmp:
        document = trio.run(phone_call, Path(tmp))
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
