"""The question each lesson page asks before it shows its experiment: predict, then reveal.

Questions are data. Each names the experiment call that answers it, with its own fixed settings
and seed, so a whole class shares one cached run; the right option is computed from that run's
result (:meth:`Question.correct`), never typed in. ``authored`` is the answer the author expects:
``tests/classroom/test_questions.py`` runs every experiment and fails when the engine's result
no longer agrees with it.

Nothing here imports Streamlit: the class store validates choices against ``options``, and
``ui.quiz`` draws a question on its page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pandas as pd

from engine.experiments.common import Result, noise_words


@dataclass(frozen=True)
class Question:
    """One multiple-choice question about one experiment."""

    id: str
    #: page script it opens (a path of ``ui.controls.PAGES``)
    page: str
    prompt: str
    options: tuple[str, ...]
    #: the experiment call that answers it: name and its fixed keyword parameters (seed included)
    experiment: str
    params: Mapping = field(default_factory=dict)
    #: index of the right option, computed from the experiment's result
    decide: Callable[[Result], int] = field(default=lambda r: 0, repr=False)
    #: one sentence of measured numbers for the reveal, computed from the result
    measured: Callable[[Result], str] = field(default=lambda r: "", repr=False)
    #: per option, why it is right or wrong (the mechanism, not the numbers)
    why: tuple[str, ...] = ()
    #: the option the author expects to be right (checked against :meth:`correct` by the tests)
    authored: int = 0
    #: whether training runs to answer it (it then computes in a worker, once for the class)
    heavy: bool = False
    #: one line a student takes home (the handout's takeaway)
    takeaway: str = ""
    #: minutes the teacher plans for the page in the lesson plan
    minutes: int = 5

    def __post_init__(self):
        if not 3 <= len(self.options) <= 4 or len(set(self.options)) != len(self.options):
            raise ValueError(f"question {self.id}: options must be 3-4 distinct strings")
        if len(self.why) != len(self.options):
            raise ValueError(f"question {self.id}: why must give one sentence per option")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def correct(self, result: Result) -> int:
        """The index of the right option for ``result`` (the engine's run of :attr:`experiment`)."""
        i = int(self.decide(result))
        if not 0 <= i < len(self.options):
            raise ValueError(f"question {self.id}: decided option {i} is not one of its {len(self.options)}")
        return i


def _table(result: Result, name: str) -> pd.DataFrame:
    return result.tables[name]


# --- the answers, each computed from its experiment's result --------------------------------


def _gradients_decide(r: Result) -> int:
    p = r.summary["product"]
    if p > 1:
        return 3
    if p > 0.05:
        return 0
    if p > 1e-5:
        return 1
    return 2


def _init_decide(r: Result) -> int:
    kept = [name for name, s in r.summary.items() if isinstance(s, dict) and 0.1 <= s["std"] <= 10]
    order = ["small", "large", "he"]
    return order.index(kept[0]) if len(kept) == 1 and kept[0] in order else 3


def _trains(row) -> bool:
    """A variant that learned in every seed: none diverged, each well above chance (10 % on digits)."""
    return row["n_diverged"] == 0 and row["test_acc_min"] >= 0.5


def _bn_decide(r: Result) -> int:
    mean = _table(r, "mean").set_index("run")
    bn, plain = _trains(mean.loc["with BN"]), _trains(mean.loc["no BN"])
    return {(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[(bn, plain)]


def _bn_measured(r: Result) -> str:
    parts = []
    for run, row in _table(r, "mean").set_index("run").iterrows():
        text = f"{run}: test accuracy {row['test_acc']:.0%} ({row['test_acc_min']:.0%}-{row['test_acc_max']:.0%})"
        if row["n_diverged"]:
            text += f", diverged in {int(row['n_diverged'])} of {int(row['n_seeds'])} seeds"
        parts.append(text)
    return f"Measured over {int(_table(r, 'mean')['n_seeds'].max())} seeds: " + "; ".join(parts) + "."


def _dropout_decide(r: Result) -> int:
    ratio = r.summary["mc_mean_inverted"] / r.summary["original_mean"]
    targets = [0.5, 1.0, 2.0, 0.0]
    return min(range(4), key=lambda i: abs(ratio - targets[i]))


def _schedule_decide(r: Result) -> int:
    epochs = [0, 10, 50, 99]
    return min(range(4), key=lambda i: abs(epochs[i] - r.summary["warmup_peak_epoch"]))


def _stop_decide(r: Result) -> int:
    return ["10", "107", "108", "118"].index(str(r.summary["epochs_not_run"]))


def _deep_decide(r: Result) -> int:
    s = r.summary
    plain, skips = s["plain_test_acc"] >= 0.5, s["with_skips_test_acc"] >= 0.5
    return {(True, True): 0, (False, True): 1, (True, False): 2, (False, False): 3}[(plain, skips)]


QUESTIONS: dict[str, Question] = {
    q.id: q
    for q in [
        Question(
            id="gradients",
            page="pages/1_Vanishing_gradients.py",
            prompt="Backpropagate through 10 sigmoid layers. The product of their 10 derivatives "
            "(how much the backward signal is scaled, weights ignored) is about…",
            options=("0.5: a mild loss", "1e-3", "1e-7 or smaller", "more than 1: it grows"),
            experiment="derivative_product",
            params={"depth": 10, "seed": 0},
            decide=_gradients_decide,
            measured=lambda r: (
                f"Measured: {r.summary['product']:.1e}, under the bound 0.25^10 = {r.summary['bound']:.1e}."
            ),
            why=(
                "Each sigmoid derivative is at most 0.25, so ten of them multiply to at most 0.25^10, about 1e-6.",
                "Even at its steepest the sigmoid scales the signal by 0.25 per layer: ten layers go far below 1e-3.",
                "Ten factors of at most 0.25 each: the product is below 1e-6, and smaller still where units saturate.",
                "A sigmoid's derivative never exceeds 0.25, so a product of them can only shrink.",
            ),
            authored=2,
            takeaway="Sigmoid's derivative is at most 0.25: through many layers the backward signal vanishes.",
            minutes=7,
        ),
        Question(
            id="init",
            page="pages/2_Initialization.py",
            prompt="Push 100 digits through 20 ReLU layers, before any training. Which initialisation "
            "keeps the last layer's activation std between 0.1 and 10?",
            options=("small: 0.01·N(0, 1)", "large: N(0, 1)", "He: N(0, 2/fan_in)", "none of them"),
            experiment="init_forward",
            params={"strategies": ("small", "large", "he"), "depth": 20, "width": 64, "activation": "relu", "seed": 0},
            decide=_init_decide,
            measured=lambda r: (
                "Measured std after 20 layers: "
                + ", ".join(f"{k} {v['std']:.2g}" for k, v in r.summary.items() if isinstance(v, dict))
                + "."
            ),
            why=(
                "With std 0.01 each ReLU layer scales the signal by √(64 · 0.01² / 2) ≈ 0.06: "
                "after 20 layers it has vanished.",
                "With std 1 each ReLU layer scales it by √(64 / 2) ≈ 5.7 (width 64): after 20 layers it has exploded.",
                "Var(W) = 2/fan_in makes fan_in · Var(W) · E[a²] equal the previous variance for ReLU, "
                "which zeroes half its inputs: the scale stays put on average.",
                "He's rule is built to keep the scale through ReLU layers.",
            ),
            authored=2,
            takeaway="Initialise so that each layer keeps the signal's variance: He for ReLU.",
        ),
        Question(
            id="batchnorm",
            page="pages/3_Batch_normalization.py",
            prompt="The same 10-layer ReLU network trained with plain SGD at a large learning rate, 1. "
            "Which version learns?",
            options=("both", "only the one with batch norm", "only the one without", "neither"),
            experiment="batchnorm_lr",
            params={"lrs": (1.0,), "optimizer": "sgd", "depth": 10, "width": 64, "epochs": 6, "seed": 0},
            decide=_bn_decide,
            measured=_bn_measured,
            why=(
                "Without batch norm a step this large blows the activations up layer after layer.",
                "Batch norm rescales every layer's inputs at each step, so a large step cannot blow them up: "
                "it moves the usable range of learning rates up.",
                "Without normalisation nothing holds the activations' scale when every weight takes a large step.",
                "Batch norm keeps the scale in check even at this rate.",
            ),
            authored=1,
            heavy=True,
            takeaway="Batch norm's real gift: a much wider range of learning rates that train.",
            minutes=8,
        ),
        Question(
            id="dropout",
            page="pages/4_Dropout.py",
            prompt="Dropout with p = 0.5 and inverted scaling (kept values are doubled). Averaged over "
            "many masks, a layer's output compared with no dropout is…",
            options=("about half", "about the same", "about double", "zero"),
            experiment="dropout_article",
            params={"rate": 0.5, "seed": 42},
            decide=_dropout_decide,
            measured=lambda r: (
                f"Measured over {r.summary['mc_samples']:,} masks: mean {r.summary['mc_mean_inverted']:.3f} "
                f"against {r.summary['original_mean']:.3f} without dropout "
                f"({r.summary['mc_mean_unscaled']:.3f} without the rescaling)."
            ),
            why=(
                "That is what dropping half the values does without the rescaling.",
                "Each value survives with probability 1 - p and is scaled by 1/(1 - p): on average nothing changes, "
                "so evaluation can simply switch dropout off. The variance does grow.",
                "Doubling only the kept half leaves the average where it was.",
                "Only one mask in 2^n drops everything; on average half the values survive.",
            ),
            authored=1,
            takeaway="Inverted dropout keeps each unit's mean, not its variance: evaluation just turns it off.",
        ),
        Question(
            id="schedules",
            page="pages/5_LR_schedules.py",
            prompt="Warmup + cosine over 100 epochs, with 10 warmup epochs. At which epoch is the learning "
            "rate highest (epochs counted from 0)?",
            options=("epoch 0", "epoch 10", "epoch 50", "epoch 99"),
            experiment="schedule_curves",
            params={"initial_lr": 0.001, "epochs": 100, "warmup_epochs": 10},
            decide=_schedule_decide,
            measured=lambda r: f"Measured: the peak is at epoch {r.summary['warmup_peak_epoch']}.",
            why=(
                "Warmup starts low on purpose: the first steps, on random weights, are the riskiest.",
                "The rate climbs during the 10 warmup epochs, peaks as warmup ends, then decays along the cosine.",
                "By epoch 50 the cosine has already brought the rate down to half its peak.",
                "At the end the cosine has brought the rate close to zero.",
            ),
            authored=1,
            takeaway="Warmup, then decay: small steps on random weights, large ones once stable, small at the end.",
        ),
        Question(
            id="early_stopping",
            page="pages/6_Early_stopping.py",
            prompt="On the article's simulated curves (not a real run), the validation loss is lowest at "
            "epoch 82 (from 0) and patience is 10. How many of the 200 epochs does early stopping skip?",
            options=("10", "107", "108", "118"),
            experiment="early_stopping_article",
            params={},
            decide=_stop_decide,
            measured=lambda r: (
                f"Measured on the simulated curve: stops at epoch {r.summary['stop_epoch']} after "
                f"{r.summary['epochs_run']} epochs, so {r.summary['epochs_not_run']} are skipped "
                f"(the article says {r.summary['article_epochs_saved']})."
            ),
            why=(
                "Patience is how long it waits after the best epoch, not how many epochs it skips.",
                "It stops at epoch 82 + 10 = 92, after running epochs 0 to 92 (93 epochs): 200 - 93 = 107 are skipped.",
                "The article's count: it subtracts the stopping epoch's index, 92, from 200 and so counts the "
                "epoch it ran at as skipped.",
                "That would stop at epoch 82 itself, before patience could tell that it was the best.",
            ),
            authored=1,
            takeaway="Early stopping keeps the weights of the best validation epoch and stops once patience runs out.",
        ),
        Question(
            id="recipe",
            page="pages/7_Full_recipe.py",
            prompt="50 layers with the full modern recipe (ReLU, He init, batch norm, Adam with warmup + cosine), "
            "8 epochs on digits. Which version learns (test accuracy 50 % or more, mean of 3 seeds)?",
            options=("both", "only the one with skip connections", "only the plain one", "neither"),
            experiment="deep50",
            params={"depth": 50, "width": 32, "epochs": 8, "seed": 0, "seeds": 3},
            decide=_deep_decide,
            measured=lambda r: (
                f"Measured test accuracy, mean of seeds {', '.join(map(str, r.summary['seeds']))}: plain "
                f"{r.summary['plain_test_acc']:.0%}, with skips {r.summary['with_skips_test_acc']:.0%} (the "
                f"difference is {noise_words(r.summary['comparison']['beyond_noise']['with skips'])}); at the first "
                f"step the first layer's gradient is {r.summary['plain_grad_ratio_first_to_last']:,.0f}× the last "
                "one's without skips."
            ),
            why=(
                "The recipe alone does not carry a plain network to 50 layers.",
                "Skip connections give the gradient an identity path around every block: with them depth trains.",
                "Without skips, batch norm with ReLU makes the first layers' gradients explode with depth.",
                "With skip connections the same recipe trains.",
            ),
            authored=1,
            heavy=True,
            takeaway="What lets depth scale is skip connections (with normalisation), not the recipe alone.",
            minutes=8,
        ),
    ]
}


def by_page() -> dict[str, Question]:
    """Page script path -> its question."""
    return {q.page: q for q in QUESTIONS.values()}
