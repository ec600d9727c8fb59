"""Scenarios whose deploys carry their diff (git/): what the change touched decides."""

from __future__ import annotations

from . import diffs
from .catalog_orders import _orders
from .spec import AlertSpec, DeploySpec, Fault

CHECKOUT_ERRORS = AlertSpec("CheckoutErrorRateHigh", "checkout-api", "errors", 0.05,
                            "more than 5% of checkout-api requests fail")

DIFFS = [
    _orders(
        id="checkout-docs-deploy-decoy-payment-delay",
        title="checkout-api 2.4.2 ships docs only; the slowdown is network delay to payment-gateway",
        description=(
            "checkout-api (the alerting service) deploys 2.4.2 a minute before onset, but its diff "
            "touches only the README, the runbook and a test. A degraded network path adds ~600 ms "
            "to every call to payment-gateway, which checkout calls on every order."
        ),
        onset="2026-11-12T13:30:00Z",
        tags=("network-delay", "decoy-deploy", "victim-deploy", "diff"),
        faults=(Fault("network_delay", "payment-gateway", ms=600.0, ramp=15.0),),
        deploys=(DeploySpec("checkout-api", -60.0, "2.4.2", "b3e91d4",
                            description="docs: runbook for checkout timeouts", diff=diffs.DOCS_ONLY),),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout-api", "latency", 0.5,
                        "p95 latency of checkout-api above 500ms for 2m"),
        truth={"service": "payment-gateway", "fault_type": "network_delay", "change": None},
        remediation="none on checkout-api; move payment-gateway off the degraded path",
    ),
    _orders(
        id="payment-config-timeout-diff",
        title="a config commit cuts payment-gateway's acquirer timeout to 250 ms",
        description=(
            "Config push cfg-512 (commit e4d2a91) changes config/acquirer.yaml timeout_ms 3000 -> "
            "250; a third of charges time out and checkout-api returns 5xx."
        ),
        onset="2026-11-13T08:15:00Z",
        tags=("config", "diff"),
        faults=(Fault("errors", "payment-gateway", rate=0.3, code=504, exc_type="TimeoutError",
                      message="acquirer call timed out after 250 ms (acquirer.timeout_ms=250)",
                      log="charge failed: acquirer timeout after 250 ms (acquirer.timeout_ms=250)"),),
        deploys=(
            DeploySpec("payment-gateway", -259200.0, "cfg-498", "a93e0d7", kind="config",
                       description="acquirer.pool.max 48 -> 64", changes_version=False,
                       annotation=False),
            DeploySpec("payment-gateway", -30.0, "cfg-512", "e4d2a91", kind="config",
                       description="acquirer.timeout_ms 3000 -> 250", changes_version=False,
                       diff=diffs.ACQUIRER_TIMEOUT),
        ),
        alert=CHECKOUT_ERRORS,
        truth={"service": "payment-gateway", "fault_type": "config_change",
               "change": {"version": "cfg-512", "commit": "e4d2a91"}},
        remediation="revert cfg-512 (acquirer.timeout_ms back to 3000)",
    ),
    _orders(
        id="inventory-dependency-bump-jdbc",
        title="inventory 3.9.1 bumps the PostgreSQL JDBC driver; reservations fail",
        description=(
            "inventory 3.9.1 (commit 6c2f8b4) only bumps org.postgresql:postgresql 42.7.4 -> "
            "42.7.5; a quarter of stock reservations fail with an I/O error inside the driver. An "
            "auth-svc deploy five minutes earlier is a decoy. The alert is on checkout-api."
        ),
        onset="2026-11-14T17:05:00Z",
        tags=("deploy", "dependency", "decoy-deploy", "diff"),
        faults=(Fault("errors", "inventory", rate=0.25, version="3.9.1", code=500,
                      exc_type="org.postgresql.util.PSQLException",
                      message="An I/O error occurred while sending to the backend.",
                      stack=diffs.PGJDBC_STACK,
                      log="reserve failed: org.postgresql.util.PSQLException: An I/O error occurred "
                          "while sending to the backend."),),
        deploys=(
            DeploySpec("auth-svc", -300.0, "1.9.4", "d3b0e19", description="rotate JWKS cache TTL"),
            DeploySpec("inventory", -45.0, "3.9.1", "6c2f8b4",
                       description="deps: bump postgresql driver", diff=diffs.PGJDBC_BUMP),
        ),
        alert=CHECKOUT_ERRORS,
        truth={"service": "inventory", "fault_type": "deploy_regression",
               "change": {"version": "3.9.1", "commit": "6c2f8b4"}},
        remediation="roll back inventory to 3.8.1 (the driver bump in 6c2f8b4)",
    ),
]
