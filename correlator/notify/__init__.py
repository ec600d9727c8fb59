"""Telling a human: notes reach Slack, PagerDuty and webhooks through a durable outbox.

* ``channels`` - which channels are configured, Slack routing, and each channel's payloads;
* ``outbox`` - ``Outbox``, the pipeline's ``NoteSink``: one stored row per notification;
* ``delivery`` - ``OutboxWorker`` (retries, edits, leases) and ``running_outbox``.

Rendering lives in ``correlator.notes`` (pure), the table in ``correlator.store.notifications``,
the transports in ``connectors/``. See docs/notifications.md.
"""
