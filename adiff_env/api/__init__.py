"""The service (flow 6): generation, adaptation and control APIs over HTTP.

``adiff serve`` runs :func:`adiff_env.api.app.create_app` under uvicorn (127.0.0.1:8000 by
default); :class:`Client` (httpx) mirrors the endpoints. Importing this package imports
neither FastAPI nor torch.
"""

from __future__ import annotations

from adiff_env.api.client import ApiError, Client

__all__ = ["ApiError", "Client"]
