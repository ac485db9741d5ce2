"""The HTTP benchmark's baselines: the fastest answer FastAPI can give, and bare transfer of large bodies."""

from fastapi import FastAPI, Request
from starlette.responses import Response

from tests.support import SEED_ANSWER

app = FastAPI()


@app.post("/baseline")
async def baseline() -> dict[str, object]:
    """Return the seed's answer as a constant."""
    return SEED_ANSWER


@app.post("/transfer")
async def transfer(request: Request, size: int) -> Response:
    """Read the body and answer ``size`` bytes: the transport's share of a large round trip."""
    await request.body()
    return Response(b"0" * size, media_type="application/json")
