"""Scenarios on the orders stack (storefront -> checkout-api -> inventory/payment-gateway, Postgres)."""

from __future__ import annotations

from .spec import AlertSpec, DeploySpec, Fault, Flag, Noise, ScenarioSpec
from .stacks import orders_stack, tweak

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
                   description="order history on checkout page (behind new_checkout)"),
    ),
    noise=BASE_NOISE,
    alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                    "p95 latency of checkout-api above 500ms for 2m", delay=170.0),
    truth={"service": "checkout-api", "fault_type": "deploy_regression",
           "change": {"version": "2.4.1", "commit": "7a3f9c2"}},
    remediation="disable feature flag new_checkout or roll back checkout-api to 2.4.0 (revert 7a3f9c2)",
)

ORDERS: list[ScenarioSpec] = [CHECKOUT]
