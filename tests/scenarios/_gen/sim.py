"""Request simulation: walk the call graph at time t with the faults active then.

Produces span records (for traces), per-step aggregates (for metrics) and log records.
Everything is driven by one seeded ``random.Random``; times are integer nanoseconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from .spec import Call, Fault, ScenarioSpec, Svc

NS = 1_000_000_000
MS = 1_000_000


@dataclass
class SpanRec:
    trace_id: str
    span_id: str
    parent: str | None
    service: str
    version: str
    commit: str
    name: str
    kind: str  # SERVER CLIENT INTERNAL PRODUCER
    start: int
    end: int
    error: bool = False
    message: str = ""
    attrs: list[tuple[str, Any]] = field(default_factory=list)
    events: list[tuple[str, int, list[tuple[str, Any]]]] = field(default_factory=list)


@dataclass
class LogRec:
    ts: int
    service: str
    level: str
    msg: str
    trace_id: str | None = None
    span_id: str | None = None


@dataclass
class Request:
    trace_id: str
    start: int
    spans: list[SpanRec]
    logs: list[LogRec]
    error: bool
    duration: int


def strength(f: Fault, rel: float) -> float:
    """0..1: how strongly fault ``f`` acts at ``rel`` seconds after onset."""
    if rel < f.start or (f.end is not None and rel >= f.end):
        return 0.0
    if f.ramp <= 0:
        return 1.0
    return min(1.0, (rel - f.start) / f.ramp)


class World:
    def __init__(self, spec: ScenarioSpec, onset_ns: int, rng: random.Random) -> None:
        self.spec = spec
        self.onset = onset_ns
        self.rng = rng
        self.svcs = {s.name: s for s in spec.services}

    # ---- versions (deploys change service.version / commit) ----
    def version_at(self, svc: Svc, t: int) -> tuple[str, str]:
        version, commit = svc.version, svc.commit
        for d in sorted(self.spec.deploys, key=lambda d: d.at):
            if d.service == svc.name and d.changes_version and self.onset + int(d.at * NS) <= t:
                version, commit = d.version, d.commit
        return version, commit

    def active(self, service: str, kind: str, t: int) -> list[tuple[Fault, float]]:
        rel = (t - self.onset) / NS
        out = []
        for f in self.spec.faults:
            if f.service == service and f.kind == kind:
                s = strength(f, rel)
                if s > 0:
                    out.append((f, s))
        return out

    def new_id(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def fmt(self, text: str, ms: float = 0.0) -> str:
        return text.replace("{n}", str(self.rng.randint(1000, 99999))).replace("{ms}", str(round(ms)))

    def lognorm_ms(self, median: float, sigma: float = 0.35) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    # ---- one request ----
    def request(self, t: int) -> Request:
        trace_id = self.new_id(128)
        spans: list[SpanRec] = []
        logs: list[LogRec] = []
        entry = self.svcs[self.spec.entry]
        flags: dict[str, bool] = {}
        end, err, _ = self.serve(entry, t, None, trace_id, spans, logs, flags)
        return Request(trace_id, t, spans, logs, err, end - t)

    def _flag_on(self, svc: Svc, key: str, t: int, flags: dict[str, bool]) -> bool:
        if key in flags:
            return flags[key]
        on = False
        for fl in self.spec.flags:
            if fl.service == svc.name and fl.key == key:
                rel = (t - self.onset) / NS
                on = rel >= fl.since and self.rng.random() < fl.on_fraction
        flags[key] = on
        return on

    def _applies(self, f: Fault, svc: Svc, t: int, flags: dict[str, bool]) -> bool:
        if f.flag and not self._flag_on(svc, f.flag, t, flags):
            return False
        return not (f.version and self.version_at(svc, t)[0] != f.version)

    def _self_ms(self, svc: Svc, t: int, flags: dict[str, bool]) -> tuple[float, list[str]]:
        ms = self.lognorm_ms(svc.self_ms)
        notes: list[str] = []
        for f, s in self.active(svc.name, "latency", t):
            if self._applies(f, svc, t, flags) and self.rng.random() < f.rate * s:
                added = self.lognorm_ms(f.ms * s, 0.25)
                ms += added
                if f.log and self.rng.random() < 0.5:
                    notes.append(self.fmt(f.log, added))
        for f, s in self.active(svc.name, "cpu", t):
            ms *= 1.0 + f.mult * s * (0.6 + 0.8 * self.rng.random())
        for f, s in self.active(svc.name, "memory", t):
            if self.rng.random() < 0.3 * s:  # GC pauses grow with the heap
                ms += self.lognorm_ms(f.ms * s, 0.4)
        for f, s in self.active(svc.name, "packet_loss", t):
            if self.rng.random() < f.rate * s:
                ms += self.rng.choice((200.0, 200.0, 400.0, 1000.0))  # TCP retransmission timeouts
        for f, s in self.active(self.spec.entry, "traffic", t):
            ms *= 1.0 + 0.15 * (f.mult - 1.0) * s
        return ms, notes

    def _own_error(self, svc: Svc, t: int, flags: dict[str, bool]) -> Fault | None:
        for kind in ("errors", "sockets", "disk", "memory"):
            for f, s in self.active(svc.name, kind, t):
                if not f.message:
                    continue
                if self._applies(f, svc, t, flags) and self.rng.random() < f.rate * s:
                    return f
        return None

    def serve(
        self,
        svc: Svc,
        t: int,
        parent: str | None,
        trace_id: str,
        spans: list[SpanRec],
        logs: list[LogRec],
        flags: dict[str, bool],
    ) -> tuple[int, bool, str]:
        """Server span of ``svc`` starting at ``t``; returns (end, error, message)."""
        span_id = self.new_id(64)
        version, commit = self.version_at(svc, t)
        rec = SpanRec(trace_id, span_id, parent, svc.name, version, commit, svc.op, "SERVER", t, t)
        spans.append(rec)
        events = rec.events
        for fl in self.spec.flags:
            if fl.service == svc.name:
                on = self._flag_on(svc, fl.key, t, flags)
                events.append(("flag", t + 200_000, [("key", fl.key), ("on", on), ("legacy", fl.legacy_event)]))
        self_ms, notes = self._self_ms(svc, t, flags)
        cursor = t + int(self_ms * 0.3 * MS)
        error, message = False, ""
        for call in self._calls(svc, t, flags):
            cursor, c_err, c_msg = self.call(svc, call, cursor, span_id, trace_id, spans, logs, flags)
            if c_err and not error:
                error, message = True, c_msg
                logs.append(LogRec(cursor, svc.name, "error", f"request failed: {call.op}: {c_msg}", trace_id, span_id))
        cursor += int(self_ms * 0.7 * MS)
        own = self._own_error(svc, t, flags)
        if own is not None:
            error, message = True, own.message
            events.append(("exception", cursor, [("exception.type", own.exc_type or "Error"), ("exception.message", own.message)] + ([("exception.stacktrace", own.stack)] if own.stack else [])))
            logs.append(LogRec(cursor, svc.name, own.log_level, self.fmt(own.log or own.message), trace_id, span_id))
        for note in notes:
            logs.append(LogRec(cursor, svc.name, "warn", note, trace_id, span_id))
        rec.end = cursor
        rec.error, rec.message = error, message
        rec.attrs = self._server_attrs(svc, error, own)
        if svc.info and self.rng.random() < 0.12:
            line = self.rng.choice(svc.info).format(ms=round(self_ms, 1), id=self.rng.randint(10000, 99999))
            logs.append(LogRec(cursor, svc.name, "info", line, trace_id, span_id))
        return cursor, error, message

    def _calls(self, svc: Svc, t: int, flags: dict[str, bool]) -> list[Call]:
        calls = [c for c in svc.calls if c.prob >= 1.0 or self.rng.random() < c.prob]
        for f, s in self.active(svc.name, "new_call", t):
            if self._applies(f, svc, t, flags) and self.rng.random() < f.rate * s:
                calls.append(Call(f.target or "", f.op or "SELECT", ms=f.ms, query=f.query, table=f.table, log=f.log))
        return calls

    def _server_attrs(self, svc: Svc, error: bool, own: Fault | None) -> list[tuple[str, Any]]:
        if svc.op.startswith(("GET ", "POST ", "PUT ", "DELETE ")):
            method, route = svc.op.split(" ", 1)
            code = (own.code if own else 500) if error else 200
            return [("http.request.method", method), ("http.route", route), ("http.response.status_code", code)]
        service, _, method = svc.op.partition("/")
        return [("rpc.system", "grpc"), ("rpc.service", service), ("rpc.method", method), ("rpc.grpc.status_code", 13 if error else 0)]

    def call(
        self,
        caller: Svc,
        call: Call,
        t: int,
        parent: str,
        trace_id: str,
        spans: list[SpanRec],
        logs: list[LogRec],
        flags: dict[str, bool],
    ) -> tuple[int, bool, str]:
        """Client span from ``caller`` to ``call.target``; returns (end, error, message)."""
        target = self.svcs.get(call.target)
        span_id = self.new_id(64)
        version, commit = self.version_at(caller, t)
        kind = "PRODUCER" if target and target.system in ("kafka", "rabbitmq") else "CLIENT"
        rec = SpanRec(trace_id, span_id, parent, caller.name, version, commit, call.op, kind, t, t)
        spans.append(rec)
        rec.attrs = self._client_attrs(caller, call, target)
        for f, s in self.active(caller.name, "call_fail", t):
            if (f.target in (None, call.target)) and self._applies(f, caller, t, flags) and self.rng.random() < f.rate * s:
                rec.end = t + int(self.lognorm_ms(f.ms or 2.0, 0.2) * MS)
                rec.error, rec.message = True, f.message
                rec.events.append(("exception", rec.end, [("exception.type", f.exc_type or "ConnectionError"), ("exception.message", f.message)]))
                if f.log:
                    logs.append(LogRec(rec.end, caller.name, f.log_level, self.fmt(f.log), trace_id, span_id))
                return rec.end, True, f.message
        net = int(self.lognorm_ms(0.6, 0.3) * MS)
        for f, s in self.active(call.target, "packet_loss", t):
            if self.rng.random() < f.rate * s:
                net += int(self.rng.choice((200.0, 400.0, 1000.0)) * MS)
        for f, s in self.active(call.target, "network_delay", t):
            net += int(self.lognorm_ms(f.ms * s, 0.15) * MS)
        if target is not None and target.instrumented:
            end, err, msg = self.serve(target, t + net // 2, span_id, trace_id, spans, logs, flags)
            end += net - net // 2
            wrong = self._wrong_value(target, caller, t, flags)
            if wrong is not None and not err:
                err, msg = True, wrong.message
                rec.events.append(("exception", end, [("exception.type", wrong.exc_type or "ValueError"), ("exception.message", wrong.message)]))
                logs.append(LogRec(end, caller.name, "error", self.fmt(wrong.log or wrong.message), trace_id, span_id))
            elif err:
                msg = f"{call.target}: {msg}" if not msg.startswith(call.target) else msg
        else:
            ms = self.lognorm_ms(call.ms, 0.3)
            err, msg = False, ""
            for f, s in self.active(caller.name, "slow_call", t):
                if f.target == call.target and self._applies(f, caller, t, flags) and self.rng.random() < f.rate * s:
                    ms += self.lognorm_ms(f.ms * s, 0.2)
                    if f.message and self.rng.random() < 0.3:
                        err, msg = True, f.message
            for f, s in self.active(call.target, "latency", t):
                if self.rng.random() < f.rate * s:
                    ms += self.lognorm_ms(f.ms * s, 0.25)
            for f, s in self.active(call.target, "errors", t):
                if self.rng.random() < f.rate * s:
                    err, msg = True, f.message
            end = t + net + int(ms * MS)
            if call.log:
                logs.append(LogRec(end, caller.name, "warn", self.fmt(call.log, ms), trace_id, span_id))
            if err:
                logs.append(LogRec(end, caller.name, "error", f"{call.op} failed: {msg}", trace_id, span_id))
        rec.end = end
        rec.error, rec.message = err, msg if err else ""
        if err and not rec.events:
            rec.events.append(("exception", end, [("exception.type", "RpcError" if target and target.instrumented else "DatabaseError"), ("exception.message", msg)]))
        return end, err, msg

    def _wrong_value(self, target: Svc, caller: Svc, t: int, flags: dict[str, bool]) -> Fault | None:
        for f, s in self.active(target.name, "wrong_value", t):
            if self._applies(f, target, t, flags) and self.rng.random() < f.rate * s:
                return f
        return None

    def _client_attrs(self, caller: Svc, call: Call, target: Svc | None) -> list[tuple[str, Any]]:
        if target is not None and target.system in ("postgresql", "mysql"):
            q = call.query or "SELECT 1"
            qkey = "db.statement" if caller.old_semconv else "db.query.text"
            skey = "db.system" if caller.old_semconv else "db.system.name"
            attrs: list[tuple[str, Any]] = [(skey, target.system), (qkey, q), ("db.namespace", "shop"), ("server.address", target.name), ("server.port", 5432), ("db.operation.name", q.split()[0].upper())]
            if call.table:
                attrs.append(("db.collection.name", call.table))
            return attrs
        if target is not None and target.system == "redis":
            return [("db.system.name", "redis"), ("db.operation.name", call.op.split()[0]), ("server.address", target.name), ("server.port", 6379)]
        if target is not None and target.system == "mongodb":
            return [("db.system.name", "mongodb"), ("db.operation.name", call.op.split()[0]), ("db.collection.name", call.op.split()[-1]), ("server.address", target.name), ("server.port", 27017)]
        if target is not None and target.system in ("kafka", "rabbitmq"):
            return [("messaging.system", target.system), ("messaging.operation.type", "send"), ("messaging.destination.name", call.op.split()[-1]), ("server.address", target.name)]
        host = call.target
        if call.op.startswith(("GET ", "POST ", "PUT ", "DELETE ")):
            return [("http.request.method", call.op.split()[0]), ("server.address", host), ("server.port", 8080), ("url.full", f"http://{host}:8080{call.op.split(' ', 1)[1]}")]
        service, _, method = call.op.partition("/")
        return [("rpc.system", "grpc"), ("rpc.service", service), ("rpc.method", method), ("server.address", host), ("server.port", 50051)]
