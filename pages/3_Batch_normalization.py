"""Batch normalization: the article's before/after and 15-layer table, then real training."""

import streamlit as st

from engine.datasets import split_sizes
from engine.experiments.batchnorm import KEY, NO_BN, SHIFT_DEFAULTS, WITH_BN
from engine.experiments.common import DEFAULT_SEEDS
from ui import charts, controls, quiz, runner

seed = controls.page_setup(
    "Batch normalization",
    "**Batch normalization (BN)** re-centres and re-scales the numbers flowing into each layer: for "
    "every unit it subtracts the mini-batch mean, divides by the mini-batch standard deviation, and "
    "then lets the network choose its own scale γ and shift β. Its inventors explained its success by "
    "*internal covariate shift* (each layer's input keeps changing as the layers below it learn); that "
    "explanation is disputed, so this page measures it.",
)
quiz.ask("batchnorm")
st.latex(
    r"\hat z = \frac{z - \mu_{\text{batch}}}{\sqrt{\sigma^2_{\text{batch}} + \varepsilon}},"
    r"\qquad \text{BN}(z) = \gamma\,\hat z + \beta"
)
st.markdown(
    "It sits **between the linear layer and the activation**: `x @ W → BN → ReLU`. The bias of "
    "that linear layer becomes useless (β does its job), so it is left out."
)

# ---------------------------------------------------------------------------------------------
st.header("As in the article")
st.caption("These two demos use the article's seed, 42, whatever the sidebar seed, so the numbers match it exactly.")
art = runner.run("batchnorm_article", "Normalising…")
if art is not None:
    s = art.summary
    st.subheader("One batch, before and after BN")
    st.markdown(
        "A batch of **32 samples × 64 units** drawn with mean 3 and standard deviation 5 goes "
        "through a fresh BN layer (γ = 1, β = 0)."
    )
    m = controls.metric_row(4)
    m[0].metric("Mean before", f"{s['before_mean']:.2f}", help="Mean over all 32 × 64 values.")
    m[1].metric("Std before", f"{s['before_std']:.2f}")
    m[2].metric("Mean after", f"{abs(s['after_mean']):.4f}", help=f"Zero up to rounding (here {s['after_mean']:.1e}).")
    m[3].metric("Std after", f"{s['after_std']:.4f}")
    runner.show_chart(
        charts.batchnorm_hist_chart(art.tables["histogram"], title="All 2048 values, before and after BN")
    )

    st.subheader("15 ReLU layers, with and without BN")
    st.markdown(
        "A batch of 64 random inputs (128 features) passes through 15 layers of `x @ W → [BN] → ReLU`, "
        "with He-initialised weights and no training. We record the **mean and standard deviation "
        "of each layer's output**. The BN pass keeps drawing from the same random stream, exactly as "
        "the article's code does."
    )
    runner.show_chart(
        charts.line_chart(
            art.tables["layers"],
            "layer",
            "value",
            "run",
            dash="statistic",
            points=True,
            title="Output statistics per layer (solid: mean, dashed: std)",
            x_title="layer",
            y_title="value",
        )
    )
    lo, hi = s["no_bn_std_range"]
    blo, bhi = s["bn_std_range"]
    st.markdown(
        f"Without BN the spread drifts from layer to layer (std between **{lo:.2f} and {hi:.2f}**, and it "
        f"climbs in the last layers). With BN every layer starts from the same mean 0, std 1, so after "
        f"the ReLU the output is almost identical in every layer (std between **{blo:.3f} and {bhi:.3f}**), "
        "however deep you go. He initialisation alone keeps things reasonable at depth 15; BN keeps them "
        "fixed, and keeps doing so once training starts moving the weights."
    )
    st.markdown(
        "**The price:** BN's statistics come from the batch, so a sample's output depends on its batch "
        "mates and small batches make them noisy (measured below); **layer normalization**, which "
        "normalises each sample over its own features instead, avoids this and is the usual choice for "
        "tiny batches and sequence models."
    )
    with st.expander("The table, as the article prints it (layers counted from 0)"):
        runner.show_table(art.tables["layer_table"].round(4))
    runner.downloads("batchnorm_article", art, {})

# ---------------------------------------------------------------------------------------------
st.header("Going further: real training")
n_train, n_val, n_test = split_sizes("digits")
st.markdown(
    "The article says BN makes training **less sensitive to the learning rate** and **converge faster**, and "
    "that its downside is a **dependency on the batch size**. Here we check these claims, and the covariate "
    "shift story, by training real networks on the 8×8 handwritten digits "
    f"({n_train} training images, {n_val} validation images to choose with, {n_test} test images to report on)."
)
n_seeds = controls.seeds_slider(
    "Seeds per network",
    DEFAULT_SEEDS,
    container=st.columns(3)[0],
    help="Seeds per network in the covariate-shift and learning-rate comparisons (the sidebar seed and the next "
    "ones). A difference counts only when it is bigger than the spread over the seeds; one seed gives no "
    "noise estimate.",
)
tab_shift, tab_lr, tab_noise, tab_modes = st.tabs(
    ["Covariate shift, measured", "Learning-rate sensitivity", "Batch-size noise", "Train vs eval mode"]
)

with tab_shift:
    sp = SHIFT_DEFAULTS
    st.markdown(
        f"A {sp['depth']}-layer ReLU network ({sp['width']} units, He init, SGD at lr {sp['lr']:g} with "
        f"cosine decay, {sp['epochs']} epochs) trains with and without BN, from {n_seeds} seed(s) "
        "starting at the sidebar seed. Before training and after every epoch, it runs on one fixed batch of "
        f"{sp['probe']} training images, and we record each unit's mean and std at the **input of every "
        "activation**. The **shift** is how far those statistics moved from their values at initialisation, "
        "in units of the initial spread (0 = unchanged; 1 = moved by one standard deviation)."
    )
    shift, shift_params = runner.run_on_demand(
        "batchnorm_shift",
        "Training with and without BN, measuring every layer…",
        what="the two networks and measure their layers",
        seed=seed,
        seeds=n_seeds,
    )
    if shift is not None:
        s = shift.summary
        if "what_the_data_shows" in s:
            m = controls.metric_row(3)
            for col, (k, label) in zip(
                m,
                (
                    ("no_bn", "Shift without BN"),
                    ("with_bn", "Shift with BN"),
                    ("before_bn", "Shift before BN (BN net)"),
                ),
            ):
                lo, hi = s[f"shift_range_{k}"]
                col.metric(
                    label,
                    f"{s[f'shift_{k}']:.2f}",
                    help=f"After {s['epochs']} epochs, mean over layers and seeds (seeds {lo:.2f}–{hi:.2f}).",
                )
        runner.show_chart(
            charts.band_line_chart(
                shift.tables["shift"],
                "epochs_trained",
                "shift",
                "shift_min",
                "shift_max",
                "series",
                integer_x=True,
                title="Shift of each activation's input during training (mean of the layers; band: seeds)",
                x_title="epochs trained (0 = at initialisation)",
                y_title="shift (initial stds)",
                color_title="measured at",
            )
        )
        per_layer = shift.tables["layers"]
        per_layer = (
            per_layer[per_layer.epochs_trained == per_layer.epochs_trained.max()]
            .groupby(["series", "layer"], as_index=False)["shift"]
            .mean()
            .rename(columns={"series": "measured at"})
        )
        runner.show_chart(
            charts.gradients_axes(
                charts.line_chart(
                    per_layer,
                    "layer",
                    "shift",
                    "measured at",
                    points=True,
                    title="Shift per layer after the last epoch (mean of the seeds)",
                    x_title="hidden layer (1 = input side)",
                    y_title="shift (initial stds)",
                ),
                compact_y=False,
            )
        )
        if "what_the_data_shows" in s:
            st.markdown(s["what_the_data_shows"])
        st.markdown(
            "Is less shift **why** BN helps? Santurkar et al. (2018, *How Does Batch Normalization Help "
            "Optimization?*) argue it is not: they added random noise after every BN layer, which brought the "
            "shift back, and the networks trained about as well; they credit BN with making the loss surface "
            "smoother, which lets larger steps work. The next tab tests that consequence."
        )
        runner.downloads("batchnorm_shift", shift, shift_params)

with tab_lr:
    st.markdown(
        "The **same deep ReLU network** is trained once per learning rate and seed, with and without BN "
        "(He init, cosine decay from the given rate, batches of 64). Each point is the mean validation "
        "accuracy after the last epoch; the band spans the seeds. Validation decides which rates are usable and "
        "which is each network's best; the accuracy reported as the result is on the **test** images."
    )
    c = st.columns(3)
    opt = controls.select(
        "Optimizer",
        "opt",
        ("sgd", "adam"),
        "sgd",
        container=c[0],
        help="Plain SGD shows the learning-rate sensitivity most clearly; Adam adapts its steps per weight.",
    )
    depth = controls.slider(
        "Depth (hidden layers)",
        "depth",
        2,
        16,
        10,
        container=c[1],
        help="Hidden layers of 64 units each.",
    )
    epochs = controls.slider(
        "Epochs per run",
        "epochs",
        2,
        12,
        6,
        container=c[2],
        help="Every learning rate is trained this long, with and without BN, for each seed.",
    )
    lr_params = {"optimizer": opt, "depth": depth, "epochs": epochs, "seed": seed, "seeds": n_seeds}
    sweep, lr_params = runner.run_on_demand(
        "batchnorm_lr",
        "Training one network per learning rate and seed…",
        what="one network per learning rate and seed, with and without BN",
        **lr_params,
    )
    if sweep is not None:
        s = sweep.summary
        if "headline" in s:
            st.markdown(s["headline"])
            m = controls.metric_row(4)
            for i, label in enumerate((WITH_BN, NO_BN)):
                top = s[f"largest_lr_that_trains_{KEY[label]}"]
                m[i].metric(
                    f"Max lr, {label}",
                    f"{top:g}" if top is not None else "none",
                    help="The largest rate at which no seed diverged.",
                )
            for i, label in enumerate((WITH_BN, NO_BN), start=2):
                usable = s[f"usable_lrs_{KEY[label]}"]
                m[i].metric(
                    f"Usable rates, {label}",
                    f"{len(usable)} of {s['n_lrs']}",
                    help=f"Rates whose mean validation accuracy reaches {s['usable_threshold']:.0%} (90 % of the best "
                    "on the sweep) with no seed diverging.",
                )
        runner.show_chart(
            charts.batchnorm_lr_band_chart(
                sweep.tables["mean"], title="Final validation accuracy vs learning rate (band: seeds, ✕: diverged)"
            )
        )
        for msg in s.get("warnings", []):
            st.warning(msg)
        if "best_lr_words" in s:
            st.markdown(s["best_lr_words"])
        if "small_rates" in s:
            st.markdown(s["small_rates"])
        st.markdown(
            "**Why large rates can work with BN.** Without BN, a large step changes a layer's weights, and "
            "every layer **above** it (towards the output) receives a changed input, so the change compounds "
            "on its way up. BN re-normalises each layer's input on every batch, and it makes a layer's output "
            "independent of the scale of its weights: a step that inflates the weights shrinks the effective "
            "size of the next one. The sweep shows the effect; it does not tell which explanation is right."
        )
        if s.get("curve_lrs"):
            st.subheader("Does BN converge faster?")
            cm = sweep.tables["curves_mean"]
            cm = cm[cm.lr.isin(s["curve_lrs"])]
            cm = cm.assign(curve=cm.run + ", lr " + cm.lr.map("{:g}".format))
            runner.show_chart(
                charts.gradients_axes(
                    charts.line_chart(
                        cm,
                        "epoch",
                        "val_acc",
                        "curve",
                        points=True,
                        title="Validation accuracy per epoch at each network's best rate (mean of the seeds)",
                        x_title="epoch (from 0)",
                        y_title="validation accuracy",
                    ),
                    compact_y=False,
                )
            )
            st.markdown(s["converge"])
        with st.expander("Every run"):
            runner.show_table(sweep.tables["sweep"])
        runner.downloads("batchnorm_lr", sweep, lr_params)

with tab_noise:
    st.markdown(
        "BN normalises with the mean and std **of the current mini-batch**, which are only estimates "
        "of the statistics of the whole dataset. How far off are they? We train a 4-layer BN network "
        f"for 3 epochs, record the real inputs of one BN layer for all {n_train} training images, "
        "then draw 300 random batches of each size and compare their statistics with the full data's."
    )
    layer = controls.slider(
        "BN layer to inspect",
        "layer",
        1,
        4,
        2,
        container=st.columns(2)[0],
        help="Which of the 4 hidden layers' batch-norm inputs to measure.",
    )
    noise_params = {"layer": layer, "seed": seed}
    noise, noise_params = runner.run_on_demand(
        "batchnorm_noise",
        "Measuring batch statistics…",
        what="a network and measure its batch statistics",
        **noise_params,
    )
    if noise is not None:
        s = noise.summary
        m = controls.metric_row(3)
        for col, b in zip(m, (4, 32, 256)):
            v = s["normalised_value_rms_error"].get(str(b))
            col.metric(
                f"Error of a normalised value, batch {b}",
                f"{v:.2f}" if v is not None else "–",
                help="Typical difference (in units of std) between a sample's value normalised with "
                "its batch's statistics and with the whole data's.",
            )
        runner.show_chart(
            charts.line_chart(
                noise.tables["noise"],
                "batch_size",
                "value",
                "measure",
                dash="kind",
                points=True,
                log_x=True,
                log_y=True,
                title="How far batch statistics stray from the full data's (log-log)",
                x_title="batch size B (log)",
                y_title="typical error (log)",
            )
        )
        ratio = {int(b): v for b, v in s["batch_mean_error_ratio"].items()}
        b_lo, b_hi = min(ratio), max(ratio)
        err = {b: s["normalised_value_rms_error"].get(str(b)) for b in (b_lo, b_hi)}
        st.markdown(
            f"The error of the batch mean is {ratio[b_lo]:.2f} × 1/√B at batch {b_lo} and {ratio[b_hi]:.2f} × "
            f"1/√B at batch {b_hi} (1 would be the textbook law; drawing without replacement from "
            f"{s['n_train']} images makes large batches a little more accurate). At batch {b_lo} a sample's "
            f"normalised value is off by **{err[b_lo]:.2f}** standard deviations (RMS), at batch {b_hi} by "
            f"**{err[b_hi]:.2f}**, depending only on **which other images share its batch**. Some of that noise "
            "acts as a regulariser; at very small batches it drowns the signal, which is where layer "
            "normalization (each sample normalised over its own features) takes over."
        )
        runner.downloads("batchnorm_noise", noise, noise_params)

with tab_modes:
    st.markdown(
        "During training BN uses batch statistics, and it also keeps **running averages** of them "
        "(momentum 0.1). At test time it uses those running averages, so a prediction does not depend "
        "on the other images in the batch. Below, after every epoch, the **same weights** are evaluated "
        "on the validation set both ways: with batch statistics of batches as large as the training ones "
        "(**train mode**), and with the running statistics (**eval mode**)."
    )
    c = st.columns(2)
    batch_sizes = controls.multiselect(
        "Training batch sizes",
        "bs",
        (4, 8, 16, 32, 64, 128, 256),
        (8, 32, 256),
        container=c[0],
        help="One network per batch size (Adam, lr 0.001, 4 hidden layers of 64). Small batches take longer.",
    )
    mepochs = controls.slider(
        "Epochs",
        "mep",
        1,
        8,
        4,
        container=c[1],
        help="Epochs per network; both modes are measured after each one.",
    )
    if not batch_sizes:
        st.warning("Pick at least one batch size; showing 8, 32 and 256.")
        batch_sizes = [8, 32, 256]
    modes_params = {"batch_sizes": tuple(sorted(batch_sizes)), "epochs": mepochs, "seed": seed}
    modes, modes_params = runner.run_on_demand(
        "batchnorm_modes",
        "Training one network per batch size…",
        what="one network per batch size",
        **modes_params,
    )
    if modes is not None:
        gap = modes.tables["gap"]
        m = controls.metric_row(len(gap))
        for col, r in zip(m, gap.itertuples()):
            col.metric(
                f"Batch {r.batch_size}: eval mode",
                f"{r.eval_mode_acc:.1%}",
                delta=f"{100 * r.gap:+.1f} points vs train mode",
                delta_color="off",
                delta_arrow="off",
                help="Validation accuracy with running statistics after the last epoch, and its difference "
                "to the same weights evaluated with batch statistics.",
            )
        runner.show_chart(
            charts.batchnorm_modes_chart(
                modes.tables["curves"], title="Validation accuracy after each epoch", width=200
            )
        )
        words = []
        small, large = gap.iloc[0], gap.iloc[-1]
        if small.gap > 0.02:
            words.append(
                f"- **Batch {int(small.batch_size)}**: train mode is {100 * small.gap:.1f} points below eval mode "
                "after the last epoch: its batch statistics are noisy (see the previous tab), and the running averages "
                "smooth that noise away."
            )
        if len(gap) > 1 and large.gap_after_epoch_0 < -0.02:
            words.append(
                f"- **Batch {int(large.batch_size)}, epoch 0**: eval mode is {-100 * large.gap_after_epoch_0:.1f} "
                "points *below* train mode. With few steps per epoch the running averages still remember their "
                "starting values (mean 0, variance 1)."
            )
        close = [int(r.batch_size) for r in gap.itertuples() if abs(r.gap) <= 0.02]
        if close:
            words.append(
                f"- Batch {', '.join(map(str, close))}: the two modes agree within 2 points after the last epoch."
            )
        st.markdown("\n".join(words) or "The two modes differ by more than 2 points at every batch size here.")
        with st.expander("Final accuracies and gaps"):
            runner.show_table(gap)
        runner.downloads("batchnorm_modes", modes, modes_params)

controls.page_footer()
