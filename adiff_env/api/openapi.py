"""The checked-in OpenAPI document (``openapi.json`` beside this file) and how to rebuild it:
``adiff serve --print-openapi > adiff_env/api/openapi.json``. A test holds the served one to it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document (built with a throwaway home: no store is touched)."""
    from adiff_env.api.app import create_app
    from adiff_env.api.config import ServeConfig

    with tempfile.TemporaryDirectory() as home:
        return create_app(ServeConfig(home=home), start_background=False).openapi()
