"""Scenario generator internals: spec (what), sim (requests through a call graph), emit (wire files)."""
