"""Batch normalization: the article's before/after and 15-layer table, then real training."""

import streamlit as st

from ui import charts, controls, quiz, runner

seed = controls.page_setup(
    "Batch normalization",
    "As a network trains, the numbers flowing into each layer keep changing their **average and "
    "spread**, so every layer has to adapt to a moving input. **Batch normalization (BN)** resets "
    "them: for every unit it subtracts the mini-batch mean, divides by the mini-batch standard "
    "deviation, and then lets the network choose its own scale γ and shift β.",
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
st.markdown(
    "The article says BN makes training **less sensitive to the learning rate** and that its "
    "downside is a **dependency on the batch size**. Here we check both by training real "
    "networks on the 8×8 handwritten digits (1437 training images, 359 validation images)."
)
tab_lr, tab_noise, tab_modes = st.tabs(["Learning-rate sensitivity", "Batch-size noise", "Train vs eval mode"])

with tab_lr:
    st.markdown(
        "The **same deep ReLU network** is trained once per learning rate, with and without BN "
        "(He init, cosine decay from the given rate, batches of 64). Each point is the validation "
        "accuracy after the last epoch."
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
        help="Hidden layers of 64 units. Deeper networks are more fragile without BN.",
    )
    epochs = controls.slider(
        "Epochs per run",
        "epochs",
        2,
        12,
        6,
        container=c[2],
        help="Every learning rate is trained this long, with and without BN (two runs per rate).",
    )
    lr_params = {"optimizer": opt, "depth": depth, "epochs": epochs, "seed": seed}
    sweep, lr_params = runner.run_on_demand(
        "batchnorm_lr",
        "Training one network per learning rate…",
        what="one network per learning rate, with and without BN",
        **lr_params,
    )
    if sweep is not None:
        s = sweep.summary
        for msg in s.get("warnings", []):
            st.warning(msg)
        m = controls.metric_row(4)
        m[0].metric(
            "Best lr with BN",
            f"{s['with BN: best lr']:g}" if s["with BN: best lr"] else "–",
            help="The learning rate with the highest final validation accuracy.",
        )
        m[1].metric("Best lr without BN", f"{s['no BN: best lr']:g}" if s["no BN: best lr"] else "–")
        m[2].metric(
            "Rates reaching 90 % with BN",
            f"{s['with BN: lrs with val_acc >= 0.9']} of {s['n_lrs']}",
            help="How wide the range of good learning rates is.",
        )
        m[3].metric("Rates reaching 90 % without BN", f"{s['no BN: lrs with val_acc >= 0.9']} of {s['n_lrs']}")
        runner.show_chart(
            charts.batchnorm_lr_chart(
                sweep.tables["sweep"], title="Final validation accuracy vs learning rate (✕ = diverged)"
            )
        )
        st.markdown(
            "Read the chart from left to right. At tiny rates both networks learn too slowly. "
            "Without BN the range of rates that work is **narrow**: a bit too large and the loss blows up. "
            "With BN the good region is **wider** and reaches much larger rates, because normalising "
            "each layer stops one large step from snowballing through the layers below it."
        )
        with st.expander("Every run"):
            runner.show_table(sweep.tables["sweep"])
        runner.downloads("batchnorm_lr", sweep, lr_params)

with tab_noise:
    st.markdown(
        "BN normalises with the mean and std **of the current mini-batch**, which are only estimates "
        "of the statistics of the whole dataset. How far off are they? We train a 4-layer BN network "
        "for 3 epochs, record the real inputs of one BN layer for all 1437 training images, then draw "
        "300 random batches of each size and compare their statistics with the full data's."
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
            v = s.get(f"normalised value RMS error at batch {b}")
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
        st.markdown(
            "The error of the batch mean follows the textbook **1/√B** law: four times the batch "
            "halves the noise. At batch 4 a sample's normalised value is off by more than half a "
            "standard deviation, depending only on **which other images share its batch**. That noise "
            "acts as a mild regulariser at moderate sizes, but at very small batches it drowns the signal, "
            "which is where layer normalization takes over."
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
            charts.batchnorm_modes_chart(modes.tables["curves"], title="Validation accuracy after each epoch")
        )
        st.markdown(
            "- **Small batches**: batch statistics are noisy (see the previous tab), so the train-mode "
            "numbers fall well below eval mode; the running averages smooth that noise away.\n"
            "- **Large batches, first epoch**: there are few steps per epoch, and the running averages "
            "still remember their starting values (mean 0, variance 1). Eval mode can then be *worse* than "
            "train mode until they catch up.\n"
            "- With moderate batches (32 to 128) and a few epochs behind them, the two modes agree within a "
            "few points: the regime where BN is easy to use."
        )
        with st.expander("Final accuracies and gaps"):
            runner.show_table(gap)
        runner.downloads("batchnorm_modes", modes, modes_params)

controls.page_footer()
