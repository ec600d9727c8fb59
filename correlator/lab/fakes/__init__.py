"""Fakes of external services, speaking their real wire format over real sockets (tests, bench)."""
