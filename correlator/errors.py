"""correlator's exception tree. Third-party errors are mapped to these in one place each
(HTTP: connectors/_http.py; LLM: correlator/llm).

    CorrelatorError
    ├── ConfigError              invalid settings, rules or prompts
    ├── BackendError             a backend call failed (carries backend name)
    │   ├── BackendTimeout       connect/read timeout or deadline exceeded
    │   ├── BackendUnavailable   connection refused/reset, 5xx, circuit open
    │   ├── BackendRateLimited   429 (retry_after seconds when given)
    │   ├── BackendRejected      4xx other than 429 (never retried)
    │   └── BackendBadResponse   body is not what the wire format says (HTML, truncated JSON)
    ├── NotifyError              a notifier failed (see connectors/slack.py etc.)
    └── LLMError                 an LLM stage failed (timeout, rate limit, garbage)
"""

from __future__ import annotations


class CorrelatorError(Exception):
    """Base of every error correlator raises on purpose."""


class ConfigError(CorrelatorError):
    pass


class BackendError(CorrelatorError):
    transient = False

    def __init__(self, backend: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend
        self.status = status


class BackendTimeout(BackendError):
    transient = True


class BackendUnavailable(BackendError):
    transient = True


class BackendRateLimited(BackendError):
    transient = True

    def __init__(
        self, backend: str, message: str, *, status: int | None = 429, retry_after: float | None
    ) -> None:
        super().__init__(backend, message, status=status)
        self.retry_after = retry_after


class BackendRejected(BackendError):
    pass


class BackendBadResponse(BackendError):
    pass


class NotifyError(CorrelatorError):
    def __init__(self, channel: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{channel}: {message}")
        self.channel = channel
        self.retryable = retryable


class LLMError(CorrelatorError):
    def __init__(self, stage: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.retryable = retryable
