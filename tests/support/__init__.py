"""What the tests and the benchmarks share: the seed function, live servers on 127.0.0.1, time and memory budgets.

Imported as ``tests.support`` from the root of the checkout: pytest puts the root on ``sys.path``
(``pythonpath`` in pyproject.toml) and ``python -m bench`` runs from it. Test code stays out of the
shipped packages (engine, app, valgrad).
"""

from tests.support.memory import allocation_budget
from tests.support.seed import SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, SEED_GRAPH, SEED_VALUE, seed
from tests.support.servers import ROOT, LiveServer, free_port, serve, wait_ready
from tests.support.timing import slowdown, time_budget

__all__ = ["ROOT", "SEED", "SEED_ANSWER", "SEED_ARGS", "SEED_GRADIENTS", "SEED_GRAPH", "SEED_VALUE", "LiveServer",
           "allocation_budget", "free_port", "seed", "serve", "slowdown", "time_budget", "wait_ready"]
