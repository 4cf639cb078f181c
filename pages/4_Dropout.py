"""Dropout: the article's mask samples and the inverted scaling, then a real overfitting run."""

import pandas as pd
import streamlit as st

from engine.datasets import split_sizes
from engine.experiments import dropout as dropout_exp
from engine.experiments.common import DEFAULT_SEEDS, noise_words
from ui import charts, controls, quiz, runner


def pct(v) -> str:
    """A fraction as a percentage, or a dash when there is none (a run that diverged at once)."""
    return "—" if v is None or pd.isna(v) else f"{v:.1%}"


def pts(v) -> str:
    """A difference of two fractions in percentage points, or a dash when there is none."""
    return "—" if v is None or pd.isna(v) else f"{100 * v:.1f} points"


seed = controls.page_setup(
    "Dropout",
    "A network with enough weights can **memorise** its training set: training accuracy climbs to "
    "100 % while validation accuracy stalls. **Dropout** fights this with noise. At every training "
    "step each hidden unit is switched off with probability **p**, so the network can never count "
    "on any single unit and has to spread what it knows over many of them. At test time every "
    "unit is on.",
)
quiz.ask("dropout")

# ---------------------------------------------------------------------------------------------
st.header("As in the article")
st.markdown(
    "Take eight activations **a = [1, 2, …, 8]** (mean 4.5). Each sample draws a fresh random mask: "
    "a unit survives with probability 1 − p. The survivors are then **divided by 1 − p**. That is "
    "*inverted* dropout, the version every framework uses."
)
st.latex(
    r"\tilde a_i = \frac{m_i}{1-p}\,a_i,\quad m_i \sim \text{Bernoulli}(1-p)"
    r"\qquad\Longrightarrow\qquad \mathbb{E}[\tilde a_i] = \frac{1-p}{1-p}\,a_i = a_i"
)
c = st.columns(2)
rate = controls.slider(
    "Dropout rate p",
    "rate",
    0.0,
    0.9,
    0.5,
    step=0.05,
    container=c[0],
    help="Probability that a unit is switched off. At the article's 0.5 the samples below are its numbers.",
)
masks = controls.select_slider(
    "Masks for the average",
    "masks",
    (100, 1000, 10000, 100000),
    10000,
    container=c[1],
    help="How many random masks the running average below uses.",
)
art_params = {"rate": rate, "mc_samples": masks}
art = runner.run("dropout_article", "Drawing masks…", **art_params)
if art is not None:
    s = art.summary
    st.caption(
        "Drawn with the article's seed 42 (whatever the sidebar seed)"
        + (
            ": at p = 0.5 these are exactly the article's four samples."
            if rate == 0.5
            else ". Set p = 0.5 to see the article's own four samples."
        )
    )
    runner.show_chart(
        charts.dropout_mask_chart(art.tables["mask_cells"], title=f"Four dropout samples of [1 … 8] at p = {rate:g}")
    )
    m = controls.metric_row(len(s["sample_means"]) + 1)
    m[0].metric("Original mean", f"{s['original_mean']:.2f}")
    for i, (col, mean, active) in enumerate(zip(m[1:], s["sample_means"], s["sample_active"])):
        col.metric(f"Sample {i + 1} mean", f"{mean:.2f}", help=f"{active} of 8 units active.")
    st.markdown(
        "**A single sample is noisy**: its mean can land far from 4.5, and the number of surviving "
        "units changes every time. But the scaling is chosen so that the mean is right **on average**. "
        f"Averaging {masks:,} masks:"
    )
    runner.show_chart(
        charts.dropout_mc_chart(
            art.tables["monte_carlo"],
            art.tables["mc_band"],
            title="Running average of the dropped vector's mean (shaded: original mean ± 2 standard errors)",
        )
    )
    m = controls.metric_row(3)
    m[0].metric(
        f"Average over {masks:,} masks (inverted)",
        f"{s['mc_mean_inverted']:.3f}",
        help="Should approach the original mean 4.5.",
    )
    m[1].metric(
        "Same masks, no rescaling",
        f"{s['mc_mean_unscaled']:.3f}",
        help=f"Approaches (1 − p) × 4.5 = {s['expected_unscaled']:.3f}: too small by the fraction dropped.",
    )
    m[2].metric(
        "Fraction of units kept", f"{s['mc_kept_fraction']:.3f}", help=f"Should approach 1 − p = {1 - rate:.2f}."
    )
    st.markdown(
        "Without the division by 1 − p the next layer would receive inputs that are on average "
        f"**{rate:.0%} too small** during training, and the right size at test time. With it, nothing "
        "needs to change at test time: in **eval mode** the layer simply passes its input through."
    )
    ident = "**identical to the input**" if s["eval_is_identity"] else "**different from the input**"
    st.markdown(f"Eval mode on the same layer: `{art.tables['eval'].eval_output.tolist()}`, {ident}.")
    st.markdown(
        "**The mean is kept, the variance is not.** A kept value is $a_i/(1-p)$, so "
        "$\\mathbb E[\\tilde a_i^2] = a_i^2/(1-p)$ and $\\operatorname{Var}(\\tilde a_i) = a_i^2\\,p/(1-p)$. "
        f"Measured over the same {masks:,} masks:"
    )
    m = controls.metric_row(3)
    m[0].metric("Variance of the 8 inputs", f"{s['var_input']:.2f}", help="Eval mode passes exactly this on.")
    m[1].metric(
        "Variance after dropout (measured)",
        f"{s['var_dropped']:.2f}",
        help="Over all units and masks: mean(ã²) − mean(ã)².",
    )
    m[2].metric(
        "Formula mean(a²)/(1−p) − mean(a)²",
        f"{s['var_dropped_formula']:.2f}",
        help="What the measured value should approach.",
    )
    st.markdown(
        "So a layer after dropout sees values that spread more in training than at test time "
        + (
            f"(here {s['var_dropped'] / s['var_input']:.1f}× the variance). "
            if s["var_input"] > 0 and s["var_dropped"] > s["var_input"]
            else ". "
        )
        + "The layer after it learns on the wider spread; it is one reason why dropout placed just before "
        "batch norm behaves differently in training and eval mode (Li et al., 2019)."
    )
    runner.downloads("dropout_article", art, art_params)

st.subheader("Typical rates")
st.markdown(
    "- **Input features**: little or none (0 – 0.1); throwing away raw inputs loses information you cannot get back.\n"
    "- **Convolutional layers**: light (0.1 – 0.3); neighbouring pixels already carry overlapping information.\n"
    "- **Wide fully connected hidden layers**: the classic 0.3 – 0.5.\n"
    "- **The outputs themselves (the logits)**: never; predictions should not be random.\n"
    "- **Just before the output layer**: the article uses none. The networks on this page, like many "
    "MLPs (Srivastava et al.'s among them), drop after *every* hidden activation, the last one included: "
    "the output layer's inputs are dropped, its outputs never.\n\n"
    "More dropout regularises harder but slows learning; less dropout trains faster but overfits sooner."
)

# ---------------------------------------------------------------------------------------------
TRAIN_IMAGES = split_sizes("digits")[0]
st.header("Going further: real training")
st.markdown(
    "To see overfitting we need a model that is much larger than its data: a **wide ReLU network** "
    f"trained with Adam (lr {dropout_exp.DEFAULT_LR:g}, batches of {dropout_exp.DEFAULT_BATCH}, no batch norm) "
    "on a **small subset** of the digits. To give it something worth memorising, the **Label noise** control "
    "flips a fraction of the training labels **to a wrong class** (at 0 they stay clean); validation and test "
    "labels stay clean. A network "
    "that memorises the flipped labels gets worse on new images, which is the harm dropout is meant to limit "
    "(Arpit et al., 2017; Zhang et al., 2017). The same network is trained once per dropout rate and seed "
    "(the sidebar seed and the next ones), all rates of a seed from the same initial weights. Training "
    "accuracy is measured **with dropout switched off** at the end of each epoch, against the "
    "training labels (flipped ones included), so train and validation numbers compare like with like. "
    "Validation picks nothing here: the result is the accuracy on the **test** split, which no run trains or stops on."
)
c = st.columns([2, 1.2, 1, 1, 1.2])
rates = controls.multiselect(
    "Dropout rates",
    "rates",
    (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    dropout_exp.DEFAULT_RATES,
    container=c[0],
    help="One network per rate and seed, dropout after every hidden activation (the last one included). "
    "0 = no dropout, the baseline every other rate is compared with.",
    format_func=lambda r: f"{r:g}",
)
n_train = controls.slider(
    "Training images",
    "ntrain",
    50,
    1000,
    dropout_exp.DEFAULT_N_TRAIN,
    step=10,
    container=c[1],
    help=f"A stratified subset of the {TRAIN_IMAGES} training images. Fewer images = easier to memorise.",
)
width = controls.select_slider(
    "Width",
    "width",
    (64, 128, 256, 512),
    dropout_exp.DEFAULT_WIDTH,
    container=c[2],
    help="Units per hidden layer.",
)
depth = controls.slider(
    "Hidden layers", "depth", 1, 4, dropout_exp.DEFAULT_DEPTH, container=c[3], help="Number of hidden layers."
)
epochs = controls.slider(
    "Epochs",
    "epochs",
    10,
    200,
    dropout_exp.DEFAULT_EPOCHS,
    step=10,
    container=c[4],
    help="Passes over the training subset.",
)
c = st.columns([2, 1])
label_noise = controls.label_noise_slider(dropout_exp.DEFAULT_LABEL_NOISE, container=c[0])
n_seeds = controls.seeds_slider("Seeds per rate", DEFAULT_SEEDS, container=c[1])
if not rates:
    st.warning("Pick at least one dropout rate; showing the default rates.")
    rates = list(dropout_exp.DEFAULT_RATES)
params = {
    "rates": tuple(sorted(rates)),
    "n_train": n_train,
    "width": width,
    "depth": depth,
    "epochs": epochs,
    "label_noise": label_noise,
    "seed": seed,
    "seeds": n_seeds,
}
res, params = runner.run_on_demand(
    "dropout",
    "Training one network per dropout rate and seed…",
    what="one network per dropout rate and seed",
    **params,
)
if res is not None:
    table, s = res.tables["summary"], res.summary
    cmp, seeds = s["comparison"], s["seeds"]
    seeds_txt = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"
    band = f"mean of {seeds_txt}" + (", band: min to max" if len(seeds) > 1 else "")
    m = controls.metric_row(len(table))
    for col, r in zip(m, table.itertuples()):
        diff = None if cmp is None or r.run == cmp["baseline"] else cmp["diff"][r.run]
        flag = None if cmp is None else cmp["beyond_noise"].get(r.run)
        col.metric(
            f"{r.run}: test accuracy",
            pct(r.final_test_acc),
            delta=None if diff is None else f"{diff * 100:+.1f} pts vs p=0",
            delta_color="off" if flag is not True else "normal",
            help=f"Final test accuracy, mean of {seeds_txt}: {pct(r.final_test_acc_min)} to "
            f"{pct(r.final_test_acc_max)}. Train − validation gap {pts(r.gap)}."
            + ("" if diff is None else f" Against p = 0: {noise_words(flag)}."),
        )
    curves, long = res.tables["curves"], res.tables["curves_long"]
    fit = long[long["split"].isin(["train", "validation"])]
    t_test, t_acc, t_loss, t_gap, t_runs = st.tabs(
        ["Test accuracy", "Train vs validation accuracy", "Loss", "Train − validation gap", "Every run"]
    )
    with t_test:
        runner.show_chart(
            charts.band_line_chart(
                curves,
                "epoch",
                "test_acc",
                "test_acc_min",
                "test_acc_max",
                "run",
                integer_x=True,
                title=f"Test accuracy per epoch ({band})",
                x_title="epoch (from 0)",
                y_title="test accuracy",
            )
        )
    with t_acc:
        runner.show_chart(
            charts.line_chart(
                long[long["split"].isin(["train", "validation", dropout_exp.RUNNING])],
                "epoch",
                "accuracy",
                "run",
                dash="split",
                x_title="epoch (from 0)",
                y_title="accuracy",
                title=f"Accuracy, mean of {seeds_txt} (train: eval mode, against the training labels)",
            )
        )
        st.caption(
            f"*{dropout_exp.RUNNING}* is the average over each epoch's mini-batches while training, with dropout "
            "on and the weights still moving; *train* is one pass with dropout off after the epoch."
        )
    with t_loss:
        runner.show_chart(
            charts.line_chart(
                fit,
                "epoch",
                "loss",
                "run",
                dash="split",
                log_y=True,
                x_title="epoch (from 0)",
                y_title="loss (log)",
                title=f"Cross-entropy loss, log scale, mean of {seeds_txt} (train: eval mode)",
            )
        )
    with t_gap:
        runner.show_chart(
            charts.band_line_chart(
                curves,
                "epoch",
                "gap",
                "gap_min",
                "gap_max",
                "run",
                integer_x=True,
                title=f"Training accuracy minus validation accuracy ({band})",
                x_title="epoch (from 0)",
                y_title="accuracy gap",
            )
        )
    with t_runs:
        runner.show_table(res.tables["runs"])

    if cmp is not None and len(cmp["mean"]) > 1:
        others = [v for v in cmp["mean"] if v != cmp["baseline"]]
        base_txt = f"{cmp['mean'][cmp['baseline']]:.1%}" + (
            "" if cmp["spread"][cmp["baseline"]] is None else f", spread {cmp['spread'][cmp['baseline']] * 100:.1f} pts"
        )
        parts = []
        for v in others:
            sp = cmp["spread"][v]
            parts.append(
                f"**{v}** {cmp['mean'][v]:.1%}"
                + ("" if sp is None else f" (spread {sp * 100:.1f} pts)")
                + f", {cmp['diff'][v] * 100:+.1f} pts: **{noise_words(cmp['beyond_noise'][v])}**"
            )
        better = [v for v in others if cmp["beyond_noise"][v] and cmp["diff"][v] > 0]
        worse = [v for v in others if cmp["beyond_noise"][v] and cmp["diff"][v] < 0]
        verdict = f"Final test accuracy over {seeds_txt}, against no dropout ({base_txt}): " + "; ".join(parts) + ". "
        if len(seeds) < 2:
            verdict += "Add seeds to tell a difference from run-to-run variation."
        elif better:
            verdict += f"Here dropout at {', '.join(better)} scores better on new images than no dropout"
            verdict += "." if not worse else f", while {', '.join(worse)} scores worse."
        elif worse:
            verdict += f"Here dropout at {', '.join(worse)} scores worse on new images than no dropout."
        else:
            verdict += "At these settings dropout makes no difference that stands out from seed noise."
    else:
        verdict = "Add the rate 0 to compare with no dropout at all."
    gaps = {r.run: r.gap for r in table.itertuples() if r.gap is not None and not pd.isna(r.gap)}
    gap_txt = (
        f"Final train − validation gap (mean of {seeds_txt}): "
        + ", ".join(f"{k} {100 * g:.1f} points" for k, g in gaps.items())
        + "."
        if gaps
        else ""
    )
    noisy = (
        f" With {label_noise:.0%} of the training labels flipped, a network that learned only the true classes "
        f"would score about {1 - label_noise:.0%} on the training labels: training accuracy above that is "
        "memorised noise."
        if label_noise > 0
        else ""
    )
    st.markdown(
        "Without dropout a network this size can **memorise** its small training set: the training loss dives "
        "and the validation loss stops following. "
        + gap_txt
        + noisy
        + "\n\n"
        + verdict
        + " Dropout is a regulariser, not a cure; it is often combined with early stopping and weight decay."
    )
    runner.show_table(table)

    st.subheader("Dropout as an ensemble")
    st.markdown(
        "Each training step uses a different sub-network (a random mask). The article's view: at test time the "
        "full network, every unit on, **approximates the average prediction of all those sub-networks**. "
        "Check it on the trained networks above: average the predicted probabilities of K masked forward "
        "passes and compare with the single eval-mode pass, on the validation images (mean over the seeds)."
    )
    ens = res.tables["ensemble"]
    if not len(ens):
        st.info("Pick a dropout rate above 0 to see the ensemble view.")
    else:
        lines = pd.concat(
            [
                ens.assign(pass_="average of K masked passes", accuracy=ens["acc_mc"]),
                ens.assign(pass_="single eval-mode pass", accuracy=ens["acc_eval"]),
            ],
            ignore_index=True,
        ).rename(columns={"pass_": "pass"})
        runner.show_chart(
            charts.line_chart(
                lines,
                "K",
                "accuracy",
                "pass",
                dash="run",
                log_x=True,
                points=True,
                title=f"Validation accuracy: average of K masked passes vs the single eval-mode pass ({seeds_txt})",
                x_title="K, masked passes averaged (log scale)",
                y_title="validation accuracy",
            )
        )
        words, runs = [], []
        n = s["n_val"]
        for run_name, v in s["rates"].items():
            if "ensemble_acc_eval" not in v:
                continue
            runs.append(v)
            diff = round((v["ensemble_acc_kmax"] - v["ensemble_acc_eval"]) * n)
            near = (
                "about the same number of images right"
                if diff == 0
                else f"about {abs(diff)} image{'s' if abs(diff) != 1 else ''} "
                + ("more" if diff > 0 else "fewer")
                + " right"
            )
            words.append(
                f"**{run_name}**: one masked pass {v['ensemble_acc_k1']:.1%}, the average of "
                f"{v['ensemble_kmax']} passes {v['ensemble_acc_kmax']:.1%}, the eval pass {v['ensemble_acc_eval']:.1%} "
                f"({near} than the eval pass, out of {n}; the two predict the same class for "
                f"{v['ensemble_agree_kmax']:.1%} of the images)."
            )
        weaker = all(v["ensemble_k1_weaker_seeds"] == v["ensemble_seeds"] for v in runs)
        closer = all(v["ensemble_closer_seeds"] == v["ensemble_seeds"] for v in runs)
        every = "in every seed" if len(seeds) > 1 else "in this seed"
        st.markdown(
            "\n".join(f"- {w}" for w in words)
            + "\n\n"
            + (f"Here a single masked pass is less accurate than the eval pass {every}. " if weaker else "")
            + (
                f"Averaging more masked passes agrees with the eval pass on more images {every}: the one eval-mode "
                "pass stands in for the average of many sub-networks."
                if closer
                else f"Here averaging more masked passes does not bring the prediction closer to the eval pass {every}."
            )
        )
        runner.show_table(ens)
    runner.downloads("dropout", res, params)

controls.page_footer()
