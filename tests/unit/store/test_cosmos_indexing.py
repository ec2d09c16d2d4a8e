"""Pure parts of serving containers made elsewhere: reading an indexing policy, the command that
completes it, and the fallback listing's tie resolution (with an in-memory query runner that
returns ties in the worst order a server may).

Against the local Cosmos DB server: tests/store/test_cosmos_made_elsewhere.py.
"""

from __future__ import annotations

import copy
import json
import random
import shlex
from typing import Any

import pytest

from app.store.cosmos_fallback import Listing, fallback_rows
from app.store.cosmos_indexing import (
    LISTING_INDEX,
    az_update_command,
    has_listing_index,
    is_range_indexed,
    policy_update,
)
from app.store.cosmos_schema import INDEXING_POLICY, Query, SortKey, sort_key

#: What Cosmos DB gives a container created without a policy.
DEFAULT_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}],
}


def test_the_relays_own_policy_needs_nothing() -> None:
    update = policy_update(INDEXING_POLICY)
    assert update.changes == ()
    assert update.policy == INDEXING_POLICY


def test_a_default_policy_gets_the_composite_index_and_keeps_the_rest() -> None:
    original = copy.deepcopy(DEFAULT_POLICY)
    update = policy_update(DEFAULT_POLICY)
    assert original == DEFAULT_POLICY  # not changed in place
    assert update.changes == (
        "the composite index (/session_start ascending, /id ascending, /customer_id ascending)",
    )
    assert update.policy == {**DEFAULT_POLICY, "compositeIndexes": [LISTING_INDEX]}
    assert policy_update(update.policy).changes == ()


def test_composite_indexes_are_matched_in_either_direction_and_others_are_kept() -> None:
    descending = [{"path": p["path"], "order": "descending"} for p in LISTING_INDEX]
    unordered = [{"path": p["path"]} for p in LISTING_INDEX]  # "order" defaults to ascending
    assert has_listing_index({"compositeIndexes": [descending]})
    assert has_listing_index({"compositeIndexes": [unordered]})
    mixed = [{**LISTING_INDEX[0], "order": "descending"}, *LISTING_INDEX[1:]]
    shorter = LISTING_INDEX[:2]
    assert not has_listing_index({"compositeIndexes": [mixed, shorter]})
    other = [{"path": "/customer_id", "order": "ascending"}, {"path": "/x", "order": "ascending"}]
    update = policy_update({**DEFAULT_POLICY, "compositeIndexes": [other]})
    assert update.policy["compositeIndexes"] == [other, LISTING_INDEX]


@pytest.mark.parametrize(
    ("included", "excluded", "indexed"),
    [
        (None, [], True),  # no included paths listed: the default, /*
        (["/*"], ['/"_etag"/?'], True),
        (["/customer_id/?"], ["/*"], False),  # opt-in, without session_start
        (["/session_start/?"], ["/*"], True),
        (["/*"], ["/session_start/?"], False),  # opt-out of exactly that path
        (["/*"], ["/session_start/*"], False),
        (["/session_start/?"], ["/session_start/*"], True),  # the more precise path wins
    ],
)
def test_range_index_on_a_path_follows_the_most_precise_rule(
    included: list[str] | None, excluded: list[str], indexed: bool
) -> None:
    policy: dict[str, Any] = {"excludedPaths": [{"path": p} for p in excluded]}
    if included is not None:
        policy["includedPaths"] = [{"path": p} for p in included]
    assert is_range_indexed(policy, "/session_start") is indexed
    assert not is_range_indexed({**policy, "indexingMode": "none"}, "/session_start")


def test_an_opt_in_policy_without_session_start_gets_its_range_index_too() -> None:
    policy = {
        "indexingMode": "consistent",
        "includedPaths": [{"path": "/customer_id/?"}],
        "excludedPaths": [{"path": "/*"}, {"path": "/session_start/?"}],
    }
    update = policy_update(policy)
    assert update.changes[0] == "a range index on /session_start/?"
    assert update.policy["includedPaths"] == [
        {"path": "/customer_id/?"},
        {"path": "/session_start/?"},
    ]
    assert update.policy["excludedPaths"] == [{"path": "/*"}]
    assert is_range_indexed(update.policy, "/session_start")
    assert has_listing_index(update.policy)


def test_the_az_command_sets_exactly_the_completed_policy() -> None:
    policy = policy_update(DEFAULT_POLICY).policy
    command = az_update_command(
        account="callcenter", database="GenAI", container="AI_Conversations", policy=policy
    )
    words = shlex.split(command)
    assert words[:14] == [
        *("az", "cosmosdb", "sql", "container", "update", "-g", "RESOURCE_GROUP"),
        *("-a", "callcenter", "-d", "GenAI", "-n", "AI_Conversations", "--idx"),
    ]
    assert len(words) == 15
    assert json.loads(words[14]) == policy  # the quotes in '/"_etag"/?' survive the shell


# The fallback listing, against an in-memory runner.


def run_against(docs: list[dict[str, Any]], rng: random.Random) -> tuple[Any, list[Query]]:
    """A runner of the fallback's two query shapes that returns each tie group in a random
    order (a server owes no order within equal ``session_start``), and records the queries."""
    sent: list[Query] = []

    async def run(query: Query) -> list[Any]:
        sent.append(query)
        params = dict(query.parameters)
        rows = [
            d
            for d in docs
            if ("@customer_id" not in params or d["customer_id"] == params["@customer_id"])
            and ("@since" not in params or d["session_start"] >= params["@since"])
            and ("@until" not in params or d["session_start"] < params["@until"])
        ]
        if "c.session_start = @start" in query.text:  # a tie group
            rows = [d for d in rows if d["session_start"] == params["@start"]]
            rng.shuffle(rows)
            return rows
        assert query.text.startswith("SELECT TOP @n")
        assert query.text.count("ORDER BY") == 1 and "," not in query.text.split("ORDER BY")[1]
        newest_first = query.text.endswith("DESC")
        if "@start" in params:
            start = params["@start"]
            rows = [d for d in rows if (d["session_start"] < start) == newest_first]
            rows = [d for d in rows if d["session_start"] != start]
        rng.shuffle(rows)
        rows.sort(key=lambda d: d["session_start"], reverse=newest_first)  # stable: ties random
        need = params["@n"]
        assert isinstance(need, int)
        return rows[:need]

    return run, sent


def random_docs(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Documents with many ties: few distinct starts, ids shared between customers.

    Only the three listing keys, by hand: the fallback listing reads nothing else, and the
    in-memory query runner answers with these rows as Cosmos DB answers a key projection."""
    starts = [f"2026-11-25T10:00:0{n}+00:00" for n in range(4)]
    docs = {
        (f"c{rng.randrange(3)}", f"ai_conv_{rng.randrange(count)}"): rng.choice(starts)
        for _ in range(count)
    }
    return [{"customer_id": c, "id": i, "session_start": s} for (c, i), s in docs.items()]


async def page_through(listing: Listing, run: Any, page: int) -> list[SortKey]:
    """Every key of the listing, ``page`` at a time, resuming after each page's last key."""
    keys: list[SortKey] = []
    after: SortKey | None = None
    for _ in range(1000):
        rows = await fallback_rows(
            Listing(
                need=page,
                newest_first=listing.newest_first,
                customer_id=listing.customer_id,
                after=after,
                since=listing.since,
                until=listing.until,
            ),
            run,
        )
        assert len(rows) <= page
        keys += [sort_key(row) for row in rows]
        if len(rows) < page:
            return keys
        after = keys[-1]
    raise AssertionError("the listing did not end")


@pytest.mark.parametrize("seed", range(12))
async def test_fallback_pages_are_the_total_order_whatever_the_order_of_ties(seed: int) -> None:
    rng = random.Random(seed)
    docs = random_docs(rng, rng.randrange(1, 40))
    run, sent = run_against(docs, rng)
    newest = sorted((sort_key(d) for d in docs), reverse=True)
    for page in (1, 2, 3, 7, 50):
        assert await page_through(Listing(need=page, newest_first=True), run, page) == newest
        mine = [k for k in newest if k[2] == "c1"]
        by_customer = Listing(need=page, newest_first=True, customer_id="c1")
        assert await page_through(by_customer, run, page) == mine
        since, until = "2026-11-25T10:00:01+00:00", "2026-11-25T10:00:03+00:00"
        in_range = sorted(k for k in newest if since <= k[0] < until)
        oldest = Listing(need=page, newest_first=False, since=since, until=until)
        assert await page_through(oldest, run, page) == in_range
    assert all(q.partition_key in (None, "c1") for q in sent)


async def test_a_full_page_reads_the_tie_group_it_cut_and_stops_at_need() -> None:
    # Listing keys only (see random_docs); the last start is in another spelling of UTC.
    docs = [
        {"customer_id": "c", "id": f"ai_conv_{n}", "session_start": "2026-11-25T10:00:00+00:00"}
        for n in range(5)
    ]
    docs.append({"customer_id": "c", "id": "ai_conv_x", "session_start": "2026-11-26T00:00:00Z"})
    run, sent = run_against(docs, random.Random(1))
    rows = await fallback_rows(Listing(need=3, newest_first=True), run)
    assert [r["id"] for r in rows] == ["ai_conv_x", "ai_conv_4", "ai_conv_3"]
    assert [q.text.split(" WHERE")[0] for q in sent] == [
        "SELECT TOP @n * FROM c",
        "SELECT * FROM c",
    ]
    sent.clear()
    rows = await fallback_rows(Listing(need=2, newest_first=True, after=sort_key(rows[-1])), run)
    assert [r["id"] for r in rows] == ["ai_conv_2", "ai_conv_1"]
    assert len(sent) == 1  # the rest of the key's tie group was enough
