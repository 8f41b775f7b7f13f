"""Pydantic field types for text that comes from outside (API bodies, CLI options), in one place."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it at the edge instead of failing in the driver
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SafeStr = Annotated[str, AfterValidator(_no_nul)]
ShortStr = Annotated[str, AfterValidator(_no_nul), Field(max_length=500)]
