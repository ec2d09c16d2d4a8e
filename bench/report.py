"""What relay_bench.py prints: one line per step, then ranges over runs and ratios to baseline.

Every figure is given as a range (lowest-highest over the runs) because the machine is shared;
ratios are taken within a run (the relay against the baseline measured minutes earlier), then
given as a range too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs


@attrs.frozen
class Step:
    target: str
    run: int
    calls: int
    sent: int
    lost: int
    p50_ms: float | None
    p99_ms: float | None
    cpu_percent: float
    cpu_ms_per_1000: float | None  # relay CPU per 1000 echoes
    switches_per_echo: float | None
    ok: bool

    @classmethod
    def from_raw(
        cls, target: str, run: int, calls: int, raw: dict[str, Any], p99_limit: float
    ) -> Step:
        received = int(raw["received"])
        p99 = raw["p99_ms"]
        return cls(
            target=target,
            run=run,
            calls=calls,
            sent=int(raw["sent"]),
            lost=int(raw["lost"]),
            p50_ms=raw["p50_ms"],
            p99_ms=p99,
            cpu_percent=raw["cpu_s"] / raw["elapsed_s"] * 100,
            cpu_ms_per_1000=raw["cpu_s"] * 1e6 / received if received else None,
            switches_per_echo=raw["switches"] / received if received else None,
            ok=raw["lost"] == 0
            and raw["failed_sockets"] == 0
            and p99 is not None
            and p99 < p99_limit,
        )


def print_step_header() -> None:
    print(
        f"{'run':>3} {'relay':<10} {'calls':>5} {'sent':>7} {'lost':>6} {'p50 ms':>7} "
        f"{'p99 ms':>8} {'CPU':>5} {'CPU ms/1k':>9} {'sw/echo':>7}"
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def step_line(step: Step) -> str:
    return (
        f"{step.run:>3} {step.target:<10} {step.calls:>5} {step.sent:>7} {step.lost:>6} "
        f"{_fmt(step.p50_ms):>7} {_fmt(step.p99_ms):>8} {step.cpu_percent:>4.0f}% "
        f"{_fmt(step.cpu_ms_per_1000, 0):>9} {_fmt(step.switches_per_echo, 2):>7}"
    )


def _range(values: Iterable[float | None], digits: int = 0, unit: str = "") -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    low, high = min(present), max(present)
    if f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"{low:.{digits}f}{unit}"
    return f"{low:.{digits}f}-{high:.{digits}f}{unit}"


def capacity(steps: Iterable[Step]) -> int:
    return max((s.calls for s in steps if s.ok), default=0)


def print_summary(
    results: list[Step], targets: list[str], syscalls: dict[str, dict[str, float]]
) -> None:
    runs = sorted({s.run for s in results})
    calls = sorted({s.calls for s in results})

    def pick(target: str, **where: int) -> list[Step]:
        return [
            s
            for s in results
            if s.target == target and all(getattr(s, k) == v for k, v in where.items())
        ]

    print(f"\nRanges over {len(runs)} run(s) (lowest-highest):")
    print(
        f"{'relay':<10} {'calls':>5} {'p99 ms':>14} {'CPU':>10} {'CPU ms/1k echoes':>17} "
        f"{'sw/echo':>11} {'lost':>5}"
    )
    for target in targets:
        for n in calls:
            steps = pick(target, calls=n)
            print(
                f"{target:<10} {n:>5} {_range((s.p99_ms for s in steps), 1):>14} "
                f"{_range((s.cpu_percent for s in steps), 0, ' %'):>10} "
                f"{_range(s.cpu_ms_per_1000 for s in steps):>17} "
                f"{_range((s.switches_per_echo for s in steps), 2):>11} "
                f"{sum(s.lost for s in steps):>5}"
            )
    print("\nCapacity (p99 < 50 ms, nothing lost), per run:")
    for target in targets:
        per_run = [capacity(pick(target, run=r)) for r in runs]
        print(f"  {target:<10} {_range(per_run)} calls  (runs: {per_run})")
    for peer in ("baseline", "reference"):
        if peer in targets:
            _print_ratios(pick, runs, calls, [t for t in targets if t != peer], peer)
    if "relay-rec" in targets:  # RECORD_CALLS=true against the same relay without it
        plain = next((t for t in targets if t.startswith("relay-w")), None)
        if plain is not None:
            _print_ratios(pick, runs, calls, ["relay-rec"], plain)
    _print_syscalls(syscalls)


def _print_ratios(
    pick: Callable[..., list[Step]],
    runs: list[int],
    calls: list[int],
    targets: list[str],
    peer: str,
) -> None:
    print(f"\nRatios to the {peer} in the same run (range over runs):")
    for target in targets:
        if target == "baseline":
            continue
        ratios = _ratios(
            [(capacity(pick(target, run=r)), capacity(pick(peer, run=r))) for r in runs],
        )
        print(f"  {target:<10} capacity x{_range(ratios, 2)}")
        for n in calls:
            cost = _ratios([_cost_pair(pick, target, peer, r, n) for r in runs])
            print(f"  {target:<10} CPU per echo at {n:>4} calls: x{_range(cost, 2)} the {peer}'s")


def _cost_pair(
    pick: Callable[..., list[Step]], target: str, peer: str, run: int, calls: int
) -> tuple[float | None, float | None]:
    mine, theirs = pick(target, run=run, calls=calls), pick(peer, run=run, calls=calls)
    if not mine or not theirs:
        return None, None
    return mine[0].cpu_ms_per_1000, theirs[0].cpu_ms_per_1000


def _ratios(pairs: list[tuple[float | None, float | None]]) -> list[float | None]:
    ratios: list[float | None] = []
    for mine, theirs in pairs:
        ratios.append(mine / theirs if mine is not None and theirs else None)
    return ratios


def _print_syscalls(syscalls: dict[str, dict[str, float]]) -> None:
    if not syscalls:
        return
    print("\nSystem calls per echo (strace -c -f, one short step each; the five most frequent):")
    for target, per_echo in syscalls.items():
        top = sorted(((n, name) for name, n in per_echo.items() if name != "total"), reverse=True)
        detail = ", ".join(f"{name} {n:.2f}" for n, name in top[:5])
        print(f"  {target:<10} {_fmt(per_echo.get('total'), 1):>6}  ({detail})")
