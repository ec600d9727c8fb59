"""litellm costs 2-3 s and ~165 MB at import: only an actual LLM call may import it."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> str:
    probe = f"{code}\nimport sys\nprint('litellm' in sys.modules, 'openai' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_importing_the_llm_package_does_not_import_litellm() -> None:
    assert (
        _modules_after("import correlator.llm, correlator.lab.fakes.openai_server") == "False False"
    )


def test_cli_help_does_not_import_litellm() -> None:
    code = (
        "import contextlib, io\n"
        "from correlator.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    )
    assert _modules_after(code) == "False False"


def _last_line(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.strip().splitlines()[-1]


# Records the thread of every module import resolved through the finders (a module imported on
# the event loop thread would block every request while it runs).
_RECORDER = """
import sys, threading
imported = {}
class Recorder:
    def find_spec(self, name, path=None, target=None):
        imported.setdefault(name, threading.current_thread().name)
        return None
sys.meta_path.insert(0, Recorder())
"""


def test_first_llm_calls_never_import_on_the_event_loop() -> None:
    """D12: three concurrent first LLM calls (real litellm against the local OpenAI-compatible
    server): litellm and what its first call needs are imported in the import thread only, so the
    loop never runs the import nor waits on its module lock (the old ``sys.modules`` check let a
    second call import on the loop while the first was still importing in a thread)."""
    code = _RECORDER + (
        "import asyncio\n"
        "from correlator.lab.fakes.openai_server import FakeOpenAI\n"
        "from correlator.llm.client import CallSpec, CallStats, LLMRuntime, call\n"
        "from correlator.settings import LLMSettings, LLMStageSettings\n"
        "async def main():\n"
        "    with FakeOpenAI(ttft_ms=0, prefill_ms_per_token=0, tokens_per_second=0) as srv:\n"
        "        st = LLMStageSettings(timeout_seconds=30.0)\n"
        "        s = LLMSettings(model='openai/test-model', api_base=srv.api_base,\n"
        "                        api_key='k', digest=st, rank=st, remediate=st)\n"
        "        spec = CallSpec(stage='digest', messages=[{'role': 'user', 'content': 'hi'}],\n"
        "                        response_format={'type': 'json_object'}, stream=False,\n"
        "                        concurrency=4)\n"
        "        rt = LLMRuntime()\n"
        "        got = await asyncio.gather(*(call(rt, spec, stage=st, settings=s,\n"
        "                                          stats=CallStats()) for _ in range(3)))\n"
        "        assert all(r.text for r in got), got\n"
        "asyncio.run(main())\n"
        "loop = threading.main_thread().name\n"
        "heavy = ('litellm', 'openai')\n"
        "on_loop = sorted(m for m, t in imported.items() if t == loop and m.startswith(heavy))\n"
        "print(imported['litellm'], imported['openai.resources'], len(on_loop), on_loop[:5])"
    )
    assert _last_line(code) == "correlator-litellm-import correlator-litellm-import 0 []"


def test_runtime_with_an_llm_starts_the_import_thread_at_startup() -> None:
    """D12: opening the runtime with an LLM configured starts the litellm import in its thread
    before any investigation; without an LLM nothing is imported."""
    code = _RECORDER + (
        "import asyncio\n"
        "from correlator.llm.importer import _IMPORTER, litellm_module\n"
        "from correlator.metrics import Metrics\n"
        "from correlator.settings import Settings\n"
        "from correlator.wiring import open_runtime\n"
        "async def main(model):\n"
        "    s = Settings(database_url='sqlite+aiosqlite://', llm={'model': model})\n"
        "    async with open_runtime(s, metrics=Metrics(), notify=False):\n"
        "        pass\n"
        "asyncio.run(main(''))\n"
        "print('litellm' in sys.modules, end=' ')\n"
        "asyncio.run(main('openai/test-model'))\n"
        "print(_IMPORTER.future is not None, end=' ')\n"
        "asyncio.run(asyncio.wait_for(litellm_module(), 120))\n"
        "print(imported['litellm'])"
    )
    assert _last_line(code) == "False True correlator-litellm-import"
