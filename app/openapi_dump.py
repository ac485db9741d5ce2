"""``python -m app.openapi_dump`` prints the OpenAPI schema (``make openapi`` writes openapi/openapi.json)."""

from __future__ import annotations

import json

from app.main import create_app
from app.settings import Settings

__all__ = ["render"]


def render() -> str:
    """The schema as the committed file holds it: indented JSON with a trailing newline."""
    app = create_app(Settings())  # the schema does not depend on settings
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
