"""The web UI, served only by the API: ``routes`` (pages, login, static files), ``view`` (plain
data for the templates), ``templates/`` and ``static/`` (shipped as package data)."""

from correlator.api.ui.routes import router

__all__ = ["router"]
