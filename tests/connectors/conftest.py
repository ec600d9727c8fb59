from __future__ import annotations

import pytest

from tests.connectors.support import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
