"""Tensor products of op set 2: tensordot outer inner kron cross."""

from __future__ import annotations
