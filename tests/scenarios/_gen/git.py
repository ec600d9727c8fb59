"""GitHub compare responses for deploys that declare a diff (shape: GitHub REST "Compare two
commits", https://docs.github.com/rest/commits/commits#compare-two-commits; the field set of the
documented example response: url/html_url/permalink_url/diff_url/patch_url, base_commit,
merge_base_commit, status, ahead_by, behind_by, total_commits, commits[], files[])."""

from __future__ import annotations

import hashlib
from typing import Any

from . import emit
from .sim import NS
from .spec import DeploySpec, ScenarioSpec

OWNER = "shop"


def previous_commit(spec: ScenarioSpec, d: DeploySpec) -> str:
    """The commit the service ran before ``d``: its previous deploy's, else its baseline's."""
    earlier = [o for o in spec.deploys if o.service == d.service and o.at < d.at]
    if earlier:
        return max(earlier, key=lambda o: o.at).commit
    return next(s.commit for s in spec.services if s.name == d.service)


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _commit(repo: str, sha: str, message: str, author: str, date: str) -> dict[str, Any]:
    person = {"name": author, "email": f"{author}@example.com", "date": date}
    api = f"https://api.github.com/repos/{repo}"
    return {
        "url": f"{api}/commits/{sha}",
        "sha": sha,
        "html_url": f"https://github.com/{repo}/commit/{sha}",
        "commit": {"url": f"{api}/git/commits/{sha}", "author": person, "committer": person, "message": message, "tree": {"url": f"{api}/git/trees/{_sha(sha + 't')}", "sha": _sha(sha + "t")}, "comment_count": 0},
        "author": {"login": author, "id": int(sha[:6], 16), "type": "User"},
        "committer": {"login": "web-flow", "id": 19864447, "type": "User"},
        "parents": [],
    }


def _counts(patch: str) -> tuple[int, int]:
    lines = patch.splitlines()
    return sum(1 for ln in lines if ln.startswith("+")), sum(1 for ln in lines if ln.startswith("-"))


def compare_files(spec: ScenarioSpec) -> dict[str, dict[str, Any]]:
    """git/ path -> GitHub compare response, for every deploy with a diff."""
    out: dict[str, dict[str, Any]] = {}
    for d in spec.deploys:
        if d.diff is None:
            continue
        base, head = previous_commit(spec, d), d.commit
        repo = f"{OWNER}/{d.service}"
        date = emit._iso(emit.onset_ns(spec) + int((d.at - 1800) * NS))
        head_full = head + _sha(head)[: 40 - len(head)]
        base_full = base + _sha(base)[: 40 - len(base)]
        files = []
        for f in d.diff.files:
            added, removed = _counts(f.patch)
            blob = _sha(head + f.path)
            files.append({"sha": blob, "filename": f.path, "status": f.status, "additions": added, "deletions": removed, "changes": added + removed, "blob_url": f"https://github.com/{repo}/blob/{head_full}/{f.path}", "raw_url": f"https://github.com/{repo}/raw/{head_full}/{f.path}", "contents_url": f"https://api.github.com/repos/{repo}/contents/{f.path}?ref={head_full}", "patch": f.patch})
        base_commit = _commit(repo, base_full, "previous release", "ci-bot", date)
        out[f"github/{repo}/compare/{base}...{head}.json"] = {
            "url": f"https://api.github.com/repos/{repo}/compare/{base}...{head}",
            "html_url": f"https://github.com/{repo}/compare/{base}...{head}",
            "permalink_url": f"https://github.com/{repo}/compare/{OWNER}:{base_full}...{OWNER}:{head_full}",
            "diff_url": f"https://github.com/{repo}/compare/{base}...{head}.diff",
            "patch_url": f"https://github.com/{repo}/compare/{base}...{head}.patch",
            "base_commit": base_commit,
            "merge_base_commit": base_commit,
            "status": "ahead",
            "ahead_by": 1,
            "behind_by": 0,
            "total_commits": 1,
            "commits": [_commit(repo, head_full, d.diff.message, d.diff.author, date)],
            "files": files,
        }
    return out


def git_settings(spec: ScenarioSpec) -> dict[str, Any]:
    """Operator settings naming each diffed service's repository (the API URL is the harness's)."""
    repos = {d.service: f"{OWNER}/{d.service}" for d in spec.deploys if d.diff is not None}
    if not repos:
        return {}
    return {"git": {"provider": "github", "web_url": "https://github.com", "repos": dict(sorted(repos.items()))}}
