"""AppTest: cached results are shared objects (``st.cache_resource``), so no page may modify one.

Every session that shows a result gets the same object (``ui.runner._cached``), and
``ui.charts.memo`` keys its tables by identity. A page that changed a table in place would
change what every other student sees, and the charts kept for it. Each page's default view is
drawn twice here; every result it was handed must hold the same tables (values, dtypes,
index), summary and notes afterwards as when it was handed over.
"""

import copy
import pickle

import pandas as pd
import pytest

from tests.apptest_helpers import errors_text, run_page
from ui import charts, runner
from ui.controls import LESSON_PATH


@pytest.mark.parametrize("page", [path for path, _ in LESSON_PATH])  # Teach shows results only in a class
def test_pages_leave_the_shared_results_as_they_got_them(page, monkeypatch):
    handed = []
    real_run = runner.run

    def spy(*args, **kwargs):
        result = real_run(*args, **kwargs)
        if result is not None:
            handed.append((result, copy.deepcopy(result)))
        return result

    monkeypatch.setattr(runner, "run", spy)
    at = run_page(page)
    at.run()  # the same inputs again: the cached objects themselves
    assert not at.exception, errors_text(at)
    assert handed, "the page showed no result"
    for result, before in handed:
        assert result.tables.keys() == before.tables.keys()
        for name, table in result.tables.items():
            pd.testing.assert_frame_equal(table, before.tables[name], check_exact=True, obj=f"{page}: {name}")
        assert pickle.dumps((result.summary, result.notes)) == pickle.dumps((before.summary, before.notes))
    shared = [id(t) for result, _ in handed for t in result.tables.values()]
    assert all(charts._shared.get(i) is not None for i in shared)


def test_a_shared_frame_is_keyed_by_identity_and_a_copy_by_content():
    df = pd.DataFrame({"x": [1.0, 2.0], "run": ["a", "b"]})
    twin = df.copy()
    charts.share([df])
    assert charts._arg_key(df) == ("shared df", id(df))
    assert charts._arg_key(twin)[0] == "df"
    assert charts._arg_key(twin) == charts._arg_key(df.copy())  # equal content, equal key
