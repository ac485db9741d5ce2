"""Check a seed answer given as "<status> <body>": 200, value 6 and gradients [27, -4] (used by the smoke scripts)."""

import json
import sys

status, _, body = sys.argv[1].partition(" ")
if status != "200":
    sys.exit(f"status {status}, not 200: {body[:500]}")
doc = json.loads(body)
if float(doc["value"]) != 6.0 or [float(g) for g in doc["gradients"]] != [27.0, -4.0]:
    sys.exit(f"wrong answer: {doc}")
