"""Vendor connectors: thin adapters satisfying correlator.ports.

Only correlator.wiring imports them.
"""
