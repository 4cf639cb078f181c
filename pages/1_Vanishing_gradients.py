"""Vanishing & exploding gradients: the article's derivative product, then real backprop."""

import pandas as pd
import streamlit as st

from engine.init import STRATEGIES
from engine.layers import ACTIVATIONS
from ui import charts, controls, quiz, runner


def show(chart):
    """Render a layer- or epoch-indexed chart with integer x ticks and compact log labels."""
    runner.show_chart(charts.gradients_axes(chart))


seed = controls.page_setup(
    "Vanishing & exploding gradients",
    "Backpropagation hands the learning signal from the output back to the input **one layer at a "
    "time**, and every layer multiplies it by its own factor. Many factors below 1 make the signal "
    "fade away; many factors above 1 make it blow up. Both happen silently: nothing crashes.",
)
quiz.ask("gradients")

# ---------------------------------------------------------------------------------------------
st.header("As in the article")
st.markdown(
    "By the chain rule, the gradient that reaches the first layer is a **product** with one factor "
    "per layer. For a sigmoid network each factor contains the sigmoid's slope "
    "$\\sigma'(z) = \\sigma(z)(1-\\sigma(z))$, which is **never larger than 0.25** (its value at $z=0$)."
)
st.latex(
    r"\frac{\partial L}{\partial W_1} \;\propto\; \prod_{l=1}^{N} \sigma'(z_l)"
    r"\;\le\; 0.25^{N}"
)
c1, c2 = st.columns([1, 2])
n_layers = controls.slider(
    "Number of layers N",
    "n",
    1,
    100,
    10,
    help="How many sigmoid derivatives to multiply. The article uses 10.",
    container=c1,
)
c2.caption(
    "Like the article, each layer draws its pre-activation z from N(0, 1). The article does not "
    "seed that draw, so its printed numbers change on every run; here the draws come from the "
    "sidebar seed, so a link always shows the same numbers."
)
prod = runner.run("derivative_product", "Multiplying derivatives…", depth=n_layers, seed=seed)
if prod is not None:
    s = prod.summary
    m = controls.metric_row(4)
    m[0].metric(f"Product after {n_layers} layers", f"{s['product']:.3g}", help="The seeded product of σ'(z).")
    m[1].metric(f"Upper bound 0.25^{n_layers}", f"{s['bound']:.3g}", help="Every factor at its maximum 0.25.")
    m[2].metric(
        "0.9^50", f"{s['pow_0.9_50']:.4f}", help="A factor just below 1, fifty times: the signal nearly vanishes."
    )
    m[3].metric("1.1^50", f"{s['pow_1.1_50']:.1f}", help="A factor just above 1, fifty times: the signal explodes.")
    show(
        charts.line_chart(
            prod.tables["series"],
            "layer",
            "value",
            "series",
            log_y=True,
            title="Size of the backward signal after N layers (log scale)",
            x_title="layers N the signal has passed through",
            y_title="product of per-layer factors",
        )
    )
    st.markdown(
        f"Each decade on the log axis is a factor of 10. After {n_layers} sigmoid layers the signal is "
        f"about **{s['product']:.1e}** of its starting size: the first layers learn "
        f"{1 / s['product']:.1e} times slower than the last one. The real draws sit below the bound "
        f"(here {s['product_vs_bound']:.2g} × the bound) because z is rarely exactly 0. "
        f"Even a factor as mild as 0.9 loses more than 99 % of the signal in 50 layers, and 1.1 grows it "
        f"more than a hundredfold."
    )
    with st.expander("Per-layer factors"):
        runner.show_table(prod.tables["factors"])
    runner.downloads("derivative_product", prod, {"depth": n_layers, "seed": seed})

# ---------------------------------------------------------------------------------------------
st.header("Going further: real backprop")
st.markdown(
    "The product above is a cartoon: it ignores the weights. Here a **real MLP** does one forward "
    "and one backward pass (softmax cross-entropy) on a batch of real handwritten digits, "
    "at initialisation. For every layer we measure the size (Frobenius norm) of the gradient "
    "of its weights, $\\lVert \\partial L / \\partial W_l \\rVert$."
)
c = st.columns(3)
depth = controls.slider(
    "Depth (hidden layers)", "depth", 2, 100, 20, help="Hidden layers between input and output.", container=c[0]
)
width = controls.select_slider(
    "Width (units per layer)", "width", (16, 32, 64, 128, 256), 64, help="Units in every hidden layer.", container=c[1]
)
steps = controls.select_slider(
    "Measure after training steps",
    "steps",
    (0, 10, 50, 200),
    0,
    help="0 = at initialisation. Otherwise first train this many Adam steps (lr 0.001, batches of 64), then measure.",
    container=c[2],
)
c = st.columns(3)
acts = controls.multiselect(
    "Activations",
    "act",
    tuple(ACTIVATIONS),
    ("sigmoid", "relu"),
    help="One line per activation: compare them at the same depth.",
    container=c[0],
)
inits = controls.multiselect(
    "Initialisations",
    "init",
    STRATEGIES,
    ("xavier",),
    help="xavier = N(0, 1/fan_in), he = N(0, 2/fan_in), large = N(0, 1), small = 0.01·N(0, 1). "
    "Pick several to compare them.",
    container=c[1],
)
bn = controls.toggle(
    "Batch norm", "bn", False, help="Insert batch normalisation after every hidden linear layer.", container=c[2]
)
if not acts or not inits:
    st.warning("Pick at least one activation and one initialisation.")
    acts, inits = acts or ["sigmoid", "relu"], inits or ["xavier"]


def _overflow_warnings(runs):
    """One st.warning per run whose float32 numbers overflowed."""
    for r in runs.itertuples():
        if pd.notna(r.forward_overflow_layer):
            st.warning(
                f"**{r.run}**: the forward pass overflowed to inf at layer {r.forward_overflow_layer} "
                "(float32 tops out near 3.4e38), so no gradient could be computed. The dashed marker "
                "shows where."
            )
        elif pd.notna(r.backward_overflow_layer):
            st.warning(
                f"**{r.run}**: the backward signal overflowed to inf at layer {r.backward_overflow_layer}; "
                "the layers below it have no finite gradient and are left out of the chart."
            )
        if pd.notna(r.diverged_step):
            st.warning(f"**{r.run}**: training diverged (non-finite loss) at step {r.diverged_step}.")


params = dict(
    depth=depth,
    width=width,
    activations=tuple(acts),
    inits=tuple(inits),
    batch_norm=bn,
    steps=steps,
    seed=seed,
)
res, params = runner.run_on_demand(
    "gradients",
    "Backpropagating…",
    what="the networks for the chosen number of steps",
    gate=steps > 0,
    **params,  # at initialisation the measurement is one pass: instant
)
if res is not None:
    layers, runs, markers = res.tables["layers"], res.tables["runs"], res.tables["markers"]
    color, dash = ("activation", "init") if len(acts) > 1 and len(inits) > 1 else ("run", None)
    _overflow_warnings(runs)
    m = controls.metric_row(len(runs))
    for i, r in enumerate(runs.itertuples()):
        ratio = r.ratio_first_last
        m[i].metric(
            f"{r.run}: first / last layer",
            f"{ratio:.2g}" if pd.notna(ratio) else "n/a",
            help="Gradient norm of the first (input) layer divided by that of the last (output) layer. "
            "About 1: healthy. Far below 1: vanishing. Far above 1: exploding.",
        )
    t = st.tabs(["Weight gradients", "Backward signal", "Dead / saturated units", "Table"])
    with t[0]:
        show(
            charts.line_chart(
                layers,
                "layer",
                "grad_norm",
                color,
                dash=dash,
                log_y=True,
                rules=markers,
                points=depth <= 30,
                title="‖∂L/∂W‖ per layer (log scale): input on the left, output on the right",
                x_title="layer (1 = input side)",
                y_title="weight-gradient norm",
            )
        )
        st.markdown(
            "**How to read it:** the gradient is born at the output (right) and travels left. "
            "A line that **falls towards layer 1** is a **vanishing** gradient: the early layers hardly learn. "
            "A line that **rises towards layer 1** is an **exploding** one: the early layers get huge, unstable "
            "updates. A **flat** line is what you want."
        )
    with t[1]:
        show(
            charts.line_chart(
                layers,
                "layer",
                "signal_norm",
                color,
                dash=dash,
                log_y=True,
                rules=markers,
                points=depth <= 30,
                title="‖∂L/∂z‖: the backward signal arriving at each layer (log scale)",
                x_title="layer (1 = input side)",
                y_title="norm of the backward signal",
            )
        )
        st.markdown(
            "This is the product of the article, measured for real: the gradient with respect to each "
            "layer's output, before it is turned into a weight gradient. A weight gradient is this signal "
            "times the layer's input, so when the forward activations also shrink or grow, the two effects "
            "can hide each other in the first tab: look here to see the signal itself."
        )
    with t[2]:
        show(
            charts.line_chart(
                layers,
                "layer",
                "inactive_frac",
                color,
                dash=dash,
                rules=markers,
                points=depth <= 30,
                title="Units that pass (almost) no gradient, per hidden layer",
                x_title="hidden layer",
                y_title="fraction",
            )
        )
        st.markdown(
            "For **ReLU** (and leaky ReLU): the fraction of **dead units**, whose output is zero for every "
            "example in the batch, so their gradient is exactly zero (leaky ReLU still lets 1 % through). "
            "For **sigmoid / tanh**: the fraction of outputs stuck in the flat tails "
            "(sigmoid below 0.01 or above 0.99, |tanh| above 0.99), where the slope is nearly zero."
        )
    with t[3]:
        runner.show_table(runs)
        runner.show_table(layers)
    runner.downloads("gradients", res, params)

# ---------------------------------------------------------------------------------------------
st.subheader("The exploding case: large initialisation")
st.markdown(
    "Same depth, width and batch as above, but weights drawn from **N(0, 1)** (the *large* init). "
    "With **tanh** the activations stay bounded, yet every layer multiplies the backward signal by "
    "more than 1, so the weight gradients **grow towards the input**. With **ReLU** the forward "
    "activations explode too: the weight gradients are huge at *every* layer, and the backward signal "
    "grows towards the input. Push the depth past about 50 and float32 overflows to inf."
)
big = dict(params, activations=("tanh", "relu"), inits=("large",))  # the settings the section above shows
res2 = None if res is None else runner.run("gradients", "Backpropagating with large weights…", heavy=steps > 0, **big)
if res is None and steps > 0:
    st.info("Press **▶ Train** above: this section measures after the same training steps.")
if res2 is not None:
    layers2, runs2, markers2 = res2.tables["layers"], res2.tables["runs"], res2.tables["markers"]
    _overflow_warnings(runs2)
    cols = st.columns(2)
    with cols[0]:
        show(
            charts.line_chart(
                layers2,
                "layer",
                "grad_norm",
                "run",
                log_y=True,
                rules=markers2,
                title="‖∂L/∂W‖ per layer, large init (log)",
                x_title="layer (1 = input side)",
                y_title="weight-gradient norm",
            )
        )
    with cols[1]:
        show(
            charts.line_chart(
                layers2,
                "layer",
                "signal_norm",
                "run",
                log_y=True,
                rules=markers2,
                title="‖∂L/∂z‖ per layer, large init (log)",
                x_title="layer (1 = input side)",
                y_title="norm of the backward signal",
            )
        )
    m = controls.metric_row(len(runs2))
    for i, r in enumerate(runs2.itertuples()):
        ratio = r.ratio_first_last
        m[i].metric(
            f"{r.run} (large init): first / last layer",
            f"{ratio:.2g}" if pd.notna(ratio) else "n/a",
            help="Weight-gradient norm of the first layer divided by that of the last layer.",
        )
    runner.downloads("gradients", res2, big, key="gradients_large")

controls.page_footer()
