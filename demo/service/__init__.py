"""checkout-api: a small demo service that misbehaves on request.

It serves ``/checkout``, ``/healthz`` and ``/metrics`` (OpenMetrics with ``trace_id`` exemplars),
exports traces over OTLP/HTTP (JSON or protobuf), writes JSON logs (stdout and optionally Loki
push) and announces deploys to Grafana and correlator. ``POST /admin/deploy?version=2.4.1&
commit=7a3f9c2&flag=new_checkout`` ships the bad version: the order-history query behind
``feature_flag.new_checkout`` seq-scans ``orders``, so checkout turns slow and starts to 5xx.

Run it with ``python -m demo.service --help``. A test and demo workload, not a product.
"""
