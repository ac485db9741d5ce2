"""Stacking, splitting and rearranging ops of op set 2."""

from __future__ import annotations
