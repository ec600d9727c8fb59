"""litellm, imported once per process in a daemon thread, never on the event loop (D12).

The import sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` and ``LITELLM_MODE=PRODUCTION`` first, then
suppresses debug output, clears litellm's log handlers and disables its aiohttp transport (so
httpx-level instrumentation sees the calls). The thread also imports the modules litellm's first
``acompletion`` would import lazily (~3-7 s in all): ``warm_litellm`` starts it at startup when
an LLM is configured, and ``litellm_module`` awaits it without blocking the loop or waiting on a
half-imported module's lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import os
import threading
from types import ModuleType


def _litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    import litellm

    litellm.suppress_debug_info = True
    litellm.disable_aiohttp_transport = True
    litellm.telemetry = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return litellm


# What litellm's first ``acompletion`` (openai-compatible path) would otherwise import on the
# event loop: the openai SDK's lazy resources and types, the HTTP stack, litellm's proxy helpers.
_WARM_MODULES = (
    "openai.resources",
    "openai.types",
    "openai.types.chat",
    "httpcore",
    "anyio._backends._asyncio",
    "h2.connection",
    "litellm.llms.openai.openai",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.proxy._types",
    "litellm._service_logger",
)
log = logging.getLogger(__name__)


def _import_llm_stack() -> ModuleType:
    litellm = _litellm()
    for name in _WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as e:  # another litellm/openai layout: the first call imports it
            log.debug("LLM warm-up skipped %s: %s", name, e)
    return litellm


class _Importer:
    """The one litellm import of the process, in a daemon thread (any event loop can await it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.future: concurrent.futures.Future[ModuleType] | None = None
        self.thread_name = "correlator-litellm-import"

    def start(self) -> concurrent.futures.Future[ModuleType]:
        with self._lock:
            if self.future is None:
                future: concurrent.futures.Future[ModuleType] = concurrent.futures.Future()
                self.future = future
                thread = threading.Thread(
                    target=self._run, args=(future,), name=self.thread_name, daemon=True
                )
                thread.start()
            return self.future

    @staticmethod
    def _run(future: concurrent.futures.Future[ModuleType]) -> None:
        try:
            future.set_result(_import_llm_stack())
        except BaseException as e:  # noqa: BLE001 - handed to every awaiting call
            future.set_exception(e)


_IMPORTER = _Importer()


def warm_litellm() -> None:
    """Start importing litellm off the event loop (idempotent; returns at once)."""
    _IMPORTER.start()


async def litellm_module() -> ModuleType:
    """litellm, imported in the import thread: awaiting never blocks the event loop."""
    return await asyncio.wrap_future(_IMPORTER.start())
