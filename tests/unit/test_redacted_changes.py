"""wiring.RedactedChanges: a compare result is redacted before the evidence chain keeps it."""

from __future__ import annotations

from correlator.models import Compare, CompareCommit, CompareFile
from correlator.wiring import RedactedChanges


class Inner:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def repository(self, url: str) -> str | None:
        return "shop/x" if url.endswith("/shop/x") else None

    async def compare(self, repo: str, base: str, head: str) -> Compare:
        self.asked.append((repo, base, head))
        return Compare(
            provider="github",
            repo=repo,
            base=base,
            head=head,
            commits=[
                CompareCommit(sha=head, message="add key ghp_abcdefghijklmnopqrstuvwxyz0123456789")
            ],
            files=[
                CompareFile(
                    path="config/db.yaml",
                    patch="@@ -1 +1 @@\n-dsn: x\n+dsn: postgres://app:hunter2secret@db:5432/app",
                )
            ],
        )


async def test_patches_and_messages_are_redacted() -> None:
    inner = Inner()
    source = RedactedChanges(inner)
    result = await source.compare("shop/x", "5e1d0b8", "7a3f9c2")
    assert inner.asked == [("shop/x", "5e1d0b8", "7a3f9c2")]
    assert "ghp_" not in result.commits[0].message
    assert "[REDACTED:" in result.commits[0].message
    patch = result.files[0].patch or ""
    assert "hunter2secret" not in patch
    assert "postgres://app:[REDACTED:password]@db:5432/app" in patch
    assert source.repository("https://github.com/shop/x") == "shop/x"
