"""Initialization: the article's 20-layer forward pass, the naming of the rules, real training."""

import pandas as pd
import streamlit as st

from engine.init import DESCRIPTIONS, STRATEGIES
from engine.layers import ACTIVATIONS
from ui import charts, controls, quiz, runner


def show(chart):
    """Render a layer- or epoch-indexed chart with integer x ticks and compact log labels."""
    runner.show_chart(charts.gradients_axes(chart))


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
    st.markdown(
        "**small** collapses to about 1e-26: every input produces (almost) the same nothing. "
        "**large** blows up to about 1e14, and training would soon hit inf. **he** stays of order one. "
        "Each ReLU layer multiplies the typical size of the signal by about "
        "$\\sigma_W\\sqrt{\\text{fan}_\\text{in}/2}$: 0.06 for small, 5.7 for large and exactly 1 for he. "
        "Twenty layers turn that into $0.06^{20}$ and $5.7^{20}$."
    )
    st.caption(
        "Why the same number of dead units in all three rows? The weights come from the same seed, so "
        "the three networks differ only by a constant factor, and ReLU does not care about a positive "
        "factor: the same units end up at zero, only the size of the survivors changes. "
        "Like the article, each strategy's weights are drawn after reseeding with 42. The article's X is "
        "not seeded, so its printed values vary slightly from run to run; here X comes from the sidebar seed."
    )
    runner.downloads("init_forward", art, art_params, key="init_article")

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
    st.markdown(
        "With 256 outputs, xavier and glorot both give 0.0625; with 64 or 10 outputs glorot is larger and "
        "moves towards he (0.0884), which doubles the variance to make up for ReLU zeroing half its inputs."
    )

# ---------------------------------------------------------------------------------------------
st.header("Going further")
st.markdown(
    "All five rules, any depth, width and activation. Each line shows how the spread (standard "
    "deviation) of the activations evolves layer by layer: **flat is healthy**, and with ReLU only "
    "**he** is flat.\n\n"
    "Now try **tanh**. Its slope at zero is 1 (not ReLU's half-on, half-off), so the scale that keeps a "
    "small signal's size is $\\sqrt{1/\\text{fan}_\\text{in}}$, **xavier**. Its line still sags slowly, "
    "because tanh flattens away from zero, but the units stay in the useful middle. **he** holds the "
    "spread higher at the price of a few units near the flat tails, and **large** pins most of them at "
    "±1, where the slope, and so the gradient, is almost zero (see the histograms). **Sigmoid** outputs "
    "sit around 0.5 with a slope of at most 1/4: small squeezes every input to the same 0.5, large saturates."
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
hist_layers = controls.multiselect(
    "Histogram layers",
    "layers",
    tuple(range(1, 101)),
    (1, 10, 20),
    help="Layers whose activations are shown as histograms (layers deeper than the stack are skipped).",
)
fwd_params = dict(
    strategies=tuple(inits),
    depth=depth,
    width=width,
    activation=act,
    n_samples=100,
    hist_layers=tuple(hist_layers) or (depth,),
    seed=seed,
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
        show(
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
    with t[1]:
        runner.show_chart(
            charts.initialization_histogram_chart(
                fwd.tables["histograms"], title="Activation values at the chosen layers (each panel has its own axes)"
            )
        )
        st.caption(
            "Read the numbers on each x axis: the shapes can look alike while the scales differ by "
            "dozens of orders of magnitude. ReLU outputs exactly 0 for roughly half of the values; those zeros "
            "are left out of the bars (hover a bar to see how many) so the rest of the distribution stays visible. "
            "With ReLU, small, large and he give the same shape at different scales: only the axis numbers change."
        )
    with t[2]:
        show(
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
    "nothing rescues a bad start. Same data, same seed, same optimiser: only the initial weight scale changes."
)
c = st.columns(5)
tdepth = controls.slider("Depth", "tdepth", 2, 20, 8, help="Hidden layers of the trained network.", container=c[0])
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
epochs = controls.slider("Epochs", "epochs", 2, 40, 8, help="Passes over the 500 training images.", container=c[4])
train_params = dict(
    inits=tuple(inits),
    depth=tdepth,
    width=twidth,
    activation=act,
    optimizer=opt,
    lr=lr,
    epochs=epochs,
    n_train=500,
    batch_size=32,
    seed=seed,
)
tr, train_params = runner.run_on_demand(
    "init_training",
    "Training one network per initialisation…",
    what="one network per initialisation",
    **train_params,
)
if tr is not None:
    summ, markers = tr.tables["summary"], tr.tables["markers"]
    for r in summ.itertuples():
        if pd.notna(r.diverged_epoch):
            st.warning(
                f"**{r.run}**: the loss became inf/NaN in epoch {r.diverged_epoch}; training stopped there "
                "(dashed marker)."
            )
    c = controls.metric_row(len(summ))
    for col, r in zip(c, summ.itertuples()):
        col.metric(
            f"{r.run}: val accuracy",
            f"{r.final_val_acc:.1%}" if pd.notna(r.final_val_acc) else "diverged",
            help="Validation accuracy after the last epoch. Chance is 10 %.",
        )
    show(
        charts.line_chart(
            tr.tables["curves"],
            "epoch",
            "val_acc",
            "run",
            rules=markers,
            points=True,
            title="Validation accuracy per epoch",
            x_title="epoch",
            y_title="validation accuracy",
            hline=0.1,
            hline_label="chance (10 %)",
        )
    )
    st.markdown(
        "With the defaults (ReLU, SGD): **small** never leaves chance, because its gradients are too tiny "
        "to move anything; **large** produces an infinite loss at once; **xavier** and **glorot** learn, "
        "and **he**, made for ReLU, learns fastest. Switch the activation to **tanh**: xavier and glorot now "
        "do about as well as he, and large no longer overflows (tanh is bounded) but stays far behind with its "
        "saturated units."
    )
    runner.show_table(summ[["run", "first_val_acc", "final_val_acc", "best_epoch", "best_val_loss", "diverged_epoch"]])
    runner.downloads("init_training", tr, train_params)

controls.page_footer()
