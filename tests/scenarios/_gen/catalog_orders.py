"""Scenarios on the orders stack (storefront -> checkout-api -> inventory/payment-gateway, Postgres)."""

from __future__ import annotations

from . import diffs
from .spec import AlertSpec, DeploySpec, Fault, Flag, Noise, ScenarioSpec
from .stacks import orders_stack

SEQ_SCAN = (
    "SELECT o.id, o.created_at, o.total_cents, oi.sku, oi.qty FROM orders o "
    "JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_email = $1 "
    "ORDER BY o.created_at DESC LIMIT 20"
)

BASE_NOISE = (
    Noise("payment-gateway", "retrying webhook delivery to merchant endpoint attempt={n}", "warn", 1.5),
    Noise("auth-svc", "failed to refresh JWKS cache: context deadline exceeded", "error", 0.6),
    Noise("storefront", "GET /favicon.ico 404", "warn", 1.0),
)

CHECKOUT = ScenarioSpec(
    id="checkout-deploy-regression",
    title="checkout-api 2.4.1 seq-scans orders behind new_checkout",
    description=(
        "checkout-api 2.4.1 (commit 7a3f9c2) adds an order-history query that runs only when "
        "feature_flag.new_checkout=true. The query has no index on orders.customer_email and "
        "seq-scans 1.1M rows on db-primary, so checkout p95 goes from ~90 ms to ~2 s and some "
        "requests hit the statement timeout (5xx). A harmless inventory deploy 9 minutes earlier "
        "and steady noisy auth-svc/payment-gateway logs are decoys. Fix: disable new_checkout or "
        "roll back 7a3f9c2."
    ),
    onset="2026-10-05T14:20:00Z",
    services=orders_stack(),
    entry="storefront",
    tags=("deploy", "feature-flag", "database", "decoy-deploy"),
    faults=(
        Fault("new_call", "checkout-api", rate=1.0, ms=1750.0, target="db-primary", op="SELECT shop.orders",
              query=SEQ_SCAN, table="orders", flag="new_checkout", version="2.4.1",
              log="slow query: seq scan on orders (rows=1100000, duration_ms={ms})"),
        Fault("errors", "checkout-api", rate=0.12, flag="new_checkout", version="2.4.1", code=500,
              exc_type="*pq.Error", message="pq: canceling statement due to statement timeout",
              log="order history lookup failed: pq: canceling statement due to statement timeout"),
        Fault("cpu", "db-primary", mult=0.6, ramp=60.0),
    ),
    flags=(Flag("checkout-api", "new_checkout", on_fraction=0.7, since=-40.0),),
    deploys=(
        DeploySpec("inventory", -540.0, "3.8.2", "f1a9c44", description="bump jackson to 2.18.1"),
        DeploySpec("checkout-api", -40.0, "2.4.1", "7a3f9c2",
                   description="order history on checkout page (behind new_checkout)",
                   diff=diffs.CHECKOUT),
    ),
    noise=BASE_NOISE,
    alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                    "p95 latency of checkout-api above 500ms for 2m", delay=170.0),
    truth={"service": "checkout-api", "fault_type": "deploy_regression",
           "change": {"version": "2.4.1", "commit": "7a3f9c2"}},
    remediation="disable feature flag new_checkout or roll back checkout-api to 2.4.0 (revert 7a3f9c2)",
)


def _orders(**kw: object) -> ScenarioSpec:
    kw.setdefault("services", orders_stack())
    kw.setdefault("entry", "storefront")
    kw.setdefault("noise", BASE_NOISE)
    return ScenarioSpec(**kw)  # type: ignore[arg-type]


ORDERS: list[ScenarioSpec] = [
    CHECKOUT,
    _orders(
        id="payment-deploy-regression-decoys",
        title="payment-gateway 5.2.0 raises KeyError between two harmless deploys",
        description=(
            "payment-gateway 5.2.0 reads a currency field that older carts lack and fails a third of "
            "charges with KeyError. storefront 5.12.1 (copy change) and auth-svc 1.9.4 were deployed "
            "minutes around it. The alert is on checkout-api, the caller."
        ),
        onset="2026-10-07T09:41:00Z",
        tags=("deploy", "decoy-deploy", "code-error"),
        faults=(Fault("errors", "payment-gateway", rate=0.35, version="5.2.0", code=500,
                      exc_type="KeyError", message="KeyError: 'currency'",
                      log="charge failed: KeyError: 'currency' (cart_id=c_{n})"),),
        deploys=(
            DeploySpec("auth-svc", -330.0, "1.9.4", "d3b0e19", description="rotate JWKS cache TTL"),
            DeploySpec("payment-gateway", -50.0, "5.2.0", "3c8e7b1", description="multi-currency charges"),
            DeploySpec("storefront", 95.0, "5.12.1", "a70c2d5", description="copy change on confirmation page"),
        ),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout-api", "errors", 0.05,
                        "more than 5% of checkout-api requests fail"),
        truth={"service": "payment-gateway", "fault_type": "deploy_regression",
               "change": {"version": "5.2.0", "commit": "3c8e7b1"}},
        remediation="roll back payment-gateway to 5.1.4",
    ),
    _orders(
        id="inventory-config-push-pool-size",
        title="config push shrinks the inventory DB pool to 2 connections",
        description=(
            "A config push to inventory (db.pool.max_size 50 -> 2) makes requests queue for a "
            "connection; checkout latency rises and some reservations time out."
        ),
        onset="2026-10-09T16:05:00Z",
        tags=("config", "latency"),
        faults=(
            Fault("latency", "inventory", rate=0.85, ms=650.0,
                  log="HikariPool-1 - Pool stats (total=2, active=2, idle=0, waiting=37)"),
            Fault("errors", "inventory", rate=0.08, code=503, exc_type="java.sql.SQLTransientConnectionException",
                  message="HikariPool-1 - Connection is not available, request timed out after 3000ms."),
        ),
        deploys=(DeploySpec("inventory", -25.0, "cfg-812", "b7d21e0", kind="config",
                            description="db.pool.max_size 50 -> 2", changes_version=False),),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                        "p95 latency of checkout-api above 500ms for 2m"),
        truth={"service": "inventory", "fault_type": "config_change",
               "change": {"version": "cfg-812", "commit": "b7d21e0"}},
        remediation="revert the inventory config push cfg-812 (restore db.pool.max_size=50)",
    ),
    _orders(
        id="valkey-outage-seen-in-auth",
        title="session cache (valkey) down: auth-svc errors, storefront alert",
        description=(
            "valkey stops accepting connections. It has no telemetry of its own: the failure shows "
            "as auth-svc client spans with connection refused, and the alert fires on storefront."
        ),
        onset="2026-10-11T03:12:00Z",
        tags=("dependency", "outage", "caller-first"),
        faults=(Fault("call_fail", "auth-svc", target="valkey", rate=1.0, ms=1.5,
                      exc_type="redis.ConnectionError",
                      message="dial tcp 10.0.3.17:6379: connect: connection refused",
                      log="session lookup failed: dial tcp 10.0.3.17:6379: connect: connection refused"),),
        alert=AlertSpec("StorefrontErrorRateHigh", "storefront", "errors", 0.05,
                        "more than 5% of storefront requests fail"),
        truth={"service": "valkey", "fault_type": "dependency_down", "change": None},
        remediation="restore valkey (restart the pod / fail over); auth-svc recovers by itself",
    ),
    _orders(
        id="storefront-traffic-surge",
        title="bot traffic multiplies storefront load by 5",
        description="A scraper hits checkout five times harder than usual; every tier slows down.",
        onset="2026-10-13T19:30:00Z",
        tags=("traffic",),
        faults=(Fault("traffic", "storefront", mult=5.0, ramp=60.0),
                Fault("latency", "db-primary", ms=120.0, rate=0.6, ramp=90.0)),
        noise=(*BASE_NOISE,
               Noise("storefront", "rate limit exceeded for client 203.0.113.{n}", "warn", 20.0, start=10.0)),
        alert=AlertSpec("StorefrontRequestRateHigh", "storefront", "traffic", 30.0,
                        "storefront serves more than 30 req/s"),
        truth={"service": "storefront", "fault_type": "traffic_surge", "change": None},
        remediation="rate-limit or block the offending clients; scale storefront and checkout-api",
    ),
    _orders(
        id="two-faults-payment-and-inventory",
        title="payment-gateway exceptions and an inventory CPU hog at the same time",
        description="Two independent faults: payment-gateway fails a quarter of charges and inventory burns CPU.",
        onset="2026-10-15T11:50:00Z",
        tags=("multi-fault", "code-error", "cpu"),
        faults=(
            Fault("errors", "payment-gateway", rate=0.25, code=500, exc_type="ValueError",
                  message="ValueError: invalid literal for int() with base 10: ''",
                  log="unhandled exception in /v1/charges: ValueError: invalid literal for int() with base 10: ''"),
            Fault("cpu", "inventory", mult=3.0, ramp=30.0),
        ),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout-api", "errors", 0.05,
                        "more than 5% of checkout-api requests fail"),
        truth={"service": ["payment-gateway", "inventory"], "fault_type": "code_error", "change": None},
    ),
    _orders(
        id="loki-down-payment-regression",
        title="payment-gateway 5.1.5 regression while Loki is down",
        description="Loki answers 503 for the whole incident; traces, metrics and deploy markers remain.",
        onset="2026-10-17T08:20:00Z",
        tags=("deploy", "backend-down"),
        simulate={"loki": "down"},
        faults=(Fault("errors", "payment-gateway", rate=0.3, version="5.1.5", code=502,
                      exc_type="httpx.ConnectError", message="httpx.ConnectError: [Errno 111] Connection refused (acquirer-eu)",
                      log="acquirer call failed: [Errno 111] Connection refused"),),
        deploys=(DeploySpec("payment-gateway", -70.0, "5.1.5", "6d04f2a", description="switch EU acquirer endpoint"),),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout-api", "errors", 0.05,
                        "more than 5% of checkout-api requests fail"),
        truth={"service": "payment-gateway", "fault_type": "deploy_regression",
               "change": {"version": "5.1.5", "commit": "6d04f2a"}},
        remediation="roll back payment-gateway to 5.1.4",
    ),
    _orders(
        id="payment-flag-3ds-latency",
        title="enabling flag 3ds_v2 slows half of the charges",
        description=(
            "The 3ds_v2 flag is switched on for 50% of users without a deploy; those charges wait "
            "for an extra challenge round-trip. Flag evaluations are in the spans (legacy event name)."
        ),
        onset="2026-10-19T13:00:00Z",
        tags=("feature-flag", "latency"),
        faults=(Fault("latency", "payment-gateway", rate=1.0, ms=1400.0, flag="3ds_v2",
                      log="3DS v2 challenge round-trip took {ms}ms"),),
        flags=(Flag("payment-gateway", "3ds_v2", on_fraction=0.5, since=0.0, legacy_event=True),),
        deploys=(DeploySpec("payment-gateway", -10.0, "flag:3ds_v2", "n/a", kind="feature_flag",
                            description="3ds_v2 -> 50%", changes_version=False, deploys_json=False),),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                        "p95 latency of checkout-api above 500ms for 2m"),
        truth={"service": "payment-gateway", "fault_type": "feature_flag", "change": {"id": "3ds_v2"}},
        remediation="turn flag 3ds_v2 off",
    ),
    _orders(
        id="db-migration-drops-index-decoy-deploy",
        title="schema migration drops an index; inventory deploy a minute earlier is innocent",
        description=(
            "Migration 0042 drops idx_stock_sku; stock updates scan the table. inventory 3.9.0 "
            "(logging change) shipped a minute before and is the obvious but wrong suspect."
        ),
        onset="2026-10-21T10:10:00Z",
        tags=("database", "decoy-deploy", "config"),
        faults=(Fault("slow_call", "inventory", target="db-primary", ms=900.0, rate=0.9, ramp=30.0,
                      message="pq: canceling statement due to lock timeout"),
                Fault("cpu", "db-primary", mult=1.2, ramp=30.0)),
        deploys=(
            DeploySpec("inventory", -70.0, "3.9.0", "0b5e8c3", description="structured logging"),
            DeploySpec("db-primary", -15.0, "0042_drop_idx_stock_sku", "44c1e0a", kind="config",
                       description="migration 0042_drop_idx_stock_sku", changes_version=False),
        ),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                        "p95 latency of checkout-api above 500ms for 2m"),
        truth={"service": "db-primary", "fault_type": "database_slow",
               "change": {"id": "0042_drop_idx_stock_sku", "commit": "44c1e0a"}},
        remediation="recreate idx_stock_sku (or revert migration 0042)",
    ),
    _orders(
        id="victim-deploy-payment-config-push",
        title="checkout-api deploys, but a payment-gateway config push causes the slowdown",
        description=(
            "checkout-api 2.5.0 (the alerting service) ships 2 minutes before onset and is innocent. "
            "A config push to payment-gateway lowers the acquirer connection pool and adds ~900 ms "
            "to most charges."
        ),
        onset="2026-10-29T10:40:00Z",
        tags=("config", "decoy-deploy", "victim-deploy"),
        faults=(Fault("latency", "payment-gateway", rate=0.8, ms=900.0, ramp=20.0,
                      log="acquirer pool exhausted, waited {ms}ms for a connection"),),
        deploys=(
            DeploySpec("checkout-api", -120.0, "2.5.0", "91c7d3e", description="receipt e-mail template"),
            DeploySpec("payment-gateway", -20.0, "cfg-377", "c5a0f12", kind="config",
                       description="acquirer.pool.max 64 -> 4", changes_version=False),
        ),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                        "p95 latency of checkout-api above 500ms for 2m"),
        truth={"service": "payment-gateway", "fault_type": "config_change",
               "change": {"version": "cfg-377", "commit": "c5a0f12"}},
        remediation="revert payment-gateway config cfg-377 (acquirer.pool.max back to 64)",
    ),
    _orders(
        id="error-log-decoy-inventory-cpu",
        title="a loud new auth-svc error at onset hides an inventory CPU hog",
        description=(
            "At the same minute auth-svc starts logging a new, frequent but harmless error (a "
            "deprecated claim), inventory saturates its CPU (runaway regex on SKU search) and "
            "checkout slows down."
        ),
        onset="2026-10-31T18:15:00Z",
        tags=("cpu", "log-decoy"),
        faults=(Fault("cpu", "inventory", mult=4.0, ramp=30.0),
                Fault("latency", "inventory", rate=0.7, ms=500.0, ramp=30.0)),
        noise=(*BASE_NOISE,
               Noise("auth-svc", "token claim 'scp' is deprecated, use 'scope' (client=web-{n})", "error",
                     25.0, start=0.0)),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                        "p95 latency of checkout-api above 500ms for 2m"),
        truth={"service": "inventory", "fault_type": "resource_cpu", "change": None},
    ),
    _orders(
        id="control-latency-blip",
        title="no fault: a one-minute latency blip trips a tight p95 alert",
        description="A short GC/blip on checkout-api recovers by itself; an auth-svc deploy is nearby. Nothing to fix.",
        onset="2026-10-23T15:45:00Z",
        tags=("no-fault", "control"),
        faults=(Fault("latency", "checkout-api", rate=0.35, ms=450.0, end=60.0),),
        deploys=(DeploySpec("auth-svc", -420.0, "1.9.5", "5aa1f07", description="dependency bumps"),),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.3,
                        "p95 latency of checkout-api above 300ms", severity="warning", delay=60.0),
        truth={"service": None, "fault_type": "none", "change": None},
    ),
    _orders(
        id="control-steady-error-noise",
        title="no fault: a steady 3% client-abort rate trips an error alert",
        description="checkout-api always fails ~3% of requests (client disconnects); the threshold is too tight.",
        onset="2026-10-25T07:30:00Z",
        tags=("no-fault", "control"),
        faults=(Fault("errors", "checkout-api", rate=0.03, start=-1e9, code=499, exc_type="context.Canceled",
                      message="context canceled", log="request aborted by client: context canceled", log_level="warn"),),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout-api", "errors", 0.025,
                        "more than 2.5% of checkout-api requests fail", severity="warning"),
        truth={"service": None, "fault_type": "none", "change": None},
    ),
    _orders(
        id="label-app-inventory-exception",
        title="inventory NullPointerException on a new SKU (labels: app)",
        description=(
            "A catalogue import adds SKUs without a warehouse; inventory throws on them. Metrics, "
            "alert and Loki streams use the label app instead of service."
        ),
        onset="2026-10-27T12:25:00Z",
        tags=("label-variant", "code-error"),
        label="app",
        settings={"loki": {"service_labels": ["app"]}},
        faults=(Fault("errors", "inventory", rate=0.3, code=500, exc_type="java.lang.NullPointerException",
                      message="Cannot invoke \"Warehouse.getId()\" because \"sku.warehouse\" is null",
                      log="Reserve failed for SKU-{n}: java.lang.NullPointerException"),),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout-api", "errors", 0.05,
                        "more than 5% of checkout-api requests fail"),
        truth={"service": "inventory", "fault_type": "code_error", "change": None},
    ),
]
