"""Vanishing & exploding gradients: the article's derivative product, then real backprop."""

import pandas as pd
import streamlit as st

from engine.experiments.gradients import COLLAPSE_TOL, GRAD_EXPLODING, SIGNAL_EXPLODING, SIGNAL_VANISHING
from engine.init import STRATEGIES
from engine.layers import ACTIVATIONS
from ui import charts, controls, quiz, runner

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
    r"\;\le\; 0.25^{N}\qquad\text{(weights ignored)}"
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
    fixed = "The article's fixed example: 50 layers whatever N above (the chart's 0.9^N and 1.1^N lines follow N)."
    m[2].metric(
        "Article's example: 0.9^50", f"{s['product_0_9']:.4f}", help=f"A factor just below 1, fifty times. {fixed}"
    )
    m[3].metric(
        "Article's example: 1.1^50", f"{s['product_1_1']:.1f}", help=f"A factor just above 1, fifty times. {fixed}"
    )
    runner.show_layer_chart(
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
        f"about **{s['product']:.1e}** of its starting size. With **plain SGD**, whose step is the learning "
        f"rate times the gradient, the first layers would learn {1 / s['product']:.1e} times slower than the "
        "last one; adaptive optimisers such as Adam rescale every weight's step by its own gradient size, so "
        "for them this is not a speed ratio. "
        f"The real draws sit below the bound (here {s['product_vs_bound']:.2g} × the bound) because z is "
        f"rarely exactly 0. In the article's fixed 50-layer examples, a factor as mild as 0.9 keeps only "
        f"{s['product_0_9']:.2%} of the signal, and 1.1 multiplies it by {s['product_1_1']:.0f}."
    )
    with st.expander("Per-layer factors"):
        runner.show_table(prod.tables["factors"])
    runner.downloads("derivative_product", prod, {"depth": n_layers, "seed": seed})

# ---------------------------------------------------------------------------------------------
st.header("Going further: real backprop")
st.markdown(
    "The product above is a cartoon: it ignores the weights. In a plain MLP (no batch norm), going back one "
    "layer, the backward signal "
    "$\\delta_l = \\partial L / \\partial z_l$ (the gradient with respect to linear layer $l$'s output) is "
    "multiplied by that layer's weights **and** by the activation's slope, so"
)
st.latex(
    r"\lVert \delta_1 \rVert \;\le\; \prod_{l=2}^{N} \Big(\max \sigma' \cdot \lVert W_l \rVert_2\Big)"
    r"\cdot \lVert \delta_N \rVert"
)
st.markdown(
    "Here a **real MLP** does one forward and one backward pass (softmax cross-entropy) on a batch of "
    "real handwritten digits, at initialisation, and we measure $\\lVert \\delta_l \\rVert$ at every "
    "layer ($l = N$ is the output layer). Each run is judged on the **signal ratio** "
    "$\\lVert \\delta_1 \\rVert / \\lVert \\delta_N \\rVert$, on the size of its weight gradients, and on "
    "its loss compared with $\\ln C$, the loss of a network that outputs nothing (equal scores for "
    "all $C$ classes)."
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

THRESHOLDS = (
    f"Exploding: signal ratio above {SIGNAL_EXPLODING:g}, a weight gradient above {GRAD_EXPLODING:g}, or an "
    f"overflow. Vanishing: signal ratio below {SIGNAL_VANISHING:g}, or a loss within {COLLAPSE_TOL:g} of ln C. "
    "Healthy otherwise."
)


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


def _verdicts(runs, ln_c, n_classes, when, suffix=""):
    """One metric per run (verdict and signal ratio), then its loss-vs-ln C badge."""
    m = controls.metric_row(len(runs))
    for i, r in enumerate(runs.itertuples()):
        ratio = r.signal_ratio
        m[i].metric(
            f"{r.run}{suffix}: backward signal",
            r.verdict,
            delta=f"‖δ₁‖/‖δ_N‖ = {ratio:.2g}" if pd.notna(ratio) else "‖δ₁‖/‖δ_N‖: not finite",
            delta_color="off",
            delta_arrow="off",
            help=f"Measured: {r.verdict_reason}. {THRESHOLDS}",
        )
    row = st.container(horizontal=True, gap="small")
    for r in runs.itertuples():
        if pd.isna(r.loss):
            row.badge(f"{r.run}: loss {when} not finite", color="red")
        elif abs(r.loss_minus_ln_c) < COLLAPSE_TOL:
            row.badge(f"{r.run}: loss {when} {r.loss:.4f} = ln {n_classes}: outputs collapsed", color="red")
        else:
            row.badge(f"{r.run}: loss {when} {r.loss:.3g} vs ln {n_classes} = {ln_c:.4f}", color="gray")


def _inactive_frame(layers, color):
    """The layer table with each line's legend label saying what it counts (dead or saturated)."""
    return layers.assign(**{color: layers[color] + ": " + layers["inactive_kind"]})


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
when = "at init" if params["steps"] == 0 else f"after {params['steps']} steps"
if res is not None:
    layers, runs, markers = res.tables["layers"], res.tables["runs"], res.tables["markers"]
    s = res.summary
    color, dash = ("activation", "init") if len(acts) > 1 and len(inits) > 1 else ("run", None)
    _overflow_warnings(runs)
    _verdicts(runs, s["ln_c"], s["n_classes"], when)
    t = st.tabs(["Backward signal", "Weight gradients", "Dead / saturated units", "Table"])
    with t[0]:
        runner.show_layer_chart(
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
            "This is the product of the article, measured for real, weights included. The signal is born "
            "at the output (right) and travels left: a line that **falls towards layer 1** is vanishing, "
            "one that **rises towards layer 1** is exploding."
        )
    with t[1]:
        runner.show_layer_chart(
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
            "A weight gradient is the backward signal times the layer's **input**. When the forward "
            "activations shrink while the signal grows (or the reverse), the two effects cancel here, so a "
            "flat line in this tab does not prove a healthy network: read the first tab."
        )
        hidden = runs[runs.ratio_first_last.between(0.1, 10) & (runs.verdict != "healthy")]
        for r in hidden.itertuples():
            st.markdown(
                f"Measured here: **{r.run}** has weight gradients of similar size at both ends "
                f"(first / last = {r.ratio_first_last:.2g}), yet it is **{r.verdict}**: {r.verdict_reason}."
            )
    with t[2]:
        runner.show_layer_chart(
            charts.line_chart(
                _inactive_frame(layers, color),
                "layer",
                "inactive_frac",
                color,
                dash=dash,
                rules=markers,
                points=depth <= 30,
                title="Units that pass (almost) no gradient, per hidden layer",
                x_title="hidden layer",
                y_title="fraction dead (ReLU) or saturated (sigmoid, tanh)",
            )
        )
        st.markdown(
            "For **ReLU** (and leaky ReLU): the fraction of **dead units**, whose output is zero for every "
            "example in the batch, so their gradient is exactly zero (leaky ReLU still lets 1 % through). "
            "For **sigmoid / tanh**: the fraction of **saturated outputs**, stuck in the flat tails "
            "(sigmoid below 0.01 or above 0.99, |tanh| above 0.99), where the slope is nearly zero."
        )
    with t[3]:
        runner.show_table(runs)
        runner.show_table(layers)
    runner.downloads("gradients", res, params)

# ---------------------------------------------------------------------------------------------
st.subheader("Does batch norm fix it?")
st.markdown(
    "Batch norm re-centres and re-scales every layer's pre-activations, so it should stop the signal from "
    f"shrinking or growing. Measured at initialisation with He init, width {params['width']} and the sidebar seed, "
    "at depth 20 and 50:"
)
bn_rows = []
for d in (20, 50):
    for use_bn in (False, True):
        rb = runner.run(  # one pass at initialisation each: instant
            "gradients",
            "Backpropagating with batch norm…",
            **dict(params, depth=d, steps=0, activations=("sigmoid", "relu"), inits=("he",), batch_norm=use_bn),
        )
        if rb is not None:
            for r in rb.tables["runs"].itertuples():
                bn_rows.append(
                    {"depth": d, "batch norm": use_bn, "run": r.run, "verdict": r.verdict, "ratio": r.signal_ratio}
                )
if len(bn_rows) == 8:
    bnt = pd.DataFrame(bn_rows).set_index(["run", "batch norm", "depth"])
    cell = {
        (act, b, d): f"{bnt.loc[(act, b, d), 'verdict']} ({bnt.loc[(act, b, d), 'ratio']:.2g})"
        if pd.notna(bnt.loc[(act, b, d), "ratio"])
        else f"{bnt.loc[(act, b, d), 'verdict']} (not finite)"
        for act in ("sigmoid", "relu")
        for b in (False, True)
        for d in (20, 50)
    }
    table = pd.DataFrame(
        {"depth": [20, 50]}
        | {
            f"{act}, {'with' if b else 'no'} BN": [cell[(act, b, d)] for d in (20, 50)]
            for act in ("sigmoid", "relu")
            for b in (False, True)
        }
    )
    st.caption("Each cell: the verdict and the signal ratio ‖δ₁‖/‖δ_N‖ of that network.")
    runner.show_table(table)
    sig = [bnt.loc[("sigmoid", True, d), "verdict"] for d in (20, 50)]
    relu = [bnt.loc[("relu", True, d), "ratio"] for d in (20, 50)]
    relu_v = [bnt.loc[("relu", True, d), "verdict"] for d in (20, 50)]
    words = [
        f"With batch norm, sigmoid is **{sig[0]}** at depth 20 and **{sig[1]}** at depth 50 "
        f"(without: **{bnt.loc[('sigmoid', False, 20), 'verdict']}** and "
        f"**{bnt.loc[('sigmoid', False, 50), 'verdict']}**)."
    ]
    if all(pd.notna(relu)):
        words.append(
            f"ReLU with batch norm is **{relu_v[0]}** at depth 20 (ratio {relu[0]:.2g}) and **{relu_v[1]}** "
            f"at depth 50 ({relu[1]:.2g})."
        )
        if relu[1] > relu[0] > SIGNAL_EXPLODING:
            words.append(
                "Batch norm does not cure exploding gradients here: at initialisation it makes ReLU's backward "
                "signal **grow with depth**, as the mean-field theory of batch norm predicts (Yang et al. 2019, "
                "*A Mean Field Theory of Batch Normalization*). Deep BN networks need something more, such as "
                "skip connections."
            )
    st.markdown(" ".join(words))
    st.page_link("pages/7_Full_recipe.py", label="Full recipe: the 50-layer test, trained for real")

# ---------------------------------------------------------------------------------------------
st.subheader("The exploding case: large initialisation")
st.markdown(
    "Same depth, width and batch as above, but weights drawn from **N(0, 1)** (the *large* init), "
    "with tanh (bounded activations) and ReLU (unbounded)" + (", and batch norm as above." if bn else ".")
)
big = dict(params, activations=("tanh", "relu"), inits=("large",))  # the settings the section above shows
res2 = None if res is None else runner.run("gradients", "Backpropagating with large weights…", heavy=steps > 0, **big)
if res is None and steps > 0:
    st.info("Press **▶ Train** above: this section measures after the same training steps.")
if res2 is not None:
    layers2, runs2, markers2 = res2.tables["layers"], res2.tables["runs"], res2.tables["markers"]
    _overflow_warnings(runs2)
    _verdicts(runs2, res2.summary["ln_c"], res2.summary["n_classes"], when, suffix=" (large init)")
    cols = st.columns(2)
    with cols[0]:
        runner.show_layer_chart(
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
    with cols[1]:
        runner.show_layer_chart(
            charts.line_chart(
                layers2,
                "layer",
                "act_std",
                "run",
                log_y=True,
                rules=markers2,
                title="Activation std per layer, large init (log)",
                x_title="hidden layer",
                y_title="activation std",
            )
        )
    words = []
    for r in runs2.itertuples():
        a = layers2[(layers2.run == r.run) & layers2.act_std.notna()].act_std
        grow = (
            f" Its activations' std goes from {a.iloc[0]:.2g} to {a.iloc[-1]:.2g} across the layers." if len(a) else ""
        )
        words.append(f"**{r.run}** is **{r.verdict}**: {r.verdict_reason}.{grow}")
    st.markdown("\n\n".join(words))
    runner.downloads("gradients", res2, big, key="gradients_large")

controls.page_footer()
