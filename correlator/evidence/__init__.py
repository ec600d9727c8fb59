"""The evidence chain: exemplars -> Tempo traces -> Loki logs, plus deploys and changes.

``gather(alert, sources=..., settings=...)`` (``correlator.evidence.chain``) returns an
``EvidenceBundle`` and never raises; see docs/evidence.md.
"""

from correlator.evidence.sources import EvidenceSources

__all__ = ["EvidenceSources"]
