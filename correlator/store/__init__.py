"""Durable store: investigations, their work queue and progress events, deploys.

``SqlStore`` implements ``correlator.ports.Store``; ``StoreEventSink`` adapts it to
``correlator.ports.EventSink``. Tables live on ``correlator.store.schema.metadata``.
"""

from correlator.store.engine import make_engine
from correlator.store.events import StoreEventSink
from correlator.store.sql import SqlStore

__all__ = ["SqlStore", "StoreEventSink", "make_engine"]
