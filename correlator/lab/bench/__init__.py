"""``correlator bench``: the benchmark harness (figures, runs, medians; docs/benchmarks.md).

``plan`` says what to measure, ``figures`` measures one figure each, ``runner`` runs them all and
``report`` renders the document: runner -> figures -> plan, no cycle.
"""
