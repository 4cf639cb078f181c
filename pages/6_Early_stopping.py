"""Early stopping: the article's simulated curve and numbers, next to a real overfitting run."""

import pandas as pd
import streamlit as st

from engine.datasets import split_sizes
from engine.experiments import early_stopping as es
from engine.experiments.common import DEFAULT_SEEDS, noise_words
from engine.experiments.early_stopping import MAX_PATIENCE, MIN_DELTAS, PATIENCES
from ui import charts, controls, quiz, runner

seed = controls.page_setup(
    "Early stopping",
    "The training loss tends to go down the longer you train, with ups and downs from epoch to epoch "
    "(each step sees only a mini-batch). The validation loss, measured on images the network never "
    "learns from, usually goes down **and then back up** once the network starts memorising its "
    "training set. **Early stopping** watches the validation loss, stops when it has not improved for "
    "a while, and **puts back the best weights** it saw.",
)
quiz.ask("early_stopping")

# ---------------------------------------------------------------------------------------------
st.header("As in the article")
st.markdown(
    "The article does not train anything here: it draws the article's simulated curve from a formula. "
    "The training loss decays exponentially, and from epoch 80 on the validation loss gets an extra "
    "term that grows with time, so that it turns up:"
)
st.latex(
    r"L_{train}(t) = 0.8\,e^{-t/30} + 0.05 \qquad "
    r"L_{val}(t) = L_{train}(t) + 0.001\,\max(0,\ t-80)^{1.3} \qquad t = 0,\dots,199"
)
st.markdown(
    "**Patience** is the number of epochs in a row without a new best validation loss that we accept "
    "before stopping. The article uses patience 10."
)
art = runner.run("early_stopping_article", "Computing the article's curve…")
if art is not None:
    a = art.summary
    m = controls.metric_row(5)
    m[0].metric("Best epoch", a["best_epoch"], help="Epoch (0-based) with the lowest validation loss.")
    m[1].metric("Val. loss at best", f"{a['best_val_loss']:.4f}")
    m[2].metric("Train loss at best", f"{a['train_loss_at_best']:.4f}")
    m[3].metric(
        f"Stop (patience {a['patience']})",
        a["stop_epoch"],
        help="Replaying the engine's EarlyStopping over the article's curve. The article estimates "
        "best epoch + patience, which agrees.",
    )
    m[4].metric(
        "Epochs saved (article)",
        a["article_epochs_saved"],
        help="The article counts 200 − best − patience.",
    )
    st.caption(
        f"These are the numbers the article prints. At the last epoch the training loss is "
        f"{a['last_train_loss']:.4f} and the validation loss {a['last_val_loss']:.4f}. Counting exactly, "
        f"stopping at epoch {a['stop_epoch']} means epochs 0 to {a['stop_epoch']} ran, which is "
        f"{a['epochs_run']} epochs, so {a['epochs_not_run']} of the 200 were never run: the article's "
        f"{a['article_epochs_saved']} counts the stopping epoch itself as saved. "
        "The article's simulated curve is drawn below, **next to a real run**."
    )
    runner.downloads("early_stopping_article", art, {})

# ---------------------------------------------------------------------------------------------
TRAIN_IMAGES, VAL_IMAGES, TEST_IMAGES = split_sizes("digits")
st.header("Going further: a real overfitting run")
st.markdown(
    f"Now a real network on real digits, built to overfit: a plain MLP ({es.DEFAULT_WIDTH} units per layer, no "
    "batch norm, no dropout, Adam at a constant rate, batches of "
    f"{es.DEFAULT_BATCH}) trained on the digits, where the **Label noise** control flips a fraction of the "
    "training labels **to a wrong class** (at 0 they stay clean). Validation and test labels stay clean. A "
    "network first learns the patterns the true labels share, "
    "then starts memorising the flipped ones, one by one; that second phase is what makes the validation loss turn "
    "up (Arpit et al., 2017). Each run trains for every epoch, **without stopping**, from several seeds (the "
    "sidebar seed and the next ones). Early stopping is then **replayed** over each recorded validation loss (the "
    "engine's `stop_epoch`), so moving the patience slider shows where training would have stopped without "
    "training again. A run with patience set stops at exactly that epoch, because training is deterministic for "
    "a given seed. Validation decides when to stop; the accuracies compared are on the **test** split, which no "
    "run trains or stops on."
)
c = st.columns(4)
n_train = controls.select_slider(
    "Training images",
    "n",
    (100, 200, 300, 500, 700, TRAIN_IMAGES),
    TRAIN_IMAGES,
    help=f"Size of the training subset of the digits (all {TRAIN_IMAGES} by default; the validation split "
    f"stays the same {VAL_IMAGES} images and the test split {TEST_IMAGES}). Fewer images: stronger overfitting.",
    container=c[0],
    format_func=lambda v: f"all ({v})" if v == TRAIN_IMAGES else str(v),
)
depth = controls.slider(
    "Hidden layers",
    "depth",
    2,
    10,
    es.DEFAULT_DEPTH,
    help=f"Depth of the plain MLP ({es.DEFAULT_WIDTH} units each).",
    container=c[1],
)
epochs = controls.slider(
    "Epochs (no stopping)",
    "epochs",
    20,
    150,
    es.DEFAULT_EPOCHS,
    step=10,
    help="The run always trains this many epochs.",
    container=c[2],
)
lr = controls.select_slider(
    "Learning rate",
    "lr",
    (1e-4, 3e-4, 1e-3, 3e-3),
    es.DEFAULT_LR,
    help="Adam, constant rate.",
    container=c[3],
    format_func=lambda v: f"{float(v):g}",
)
c = st.columns([2, 1])
label_noise = controls.label_noise_slider(es.DEFAULT_LABEL_NOISE, container=c[0])
n_seeds = controls.seeds_slider("Runs", DEFAULT_SEEDS, container=c[1])
c = st.columns([2, 1])
patience = controls.slider(
    "Patience",
    "patience",
    1,
    MAX_PATIENCE,
    10,
    help="Stop after this many epochs in a row without a new best validation loss. Replayed over the "
    "recorded curves: moving it does not retrain.",
    container=c[0],
)
min_delta = controls.select_slider(
    "min_delta",
    "delta",
    MIN_DELTAS,
    0.0,
    help="An epoch only counts as an improvement if the validation loss drops by more than this.",
    container=c[1],
    format_func=lambda v: f"{float(v):g}",
)


def markers(r, prefix: str = "") -> pd.DataFrame:
    """Vertical chart markers for one replay row: the best epoch and, if it stops, the stop."""
    out = [{"x": int(r["best_epoch"]), "label": f"{prefix}best: {int(r['best_epoch'])}"}]
    if r["stops"]:
        out.append({"x": int(r["stop_epoch"]), "label": f"{prefix}stop: {int(r['stop_epoch'])}"})
    return pd.DataFrame(out)


def listed(values) -> str:
    """Per-seed values as "a / b / c"."""
    return " / ".join(str(v) for v in values)


def fmt(rows, key: str, spec: str) -> str:
    """``key`` of every per-seed row, formatted with ``spec``, as "a / b / c"."""
    return listed(format(r[key], spec) for r in rows)


params = dict(
    n_train=None if n_train == TRAIN_IMAGES else n_train,
    depth=depth,
    lr=lr,
    epochs=epochs,
    label_noise=label_noise,
    seed=seed,
    seeds=n_seeds,
)
res, params = runner.run_on_demand(
    "early_stopping",
    "Training until the end, without stopping…",
    what="the networks to the last epoch",
    **params,
)
top = st.container()  # the real runs' figures, above both curves
left, right = st.columns(2)
if art is not None:  # the article's curve shows with or without a real run
    arep = art.tables["replay"]
    art_row = arep[(arep["patience"] == patience) & (arep["min_delta"] == min_delta)].iloc[0]
    with right:
        st.markdown("**The article's simulated curve**: a formula, not a training run")
        runner.show_chart(
            charts.early_stopping_curve_chart(
                art.tables["curves"],
                "epoch",
                "loss",
                "run",
                dash="split",
                rules=markers(art_row),
                title="Article (simulated): train and validation loss",
                x_title="epoch (from 0)",
                y_title="loss (article, simulated)",
            )
        )
if res is None or not len(res.tables["replay"]):
    left.caption("The real runs are drawn here, next to the article's curve, once they have trained.")
else:
    s, band, long, per_seed, rep = (
        res.summary,
        res.tables["curves"],
        res.tables["curves_long"],
        res.tables["per_seed"],
        res.tables["replay"],
    )
    seeds = [p["seed"] for p in s["per_seed"]]
    seeds_txt = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"
    band_txt = f"mean of {seeds_txt}" + (", band: min to max" if len(seeds) > 1 else "")
    rows = rep[(rep["patience"] == patience) & (rep["min_delta"] == min_delta)].sort_values("seed")
    at_p = es.compare_at(rep, res.tables["runs"], patience, min_delta)
    kept_name = f"kept at patience {patience}"
    n_epochs = s["epochs_run"]

    m = top.columns(3)  # two rows of three: columns keep them aligned as a grid
    m[0].metric(
        "Best epoch before the stop",
        listed(int(v) for v in rows["best_epoch"]),
        help=f"Per seed ({', '.join(map(str, seeds))}): the lowest validation loss seen before stopping, whose "
        "weights are restored.",
    )
    m[1].metric(
        f"Stops at epoch (patience {patience})",
        listed("never" if not r.stops else int(r.stop_epoch) for r in rows.itertuples()),
        help="Per seed: the 0-based epoch at which patience runs out.",
    )
    m[2].metric(
        "Epochs saved",
        f"{listed(int(v) for v in rows['epochs_saved'])} of {n_epochs}",
        help="Per seed: epochs after the stop that never have to run.",
    )
    m = top.columns(3)
    m[0].metric(
        "Test accuracy, restored weights",
        f"{at_p['mean'][kept_name]:.1%}",
        help=f"Mean of {seeds_txt}: the weights of each run's best epoch before the stop, which restore_best "
        "puts back.",
    )
    m[1].metric(
        "Test accuracy, weights at the stop",
        f"{rows['test_acc_at_stop'].mean():.1%}",
        help="What you would keep if you stopped but did not restore the best weights (mean over the seeds).",
    )
    m[2].metric(
        f"Test accuracy, last weights (epoch {n_epochs - 1})",
        f"{at_p['mean'][es.LAST]:.1%}",
        help=f"No early stopping at all: the weights after the whole run, mean of {seeds_txt}.",
    )

    val = per_seed.assign(seed=per_seed["seed"].map(lambda k: f"seed {k}"))
    prefix = len(seeds) > 1
    rules = pd.concat(
        [markers(r, f"seed {r['seed']} " if prefix else "") for _, r in rows.iterrows()], ignore_index=True
    )
    n_shown = s["n_train"]
    with left:
        st.markdown(
            f"**Real runs**: digits, {n_shown} training images ({label_noise:.0%} of their labels flipped), "
            f"{depth} layers, {s['n_weights']:,} weights"
        )
        t = st.tabs(["Validation loss (zoom)", "Train vs validation loss", "Accuracy"])
        with t[0]:
            runner.show_chart(
                charts.early_stopping_curve_chart(
                    val,
                    "epoch",
                    "val_loss",
                    "seed",
                    rules=rules,
                    y_domain=s["zoom_val_loss"],
                    title="Validation loss of each seed, zoomed on its minimum",
                    x_title="epoch (from 0)",
                    y_title="validation loss",
                )
            )
        with t[1]:
            runner.show_chart(
                charts.band_line_chart(
                    long[long["split"].isin(["train", "validation"])],
                    "epoch",
                    "loss",
                    "loss_min",
                    "loss_max",
                    "split",
                    log_y=True,
                    integer_x=True,
                    title=f"Train (eval mode) and validation loss, log scale ({band_txt})",
                    x_title="epoch (from 0)",
                    y_title="cross-entropy loss",
                )
            )
        with t[2]:
            runner.show_chart(
                charts.band_line_chart(
                    long,
                    "epoch",
                    "accuracy",
                    "accuracy_min",
                    "accuracy_max",
                    "split",
                    integer_x=True,
                    title=f"Accuracy per epoch ({band_txt}; train: against the training labels, eval mode)",
                    x_title="epoch (from 0)",
                    y_title="accuracy",
                )
            )
    st.caption(
        "Left: measured. Right: the article's simulated curve, with the same patience and min_delta replayed on "
        "it. Dashed markers: the best epoch (the weights restored) and the epoch where training stops."
    )

    diff, flag = at_p["diff"][kept_name], at_p["beyond_noise"][kept_name]
    sp_k, sp_l = at_p["spread"][kept_name], at_p["spread"][es.LAST]
    spreads = "" if sp_k is None else f" (spreads over the seeds {sp_k * 100:.1f} and {sp_l * 100:.1f} pts)"
    head = (
        f"On test, the weights kept at patience {patience} score **{at_p['mean'][kept_name]:.1%}** and the last "
        f"weights **{at_p['mean'][es.LAST]:.1%}**, {seeds_txt}: a difference of {diff * 100:+.1f} pts{spreads}, "
        f"**{noise_words(flag)}**. "
    )
    if flag is None:
        verdict = "Add seeds to tell a difference from run-to-run variation."
    elif flag and diff > 0:
        verdict = "The extra epochs made the network worse on new images, and restoring the best weights undoes that."
    elif flag and diff < 0:
        verdict = (
            "Here the restored weights are less accurate than the last ones, even though their validation loss is "
            "lower. Cross-entropy also punishes **confident** mistakes: as the network grows over-confident, its "
            "loss on the images it gets wrong keeps growing while its accuracy can still creep up. Stopping on "
            "validation loss protects the loss, not necessarily the accuracy."
        )
    else:
        verdict = "At these settings, stopping early neither helps nor hurts by more than the seeds differ."
    ps = s["per_seed"]
    st.markdown(
        f"The real validation loss bottoms out at epoch **{listed(p['best_epoch'] for p in ps)}** "
        f"({fmt(ps, 'best_val_loss', '.3f')}) and ends at "
        f"{fmt(ps, 'last_val_loss', '.3f')}, while training accuracy against the "
        f"{'noisy ' if label_noise > 0 else ''}training labels reaches {fmt(ps, 'train_acc_last', '.1%')}"
        + (" (per seed). " if len(ps) > 1 else ". ")
        + (
            f"A network that learned only the true classes would score about {1 - label_noise:.0%} on them: "
            "the rest is memorised noise. "
            if label_noise > 0
            else ""
        )
        + head
        + verdict
    )
    rises = [p["train_loss_rises"] for p in ps]
    steps = ps[0]["train_loss_steps"]
    at_delta = rep[rep["min_delta"] == min_delta]
    needed = []
    for p in ps:
        d = at_delta[at_delta["seed"] == p["seed"]].sort_values("patience")
        finds = d[d["best_epoch"] == p["best_epoch"]]
        needed.append(int(finds["patience"].iloc[0]) if len(finds) else None)
    rises_txt = (
        f"The training loss, measured on the whole training split after each epoch, went up from one epoch to the "
        f"next {listed(rises)} time(s) in {steps}: each step follows one mini-batch's gradient, so an epoch of steps "
        "does not always lower the loss over the whole training set. The article's smooth formula never goes up. "
        if any(rises)
        else f"The training loss, measured on the whole training split after each epoch, fell at every one of the "
        f"{steps} epoch-to-epoch steps here. "
    )
    if all(n is None for n in needed):
        noisy = (
            f"With min_delta {min_delta:g} no patience keeps the lowest validation loss of any run: improvements "
            "smaller than min_delta do not count."
        )
    elif all(n == 1 for n in needed):
        noisy = "Here even patience 1 reaches each run's lowest validation loss."
    else:
        noisy = (
            "On the article's curve (min_delta 0) every patience stops at exactly best + patience. Here the "
            f"patience it takes to reach each run's lowest validation loss is "
            f"{listed('none' if n is None else n for n in needed)}: a smaller one stops on a bump before the minimum."
        )
    st.markdown(rises_txt + noisy)

    st.markdown(f"**Where each patience stops** on the real runs (min_delta {min_delta:g})")
    table = rep[(rep["min_delta"] == min_delta) & rep["patience"].isin(PATIENCES)].copy()
    table["stop_epoch"] = table["stop_epoch"].map(lambda v: "never" if pd.isna(v) else str(int(v)))
    cols = ["seed", "patience", "stop_epoch", "best_epoch", "epochs_saved", "val_acc_kept", "test_acc_kept"]
    table = table[cols + ["test_acc_at_stop"]].sort_values(["patience", "seed"])
    runner.show_table(
        table,
        column_config={
            "stop_epoch": st.column_config.TextColumn("stops at epoch"),
            "best_epoch": st.column_config.NumberColumn("best epoch (restored)"),
            "epochs_saved": st.column_config.NumberColumn("epochs saved"),
            "val_acc_kept": st.column_config.NumberColumn("val acc, restored weights", format="%.3f"),
            "test_acc_kept": st.column_config.NumberColumn("test acc, restored weights", format="%.3f"),
            "test_acc_at_stop": st.column_config.NumberColumn("test acc, weights at the stop", format="%.3f"),
        },
    )
    st.caption(
        f"Last weights after all {n_epochs} epochs: test acc {fmt(ps, 'test_acc_last', '.3f')}"
        + (" (per seed)." if len(seeds) > 1 else ".")
        + " Too little patience stops on noise; too much saves nothing."
    )
    runner.downloads("early_stopping", res, params)

controls.page_footer()
