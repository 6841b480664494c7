"""The HTTP baseline: a trivial Starlette endpoint that reads the body and answers JSON."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def init(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"upload_id": "upl_trivial"}, status_code=201)


app = Starlette(routes=[Route("/v1/characters/uploads/init", init, methods=["POST"])])
