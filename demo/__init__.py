"""Demo workloads for the compose stack and the end-to-end test (not part of the shipped wheel)."""
