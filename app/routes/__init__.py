"""One router per resource; ``main.create_app`` includes them."""

from app.routes import docs, functions, gradients, health, ops

__all__ = ["docs", "functions", "gradients", "health", "ops"]
