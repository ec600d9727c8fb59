"""Web UI assets (templates, static) and the view helpers the ``correlator.api.ui`` router uses."""
