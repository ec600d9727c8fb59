"""correlator: from an Alertmanager alert to ranked, cited root-cause hypotheses."""

__version__ = "0.1.0"
