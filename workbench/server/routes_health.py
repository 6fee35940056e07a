"""``GET /health``: liveness, open to every client (no token), so it says nothing about the server's setup."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
