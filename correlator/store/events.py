"""``EventSink`` backed by the store's events table (so any replica can stream them as SSE)."""

from __future__ import annotations

from correlator.ports import Store


class StoreEventSink:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def emit(self, investigation_id: str, kind: str, payload: dict[str, object]) -> None:
        await self._store.append_event(investigation_id, kind, payload)
