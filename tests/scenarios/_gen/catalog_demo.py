"""OpenTelemetry demo failure flags (REFERENCE.md §3, 3.x flag names) on the demo's call graph."""

from __future__ import annotations

from .spec import AlertSpec, DeploySpec, Fault, Flag, Noise, ScenarioSpec
from .stacks import demo_stack

DEMO_NOISE = (
    Noise("frontend", "Error: 14 UNAVAILABLE: No connection established (flagd) - retrying", "warn", 0.5),
    Noise("recommendation", "Failed to export metrics batch: StatusCode.UNAVAILABLE", "error", 0.4),
    Noise("frontend-proxy", "upstream_reset_before_response_started{remote_connection_failure} /images/", "warn", 0.3),
)

ERRORS_FRONTEND = AlertSpec("FrontendErrorRateHigh", "frontend", "errors", 0.02,
                            "more than 2% of frontend requests fail")
LATENCY_FRONTEND = AlertSpec("FrontendLatencyP95High", "frontend", "latency", 0.3,
                             "p95 latency of frontend above 300ms")


def _demo(flag: str, **kw: object) -> ScenarioSpec:
    kw.setdefault("services", demo_stack())
    kw.setdefault("entry", "frontend-proxy")
    kw.setdefault("noise", DEMO_NOISE)
    kw.setdefault("tags", ())
    kw["tags"] = ("otel-demo", f"flag:{flag}", *kw["tags"])  # type: ignore[misc]
    kw.setdefault("deploys", ())
    return ScenarioSpec(**kw)  # type: ignore[arg-type]


DEMO: list[ScenarioSpec] = [
    _demo(
        "adFailure",
        id="otel-ad-failure",
        title="adFailure: ad fails 1 in 10 GetAds calls with UNAVAILABLE",
        description="The OTel demo adFailure flag: AdService.getAds throws gRPC UNAVAILABLE for ~10% of requests.",
        onset="2026-11-02T10:00:00Z",
        faults=(Fault("errors", "ad", rate=0.1, exc_type="io.grpc.StatusRuntimeException",
                      message="UNAVAILABLE", log="GetAds Failed with status Status{code=UNAVAILABLE}"),),
        flags=(Flag("ad", "adFailure", on_fraction=1.0, since=0.0),),
        alert=AlertSpec("FrontendErrorRateHigh", "frontend", "errors", 0.01,
                        "more than 1% of frontend requests fail"),
        truth={"service": "ad", "fault_type": "feature_flag", "change": None},
    ),
    _demo(
        "adHighCpu",
        id="otel-ad-high-cpu",
        title="adHighCpu: ad burns CPU, GetAds slows down",
        description="adHighCpu starts CPU-bound worker threads in the ad service.",
        onset="2026-11-02T14:30:00Z",
        faults=(Fault("cpu", "ad", mult=6.0, ramp=45.0),
                Fault("latency", "ad", rate=0.6, ms=420.0, ramp=45.0)),
        alert=LATENCY_FRONTEND,
        truth={"service": "ad", "fault_type": "resource_cpu", "change": None},
    ),
    _demo(
        "adManualGc",
        id="otel-ad-manual-gc",
        title="adManualGc: full GCs pause the ad service",
        description="adManualGc triggers full garbage collections; requests stall during pauses.",
        onset="2026-11-03T09:15:00Z",
        faults=(Fault("memory", "ad", ms=450.0, ramp=20.0),
                Fault("latency", "ad", rate=0.3, ms=380.0, log="The overhead of GC was {ms}ms")),
        alert=LATENCY_FRONTEND,
        truth={"service": "ad", "fault_type": "resource_memory", "change": None},
    ),
    _demo(
        "cartFailure",
        id="otel-cart-failure",
        title="cartFailure: cart dials badhost:1234 for its store",
        description="cart uses a Valkey store at badhost:1234 for a share of calls; checkout and frontend see the errors.",
        onset="2026-11-03T17:40:00Z",
        faults=(Fault("call_fail", "cart", target="valkey-cart", rate=0.5, ms=3.0,
                      exc_type="StackExchange.Redis.RedisConnectionException",
                      message="It was not possible to connect to the redis server(s). badhost:1234",
                      log="Can't access cart storage. StackExchange.Redis.RedisConnectionException: It was not possible to connect to the redis server(s). badhost:1234"),),
        alert=ERRORS_FRONTEND,
        truth={"service": "cart", "fault_type": "config_change", "change": None},
    ),
    _demo(
        "failedReadinessProbe",
        id="otel-failed-readiness-probe",
        title="failedReadinessProbe: cart removed from rotation",
        description="cart's readiness check reports Unhealthy; its callers get connection failures, cart itself serves nothing.",
        onset="2026-11-04T08:05:00Z",
        faults=(
            Fault("call_fail", "frontend", target="cart", rate=1.0, ms=1.0, exc_type="Error",
                  message="14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.4.21:7070"),
            Fault("call_fail", "checkout", target="cart", rate=1.0, ms=1.0, exc_type="rpc error",
                  message="rpc error: code = Unavailable desc = connection error: dial tcp 10.0.4.21:7070: connect: connection refused"),
        ),
        noise=(*DEMO_NOISE, Noise("cart", "Health check failed: connection failed", "error", 6.0, start=0.0)),
        alert=ERRORS_FRONTEND,
        truth={"service": "cart", "fault_type": "dependency_down", "change": None},
    ),
    _demo(
        "paymentFailure",
        id="otel-payment-failure",
        title="paymentFailure: payment rejects half of the charges",
        description="charge() throws 'Payment request failed. Invalid token.' for 50% of requests (loyalty level gold).",
        onset="2026-11-04T13:20:00Z",
        faults=(Fault("errors", "payment", rate=0.5, exc_type="Error",
                      message="Payment request failed. Invalid token. app.loyalty.level=gold",
                      log="Payment request failed. Invalid token. app.loyalty.level=gold"),),
        flags=(Flag("payment", "paymentFailure", on_fraction=1.0, since=0.0),),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout", "errors", 0.05, "more than 5% of checkout requests fail"),
        truth={"service": "payment", "fault_type": "feature_flag", "change": None},
    ),
    _demo(
        "paymentUnreachable",
        id="otel-payment-unreachable",
        title="paymentUnreachable: checkout dials badAddress:50051",
        description="checkout is configured with a wrong payment address: errors show in checkout, payment is healthy.",
        onset="2026-11-05T11:11:00Z",
        faults=(Fault("call_fail", "checkout", target="payment", rate=1.0, ms=2.0, exc_type="rpc error",
                      message="rpc error: code = Unavailable desc = name resolver error: produced zero addresses (badAddress:50051)",
                      log="failed to charge card: could not charge the card: rpc error: code = Unavailable desc = badAddress:50051"),),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout", "errors", 0.05, "more than 5% of checkout requests fail"),
        truth={"service": "checkout", "fault_type": "config_change", "change": None},
    ),
    _demo(
        "productCatalogFailure",
        id="otel-product-catalog-failure",
        title="productCatalogFailure: GetProduct fails for one product",
        description="product-catalog returns Internal for product OLJCESPC7Z only (flagd targeting).",
        onset="2026-11-05T16:45:00Z",
        faults=(Fault("errors", "product-catalog", rate=0.1, flag="productCatalogFailure", exc_type="rpc error",
                      message="Error: Product Catalog Fail Feature Flag Enabled",
                      log="failed to get product OLJCESPC7Z: Product Catalog Fail Feature Flag Enabled"),),
        flags=(Flag("product-catalog", "productCatalogFailure", on_fraction=1.0, since=0.0),),
        alert=ERRORS_FRONTEND,
        truth={"service": "product-catalog", "fault_type": "feature_flag", "change": None},
    ),
    _demo(
        "recommendationCacheFailure",
        id="otel-recommendation-cache-failure",
        title="recommendationCacheFailure: recommendation leaks memory and slows down",
        description="Cache misses append the whole catalogue to an ever-growing list: memory grows and latency follows.",
        onset="2026-11-06T10:30:00Z",
        faults=(Fault("memory", "recommendation", ms=300.0, ramp=150.0),
                Fault("latency", "recommendation", rate=0.5, ms=350.0, ramp=150.0)),
        alert=LATENCY_FRONTEND,
        truth={"service": "recommendation", "fault_type": "resource_memory", "change": None},
    ),
    _demo(
        "emailMemoryLeak",
        id="otel-email-memory-leak",
        title="emailMemoryLeak: email grows until it is OOM-killed",
        description="email keeps every sent mail in memory; it restarts and checkout's confirmation calls fail meanwhile.",
        onset="2026-11-06T15:00:00Z",
        faults=(Fault("memory", "email", ms=200.0, ramp=120.0, rate=0.08, exc_type="NoMemoryError",
                      message="failed to allocate memory", log="[FATAL] failed to allocate memory (NoMemoryError)"),),
        alert=AlertSpec("EmailMemoryHigh", "email", "memory", 0.9, "email working set above 90% of its limit"),
        truth={"service": "email", "fault_type": "resource_memory", "change": None},
    ),
    _demo(
        "imageSlowLoad",
        id="otel-image-slow-load",
        title="imageSlowLoad: frontend-proxy delays requests by 5s",
        description="The Envoy fault filter in frontend-proxy delays image fetches (x-envoy-fault-delay-request).",
        onset="2026-11-07T09:00:00Z",
        faults=(Fault("latency", "frontend-proxy", rate=0.3, ms=5000.0),),
        alert=AlertSpec("ProxyLatencyP95High", "frontend-proxy", "latency", 1.0, "p95 latency of frontend-proxy above 1s"),
        truth={"service": "frontend-proxy", "fault_type": "network_delay", "change": None},
    ),
    _demo(
        "intlShippingSlowdown",
        id="otel-intl-shipping-slowdown",
        title="intlShippingSlowdown: non-US shipping quotes wait 5s",
        description="shipping sleeps 5 s for international quotes; checkout's p95 rises.",
        onset="2026-11-07T13:35:00Z",
        faults=(Fault("latency", "shipping", rate=0.4, ms=5000.0, flag="intlShippingSlowdown"),),
        flags=(Flag("shipping", "intlShippingSlowdown", on_fraction=1.0, since=0.0),),
        alert=AlertSpec("CheckoutLatencyP95High", "checkout", "latency", 1.0, "p95 latency of checkout above 1s"),
        truth={"service": "shipping", "fault_type": "feature_flag", "change": None},
    ),
    _demo(
        "none",
        id="no-exemplars-quote-errors",
        title="quote throws on zero-weight parcels; no exemplars anywhere",
        description="Same shape as a real stack without exemplar storage: the chain must fall back to TraceQL search.",
        onset="2026-11-08T10:20:00Z",
        exemplars=False,
        faults=(Fault("errors", "quote", rate=0.4, exc_type="DivisionByZeroError", message="Division by zero",
                      log="PHP Fatal error:  Uncaught DivisionByZeroError: Division by zero in /var/www/app/quote.php:41"),),
        alert=AlertSpec("CheckoutErrorRateHigh", "checkout", "errors", 0.05, "more than 5% of checkout requests fail"),
        truth={"service": "quote", "fault_type": "code_error", "change": None},
    ),
    _demo(
        "none",
        id="control-frontend-deploy-only",
        title="no fault: frontend 2.0.3 deploy and a tight latency alert",
        description="A routine frontend deploy; the p95 alert threshold sits at the normal level and flaps.",
        onset="2026-11-08T15:10:00Z",
        deploys=(DeploySpec("frontend", -60.0, "2.0.3", "8e3f1aa", description="bump next.js"),),
        alert=AlertSpec("FrontendLatencyP95High", "frontend", "latency", 0.05,
                        "p95 latency of frontend above 50ms", severity="warning"),
        truth={"service": None, "fault_type": "none", "change": None},
    ),
    _demo(
        "none",
        id="frontend-deploy-decoy-currency-delay",
        title="frontend 2.0.4 ships; the slowdown is network delay to currency",
        description=(
            "frontend (the alerting service) is deployed a minute before onset and is innocent; "
            "a bad node adds ~300 ms to every packet to currency, which frontend calls on every page."
        ),
        onset="2026-11-09T16:25:00Z",
        tags=("network-delay", "victim-deploy"),
        faults=(Fault("network_delay", "currency", ms=300.0, ramp=15.0),),
        deploys=(DeploySpec("frontend", -60.0, "2.0.4", "d81b5f0", description="new product card"),),
        alert=LATENCY_FRONTEND,
        truth={"service": "currency", "fault_type": "network_delay", "change": None},
    ),
    _demo(
        "none",
        id="label-service-name-cart-delay",
        title="network delay to cart (labels: service_name)",
        description="A noisy neighbour on cart's node adds 250 ms to every packet to cart; metrics use service_name.",
        onset="2026-11-09T09:45:00Z",
        label="service_name",
        faults=(Fault("network_delay", "cart", ms=250.0, ramp=20.0),),
        alert=LATENCY_FRONTEND,
        truth={"service": "cart", "fault_type": "network_delay", "change": None},
    ),
]
