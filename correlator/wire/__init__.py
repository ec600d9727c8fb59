"""Upstream wire formats as pure functions: no I/O, no HTTP, no pipeline.

``ids`` (trace/span id encodings), ``promql`` and ``logql`` (string literals, selectors, query
templates), ``alertexpr`` (what an alert expression measures), ``otlp`` (Tempo/OTLP trace JSON ->
``Trace``), ``openmetrics`` (exposition text).
This is the one home of each codec: the engine (evidence, rules), the connectors and the lab
all use it, so an escape or a decoder is never written twice. It sits below the engine and
above ``models``/``settings`` in the layer contract (``pyproject.toml``).
"""
