"""The lab: runs the engine outside the alert path. Nothing here runs when an alert arrives.

* ``scenarios`` - the scenario directory format (docs/scenarios.md), loading and validation;
* ``timeshift`` - moving a scenario's timestamps to "now";
* ``evaluate`` - accuracy scoring of ranked answers against a scenario's expectations;
* ``simulator/`` - a TEST AND DEMO DOUBLE of Tempo/Loki/Grafana (plus a real Prometheus);
* ``replay/`` - ``correlator record`` and ``correlator replay`` (offline reruns of past alerts);
* ``bench/`` - ``correlator bench`` (docs/benchmarks.md);
* ``fakes/`` - the fake OpenAI-compatible server the LLM tests and bench talk to;
* ``datasets/`` - ``correlator dataset import``: public incident datasets as scenarios
  (docs/datasets.md); ``reference`` - ``eval --reference`` (another method's per-case ranks).

The one-way rule (``pyproject.toml``, import-linter): the lab may import the service
(``correlator.wiring``) and everything below it; only ``correlator.cli`` imports the lab.
"""
