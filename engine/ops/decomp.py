"""Matrix decompositions and norms of op set 2."""

from __future__ import annotations
