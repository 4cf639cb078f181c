"""Exercises for the Teach page: two or three per lesson page, each answered by the engine.

Exercises are data, like the questions (:mod:`classroom.questions`). Each names the experiment
call that answers it with fixed settings (seed included), kept cheap: most do not train, and
the ones that do use small networks for a few epochs. Its answer is a sentence computed from
the engine's result (:meth:`Exercise.solve`), never typed in; ``expect`` is what the author
expects of that result, and ``tests/classroom/test_exercises.py`` fails when the engine stops
agreeing with it.

An exercise that compares trainings runs several seeds, either through the experiment's own
seed parameter or through ``seeds`` here (one call per seed): its answer says when a
difference is within the seed spread.

Nothing here imports Streamlit: the Teach page draws the exercises and runs their calls
through ``ui.runner.run``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.experiments.common import Result, compare_seeds, noise_words

#: What :meth:`Exercise.solve` passes on: one Result, or one per seed when ``seeds`` is given.
Answered = Result | tuple[Result, ...]


@dataclass(frozen=True)
class Exercise:
    """One exercise: what the student does on a page, and the experiment call that answers it."""

    id: str
    #: page script it belongs to (a path of ``ui.controls.PAGES``)
    page: str
    #: what the student does: which control to move, what to predict or compute
    task: str
    #: the experiment that answers it and its fixed keyword parameters (seed included unless
    #: ``seeds`` is given)
    experiment: str
    params: Mapping = field(default_factory=dict)
    #: when given, the experiment runs once per seed and ``answer``/``expect`` get a tuple
    seeds: tuple[int, ...] = ()
    #: the answer, one or two sentences computed from the result(s)
    answer: Callable[[Answered], str] = field(default=lambda r: "", repr=False)
    #: the author's expectation of the result(s), checked by the tests
    expect: Callable[[Answered], bool] = field(default=lambda r: True, repr=False)
    #: whether it trains (it then computes in a worker, once for everyone)
    heavy: bool = False

    def __post_init__(self):
        if not self.task.strip():
            raise ValueError(f"exercise {self.id}: task must not be empty")
        if "seed" in self.params and self.seeds:
            raise ValueError(f"exercise {self.id}: give either params['seed'] or seeds, not both")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def calls(self) -> list[dict]:
        """The keyword parameters of each experiment call: one, or one per seed."""
        if not self.seeds:
            return [dict(self.params)]
        return [dict(self.params, seed=s) for s in self.seeds]

    def _arg(self, results: Sequence[Result]) -> Answered:
        if len(results) != len(self.calls()):
            raise ValueError(f"exercise {self.id}: expected {len(self.calls())} result(s), got {len(results)}")
        return tuple(results) if self.seeds else results[0]

    def solve(self, results: Sequence[Result]) -> str:
        """The answer for ``results``, the engine's runs of :meth:`calls` in order."""
        return self.answer(self._arg(results))

    def holds(self, results: Sequence[Result]) -> bool:
        """Whether the author's expectation holds for ``results``."""
        return bool(self.expect(self._arg(results)))


# --- helpers -------------------------------------------------------------------------------


def spread_verdict(a_name: str, a: Sequence[float], b_name: str, b: Sequence[float]) -> str:
    """A sentence comparing two sets of per-seed accuracies: beyond the spread only when every
    seed of one is above every seed of the other."""
    a, b = np.asarray(a, float), np.asarray(b, float)

    def desc(name, v):
        return f"{name} {v.mean():.1%} (seeds {v.min():.1%} to {v.max():.1%})"

    text = f"{desc(a_name, a)}, {desc(b_name, b)}"
    if a.min() > b.max():
        return f"{text}: {a_name} is higher in every seed, beyond the seed spread."
    if b.min() > a.max():
        return f"{text}: {b_name} is higher in every seed, beyond the seed spread."
    return f"{text}: the seeds overlap, so the difference is within seed noise."


def beyond_spread(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when every value of ``a`` exceeds every value of ``b``."""
    return min(a) > max(b)


def _lr_at(r: Result, schedule: str, epoch: int) -> float:
    c = r.tables["curves"]
    return float(c.loc[(c["schedule"] == schedule) & (c["epoch"] == epoch), "lr"].iloc[0])


def _replay(r: Result, patience: int, min_delta: float = 0.0) -> pd.Series:
    t = r.tables["replay"]
    return t[(t["patience"] == patience) & np.isclose(t["min_delta"], min_delta)].iloc[0]


def _unit(r: Result, x: float) -> pd.Series:
    t = r.tables["unit_stats"]
    return t[t["input"] == x].iloc[0]


def _accs(rs: Sequence[Result], key: str) -> list[float]:
    return [float(r.summary[key]) for r in rs]


def _dropout_wins(r: Result, run: str = "p=0.5") -> bool:
    """Whether ``run`` beats p = 0 on test accuracy by more than the seed spread (compare_seeds)."""
    cmp = compare_seeds(r.tables["runs"], "p=0", by="run")
    return bool(cmp["beyond_noise"][run]) and cmp["diff"][run] > 0


def _dropout_loses(r: Result, run: str = "p=0.5") -> bool:
    """Whether ``run`` scores below p = 0 on test accuracy by more than the seed spread."""
    cmp = compare_seeds(r.tables["runs"], "p=0", by="run")
    return bool(cmp["beyond_noise"][run]) and cmp["diff"][run] < 0


def _stop_rows(r: Result, patience: int, min_delta: float = 0.0) -> pd.DataFrame:
    """The replay rows of every seed at ``patience`` (and ``min_delta``), in seed order."""
    t = r.tables["replay"]
    rows = t[(t["patience"] == patience) & np.isclose(t["min_delta"], min_delta)]
    return rows.sort_values("seed") if "seed" in rows else rows


def _slash(values) -> str:
    return " / ".join(str(v) for v in values)


def _bn_cmp(r: Result) -> dict:
    """BN against no BN on the sweep's final test accuracy (one learning rate), over its seeds."""
    return compare_seeds(r.tables["sweep"], "no BN", by="run", value="test_acc")


def _bn_words(r: Result) -> str:
    cmp = _bn_cmp(r)

    def desc(name):
        sp = cmp["spread"][name]
        return f"{name} {cmp['mean'][name]:.1%}" + ("" if sp is None else f" (spread over seeds {sp * 100:.1f} pts)")

    return (
        f"test accuracy {desc('with BN')}, {desc('no BN')}: a difference of {cmp['diff']['with BN'] * 100:+.1f} pts, "
        f"{noise_words(cmp['beyond_noise']['with BN'])}."
    )


def compared(runs: pd.DataFrame, by: str, variant: str, baseline: str, a_name: str, b_name: str) -> str:
    """A sentence on ``variant`` against ``baseline`` from a per-seed ``runs`` table (one row per
    ``by`` value and seed), through :func:`engine.experiments.common.compare_seeds` on the final test
    accuracy: both means and spreads, and the noise words of its ``beyond_noise`` flag."""
    cmp, base = compare_seeds(runs, baseline, by=by), baseline

    def desc(name, v):
        sp = cmp["spread"][v]
        return f"{name} {cmp['mean'][v]:.1%}" + ("" if sp is None else f" (spread over seeds {sp * 100:.1f} pts)")

    return (
        f"{desc(a_name, variant)}, {desc(b_name, base)}: a difference of {cmp['diff'][variant] * 100:+.1f} pts, "
        f"{noise_words(cmp['beyond_noise'][variant])}."
    )


def _recipe_seed_accs(r: Result, recipe: str) -> list[float]:
    t = r.tables["runs"]
    return [float(v) for v in t.loc[t["recipe"] == recipe, "final_test_acc"]]


def _fade(ratio: float) -> str:
    if ratio < 1e-3:
        return "it has all but vanished"
    if ratio > 1e3:
        return "it has exploded"
    if 0.1 <= ratio <= 10:
        return "the same order of magnitude"
    return "shrunk or grown, within three orders of magnitude"


def _noise_drop(r: Result) -> float:
    e = r.summary["batch_mean_error_ratio"]
    return (e["4"] / math.sqrt(4)) / (e["256"] / math.sqrt(256))


def _off_chance(r: Result) -> float:
    return max(abs(a - float(r.summary["chance_acc"])) for a in _recipe_seed_accs(r, "naive"))


def _never_run(r: Result) -> int:
    """Epochs of a simulated run never run after stopping at ``stop_epoch`` (0-based)."""
    return len(r.tables["schedule"]) - (int(r.summary["stop_epoch"]) + 1)


def _init_final(r: Result, strategy: str) -> float:
    return float(r.summary[strategy]["std"])


def _verdict_in_range(std: float) -> str:
    if 0.1 <= std <= 10:
        return "inside the healthy range 0.1 to 10"
    return "below 0.1: the signal fades" if std < 0.1 else "above 10: the signal explodes"


def _flag(v) -> bool | None:
    """A beyond-noise flag read from a table cell (None, NaN, a bool or a NumPy bool)."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)


def _add_one_in_answer(r: Result) -> str:
    """The add-one-in ladder's ReLU / He init answer, from its variants table."""
    t = r.tables["variants"].set_index("variant")
    seeds = ", ".join(map(str, r.summary["seeds"]))

    def acc(v):
        return f"{t.loc[v, 'mean_test_acc']:.0%} ({noise_words(_flag(t.loc[v, 'beyond_noise']))} against naive)"

    pair = "ReLU + He init"
    inter, flag = float(t.loc[pair, "interaction"]), _flag(t.loc[pair, "interaction_beyond_noise"])
    text = (
        f"Mean test accuracy over seeds {seeds}: naive {t.loc['naive', 'mean_test_acc']:.0%}, ReLU alone "
        f"{acc('ReLU')}, He init alone {acc('He init')}, both together {acc(pair)}. Together they add "
        f"{inter * 100:+.1f} pts to the sum of their two gains alone, {noise_words(flag)}."
    )
    if flag and inter > 0:
        text += (
            " Each fix needs the other: under ReLU, 0.01-scale weights shrink the signal layer after layer; "
            "under the sigmoid, He-scaled weights still lose the gradient to its slope of at most 1/4 per layer."
        )
    return text


def _add_one_in_holds(r: Result) -> bool:
    t = r.tables["variants"].set_index("variant")
    bn = r.summary["comparison"]["beyond_noise"]
    return (
        bn["ReLU"] is False
        and bn["He init"] is False
        and bn["ReLU + He init"] is True
        and r.summary["comparison"]["diff"]["ReLU + He init"] > 0.5
        and _flag(t.loc["ReLU + He init", "interaction_beyond_noise"]) is True
    )


P1, P2, P3, P4, P5, P6, P7 = (
    "pages/1_Vanishing_gradients.py",
    "pages/2_Initialization.py",
    "pages/3_Batch_normalization.py",
    "pages/4_Dropout.py",
    "pages/5_LR_schedules.py",
    "pages/6_Early_stopping.py",
    "pages/7_Full_recipe.py",
)

_SEEDS = (0, 1, 2)

EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in [
        # --- Vanishing & exploding gradients ------------------------------------------------
        Exercise(
            id="gradients_bound",
            page=P1,
            task="In the first section, set **Number of layers N** to 20 (seed 0). Before you look, compute "
            "the bound 0.25^20 by hand, and predict whether the measured product of the 20 sigmoid "
            "derivatives lands above or below it.",
            experiment="derivative_product",
            params={"depth": 20, "seed": 0},
            answer=lambda r: (
                f"The bound is 0.25^20 = {r.summary['bound']:.2e}. The measured product is "
                f"{r.summary['product']:.2e}, {r.summary['product_vs_bound']:.1%} of the bound: "
                f"{'below' if r.summary['product'] <= r.summary['bound'] else 'above'} it, as it must be, since no "
                f"sigmoid derivative exceeds 0.25 (their mean here is {r.summary['mean_derivative']:.3f})."
            ),
            expect=lambda r: math.isclose(r.summary["bound"], 0.25**20) and r.summary["product"] < r.summary["bound"],
        ),
        Exercise(
            id="gradients_first_last",
            page=P1,
            task="In the backpropagation section, keep depth 20, width 64, 0 training steps, Xavier init and "
            "the activations sigmoid and ReLU (seed 0). Predict, for each, the first layer's gradient norm "
            "as a fraction of the last layer's.",
            experiment="gradients",
            params={"depth": 20, "width": 64, "activations": ("sigmoid", "relu"), "steps": 0, "seed": 0},
            answer=lambda r: (
                f"Sigmoid: the first layer's gradient is {r.summary['ratio_first_last']['sigmoid']:.1e} of the "
                f"last one's ({_fade(r.summary['ratio_first_last']['sigmoid'])}); ReLU: "
                f"{r.summary['ratio_first_last']['relu']:.2g}× ({_fade(r.summary['ratio_first_last']['relu'])}). "
                "One seed, at initialisation, before any training."
            ),
            expect=lambda r: (
                r.summary["ratio_first_last"]["sigmoid"] < 1e-8 and 0.1 < r.summary["ratio_first_last"]["relu"] < 10
            ),
        ),
        # --- Initialization -----------------------------------------------------------------
        Exercise(
            id="init_rules",
            page=P2,
            task="Compute by hand the weight std of He and of Xavier for a layer with fan_in = 256, then "
            "check them in the rules table. By what factor do they differ, and why?",
            experiment="init_rules",
            params={"fan_in": 256},
            answer=lambda r: (
                f"He: √(2/256) = {r.summary['he_256']:.4f}; Xavier: √(1/256) = {r.summary['xavier_256']:.4f}; "
                f"the ratio is {r.summary['he_256'] / r.summary['xavier_256']:.4f} = √2: He doubles the variance "
                f"because ReLU zeroes about half of its inputs."
            ),
            expect=lambda r: (
                math.isclose(r.summary["he_256"], math.sqrt(2 / 256)) and math.isclose(r.summary["xavier_256"], 1 / 16)
            ),
        ),
        Exercise(
            id="init_he_depth100",
            page=P2,
            task="In *Going further*, pick only **he**, activation ReLU, width 64, and move **Depth** to 100 "
            "(seed 0). Does the last layer's activation std stay between 0.1 and 10, as it did at depth 20?",
            experiment="init_forward",
            params={"strategies": ("he",), "depth": 100, "width": 64, "activation": "relu", "seed": 0},
            answer=lambda r: (
                f"At depth 100 the std is {_init_final(r, 'he'):.3g}, {_verdict_in_range(_init_final(r, 'he'))}; "
                f"{r.summary['he']['dead']} of {r.summary['he']['units']} units output 0 for every sample. "
                "He keeps the variance only on average: with 64 units per layer, each layer's random factor "
                "compounds over 100 layers."
            ),
            expect=lambda r: _init_final(r, "he") < 0.1 and r.summary["he"]["dead"] > 0,
        ),
        Exercise(
            id="init_training",
            page=P2,
            task="In *Going further*, set **Initialisations** to small and he only, activation ReLU; then in "
            "*Real training* set depth 6, width 64, SGD at 0.1 and 4 epochs (sidebar seed 0: the page trains "
            "seeds 0, 1 and 2). Predict each one's test accuracy.",
            experiment="init_training",
            params={
                "inits": ("small", "he"),
                "depth": 6,
                "width": 64,
                "optimizer": "sgd",
                "lr": 0.1,
                "epochs": 4,
                "seed": 0,
                "seeds": 3,
            },
            answer=lambda r: (
                "Test accuracy after 4 epochs: "
                + compared(r.tables["runs"], "init", "small", "he", "small", "he")
                + (
                    " Chance is 10 %: with std 0.01 the signal is gone after 6 layers and small learns nothing."
                    if r.summary["verdict"]["status"]["small"] == "chance"
                    else ""
                )
            ),
            expect=lambda r: (
                r.summary["verdict"]["status"] == {"small": "chance", "he": "learned"}
                and r.summary["comparison"]["beyond_noise"]["small"] is True
            ),
            heavy=True,
        ),
        # --- Batch normalization ------------------------------------------------------------
        Exercise(
            id="bn_batch",
            page=P3,
            task="In the first section, look at the batch before BN (its mean and std are shown). Predict the "
            "mean and std of the same batch after BN, before γ and β.",
            experiment="batchnorm_article",
            params={"seed": 42},
            answer=lambda r: (
                f"Before: mean {r.summary['before_mean']:.2f}, std {r.summary['before_std']:.2f}. After: mean "
                f"{r.summary['after_mean']:.1e} (zero up to rounding) and std {r.summary['after_std']:.5f}: "
                "BN subtracts the batch mean and divides by the batch std (ε keeps it just below 1)."
            ),
            expect=lambda r: abs(r.summary["after_mean"]) < 1e-6 and abs(r.summary["after_std"] - 1) < 1e-3,
        ),
        Exercise(
            id="bn_noise",
            page=P3,
            task="In the section on batch statistics (defaults: layer 2, seed 0), predict by how much a batch's "
            "mean strays from the whole data's at batch size 4 and at 256, in units of the data's std. "
            "Hint: the standard error of a mean of B values.",
            experiment="batchnorm_noise",
            params={"seed": 0},
            answer=lambda r: (
                "Measured typical error of the batch mean: "
                + ", ".join(
                    f"batch {b}: {v * (1 / math.sqrt(int(b))):.3f} against 1/√{b} = {1 / math.sqrt(int(b)):.3f}"
                    for b, v in r.summary["batch_mean_error_ratio"].items()
                    if b in ("4", "256")
                )
                + f". 64 times the batch size divides the error by {_noise_drop(r):.1f}, where 1/√B predicts 8."
            ),
            expect=lambda r: all(0.8 < v < 1.2 for v in r.summary["batch_mean_error_ratio"].values()),
            heavy=True,
        ),
        Exercise(
            id="bn_lr",
            page=P3,
            task="In the learning-rate sweep, choose SGD, depth 6 and 3 epochs per run (seed 0: the sweep trains "
            "seeds 0, 1 and 2). At learning rate 1, does batch norm give a higher test accuracy, "
            "bigger than seed noise?",
            experiment="batchnorm_lr",
            params={"lrs": (1.0,), "optimizer": "sgd", "depth": 6, "epochs": 3, "seed": 0, "seeds": 3},
            answer=lambda r: "At lr 1 after 3 epochs: " + _bn_words(r),
            expect=lambda r: _bn_cmp(r)["beyond_noise"]["with BN"] is True and _bn_cmp(r)["diff"]["with BN"] > 0,
            heavy=True,
        ),
        # --- Dropout ------------------------------------------------------------------------
        Exercise(
            id="dropout_mean",
            page=P4,
            task="Set **Dropout rate p** to 0.2, with 10,000 masks for the average. The input is 1, 2, …, 8 "
            "(mean 4.5). Predict the mean over the masks with inverted scaling, and without the rescaling.",
            experiment="dropout_article",
            params={"rate": 0.2, "mc_samples": 10000, "seed": 42},
            answer=lambda r: (
                f"With inverted scaling: {r.summary['mc_mean_inverted']:.3f}, the input's mean "
                f"{r.summary['original_mean']:.1f}. Without rescaling: {r.summary['mc_mean_unscaled']:.3f}, close to "
                f"(1 − p) × {r.summary['original_mean']:.1f} = {r.summary['expected_unscaled']:.2f}."
            ),
            expect=lambda r: (
                abs(r.summary["mc_mean_inverted"] - 4.5) < 0.05
                and abs(r.summary["mc_mean_unscaled"] - 0.8 * 4.5) < 0.05
            ),
        ),
        Exercise(
            id="dropout_variance",
            page=P4,
            task="Set p back to 0.5 (10,000 masks). Inverted dropout keeps each unit's mean; compute by hand "
            "the variance it adds to a unit whose input is 4, x²·p/(1 − p), and check it in the per-unit table.",
            experiment="dropout_article",
            params={"rate": 0.5, "mc_samples": 10000, "seed": 42},
            answer=lambda r: (
                f"By the formula 4²·0.5/0.5 = {_unit(r, 4.0)['var_formula']:g}; over the masks "
                f"{_unit(r, 4.0)['var_over_masks']:.2f}. Its mean stays at {_unit(r, 4.0)['mean_over_masks']:.2f}: "
                "dropout keeps the mean and adds noise."
            ),
            expect=lambda r: (
                _unit(r, 4.0)["var_formula"] == 16
                and abs(_unit(r, 4.0)["var_over_masks"] - 16) < 1.0
                and abs(_unit(r, 4.0)["mean_over_masks"] - 4) < 0.2
            ),
        ),
        Exercise(
            id="dropout_training",
            page=P4,
            task="In the training section, choose the rates 0 and 0.5, 200 training images, width 128, 2 hidden "
            "layers, 30 epochs and **label noise 0** (clean labels); sidebar seed 0, 3 seeds: the page trains "
            "seeds 0, 1 and 2. Does dropout raise the test accuracy when there are no wrong labels to memorise?",
            experiment="dropout",
            params={
                "rates": (0.0, 0.5),
                "n_train": 200,
                "width": 128,
                "depth": 2,
                "epochs": 30,
                "label_noise": 0.0,
                "seed": 0,
                "seeds": 3,
            },
            answer=lambda r: (
                "Final test accuracy over seeds 0, 1, 2: "
                + compared(r.tables["runs"], "run", "p=0.5", "p=0", "p = 0.5", "p = 0")
                + (
                    " Dropout wins even without label noise at these settings."
                    if _dropout_wins(r)
                    else " Dropout costs accuracy here: with clean labels there is little noise to memorise, and "
                    "the masks slow learning in a short run."
                    if _dropout_loses(r)
                    else " No gain beyond seed noise: with clean labels there is little noise to memorise."
                )
            ),
            expect=lambda r: not _dropout_wins(r),
            heavy=True,
        ),
        # --- Learning-rate schedules --------------------------------------------------------
        Exercise(
            id="schedule_step",
            page=P5,
            task="With η₀ = 0.001, T = 100, step size 30 and decay γ = 0.5, compute by hand the step-decay rate "
            "at epochs 59, 60 and 99 (from 0), then read them off the chart.",
            experiment="schedule_curves",
            params={"initial_lr": 0.001, "epochs": 100, "warmup_epochs": 10, "step_size": 30, "decay": 0.5},
            answer=lambda r: (
                f"Epoch 59: {_lr_at(r, 'step', 59):.3g}; epoch 60: {_lr_at(r, 'step', 60):.3g}; epoch 99: "
                f"{_lr_at(r, 'step', 99):.3g}. The rate halves at epochs 30, 60 and 90: "
                f"{r.summary['step_drops']} drops in 100 epochs."
            ),
            expect=lambda r: (
                math.isclose(_lr_at(r, "step", 59), 0.001 * 0.5)
                and math.isclose(_lr_at(r, "step", 60), 0.001 * 0.5**2)
                and math.isclose(_lr_at(r, "step", 99), 0.001 * 0.5**3)
            ),
        ),
        Exercise(
            id="schedule_cosine",
            page=P5,
            task="Same settings: the cosine rate is m + (η₀ − m)·(1 + cos(π·t/T))/2, with a floor m = 10⁻⁶. "
            "Compute it at epoch 50 and at epoch 25 (from 0), then check on the chart.",
            experiment="schedule_curves",
            params={"initial_lr": 0.001, "epochs": 100, "warmup_epochs": 10, "step_size": 30, "decay": 0.5},
            answer=lambda r: (
                f"Epoch 50: {_lr_at(r, 'cosine', 50):.4g}, halfway between η₀ and the floor; epoch 25: "
                f"{_lr_at(r, 'cosine', 25):.4g}, about {(1 + math.cos(math.pi / 4)) / 2:.3f} × η₀ since "
                f"(1 + cos(π/4))/2 = {(1 + math.cos(math.pi / 4)) / 2:.3f}. At the last epoch, 99, it is "
                f"{r.summary['final_lr_cosine']:.1e}."
            ),
            expect=lambda r: (
                math.isclose(_lr_at(r, "cosine", 50), 1e-6 + (0.001 - 1e-6) / 2)
                and math.isclose(_lr_at(r, "cosine", 25), 1e-6 + (0.001 - 1e-6) * (1 + math.cos(math.pi / 4)) / 2)
            ),
        ),
        Exercise(
            id="schedule_training",
            page=P5,
            task="In the training section, choose only **constant** and **warmup + cosine**, Adam at a peak rate "
            "of 0.01, 10 epochs, 2 warmup epochs (seed 0: the page trains seeds 0, 1 and 2). Which schedule "
            "ends with the higher test accuracy, and is the difference bigger than seed noise?",
            experiment="schedules",
            params={
                "schedules": ("constant", "warmup_cosine"),
                "lr": 0.01,
                "optimizer": "adam",
                "epochs": 10,
                "warmup_epochs": 2,
                "seed": 0,
                "seeds": 3,
            },
            answer=lambda r: (
                "Final test accuracy: "
                + compared(r.tables["runs"], "schedule", "warmup_cosine", "constant", "warmup + cosine", "constant")
            ),
            expect=lambda r: r.summary["comparison"]["beyond_noise"]["warmup_cosine"] is False,
            heavy=True,
        ),
        # --- Early stopping -----------------------------------------------------------------
        Exercise(
            id="stop_patience",
            page=P6,
            task="The article's simulated curve has its lowest validation loss at epoch 82 (from 0). Move the "
            "**Patience** slider to 20 (min_delta 0): the page replays it on that curve too. Predict the epoch "
            "where training stops and how many of the 200 epochs are skipped.",
            experiment="early_stopping_article",
            answer=lambda r: (
                f"It stops at epoch {int(_replay(r, 20)['stop_epoch'])} (= {int(_replay(r, 20)['best_epoch'])} + 20), "
                f"after running {int(_replay(r, 20)['epochs_run'])} epochs, so {int(_replay(r, 20)['epochs_saved'])} "
                f"are skipped, and it keeps the weights of epoch {int(_replay(r, 20)['best_epoch'])}."
            ),
            expect=lambda r: (
                _replay(r, 20)["stop_epoch"] == 82 + 20 and _replay(r, 20)["epochs_saved"] == 200 - (82 + 20 + 1)
            ),
        ),
        Exercise(
            id="stop_real",
            page=P6,
            task="Train the real runs at their defaults (all training images with 30 % of their labels flipped, "
            "3 hidden layers, lr 0.001, 30 epochs; sidebar seed 0, so seeds 0, 1 and 2). Read each seed's epoch of "
            "the lowest validation loss, then where patience 5 stops, and whether the weights it restores beat the "
            "last ones on test.",
            experiment="early_stopping",
            params={"seed": 0},
            answer=lambda r: (
                "The validation loss is lowest at epochs "
                + _slash(p["best_epoch"] for p in r.summary["per_seed"])
                + " (seeds 0 / 1 / 2, from 0): "
                + _slash(f"{p['best_val_loss']:.3f}" for p in r.summary["per_seed"])
                + ", against "
                + _slash(f"{p['last_val_loss']:.3f}" for p in r.summary["per_seed"])
                + " at the last epoch. Patience 5 stops at epochs "
                + _slash(int(v) for v in _stop_rows(r, 5)["stop_epoch"])
                + " and keeps the weights of epochs "
                + _slash(int(v) for v in _stop_rows(r, 5)["best_epoch"])
                + ". On test: "
                + compared(r.tables["runs"], "weights", "restored", "last", "restored weights", "last weights")
            ),
            expect=lambda r: (
                all(p["best_epoch"] < p["epochs_run"] - 10 for p in r.summary["per_seed"])
                and all(p["last_val_loss"] > p["best_val_loss"] for p in r.summary["per_seed"])
                and bool(_stop_rows(r, 5)["stops"].all())
                and r.summary["comparison"]["beyond_noise"]["restored"] is True
                and r.summary["comparison"]["diff"]["restored"] > 0
            ),
            heavy=True,
        ),
        # --- Full recipe --------------------------------------------------------------------
        Exercise(
            id="recipe_article",
            page=P7,
            task="On the article's full-recipe curve (simulated, patience 15), where is the best validation "
            "epoch, where does training stop, and how many of the 200 epochs are never run?",
            experiment="recipe_article",
            params={"total_epochs": 200, "patience": 15},
            answer=lambda r: (
                f"Best at epoch {r.summary['best_epoch']} (from 0; validation loss {r.summary['best_val_loss']:.4f}). "
                f"It stops at epoch {r.summary['stop_epoch']}, having run epochs 0 to {r.summary['stop_epoch']}, so "
                f"{_never_run(r)} of the {len(r.tables['schedule'])} are never run (counting the stopping epoch as "
                f"saved gives {r.summary['epochs_saved']}). Without stopping the validation loss would end at "
                f"{r.summary['val_loss_at_end']:.4f}."
            ),
            expect=lambda r: (
                r.summary["stop_epoch"] == r.summary["best_epoch"] + 15
                and _never_run(r) == 200 - (r.summary["best_epoch"] + 15 + 1)
            ),
        ),
        Exercise(
            id="recipe_compare",
            page=P7,
            task="With Reproduce in Python (or `python -m engine run recipe_compare --depth 6 --width 64 "
            "--epochs 5 --seed 0 --seeds 3`), train the naive recipe (sigmoid, small init, SGD) and the article's "
            "modern recipe at depth 6, width 64, 5 epochs, seeds 0, 1 and 2. How far above chance (10 %) does each "
            "get on the test split?",
            experiment="recipe_compare",
            params={"depth": 6, "width": 64, "dataset": "digits", "epochs": 5, "seed": 0, "seeds": 3},
            answer=lambda r: (
                "Test accuracy: "
                + compared(r.tables["runs"], "recipe", "naive", "modern", "naive", "modern")
                + (
                    f" The naive recipe stays within {_off_chance(r) * 100:.1f} percentage points of chance: "
                    "sigmoid and a small init leave it nothing to learn from in 5 epochs."
                    if _off_chance(r) < 0.05
                    else f" The naive recipe gets {_off_chance(r) * 100:.1f} percentage points away from chance."
                )
            ),
            expect=lambda r: (
                r.summary["comparison"]["beyond_noise"]["naive"] is True
                and r.summary["comparison"]["diff"]["naive"] < 0
                and _off_chance(r) < 0.05
            ),
            heavy=True,
        ),
        Exercise(
            id="add_one_in_relu_he",
            page=P7,
            task="In the *Add one fix at a time* tab (Epochs 10, width 64, depth 10, seed 0), or with `python -m "
            'engine run add_one_in --depth 10 --width 64 --epochs 10 --fixes "ReLU,He init" --seed 0 --seeds 3`, '
            "start from the naive recipe at depth 10 (seeds 0, 1 and 2). Predict first: does ReLU alone lift the "
            "test accuracy above the naive recipe's? He init alone? The two together?",
            experiment="add_one_in",
            params={
                "depth": 10,
                "width": 64,
                "dataset": "digits",
                "epochs": 10,
                "fixes": ("ReLU", "He init"),
                "seed": 0,
                "seeds": 3,
            },
            answer=_add_one_in_answer,
            expect=_add_one_in_holds,
            heavy=True,
        ),
    ]
}


def by_page() -> dict[str, list[Exercise]]:
    """Page script path -> its exercises, in order."""
    out: dict[str, list[Exercise]] = {}
    for e in EXERCISES.values():
        out.setdefault(e.page, []).append(e)
    return out
