"""What the words on a change marker mean: kind, environment, version, commit, flag, service.

Shared by connectors that read free-form change markers (Grafana annotations today). Pure
functions over tables; no I/O, no settings. Two readers:

* ``read_tags``: every bare tag is classified by meaning. A kind word (``flag``,
  ``config-change``, ``rollback`` ...) sets the kind; an environment (``prod``, ``staging``,
  ``eu-west-1``) the environment; a version (``v1.4.2``, ``1.4.2``) the new version; a hex word
  of 7-40 characters with a letter the new commit; tool and generic words (``helm``, ``argocd``,
  ``ci``, ``manual`` ...), pure numbers, ``key:value`` pairs and configured marker tags are
  skipped. Only what is left may name the service (``pick_service``).
* ``read_text``: a light, conservative reading of the text: "rolled back" (a deploy; ``from X to
  Y`` fills the versions or commits), "enabled flag X" / "flag X turned on" / "feature flag X"
  (a flag change, key X), "config change" / "configmap" / "updated config" (a config change).
  The earliest phrase in the text decides the kind.

Callers let explicit ``key:value`` pairs win over tags and tags over text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from correlator.models import ChangeKind

# Bare words that say what kind of change a marker is, compared without ``-``/``_``/spaces.
# There is no rollback kind: a rollback ships a version, so it is a deploy.
KIND_WORDS: dict[str, ChangeKind] = {
    "deploy": ChangeKind.DEPLOY,
    "deployment": ChangeKind.DEPLOY,
    "deployed": ChangeKind.DEPLOY,
    "redeploy": ChangeKind.DEPLOY,
    "release": ChangeKind.DEPLOY,
    "rollout": ChangeKind.DEPLOY,
    "rollback": ChangeKind.DEPLOY,
    "config": ChangeKind.CONFIG,
    "configuration": ChangeKind.CONFIG,
    "configchange": ChangeKind.CONFIG,
    "configpush": ChangeKind.CONFIG,
    "configmap": ChangeKind.CONFIG,
    "flag": ChangeKind.FEATURE_FLAG,
    "flags": ChangeKind.FEATURE_FLAG,
    "featureflag": ChangeKind.FEATURE_FLAG,
    "flagchange": ChangeKind.FEATURE_FLAG,
}
# Deployment environments (compared like kind words) and cloud regions.
ENVIRONMENT_WORDS = frozenset(
    {
        "prod", "production", "prd", "live", "staging", "stage", "stg", "preprod",
        "preproduction", "dev", "development", "test", "testing", "qa", "uat", "sandbox",
    }
)  # fmt: skip
REGION = re.compile(
    r"^(?:us|eu|ap|sa|ca|me|af|il|mx|cn|europe|asia|australia|northamerica|southamerica|africa)"
    r"-(?:gov-)?(?:north|south|east|west|central)(?:north|south|east|west)?\d?(?:-\d{1,2})?$"
)
# Delivery tools and generic words that never name a service.
TOOL_WORDS = frozenset(
    {
        "ci", "cd", "cicd", "pipeline", "helm", "argo", "argocd", "argorollouts", "flux",
        "fluxcd", "spinnaker", "jenkins", "githubactions", "github", "gitlab", "gitlabci",
        "k8s", "kubernetes", "kubectl", "terraform", "ansible", "automated", "automatic",
        "auto", "manual", "bot", "canary", "hotfix", "change", "event", "marker", "annotation",
    }
)  # fmt: skip
VERSION = re.compile(r"^v?\d+(?:\.\d+){1,3}(?:[-+][\w.-]+)?$|^v\d+$", re.IGNORECASE)
HEX_WORD = re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{7,40}\b")  # at least one letter: not a build no.
_NAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9][\w.-]*$")  # one word, no ``key:value``/URL

# Text phrases, each with the kind it says; the earliest match in the text wins.
_FLAG_KEY = r"[\"'`]?(?P<key>[A-Za-z0-9][\w.:-]*[\w])[\"'`]?"
_TOGGLE = r"(?:enabled|disabled|toggled|flipped|turned\s+(?:on|off)|switched\s+(?:on|off))"
ROLLBACK = re.compile(r"\brolled[ -]?back\b|\broll(?:ing)?[ -]?back\b|\brollback\b", re.I)
TEXT_KINDS: tuple[tuple[re.Pattern[str], ChangeKind], ...] = (
    (ROLLBACK, ChangeKind.DEPLOY),
    (
        re.compile(rf"\b{_TOGGLE}\s+(?:the\s+)?(?:feature[ _-]?)?flag\b", re.I),
        ChangeKind.FEATURE_FLAG,
    ),
    (re.compile(rf"\bflag\s+{_FLAG_KEY}\s+{_TOGGLE}", re.I), ChangeKind.FEATURE_FLAG),
    (re.compile(r"\bfeature[ _-]?flags?\b", re.I), ChangeKind.FEATURE_FLAG),
    (
        re.compile(r"\bconfig(?:uration)?[ _-](?:change|push|update)[ds]?\b", re.I),
        ChangeKind.CONFIG,
    ),
    (re.compile(r"\bconfig[ _-]?maps?\b", re.I), ChangeKind.CONFIG),
    (re.compile(r"\bupdated?\s+(?:the\s+)?config(?:uration)?\b", re.I), ChangeKind.CONFIG),
)
# Where a flag's key sits in the text; words that follow "flag" but are not a key.
FLAG_KEY_PHRASES: tuple[re.Pattern[str], ...] = (
    re.compile(rf"\b{_TOGGLE}\s+(?:the\s+)?(?:feature[ _-]?)?flag\s+{_FLAG_KEY}", re.I),
    re.compile(rf"\bflag\s+{_FLAG_KEY}\s+{_TOGGLE}", re.I),
    re.compile(rf"\bfeature[ _-]?flag\s+{_FLAG_KEY}", re.I),
)
NOT_FLAG_KEYS = frozenset(
    {
        "change", "changes", "changed", "update", "updated", "flip", "flipped", "toggle",
        "toggled", "rollout", "for", "on", "off", "of", "in", "the", "to", "is", "was", "set",
        "from", "enabled", "disabled", "turned", "switched", "and", "a", "an",
    }
)  # fmt: skip
# ``from X to Y``: versions (``1.4.2``, ``v2``) or commits (hex words).
_REF = r"(v?\d+(?:\.\d+)+[\w.+-]*|v\d+|(?=[0-9]*[a-f])[0-9a-f]{7,40})"
FROM_TO = re.compile(rf"\bfrom\s+{_REF}\s+to\s+{_REF}\b", re.I)
BACK_TO = re.compile(rf"\bback\b.{{0,60}}?\bto\s+{_REF}\b", re.I)


def _word(tag: str) -> str:
    return re.sub(r"[\s_-]+", "", tag.strip().lower())


def kind_word(word: str) -> ChangeKind | None:
    """``feature-flag`` -> ``FEATURE_FLAG``, ``Config_Change`` -> ``CONFIG``; else ``None``."""
    return KIND_WORDS.get(_word(word))


@dataclass
class TagReading:
    """What the bare tags said: kinds in tag order, fields, and service candidates."""

    kinds: list[ChangeKind] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    candidates: list[str] = field(default_factory=list)

    def kind(self) -> ChangeKind | None:
        """A specific kind (flag, config) beats the generic deploy marker."""
        specific = [k for k in self.kinds if k is not ChangeKind.DEPLOY]
        ranked = specific or self.kinds
        return ranked[0] if ranked else None


def read_tags(tags: Iterable[str], markers: Iterable[str] = ()) -> TagReading:
    """Classify bare tags by meaning; ``markers`` (the configured marker tags) never name a
    service. The first environment, version and commit found are kept."""
    skip = {_word(m) for m in markers}
    out = TagReading()
    for raw in tags:
        tag = raw.strip()
        word = _word(tag)
        if (kind := kind_word(tag)) is not None:
            out.kinds.append(kind)
        elif word in ENVIRONMENT_WORDS or REGION.match(tag.lower()):
            out.fields.setdefault("environment", tag)
        elif VERSION.match(tag):
            out.fields.setdefault("to_version", tag)
        elif HEX_WORD.fullmatch(tag.lower()):
            out.fields.setdefault("to_commit", tag.lower())
        elif word in skip or word in TOOL_WORDS or word.isdigit() or not _NAME.match(tag):
            continue
        else:
            out.candidates.append(tag)
    return out


def pick_service(candidates: Sequence[str], text: str) -> str | None:
    """The candidate the text also names, else the first; ``None`` without any."""
    for name in candidates:
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE):
            return name
    return candidates[0] if candidates else None


@dataclass
class TextReading:
    kind: ChangeKind | None = None
    flag_key: str | None = None
    refs: dict[str, str] = field(default_factory=dict)  # from/to version/commit fields


def read_text(text: str) -> TextReading:
    """The kind the earliest phrase says, a flag key, and ``from X to Y`` references."""
    out = TextReading()
    hits = [(m.start(), kind) for pattern, kind in TEXT_KINDS if (m := pattern.search(text))]
    if hits:
        out.kind = min(hits, key=lambda hit: hit[0])[1]
    for pattern in FLAG_KEY_PHRASES:
        m = pattern.search(text)
        if m and m.group("key").lower() not in NOT_FLAG_KEYS:
            out.flag_key = m.group("key")
            break
    if m := FROM_TO.search(text):
        _ref(out.refs, "from", m.group(1))
        _ref(out.refs, "to", m.group(2))
    elif ROLLBACK.search(text) and (m := BACK_TO.search(text)):
        _ref(out.refs, "to", m.group(1))
    return out


def _ref(refs: dict[str, str], side: str, value: str) -> None:
    if HEX_WORD.fullmatch(value.lower()):
        refs[f"{side}_commit"] = value.lower()
    else:
        refs[f"{side}_version"] = value
