"""The relay's session.update per dialect, the browser allowlist, and redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.agents import CatalogError, load_catalog
from app.rules.dialect import Dialect
from app.rules.session_config import (
    AudioFormat,
    SessionSettings,
    agent_session_update,
    filter_browser_session_update,
    redact_session_event,
)
from app.tools import default_registry

SETTINGS = SessionSettings(transcription_model="whisper-dep", voice="verse")
TOOLS = [{"type": "function", "name": "lookup_order", "parameters": {}}]


def test_first_update_in_the_ga_shape() -> None:
    update = json.loads(
        agent_session_update(Dialect.GA, instructions="Be kind.", tools=TOOLS, settings=SETTINGS)
    )
    assert update == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Be kind.",
            "tools": TOOLS,
            "tool_choice": "auto",
            "audio": {
                "input": {
                    "transcription": {"model": "whisper-dep"},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"voice": "verse"},
            },
        },
    }


def test_first_update_in_the_beta_shape() -> None:
    session = json.loads(
        agent_session_update(Dialect.BETA, instructions="Be kind.", tools=TOOLS, settings=SETTINGS)
    )["session"]
    assert session == {
        "instructions": "Be kind.",
        "tools": TOOLS,
        "tool_choice": "auto",
        "input_audio_transcription": {"model": "whisper-dep"},
        "turn_detection": {"type": "server_vad"},
        "voice": "verse",
    }


def test_a_phone_call_s_session_is_mu_law_both_ways_in_each_dialect() -> None:
    phone = SessionSettings(
        transcription_model="whisper-dep", voice="verse", audio_format=AudioFormat.G711_ULAW
    )
    ga = json.loads(agent_session_update(Dialect.GA, instructions="", tools=[], settings=phone))
    assert ga["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert ga["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert ga["session"]["audio"]["output"]["voice"] == "verse"
    beta = json.loads(agent_session_update(Dialect.BETA, instructions="", tools=[], settings=phone))
    assert beta["session"]["input_audio_format"] == "g711_ulaw"
    assert beta["session"]["output_audio_format"] == "g711_ulaw"
    assert AudioFormat.G711_ULAW.bytes_per_second == 8_000
    assert AudioFormat.PCM16.bytes_per_second == 48_000


def test_hand_off_update_leaves_audio_alone() -> None:
    session = json.loads(agent_session_update(Dialect.GA, instructions="Sell.", tools=[]))[
        "session"
    ]
    assert set(session) == {"type", "instructions", "tools", "tool_choice"}


@pytest.mark.parametrize(
    ("dialect", "session", "kept", "dropped"),
    [
        (
            Dialect.GA,
            {
                "type": "realtime",
                "instructions": "x",
                "tools": [],
                "audio": {
                    "input": {"noise_reduction": {"type": "near_field"}, "transcription": {}},
                    "output": {"voice": "verse"},
                },
            },
            {
                "type": "realtime",
                "audio": {
                    "input": {"noise_reduction": {"type": "near_field"}},
                    "output": {"voice": "verse"},
                },
            },
            ["audio.input.transcription", "instructions", "tools"],
        ),
        (
            Dialect.BETA,
            {
                "voice": "verse",
                "tool_choice": "required",
                "turn_detection": {"type": "semantic_vad"},
            },
            {"voice": "verse", "turn_detection": {"type": "semantic_vad"}},
            ["tool_choice"],
        ),
    ],
)
def test_browser_updates_keep_only_the_allowlist(
    dialect: Dialect, session: dict[str, object], kept: dict[str, object], dropped: list[str]
) -> None:
    event = {"type": "session.update", "event_id": "e1", "session": session}
    forwarded, removed = filter_browser_session_update(event, dialect)
    assert forwarded == {"type": "session.update", "event_id": "e1", "session": kept}
    assert removed == dropped


def test_a_browser_update_with_nothing_allowed_is_withheld() -> None:
    event = {"type": "session.update", "session": {"instructions": "x"}}
    assert filter_browser_session_update(event, Dialect.GA) == (None, ["instructions"])
    assert filter_browser_session_update({"type": "session.update"}, Dialect.BETA)[0] is None


def test_session_events_reach_the_browser_without_instructions_or_tools() -> None:
    event = {
        "type": "session.updated",
        "session": {"id": "s", "instructions": "secret", "tools": TOOLS, "voice": "alloy"},
    }
    assert redact_session_event(event) == {
        "type": "session.updated",
        "session": {"id": "s", "voice": "alloy"},
    }
    plain = {"type": "session.created", "session": {"id": "s"}}
    assert redact_session_event(plain) is plain


def test_the_bundled_catalog() -> None:
    catalog = load_catalog(default_registry())
    assert catalog.initial_agent == "root"
    assert set(catalog.agents) == {"root", "sales", "support"}
    names = [tool["name"] for tool in catalog.tool_definitions(catalog["root"])]
    assert names == ["lookup_order", "transfer_to_sales", "transfer_to_support"]
    assert catalog.handoff_target("transfer_to_sales") == "sales"
    assert catalog.handoff_target("transfer_to_nowhere") is None
    assert catalog.handoff_target("lookup_order") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("initial_agent = 'root'", "at least one"),
        ("[agents.root]\ninstructions = 'x'\ntools = ['fly']", "unknown tool 'fly'"),
        ("[agents.root]\ninstructions = 'x'\nhandoffs = ['ghost']", "unknown agent 'ghost'"),
        ("[agents.Root]\ninstructions = 'x'", "lowercase identifier"),
        ("[agents.root]\ninstructions = ''", "non-empty instructions"),
        ("initial_agent = 'sales'\n[agents.root]\ninstructions = 'x'", "initial_agent 'sales'"),
        ("[agents.root\n", "not valid TOML"),
    ],
)
def test_catalog_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(default_registry(), path)
