"""Exit codes of `harness run`, `harness report --gate` and `harness compare`: the one place.

0 and the bad-input codes 2-7 (harness/errors.py) are shared with every command; 1 is a bug.
The verdict codes start at 10 so CI can tell "the model is not ready" from "the input is bad".
A suite with a `ladder` exits with the ladder's verdict (harness/decision/ladder.py): 0 when a
rung is shipped, 10 when no rung clears, 11 when a rung tried before the answer is undecided.
"""

from __future__ import annotations

EXIT_APPROVE = 0  # every gate passed (or no gates and the run is fine)
EXIT_REJECT = 10  # at least one gate failed: the evidence says do not ship
EXIT_INCONCLUSIVE = 11  # no gate failed but some lack evidence (or the run is partial)
EXIT_REGRESSION = 12  # the only failures are regressions against a baseline run

EXIT_CODES = {
    "APPROVE": EXIT_APPROVE,
    "NO GATES": EXIT_APPROVE,
    "REJECT": EXIT_REJECT,
    "INCONCLUSIVE": EXIT_INCONCLUSIVE,
    "REGRESSION": EXIT_REGRESSION,
}
