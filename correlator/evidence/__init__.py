"""The evidence chain: exemplars -> Tempo traces -> Loki logs, plus deploys and changes.

``gather(alert, sources=..., settings=...)`` returns an ``EvidenceBundle`` and never raises; see
``correlator.evidence.chain`` and docs/evidence.md.
"""

from correlator.evidence.chain import MetricQueries, gather
from correlator.evidence.sources import EvidenceSources

__all__ = ["EvidenceSources", "MetricQueries", "gather"]
