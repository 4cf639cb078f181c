"""One app server process for the shared-results tests: ``python -m tests.classroom.replica PAGE QUERY``.

Runs the page in AppTest (the page script as the server runs it) with the class store at
``TRAINING_EXPLORER_DB_URL``, counting the training runs this process starts (``serve.compute``'s
worker path: ``here=False``), and prints one JSON line: the number of training runs, the page's
chart data and its info notes. With ``--hold`` it then waits for a line on stdin before exiting,
so that a second process runs while the first is still up.
"""

from __future__ import annotations

import hashlib
import json
import sys


def main(argv: list[str]) -> None:
    from serve import compute
    from tests.apptest_helpers import chart_frames, charts, run_page

    page, query = argv[0], json.loads(argv[1])
    trained: list[str] = []
    real = compute.experiment

    def counting(name, params, *args, here=False, **kw):
        if not here:
            trained.append(name)
        return real(name, params, *args, here=here, **kw)

    compute.experiment = counting
    at = run_page(page, query)
    data = json.dumps([chart_frames(el) for el in charts(at)], sort_keys=True, default=str)
    out = {
        "trained": trained,
        "exception": [str(e.value) for e in at.exception],
        "charts": len(charts(at)),
        "data": hashlib.sha256(data.encode()).hexdigest(),
        "info": [i.value for i in at.info],
    }
    print(json.dumps(out), flush=True)
    if "--hold" in argv:
        sys.stdin.readline()


if __name__ == "__main__":
    main(sys.argv[1:])
