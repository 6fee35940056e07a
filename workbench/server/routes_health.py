"""``GET /health``: liveness plus what the server runs on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from workbench.resources import Resources
from workbench.server.dependencies import get_resources_dep

router = APIRouter()


@router.get("/health")
async def health(resources: Annotated[Resources, Depends(get_resources_dep)]) -> dict[str, Any]:
    return {
        "status": "ok",
        "model": resources.models.choose().spec,
        "collection": resources.settings.collection,
        "vector_store": resources.settings.qdrant_url or "local",
    }
