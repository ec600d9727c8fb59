"""Durable store: investigations, their work queue and progress events, deploys.

``SqlStore`` implements ``correlator.ports.Store``; ``StoreEventSink`` adapts it to
``correlator.ports.EventSink``. Tables live on ``correlator.store.schema.metadata``.
"""

from correlator.store.events import StoreEventSink
from correlator.store.sql import SqlStore, alert_service, make_engine

__all__ = ["SqlStore", "StoreEventSink", "alert_service", "make_engine"]
