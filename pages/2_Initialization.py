"""Initialization: the article's 20-layer forward pass, the naming of the rules, real training."""

import math

import pandas as pd
import streamlit as st

from engine.experiments import initialization as init_exp
from engine.experiments.common import DEFAULT_SEEDS, noise_words
from engine.experiments.initialization import TANH_GAIN
from engine.init import DESCRIPTIONS, STRATEGIES, init_std
from engine.layers import ACTIVATIONS
from ui import charts, controls, quiz, runner

seed = controls.page_setup(
    "Initialization",
    "Before the first training step, the random weights alone decide whether a signal can cross a "
    "deep network. **Too small** and it shrinks layer after layer; **too large** and it grows without "
    "limit. The right scale depends on the layer's width and on the activation.",
)
quiz.ask("init")


def sci(df: pd.DataFrame, cols) -> pd.DataFrame:
    """Format the given float columns in scientific notation for display."""
    out = df.copy()
    for c in cols:
        out[c] = [f"{v:.4e}" if pd.notna(v) else "" for v in out[c]]
    return out


# ---------------------------------------------------------------------------------------------
st.header("As in the article")
st.markdown(
    "A batch **X** of 100 samples with 64 features drawn from N(0, 1) goes through **20 layers** of "
    "64 ReLU units, with no bias and no batch norm: $a \\leftarrow \\max(0,\\, aW)$. Only the scale "
    "of W changes between the three runs:"
)
st.markdown(
    "- **small**: $W \\sim 0.01\\cdot\\mathcal N(0,1)$\n"
    "- **large**: $W \\sim \\mathcal N(0,1)$\n"
    "- **he**: $W \\sim \\mathcal N(0,1)\\cdot\\sqrt{2/\\text{fan}_\\text{in}}$"
)
art_params = dict(strategies=("small", "large", "he"), depth=20, width=64, activation="relu", n_samples=100, seed=seed)
art = runner.run("init_forward", "Pushing data through 20 layers…", **art_params)
if art is not None:
    final = art.tables["final"]
    c = controls.metric_row(len(final))
    for col, r in zip(c, final.itertuples()):
        col.metric(
            f"{r.strategy}: std after 20 layers",
            f"{r.std:.2e}" if pd.notna(r.std) else "overflow",
            help=DESCRIPTIONS[r.strategy],
        )
    table = sci(final, ["mean", "std"]).rename(columns={"dead": "dead units", "units": "of"})
    runner.show_table(table)
    ends = {r.strategy: r.std for r in final.itertuples()}
    factor = {k: init_std(k, 64, 64) * (64 / 2) ** 0.5 for k in ends}
    st.markdown(
        f"After 20 layers **small** is down to a std of {ends['small']:.0e}: every input gives (almost) the "
        f"same nothing. **large** is up to {ends['large']:.0e}, and training would soon hit inf. "
        f"**he** ends at {ends['he']:.2f}, of order one. Each ReLU layer multiplies the typical size of the "
        "signal by about $\\sigma_W\\sqrt{\\text{fan}_\\text{in}/2}$ (the rule below): "
        f"{factor['small']:.2g} for small, {factor['large']:.2g} for large and "
        f"{factor['he']:.0f} for he, **on average** over the random weights (one draw lands a little above or "
        f"below). Twenty layers turn that into ${factor['small']:.2g}^{{20}}$ and ${factor['large']:.2g}^{{20}}$."
    )
    st.caption(
        "Why the same number of dead units in all three rows? The weights come from the same seed, so "
        "the three networks differ only by a constant factor, and ReLU does not care about a positive "
        "factor: the same units end up at zero, only the size of the survivors changes. "
        "Like the article, each strategy's weights are drawn after reseeding with 42. The article's X is "
        "not seeded, so its printed values vary slightly from run to run; here X comes from the sidebar seed."
    )
    runner.downloads("init_forward", art, art_params, key="init_article")

st.subheader("Where the scales come from: three lines")
st.markdown(
    "A unit adds up fan_in inputs, each times its own random weight. With the weights independent of "
    "the inputs and of mean zero:"
)
st.latex(
    r"\begin{aligned} z_j &= \textstyle\sum_{i=1}^{\text{fan}_\text{in}} a_i W_{ij} \\"
    r" \operatorname{Var}(z_j) &= \textstyle\sum_i \mathbb E[a_i^2]\,\operatorname{Var}(W_{ij}) \\"
    r" &= \text{fan}_\text{in}\cdot\operatorname{Var}(W)\cdot\mathbb E[a^2] \end{aligned}"
)
st.markdown(
    "Note $\\mathbb E[a^2]$, not $\\operatorname{Var}(a)$: a mean that is not zero counts too. "
    "ReLU keeps half of a symmetric $z$, so $\\mathbb E[a^2] = \\operatorname{Var}(z)/2$, and "
    "$\\operatorname{Var}(W) = 2/\\text{fan}_\\text{in}$ (**he**) keeps the variance the same from layer "
    "to layer. tanh has slope 1 at zero, so near zero $\\mathbb E[a^2] \\approx \\operatorname{Var}(z)$ "
    "and $1/\\text{fan}_\\text{in}$ (**xavier**) fits a small signal. The *Table* tab below shows both "
    "sides of the rule for every layer (`z_std` measured, `z_std_predicted` from the rule)."
)
st.markdown(
    "**Does Xavier suit sigmoid and tanh, as the article says?** The same 20 layers of 64, with xavier, and "
    "for tanh also with tanh's gain 5/3 (PyTorch's `calculate_gain('tanh')`):"
)
chk = runner.run(
    "init_forward",
    "Checking sigmoid and tanh…",
    strategies=("xavier",),
    depth=20,
    width=64,
    activation="sigmoid",
    seed=seed,
)
chk_tanh = runner.run(
    "init_forward",
    "Checking sigmoid and tanh…",
    strategies=("xavier",),
    depth=20,
    width=64,
    activation="tanh",
    tanh_gain=True,
    seed=seed,
)
if chk is not None and chk_tanh is not None:
    sg, tx, tg = chk.summary["xavier"], chk_tanh.summary["xavier"], chk_tanh.summary[TANH_GAIN]
    m = controls.metric_row(3)
    m[0].metric(
        "sigmoid + xavier: layer 20",
        f"mean {sg['mean']:.2f}, std {sg['std']:.2f}",
        help="Mean and std of the activations after 20 layers (the input has mean 0, std 1).",
    )
    m[1].metric(
        "tanh + xavier: std, layer 1 → 20",
        f"{tx['first_std']:.2f} → {tx['std']:.3f}",
        help="xavier's std 1/sqrt(fan_in).",
    )
    m[2].metric(
        "tanh + xavier×5/3: std, layer 1 → 20",
        f"{tg['first_std']:.2f} → {tg['std']:.3f}",
        help="xavier's std times 5/3: torch's kaiming_normal_(nonlinearity='tanh').",
    )
    share = sg["mean_share_of_square"]
    st.markdown(
        f"**Sigmoid: no.** Its outputs sit around {sg['mean']:.2f} with a slope of at most 1/4, so what the next "
        f"layer sees is mostly that constant: the mean makes up **{share:.0%}** of $\\mathbb E[a^2]$ at layer 20, "
        f"and the part that differs between inputs has a std of only {sg['std']:.2f}. xavier keeps "
        "$\\operatorname{Var}(z)$ steady only because that constant feeds it; it does not keep the signal. "
        f"**tanh: only near zero.** With xavier the spread sags from {tx['first_std']:.2f} to {tx['std']:.3f} "
        f"over 20 layers, because tanh flattens away from zero; with the gain 5/3 it goes from "
        f"{tg['first_std']:.2f} to {tg['std']:.3f}" + (", about flat." if tg["std"] > 0.5 * tg["first_std"] else ".")
    )

st.subheader("Which rule is which: Xavier, Glorot, LeCun")
st.markdown(
    "The article calls $\\sqrt{1/\\text{fan}_\\text{in}}$ **Xavier**. That rule is really **LeCun's** (1998). "
    "Xavier Glorot and Yoshua Bengio (2010) average the two widths, "
    "$\\sqrt{2/(\\text{fan}_\\text{in}+\\text{fan}_\\text{out})}$, which is what PyTorch's "
    "`xavier_normal_` draws. The two agree **only when fan_in = fan_out**. "
    "Here *xavier* follows the article and *glorot* is Glorot's own rule."
)
rules = runner.run("init_rules", "Computing the rules…")
if rules is not None:
    st.caption("Standard deviation of the weights of a layer with fan_in = 256 inputs:")
    runner.show_table(rules.tables["rules_wide"])
    r = rules.summary
    st.markdown(
        f"With 256 outputs xavier and glorot agree ({r['xavier_256']:.4f}); with 64 or 10 outputs glorot is larger "
        f"({r['glorot_64']:.4f}, {r['glorot_10']:.4f}), only because it averages in the smaller fan_out. "
        "That is not a correction for ReLU: he's factor 2 comes from ReLU zeroing half its inputs (the rule above)."
    )

# ---------------------------------------------------------------------------------------------
st.header("Going further")
st.markdown(
    "All five rules, any depth, width and activation. Each line shows how the spread (standard "
    "deviation) of the activations evolves layer by layer: **flat is healthy**. Try **tanh** and "
    "**sigmoid**, and tanh's gain; the histograms show where units pin at the flat tails."
)
c = st.columns(4)
inits = controls.multiselect(
    "Initialisations",
    "inits",
    STRATEGIES,
    STRATEGIES,
    help="Which rules to compare (used in both experiments below).",
    container=c[0],
)
act = controls.select(
    "Activation",
    "act",
    tuple(ACTIVATIONS),
    "relu",
    help="The non-linearity after every layer (both experiments).",
    container=c[1],
)
depth = controls.slider("Depth", "depth", 1, 100, 20, help="Layers in the stack.", container=c[2])
width = controls.select_slider(
    "Width",
    "width",
    (16, 32, 64, 128, 256, 512),
    64,
    help="Units per layer (the input has as many features).",
    container=c[3],
)
if not inits:
    st.warning("Pick at least one initialisation; showing all five.")
    inits = list(STRATEGIES)
c = st.columns([3, 1])
hist_layers = controls.multiselect(
    "Histogram layers",
    "layers",
    tuple(range(1, 101)),
    (1, 10, 20),
    help="Layers whose activations are shown as histograms (layers deeper than the stack are skipped).",
    container=c[0],
)
gain = controls.toggle(
    f"Add {TANH_GAIN}",
    "gain",
    False,
    help="One more line: xavier's std times tanh's gain 5/3 (torch's kaiming_normal_(nonlinearity='tanh')).",
    container=c[1],
)
fwd_params = dict(
    strategies=tuple(inits),
    depth=depth,
    width=width,
    activation=act,
    n_samples=100,
    hist_layers=tuple(hist_layers) or (depth,),
    seed=seed,
    tanh_gain=gain,
)
fwd = runner.run("init_forward", "Pushing data through the stack…", **fwd_params)
if fwd is not None:
    st.caption(
        f"With every layer {width} → {width}, *xavier* and *glorot* are the same rule here: their lines coincide."
        if {"xavier", "glorot"} <= set(inits)
        else ""
    )
    t = st.tabs(["Std per layer", "Histograms", "Dead units per layer", "Table"])
    with t[0]:
        runner.show_layer_chart(
            charts.line_chart(
                fwd.tables["layers"],
                "layer",
                "std",
                "strategy",
                log_y=True,
                points=depth <= 30,
                title=f"Standard deviation of the activations ({act}), log scale",
                x_title="layer",
                y_title="std of activations",
            )
        )
        flat = {
            k: v["std"] / v["first_std"]
            for k, v in fwd.summary.items()
            if v["std"] is not None and v["first_std"] and v["std"] > 0
        }
        if flat:
            best = min(flat, key=lambda k: abs(math.log(flat[k])))
            st.caption(
                f"Here ({act}, {depth} layers of {width}) the flattest line is **{best}**: its std changes by a "
                f"factor {flat[best]:.3g} from layer 1 to layer {depth}."
            )
    with t[1]:
        runner.show_chart(
            charts.initialization_histogram_chart(
                fwd.tables["histograms"], title="Activation values at the chosen layers (each panel has its own axes)"
            )
        )
        h = fwd.tables["histograms"]
        zeros = (
            float((h.groupby(["strategy", "layer"])["zeros_left_out"].first() / (100 * width)).mean()) if len(h) else 0
        )
        st.caption(
            "Read the numbers on each x axis: the shapes can look alike while the scales differ by many orders of "
            "magnitude. Exact zeros are left out of the bars (hover a bar to see how many)"
            + (f": here {zeros:.0%} of the values on average." if zeros > 0 else "; here there are none.")
            + (
                " With ReLU and no bias, small, large and he give the same shape at different scales: ReLU ignores "
                "a positive factor, so only the axis numbers change."
                if act == "relu"
                else ""
            )
        )
    with t[2]:
        runner.show_layer_chart(
            charts.line_chart(
                fwd.tables["layers"],
                "layer",
                "dead",
                "strategy",
                points=depth <= 30,
                title="Units that output exactly 0 for every sample",
                x_title="layer",
                y_title=f"dead units (of {width})",
            )
        )
    with t[3]:
        runner.show_table(sci(fwd.tables["final"], ["mean", "std"]))
        runner.show_table(fwd.tables["layers"])
    runner.downloads("init_forward", fwd, fwd_params)

st.subheader("Real training: which initialisations learn?")
st.markdown(
    "A deep MLP is trained on the real digits data (a subset, for speed) **without batch norm**, so "
    "nothing rescues a bad start. Same data and optimiser, several seeds per rule (the sidebar seed and the "
    "next ones): only the initial weight scale changes. A difference counts only when it is **bigger than the "
    "spread over the seeds**. Validation picks the best rule; the accuracies reported are on the **test** "
    "split, which no run trains or stops on."
)
c = st.columns(6)
tdepth = controls.slider(
    "Depth", "tdepth", 2, 20, init_exp.DEFAULT_DEPTH, help="Hidden layers of the trained network.", container=c[0]
)
twidth = controls.select_slider("Width", "twidth", (32, 64, 128), 64, help="Units per hidden layer.", container=c[1])
opt = controls.select(
    "Optimiser",
    "opt",
    ("sgd", "adam"),
    "sgd",
    help="SGD follows the raw gradient; Adam rescales each weight's step.",
    container=c[2],
)
lr = controls.select_slider(
    "Learning rate",
    "lr",
    (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3),
    0.1,
    help="SGD works around 0.1 here, Adam around 0.001.",
    container=c[3],
)
n_train = 500
epochs = controls.slider(
    "Epochs",
    "epochs",
    2,
    40,
    init_exp.DEFAULT_EPOCHS,
    help=f"Passes over the {n_train} training images.",
    container=c[4],
)
n_seeds = controls.seeds_slider("Seeds per rule", DEFAULT_SEEDS, container=c[5])
train_params = dict(
    inits=tuple(inits),
    depth=tdepth,
    width=twidth,
    activation=act,
    optimizer=opt,
    lr=lr,
    epochs=epochs,
    n_train=n_train,
    batch_size=32,
    seed=seed,
    seeds=n_seeds,
)
tr, train_params = runner.run_on_demand(
    "init_training",
    "Training one network per initialisation and seed…",
    what="one network per initialisation and seed",
    **train_params,
)
if tr is not None:
    summ = tr.tables["summary"]
    cmp = tr.summary["comparison"]
    seeds = tr.summary["seeds"]
    of_seeds = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"
    for r in summ.itertuples():
        if pd.notna(r.diverged_epoch):
            st.warning(
                f"**{r.run}**: the loss became inf/NaN in epoch {r.diverged_epoch} in {r.diverged_seeds} of "
                f"{r.seeds} seeds; training stopped there."
            )
    c = controls.metric_row(len(summ))
    for col, r in zip(c, summ.itertuples()):
        flag = None if cmp is None or r.run == cmp["baseline"] else cmp["beyond_noise"][r.run]
        diff = None if cmp is None or r.run == cmp["baseline"] or pd.isna(r.final_test_acc) else cmp["diff"][r.run]
        col.metric(
            f"{r.run}: test accuracy",
            f"{r.final_test_acc:.1%}" if pd.notna(r.final_test_acc) else "diverged",
            delta=None if diff is None else f"{diff * 100:+.1f} pts vs {cmp['baseline']}",
            delta_color="normal" if flag else "off",
            help=f"Test accuracy after the last epoch, mean of {of_seeds}"
            + (
                f": {r.final_test_acc_min:.1%} to {r.final_test_acc_max:.1%}."
                if pd.notna(r.final_test_acc) and r.seeds > 1
                else "."
            )
            + ("" if cmp is None or r.run == cmp["baseline"] else f" Against {cmp['baseline']}: {noise_words(flag)}.")
            + " Chance is 10 %.",
        )
    band = f"mean of {of_seeds}" + ("; band: min to max" if len(seeds) > 1 else "")
    runner.show_chart(
        charts.band_line_chart(
            tr.tables["curves"],
            "epoch",
            "val_acc",
            "val_acc_min",
            "val_acc_max",
            "run",
            integer_x=True,
            title=f"Validation accuracy per epoch ({band})",
            x_title="epoch (from 0)",
            y_title="validation accuracy",
        )
    )
    st.markdown(" ".join(tr.summary["verdict_text"]))
    if cmp is None:
        st.info("Add **he** to the initialisations to compare every rule with it.")
    runner.show_table(
        summ[
            [
                "run",
                "seeds",
                "first_val_acc",
                "final_val_acc",
                "final_test_acc",
                "final_test_acc_min",
                "final_test_acc_max",
                "diverged_seeds",
                "diverged_epoch",
            ]
        ]
    )
    with st.expander("Every run"):
        runner.show_table(tr.tables["runs"])
    runner.downloads("init_training", tr, train_params)

controls.page_footer()
