"""valgrad's HTTP service: ``create_app(settings)`` builds it, ``valgrad serve`` runs it."""

from app.main import create_app
from app.settings import Settings

__all__ = ["Settings", "create_app"]
