"""One function per figure: run it ``plan.runs`` times (or per scenario) and summarise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from correlator.lab.bench.first_note import first_note_case
from correlator.lab.bench.ingest import run_ingest
from correlator.lab.bench.ingest_open import run_ingest_open
from correlator.lab.bench.llm_vs_naive import MODEL, llm_case
from correlator.lab.bench.plan import STORM_SCENARIO, BenchPlan, Log
from correlator.lab.bench.replay_tp import run_replay_throughput
from correlator.lab.bench.startup import run_startup
from correlator.lab.bench.stats import median_or_none, ratio, summarize_runs
from correlator.lab.bench.storm import run_storm
from correlator.lab.fakes.openai_server import FakeOpenAI, auto_reply


def _numeric(run: dict[str, Any]) -> dict[str, float | None]:
    return {
        k: float(v)
        for k, v in run.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _repeat(n: int, one: Callable[[], dict[str, Any]], log: Log, name: str) -> dict[str, Any]:
    runs = []
    for i in range(n):
        runs.append(one())
        log(f"[bench]   {name} run {i + 1}/{n}: {_short(runs[-1])}")
    return {"runs": runs, "median": summarize_runs([_numeric(r) for r in runs])}


def _short(run: dict[str, Any]) -> str:
    keys = list(run)[:6]
    return ", ".join(f"{k}={run[k]}" for k in keys)


def ingest(plan: BenchPlan, root: Path, log: Log) -> dict[str, Any]:
    out = _repeat(
        plan.runs,
        lambda: run_ingest(
            root / STORM_SCENARIO,
            senders=plan.senders,
            seconds=plan.ingest_seconds,
            worker_processes=plan.worker_processes,
            latency_ms=plan.latency_ms,
        ),
        log,
        "ingest",
    )
    out["scenario"] = STORM_SCENARIO
    out["no_loss"] = all(r["no_loss"] for r in out["runs"])
    out["open_loop"] = _ingest_open(plan, root, log)
    return out


def _ingest_open(plan: BenchPlan, root: Path, log: Log) -> dict[str, Any]:
    """The same set-up at a fixed offered rate, latency from each request's scheduled time."""
    out = _repeat(
        plan.runs,
        lambda: run_ingest_open(
            root / STORM_SCENARIO,
            senders=plan.senders,
            rate=plan.ingest_open_rate,
            seconds=plan.ingest_seconds,
            worker_processes=plan.worker_processes,
            latency_ms=plan.latency_ms,
        ),
        log,
        "ingest open loop",
    )
    out["offered_per_s"] = plan.ingest_open_rate
    out["no_loss"] = all(r["no_loss"] for r in out["runs"])
    return out


async def first_note(plan: BenchPlan, root: Path, log: Log) -> dict[str, Any]:
    cases = []
    for name in plan.first_note_scenarios:
        row, _ = await first_note_case(root / name, latency_ms=plan.latency_ms, runs=plan.runs)
        log(f"[bench]   first note {name}: {row['first_note_s']} s, ratio {row['ratio']}")
        cases.append(row)
    ratios = [c["ratio"] for c in cases if c["ratio"] is not None]
    return {
        "latency_ms": plan.latency_ms,
        "cases": cases,
        "summary": {
            "median_ratio": median_or_none(ratios),
            "max_ratio": max(ratios) if ratios else None,
            "cases_meeting_goal": sum(1 for r in ratios if r <= 1.3),
            "cases": len(cases),
            "median_first_note_s": median_or_none([c["first_note_s"] for c in cases]),
        },
    }


async def llm_vs_naive(plan: BenchPlan, root: Path, log: Log) -> dict[str, Any]:
    srv = FakeOpenAI(responder=auto_reply)
    cases = []
    with srv:
        for name in plan.llm_scenarios:
            row = await llm_case(
                root / name, api_base=srv.api_base, latency_ms=plan.latency_ms, runs=plan.runs
            )
            s, n = row["staged"], row["naive"]
            row["final_vs_naive"] = _r(ratio(s["final_note_s"], n["final_note_s"]))
            row["tokens_in_vs_naive"] = _r(ratio(s["tokens_in"], n["tokens_in"]))
            t = row["staged_tuned"]
            row["tuned_final_vs_naive"] = _r(ratio(t["final_note_s"], n["final_note_s"]))
            log(
                f"[bench]   llm {name}: staged first {s['first_note_s']} final {s['final_note_s']}"
                f" in {s['tokens_in']}; naive {n['final_note_s']} in {n['tokens_in']}"
            )
            cases.append(row)
    return {
        "provider": {
            "model": MODEL,
            "server": "correlator.lab.fakes.openai_server.FakeOpenAI",
            "ttft_ms": srv.ttft_ms,
            "prefill_ms_per_token": srv.prefill_ms_per_token,
            "tokens_per_second": srv.tokens_per_second,
        },
        "latency_ms": plan.latency_ms,
        "cases": cases,
    }


def storm(plan: BenchPlan, root: Path, log: Log) -> dict[str, Any]:
    def one() -> dict[str, Any]:
        return run_storm(
            root / STORM_SCENARIO,
            alerts=plan.storm_alerts,
            groups=plan.storm_groups,
            window=plan.storm_window,
            drain_cap=plan.storm_drain_cap,
            worker_processes=plan.storm_worker_processes,
            latency_ms=plan.latency_ms,
        )

    out = _repeat(plan.storm_runs, one, log, "storm")
    out["scenario"] = STORM_SCENARIO
    return out


def replay(plan: BenchPlan, root: Path, log: Log) -> dict[str, Any]:
    return _repeat(
        plan.replay_runs,
        lambda: run_replay_throughput(root, items=plan.replay_items, jobs=plan.replay_jobs),
        log,
        "replay",
    )


def startup(plan: BenchPlan, log: Log) -> dict[str, Any]:
    return _repeat(plan.runs, run_startup, log, "startup")


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


async def memory(plan: BenchPlan, log: Log) -> dict[str, Any]:
    from correlator.lab.bench.memory import run_memory

    runs = []
    for i in range(plan.runs):
        runs.append(await run_memory(stored=plan.memory_stored, queries=plan.memory_queries))
        log(f"[bench]   memory run {i + 1}/{plan.runs}: {_short(runs[-1])}")
    out: dict[str, Any] = {"runs": runs, "median": summarize_runs([_numeric(r) for r in runs])}
    out["under_50ms_p95"] = all(r["under_50ms_p95"] for r in runs)
    return out
