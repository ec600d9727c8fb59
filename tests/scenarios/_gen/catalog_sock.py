"""RCAEval fault families (CPU, memory, disk, delay, loss, socket, exception, wrong value)."""

from __future__ import annotations

from .spec import AlertSpec, DeploySpec, Fault, Noise, ScenarioSpec
from .stacks import sock_stack, tweak

SOCK_NOISE = (
    Noise("user", "session store: slow read ({ms}ms) for key sess:{n}", "warn", 0.8),
    Noise("shipping", "Deprecated API usage: please use amqp basicPublish with mandatory flag", "warn", 0.5),
    Noise("carts", "MongoTimeoutException retrying (attempt 1)", "error", 0.3),
)
FRONT_LAT = AlertSpec("FrontEndLatencyP95High", "front-end", "latency", 0.3, "p95 latency of front-end above 300ms")
FRONT_ERR = AlertSpec("FrontEndErrorRateHigh", "front-end", "errors", 0.03, "more than 3% of front-end requests fail")
ORDERS_ERR = AlertSpec("OrdersErrorRateHigh", "orders", "errors", 0.05, "more than 5% of orders requests fail")


def _sock(**kw: object) -> ScenarioSpec:
    kw.setdefault("services", sock_stack())
    kw.setdefault("entry", "front-end")
    kw.setdefault("noise", SOCK_NOISE)
    kw["tags"] = ("rcaeval", *kw.get("tags", ()))  # type: ignore[misc]
    kw.setdefault("rps", 10.0)
    return ScenarioSpec(**kw)  # type: ignore[arg-type]


SOCK: list[ScenarioSpec] = [
    _sock(
        id="rcaeval-cpu-carts",
        title="CPU hog in carts",
        description="stress-ng in the carts container: CPU saturates and every carts call slows down.",
        onset="2026-11-10T10:00:00Z",
        tags=("cpu",),
        faults=(Fault("cpu", "carts", mult=5.0, ramp=30.0), Fault("latency", "carts", rate=0.7, ms=300.0, ramp=30.0)),
        alert=FRONT_LAT,
        truth={"service": "carts", "fault_type": "resource_cpu", "change": None},
    ),
    _sock(
        id="rcaeval-mem-orders",
        title="memory leak in orders",
        description="orders leaks heap until GC thrashes and the container is OOM-killed.",
        onset="2026-11-10T14:00:00Z",
        tags=("memory",),
        faults=(Fault("memory", "orders", ms=1200.0, ramp=60.0, rate=0.06, exc_type="java.lang.OutOfMemoryError",
                      message="Java heap space", log="Exception in thread \"http-nio-8080-exec-7\" java.lang.OutOfMemoryError: Java heap space"),),
        alert=AlertSpec("OrdersLatencyP95High", "orders", "latency", 0.3, "p95 latency of orders above 300ms"),
        truth={"service": "orders", "fault_type": "resource_memory", "change": None},
    ),
    _sock(
        id="rcaeval-disk-user",
        title="disk fills up in user",
        description="A runaway audit log fills user's volume; session writes fail with ENOSPC.",
        onset="2026-11-11T09:30:00Z",
        tags=("disk",),
        faults=(Fault("disk", "user", ramp=60.0, rate=0.35, exc_type="syscall.Errno",
                      message="write /var/lib/user/sessions/sess.db: no space left on device",
                      log="failed to persist session: write /var/lib/user/sessions/sess.db: no space left on device"),),
        alert=FRONT_ERR,
        truth={"service": "user", "fault_type": "resource_disk", "change": None},
    ),
    _sock(
        id="rcaeval-delay-payment",
        title="network delay on payment",
        description="tc netem adds 400 ms to payment's interface; orders and front-end slow down.",
        onset="2026-11-11T15:15:00Z",
        tags=("network-delay",),
        faults=(Fault("network_delay", "payment", ms=400.0, ramp=10.0),),
        alert=AlertSpec("OrdersLatencyP95High", "orders", "latency", 0.3, "p95 latency of orders above 300ms"),
        truth={"service": "payment", "fault_type": "network_delay", "change": None},
    ),
    _sock(
        id="rcaeval-loss-catalogue",
        title="packet loss on catalogue",
        description="tc netem drops 30% of catalogue's packets: retransmission stalls of 200 ms to 1 s.",
        onset="2026-11-12T08:40:00Z",
        tags=("packet-loss",),
        faults=(Fault("packet_loss", "catalogue", rate=0.3, ramp=10.0),),
        alert=FRONT_LAT,
        truth={"service": "catalogue", "fault_type": "network_loss", "change": None},
    ),
    _sock(
        id="rcaeval-socket-shipping",
        title="socket exhaustion in shipping",
        description="shipping leaks connections until it hits its fd limit; new requests fail in accept().",
        onset="2026-11-12T13:05:00Z",
        tags=("socket",),
        faults=(Fault("sockets", "shipping", ramp=90.0, rate=0.4, exc_type="java.net.SocketException",
                      message="Too many open files", log="java.net.SocketException: Too many open files (Accept failed)"),),
        alert=ORDERS_ERR,
        truth={"service": "shipping", "fault_type": "network_loss", "change": None},
    ),
    _sock(
        id="rcaeval-exception-catalogue",
        title="code exception in catalogue",
        description="A code defect makes catalogue's tag query throw for a share of requests.",
        onset="2026-11-13T10:50:00Z",
        tags=("code-exception",),
        faults=(Fault("errors", "catalogue", rate=0.3, exc_type="sql.ErrNoRows",
                      message="sql: Scan error on column index 2, name \"price\": converting NULL to float32 is unsupported",
                      log="level=error caller=service.go:133 err=\"sql: Scan error on column index 2, name \\\"price\\\"\""),),
        alert=FRONT_ERR,
        truth={"service": "catalogue", "fault_type": "code_error", "change": None},
    ),
    _sock(
        id="rcaeval-return-carts",
        title="wrong return value from carts",
        description="carts returns item quantities of -1; carts itself reports success, orders rejects the orders.",
        onset="2026-11-13T16:20:00Z",
        tags=("wrong-return-value",),
        faults=(Fault("wrong_value", "carts", rate=0.35, exc_type="works.weave.socks.orders.InvalidOrderException",
                      message="InvalidOrderException: item quantity must be positive (got -1)",
                      log="Order rejected: InvalidOrderException: item quantity must be positive (got -1)"),),
        alert=ORDERS_ERR,
        truth={"service": "carts", "fault_type": "code_error", "change": None},
    ),
    _sock(
        id="control-orders-cpu-steady",
        title="no fault: orders always runs hot, a CPU alert fires anyway",
        description="orders uses ~1.6 cores all the time; the 1.5-core alert is mis-tuned. A carts deploy is nearby.",
        onset="2026-11-14T09:00:00Z",
        tags=("no-fault", "control"),
        services=tweak(sock_stack(), "orders", cpu=1.6),
        deploys=(DeploySpec("carts", -200.0, "0.4.9", "c02e6d1", description="update spring boot"),),
        alert=AlertSpec("OrdersCpuHigh", "orders", "cpu", 1.5, "orders uses more than 1.5 cores", severity="warning"),
        truth={"service": None, "fault_type": "none", "change": None},
    ),
    _sock(
        id="orders-deploy-regression-label-service-name",
        title="orders 0.4.8 deploy breaks shipping requests (labels: service_name)",
        description="orders 0.4.8 sends an empty address to shipping; shipping is fine, orders fails. Decoy: user 0.4.8.",
        onset="2026-11-14T14:30:00Z",
        tags=("deploy", "decoy-deploy", "label-variant"),
        label="service_name",
        faults=(Fault("errors", "orders", rate=0.3, version="0.4.8", exc_type="org.springframework.web.client.HttpClientErrorException",
                      message="400 Bad Request from POST http://shipping/shipping: address.postcode must not be empty",
                      log="Order failed: 400 Bad Request from shipping: address.postcode must not be empty"),),
        deploys=(DeploySpec("user", -400.0, "0.4.8", "2b7f9ce", description="update go to 1.23"),
                 DeploySpec("orders", -45.0, "0.4.8", "e91d3a0", description="new address model")),
        alert=FRONT_ERR,
        truth={"service": "orders", "fault_type": "deploy_regression", "change": {"version": "0.4.8", "commit": "e91d3a0"}},
    ),
]
