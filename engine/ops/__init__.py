"""The v1 op set. Importing this package registers every op (one ``defop`` per op)."""

from engine.ops import arithmetic  # noqa: F401
