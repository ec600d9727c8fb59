"""Cache of validated stage results, keyed by model + stage + hash of the rendered messages.

Re-fires of the same alert and replays/evals of the same scenario render identical prompts, so
they do not pay twice. The default is an in-memory LRU owned by the ``LLMRuntime``; anything with
``get``/``set`` (e.g. a small table in the store) can be plugged in instead.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol


class StageCache(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


def cache_key(model: str, stage: str, messages: Sequence[dict[str, str]]) -> str:
    canon = json.dumps({"m": model, "s": stage, "p": list(messages)}, sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()


class MemoryCache:
    """In-process LRU (bounded by entries)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._data: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: str) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
