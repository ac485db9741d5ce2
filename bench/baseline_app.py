"""The HTTP benchmark's baseline: the fastest answer FastAPI can give (a constant JSON body)."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/baseline")
async def baseline() -> dict[str, object]:
    """Return a constant body shaped like a seed response."""
    return {"value": 6.0, "gradients": [27.0, -4.0], "params": ["x", "y"]}
