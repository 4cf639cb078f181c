"""Dropout: the article's mask samples and the inverted scaling, then a real overfitting run."""

import pandas as pd
import streamlit as st

from engine.datasets import n_train_available
from ui import charts, controls, quiz, runner

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
TRAIN_IMAGES = n_train_available("digits")
st.header("Going further: real training")
st.markdown(
    "To see overfitting we need a model that is much larger than its data: a **wide ReLU network** "
    "trained with Adam (lr 0.003, batches of 32, no batch norm) on a **small subset** of the digits, "
    "evaluated on the whole validation split. The same network is trained once per dropout rate. "
    "Training accuracy is measured **with dropout switched off**, on the same weights, so train and "
    "validation numbers compare like with like."
)
c = st.columns([2, 1.2, 1, 1, 1.2])
rates = controls.multiselect(
    "Dropout rates",
    "rates",
    (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    (0.0, 0.3, 0.5),
    container=c[0],
    help="One network per rate, dropout after every hidden activation (the last one included). 0 = no dropout.",
    format_func=lambda r: f"{r:g}",
)
n_train = controls.slider(
    "Training images",
    "ntrain",
    50,
    1000,
    200,
    step=10,
    container=c[1],
    help=f"A stratified subset of the {TRAIN_IMAGES} training images. Fewer images = easier to memorise.",
)
width = controls.select_slider(
    "Width",
    "width",
    (64, 128, 256, 512),
    256,
    container=c[2],
    help="Units per hidden layer.",
)
depth = controls.slider("Hidden layers", "depth", 1, 4, 2, container=c[3], help="Number of hidden layers.")
epochs = controls.slider(
    "Epochs",
    "epochs",
    10,
    200,
    50,
    step=10,
    container=c[4],
    help="Passes over the training subset.",
)
if not rates:
    st.warning("Pick at least one dropout rate; showing 0, 0.3 and 0.5.")
    rates = [0.0, 0.3, 0.5]
params = {
    "rates": tuple(sorted(rates)),
    "n_train": n_train,
    "width": width,
    "depth": depth,
    "epochs": epochs,
    "seed": seed,
}
res, params = runner.run_on_demand(
    "dropout",
    "Training one network per dropout rate…",
    what="one network per dropout rate",
    **params,
)
if res is not None:
    table = res.tables["summary"]
    m = controls.metric_row(len(table))
    for col, r in zip(m, table.itertuples()):
        col.metric(
            f"{r.run}: validation accuracy",
            f"{r.final_val_acc:.1%}",
            delta=f"gap {100 * r.gap:.1f} points",
            delta_color="off",
            delta_arrow="off",
            help="Final validation accuracy; the gap is training accuracy minus validation accuracy.",
        )
    curves, long = res.tables["curves"], res.tables["curves_long"]
    t_acc, t_loss, t_gap = st.tabs(["Accuracy", "Loss", "Train − validation gap"])
    with t_acc:
        runner.show_chart(
            charts.line_chart(
                long,
                "epoch",
                "acc",
                "run",
                dash="split",
                x_title="epoch (from 0)",
                y_title="accuracy",
                title="Accuracy (solid: train, dashed: validation)",
            )
        )
    with t_loss:
        runner.show_chart(
            charts.line_chart(
                long,
                "epoch",
                "loss",
                "run",
                dash="split",
                log_y=True,
                x_title="epoch (from 0)",
                y_title="loss (log)",
                title="Cross-entropy loss, log scale (solid: train, dashed: validation)",
            )
        )
    with t_gap:
        runner.show_chart(
            charts.line_chart(
                curves,
                "epoch",
                "gap",
                "run",
                title="Training accuracy minus validation accuracy",
                x_title="epoch (from 0)",
                y_title="accuracy gap",
                hline=0.0,
            )
        )
    gaps = {r.rate: r.gap for r in table.itertuples()}
    if 0.0 in gaps and len(gaps) > 1:
        others = {r: g for r, g in gaps.items() if r > 0}
        narrower = [r for r, g in others.items() if g < gaps[0.0]]
        verdict = (
            f"Here the final gap is {100 * gaps[0.0]:.1f} points without dropout and "
            + ", ".join(f"{100 * g:.1f} at p = {r:g}" for r, g in others.items())
            + (
                f": dropout narrows it at {', '.join(f'p = {r:g}' for r in narrower)}."
                if narrower
                else ": dropout does not narrow it at these settings."
            )
            + " One seed: change the sidebar seed to see how much of that is noise."
        )
    else:
        verdict = "Add the rate 0 to compare with no dropout at all."
    st.markdown(
        "Without dropout a network this size can **memorise** its small training set: the training loss dives "
        "and the validation loss stops following. "
        + verdict
        + " Dropout is a regulariser, not a cure; it is often combined with early stopping and weight decay."
    )
    runner.show_table(table)

    st.subheader("Dropout as an ensemble")
    st.markdown(
        "Each training step uses a different sub-network (a random mask). The article's view: at test time the "
        "full network, every unit on, **approximates the average prediction of all those sub-networks**. "
        "Check it on the trained networks above: average the predicted probabilities of K masked forward "
        "passes and compare with the single eval-mode pass, on the validation images."
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
                title="Validation accuracy: average of K masked passes vs the single eval-mode pass",
                x_title="K, masked passes averaged (log scale)",
                y_title="validation accuracy",
            )
        )
        words = []
        for run_name, v in res.summary.items():
            if "ensemble_acc_eval" not in v:
                continue
            n = v["n_val"]
            diff = round((v["ensemble_acc_kmax"] - v["ensemble_acc_eval"]) * n)
            near = (
                "the same number of images right"
                if diff == 0
                else f"{abs(diff)} image{'s' if abs(diff) != 1 else ''} " + ("more" if diff > 0 else "fewer") + " right"
            )
            words.append(
                f"**{run_name}**: one masked pass {v['ensemble_acc_k1']:.1%}, the average of "
                f"{v['ensemble_kmax']} passes {v['ensemble_acc_kmax']:.1%}, the eval pass {v['ensemble_acc_eval']:.1%} "
                f"({near} than the eval pass, out of {n}; the two predict the same class for "
                f"{v['ensemble_agree_kmax']:.1%} of the images)."
            )
        runs = [v for v in res.summary.values() if "ensemble_acc_eval" in v]
        weaker = all(v["ensemble_acc_k1"] < v["ensemble_acc_eval"] for v in runs)
        closer = all(v["ensemble_agree_kmax"] > v["ensemble_agree_k1"] for v in runs)
        st.markdown(
            "\n".join(f"- {w}" for w in words)
            + "\n\n"
            + ("Here a single masked pass is less accurate than the eval pass. " if weaker else "")
            + (
                "Averaging more masked passes agrees with the eval pass on more images: the one eval-mode pass "
                "stands in for the average of many sub-networks."
                if closer
                else "Here averaging more masked passes does not bring the prediction closer to the eval pass."
            )
            + " One seed: a few images either way may be run-to-run variation."
        )
        runner.show_table(ens)
    runner.downloads("dropout", res, params)

controls.page_footer()
