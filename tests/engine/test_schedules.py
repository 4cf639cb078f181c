"""Learning-rate schedules, checked on hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.schedules import SCHEDULES, constant, cosine, exponential, lr_at, step_decay, warmup_cosine

# ------------------------------------------------------------------------------------------
# schedules
# ------------------------------------------------------------------------------------------


def test_schedule_formulas_hand_worked():
    assert step_decay(59, 1.0) == 0.5 and step_decay(60, 1.0) == 0.25
    assert exponential(2, 1.0) == pytest.approx(0.95**2)
    assert cosine(50, 100, 1.0, 0.0) == pytest.approx(0.5)  # halfway down a cosine
    assert cosine(100, 100, 1.0) == pytest.approx(1e-6)  # ends at min_lr
    assert warmup_cosine(5, 10, 100, 1.0) == pytest.approx(0.5)  # halfway up the warmup
    assert constant(7, 0.3) == 0.3


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_lr_at_every_schedule(name):
    e = np.arange(50)
    lrs = lr_at(name, e, 50, 0.1, warmup_epochs=5)
    assert isinstance(lrs, np.ndarray) and lrs.shape == (50,)
    assert np.all(np.isfinite(lrs)) and np.all(lrs > 0) and np.all(lrs <= 0.1 + 1e-15)
    assert isinstance(lr_at(name, 3, 50, 0.1, warmup_epochs=5), float)  # scalar in, float out
    np.testing.assert_allclose([lr_at(name, int(i), 50, 0.1, 5) for i in e], lrs, rtol=1e-15)


def test_lr_at_warmup_reaches_the_peak():
    lrs = lr_at("warmup_cosine", np.arange(20), 20, 0.1, warmup_epochs=4)
    np.testing.assert_allclose(lrs[:4], [0.025, 0.05, 0.075, 0.1], rtol=1e-14)  # never 0
    assert np.all(np.diff(lrs[3:]) <= 0)  # then decays
    with pytest.raises(ValueError, match="schedule"):
        lr_at("nope", 0, 10, 0.1)
