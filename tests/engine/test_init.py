"""Weight initialisation: the documented formulas and the article's draw order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.init import DESCRIPTIONS, STRATEGIES, init_std, init_weights

# ------------------------------------------------------------------------------------------
# init
# ------------------------------------------------------------------------------------------

#: The documented formulas (DESIGN.md), written out independently of engine.init.
FORMULAS = {
    "small": lambda fi, fo: 0.01,
    "large": lambda fi, fo: 1.0,
    "xavier": lambda fi, fo: math.sqrt(1 / fi),
    "glorot": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "he": lambda fi, fo: math.sqrt(2 / fi),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_init_std_formula_and_draw_order(strategy):
    assert set(FORMULAS) == set(STRATEGIES) == set(DESCRIPTIONS)
    assert init_std(strategy, 50, 20) == pytest.approx(FORMULAS[strategy](50, 20), rel=1e-15)
    w = init_weights(strategy, 50, 20, np.random.RandomState(3))
    # exactly one standard_normal((fan_in, fan_out)) draw, scaled: the article's draw order
    expected = np.random.RandomState(3).standard_normal((50, 20)) * FORMULAS[strategy](50, 20)
    np.testing.assert_allclose(w, expected, rtol=1e-15)


@pytest.mark.parametrize("bad", [("nope", 3, 3), ("he", 0, 3), ("he", 3, -1)])
def test_init_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="init|fan_in"):
        init_std(*bad)
