"""Sorting and selection ops of op set 2."""

from __future__ import annotations
