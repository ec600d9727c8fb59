"""Replay historical alerts through the pipeline, and record incidents into scenarios.

* ``sources``: work items from Prometheus ``ALERTS`` history, a JSONL file of webhook bodies, or
  scenario directories.
* ``runner``: ``run_replay`` investigates items with bounded concurrency, appending one row per
  alert to ``replay.jsonl`` in the output directory (resumable: done keys are skipped).
* ``report``: the Markdown/JSON report (per-alert rows, summary, accuracy with ``--truth``).
* ``record``: ``record_scenario`` writes a live incident as a scenario directory.
* ``fetch``: backend reads of ``record`` (Tempo traces by id, Loki logs).

Replays never notify: ``quiet_settings`` clears Slack/PagerDuty/webhook unless asked.
See docs/replay.md.
"""
