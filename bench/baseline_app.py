"""The HTTP benchmark's baselines: the fastest answer FastAPI can give, and bare transfer of large bodies."""

from fastapi import FastAPI, Request
from starlette.responses import Response

app = FastAPI()


@app.post("/baseline")
async def baseline() -> dict[str, object]:
    """Return a constant body shaped like a seed response."""
    return {"value": 6.0, "gradients": [27.0, -4.0], "params": ["x", "y"]}


@app.post("/transfer")
async def transfer(request: Request, size: int) -> Response:
    """Read the body and answer ``size`` bytes: the transport's share of a large round trip."""
    await request.body()
    return Response(b"0" * size, media_type="application/json")
