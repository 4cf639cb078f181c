"""Learning-rate schedules: the article's three curves and table, then real training under each."""

import streamlit as st

from engine.experiments import schedules as schedules_exp
from engine.experiments.common import noise_words
from engine.schedules import SCHEDULES
from ui import charts, controls, quiz, runner

seed = controls.page_setup(
    "Learning-rate schedules",
    "The learning rate **scales every step** the optimiser takes. With plain SGD the step is "
    "**learning rate × gradient**, so it also follows the gradient's size; Adam divides by a running "
    "gradient size, so each weight moves by **about the learning rate**. Large rates cover ground fast "
    "but bounce around a minimum; small ones settle into it but crawl. A **schedule** changes the rate "
    "as training goes on: **large early, small late**.",
)
quiz.ask("schedules")


def _spread(x) -> str:
    return "not measured" if x is None else f"{x:.3g}"


LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
LABELS = {
    "constant": "constant",
    "step": "step decay",
    "exponential": "exponential",
    "cosine": "cosine",
    "warmup_cosine": "warmup + cosine",
}

# ---------------------------------------------------------------------------------------------
st.header("As in the article")
st.markdown(
    "Three schedules, all starting from an initial rate $\\eta_0$ and running for $T$ epochs "
    "(epochs counted from 0):\n"
    "- **Step decay** multiplies the rate by a factor $\\gamma$ every $s$ epochs: sudden drops.\n"
    "- **Cosine annealing** glides from $\\eta_0$ down to a floor $\\eta_{min}$ (here $10^{-6}$) "
    "along half a cosine wave: no drops, and nothing to tune but $T$.\n"
    "- **Warmup + cosine** first **ramps up** linearly from 0 over $w$ epochs, then follows a cosine "
    "over the remaining $T-w$ epochs. The ramp keeps a freshly initialised network from taking its "
    "largest steps before it has found a sensible region of the loss landscape. A common guideline is a "
    "warmup of **5–10 % of training** (the article: 10 of 100 epochs)."
)
st.latex(r"\eta_{step}(t) = \eta_0\,\gamma^{\lfloor t/s \rfloor}")
st.latex(r"\eta_{cos}(t) = \eta_{min} + \tfrac12(\eta_0-\eta_{min})\Bigl(1+\cos\frac{\pi t}{T}\Bigr)")
st.latex(
    r"\eta_{warm}(t) = \begin{cases}\eta_0\, t/w & t < w \\[2pt] "
    r"\eta_{cos}(t-w) \text{ with } T-w \text{ in place of } T & t \ge w\end{cases}"
)
c = st.columns(5)
lr0 = controls.select_slider(
    "Initial learning rate η₀",
    "lr0",
    LRS,
    1e-3,
    help="Where every schedule starts. The article uses 0.001.",
    container=c[0],
    format_func=lambda v: f"{float(v):g}",
)
total = controls.slider(
    "Total epochs T", "epochs", 20, 300, 100, step=10, help="Length of training. The article uses 100.", container=c[1]
)
warm = controls.slider(
    "Warmup epochs w",
    "warm",
    0,
    19,
    10,
    help="Length of the linear ramp of warmup + cosine. The article uses 10.",
    container=c[2],
)
step_size = controls.slider(
    "Step size s",
    "step",
    1,
    100,
    30,
    help="Step decay drops the rate every s epochs. The article uses 30.",
    container=c[3],
)
decay = controls.select_slider(
    "Decay factor γ",
    "decay",
    (0.1, 0.2, 0.25, 0.5, 0.75, 0.9),
    0.5,
    help="Step decay multiplies the rate by γ at every drop. The article uses 0.5.",
    container=c[4],
)
curve_params = dict(initial_lr=lr0, epochs=total, warmup_epochs=warm, step_size=step_size, decay=decay)
cur = runner.run("schedule_curves", "Computing schedules…", **curve_params)
if cur is not None:
    left, right = st.columns([3, 2])
    with left:
        runner.show_chart(
            charts.line_chart(
                cur.tables["curves"],
                "epoch",
                "lr",
                "schedule",
                title=f"Learning rate per epoch (η₀ = {lr0:g}, T = {total})",
                y_title="learning rate",
            )
        )
        s = cur.summary
        st.markdown(
            f"By the last epoch, step decay has dropped {s['step_drops']} time(s) and sits at "
            f"**{s['final_lr_step']:.3g}**, while both cosine schedules are down to about "
            f"**{s['final_lr_cosine']:.2g}**. Warmup + cosine peaks at epoch {s['warmup_peak_epoch']}."
        )
    with right:
        st.markdown("**The article's table** (as in the article: η₀ = 0.001, T = 100, γ = 0.5 every 30, w = 10)")
        runner.show_table(
            cur.tables["article_table"],
            column_config={
                k: st.column_config.NumberColumn(LABELS[k], format="%.6f") for k in ("step", "cosine", "warmup_cosine")
            },
        )
        st.caption(
            "Computed by the engine's schedule functions; the table does not follow the sliders. It matches "
            "the article's printout digit for digit: note warmup + cosine is **0** at epoch 0."
        )
    runner.downloads("schedule_curves", cur, curve_params)

# ---------------------------------------------------------------------------------------------
st.header("Going further: real training")
st.markdown(
    "Curves of the learning rate are only half the story. Here the **same network**, with the same seed "
    "and the same data, is trained once per schedule on real handwritten digits: 6 hidden layers of 64 "
    "units with batch norm, He init and the optimiser you pick, on 500 training images. Only the "
    "schedule changes, and every schedule is trained from several seeds: a difference counts only when it "
    "is **bigger than the spread over the seeds**. Validation picks nothing here; the accuracies are on the "
    "**test** split, which no run trains or stops on."
)
st.markdown(
    "**How the trainer applies a schedule.** Before each epoch it asks `engine.schedules.lr_at` for the "
    "rate and sets it on the optimiser. Step decay drops by half every 30 % of the epochs, and "
    "exponential multiplies by 0.95 per epoch. Warmup is read **one epoch ahead** (at epoch + 1): "
    "taken literally, the article's warmup gives a rate of exactly 0 at epoch 0, and a whole epoch "
    "would pass without learning anything. So epoch 0 trains at η₀/w and the ramp reaches η₀ at "
    "epoch w − 1. The *learning rate used* tab shows the rates the optimiser really got. "
    "Here the rate changes **once per epoch**, as in the article; most libraries' warmup schedules "
    "(and many recipes) change it **every mini-batch**, which makes the ramp smooth."
)
st.page_link(
    "pages/3_Batch_normalization.py",
    label="Too high, too low: final accuracy against the learning rate, on the Batch normalization page →",
)
picked = controls.multiselect(
    "Schedules",
    "sched",
    tuple(SCHEDULES),
    tuple(SCHEDULES),
    help="One training run per schedule and seed, all schedules of a seed from the same initial weights. "
    + "; ".join(f"{k}: {v}" for k, v in SCHEDULES.items()),
)
c = st.columns(4)
lr = controls.select_slider(
    "Peak learning rate",
    "lr",
    LRS,
    schedules_exp.DEFAULT_LR,
    help="The rate every schedule starts from (or ramps up to). Adam's usual rate is 0.001; at the default "
    f"{schedules_exp.DEFAULT_LR:g} its first full-size steps are too big. Compare the early loss with and "
    "without warmup at 0.001 and at 0.3.",
    container=c[0],
    format_func=lambda v: f"{float(v):g}",
)
opt = controls.select(
    "Optimiser",
    "opt",
    ("adam", "momentum", "sgd"),
    "adam",
    help="adam: Adam. momentum: SGD with momentum 0.9. sgd: plain SGD (needs a much larger rate, e.g. 0.1-1).",
    container=c[1],
)
t_epochs = controls.slider(
    "Epochs", "tepochs", 10, 60, schedules_exp.DEFAULT_EPOCHS, step=5, help="Epochs of every run.", container=c[2]
)
t_warm = controls.slider(
    "Warmup epochs",
    "twarm",
    0,
    9,
    schedules_exp.DEFAULT_WARMUP,
    help="Warmup length of warmup + cosine (other schedules ignore it).",
    container=c[3],
)
if not picked:
    st.warning("Pick at least one schedule to train.")
else:
    st.caption(
        f"Warmup here: {t_warm} of {t_epochs} epochs, {t_warm / t_epochs:.0%} of the run"
        + (" (inside the usual 5–10 %)." if 0.05 <= t_warm / t_epochs <= 0.10 else " (the usual guideline is 5–10 %).")
    )
    params = dict(schedules=tuple(picked), lr=lr, optimizer=opt, epochs=t_epochs, warmup_epochs=t_warm, seed=seed)
    res, params = runner.run_on_demand(
        "schedules",
        "Training one network per schedule and seed…",
        what="one network per schedule and seed",
        **params,
    )
    if res is not None:
        per_epoch, final, diverged = res.tables["curves"], res.tables["final"], res.tables["diverged"]
        s = res.summary
        seeds = s["seeds"]
        cmp = s["comparison"]
        n_seeds = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"
        ok = final.dropna(subset=["final_test_acc"])
        if len(ok):
            m = controls.metric_row(len(ok))
            for i, r in enumerate(ok.itertuples()):
                diff = None if cmp is None or r.schedule == cmp["baseline"] else cmp["diff"][r.schedule]
                flag = None if cmp is None else cmp["beyond_noise"].get(r.schedule)
                m[i].metric(
                    LABELS[r.schedule],
                    f"{r.final_test_acc:.1%}",
                    delta=None if diff is None else f"{diff * 100:+.1f} pts vs constant",
                    delta_color="off" if flag is not True else "normal",
                    help=f"Test accuracy after the last epoch, mean of {n_seeds}: "
                    f"{r.final_test_acc_min:.1%} to {r.final_test_acc_max:.1%}."
                    + ("" if diff is None else f" Against constant lr: {noise_words(flag)}."),
                )
        wc = s["warmup_comparison"]
        if wc:
            without = wc["baseline"]
            m = controls.metric_row(2)
            m[0].metric(
                f"Val. loss, first {s['early_epochs']} epoch(s), with warmup",
                f"{wc['mean']['warmup_cosine']:.3g}",
                help=f"warmup + cosine: mean validation loss over epochs 0 to {s['early_epochs'] - 1}, mean of "
                f"{n_seeds}.",
            )
            m[1].metric(
                f"… without warmup ({LABELS[without]})",
                f"{wc['mean'][without]:.3g}",
                help="Every schedule but warmup + cosine runs epoch 0 at the full rate, from the same weights.",
            )
        t = st.tabs(["Validation loss", "Test accuracy", "Learning rate used", "Final table", "Every run"])
        band = f"mean of {n_seeds}" + (", band: min to max" if len(seeds) > 1 else "")
        with t[0]:
            runner.show_chart(
                charts.band_line_chart(
                    per_epoch,
                    "epoch",
                    "val_loss",
                    "val_loss_min",
                    "val_loss_max",
                    "schedule",
                    log_y=True,
                    integer_x=True,
                    title=f"Validation loss per epoch (log scale; {band})",
                    x_title="epoch (from 0)",
                    y_title="validation loss",
                )
            )
            jit = final.dropna(subset=["late_jitter"]).set_index("schedule")["late_jitter"]
            if "constant" in jit and len(jit) > 1:
                calm = jit.drop("constant").idxmin()
                st.markdown(
                    "Look at the **end** of the runs. Over the last third of the epochs the validation loss moves "
                    f"by {jit['constant']:.3g} per epoch on average with a constant rate, and by {jit[calm]:.3g} "
                    f"with {LABELS[calm]}"
                    + (
                        ": the decaying rate settles."
                        if jit[calm] < jit["constant"]
                        else ": here the constant rate moves least."
                    )
                )
            if wc:
                d = wc["diff"]["warmup_cosine"]
                flag = wc["beyond_noise"]["warmup_cosine"]
                lower = d < 0
                verdict = (
                    "the first full-size steps throw the network far off, and warmup avoids that"
                    if lower and flag
                    else "at this rate the full-size first steps do no harm, and warmup only starts slower"
                    if not lower and flag
                    else "no clear effect at this rate"
                )
                st.markdown(
                    f"Look at the **start**. Over the first {s['early_epochs']} epoch(s) the validation loss is "
                    f"{wc['mean']['warmup_cosine']:.3g} on average with warmup and {wc['mean'][without]:.3g} "
                    f"without ({LABELS[without]}): {'lower' if lower else 'higher'} with warmup, "
                    f"**{noise_words(flag)}** (spreads {_spread(wc['spread']['warmup_cosine'])} and "
                    f"{_spread(wc['spread'][without])}): {verdict}."
                )
        with t[1]:
            runner.show_chart(
                charts.band_line_chart(
                    per_epoch,
                    "epoch",
                    "test_acc",
                    "test_acc_min",
                    "test_acc_max",
                    "schedule",
                    integer_x=True,
                    title=f"Test accuracy per epoch ({band})",
                    x_title="epoch (from 0)",
                    y_title="test accuracy",
                )
            )
        with t[2]:
            runner.show_chart(
                charts.line_chart(
                    per_epoch,
                    "epoch",
                    "lr",
                    "schedule",
                    log_y=True,
                    rules=diverged if len(diverged) else None,
                    points=t_epochs <= 30,
                    title="Learning rate the optimiser actually used (History.lr, log scale)",
                    x_title="epoch (from 0)",
                    y_title="learning rate",
                )
            )
        with t[3]:
            runner.show_table(
                final,
                column_config={
                    "final_test_acc": st.column_config.NumberColumn("final test acc", format="%.3f"),
                    "final_val_acc": st.column_config.NumberColumn("final val acc", format="%.3f"),
                    "early_val_loss": st.column_config.NumberColumn("val loss, warmup epochs", format="%.4g"),
                    "val_loss_epoch_0": st.column_config.NumberColumn("val loss after epoch 0", format="%.4g"),
                },
            )
        with t[4]:
            runner.show_table(res.tables["runs"])
        if cmp is not None and len(cmp["mean"]) > 1:
            others = [v for v in cmp["mean"] if v != cmp["baseline"]]
            within = [LABELS[v] for v in others if cmp["beyond_noise"][v] is False]
            beyond = [v for v in others if cmp["beyond_noise"][v]]
            parts = [
                f"**{LABELS[v]}** ({cmp['mean'][v]:.1%}, {cmp['diff'][v] * 100:+.1f} pts: {noise_words(True)})"
                for v in beyond
            ]
            text = f"Final test accuracy against a **constant** rate ({cmp['mean']['constant']:.1%}), {n_seeds}: "
            if len(seeds) < 2:
                text += f"{noise_words(None)}, so no schedule can be told apart from it here."
            else:
                if parts:
                    text += "; ".join(parts) + ". "
                if within:
                    text += f"{', '.join(within)}: {noise_words(False)} of constant."
            st.markdown(text)
        elif cmp is None and len(ok):
            st.info("Add **constant** to the schedules to compare every schedule with a constant rate.")
        runner.downloads("schedules", res, params)

controls.page_footer()
