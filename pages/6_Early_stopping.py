"""Early stopping: the article's simulated curve and numbers, next to a real overfitting run."""

import pandas as pd
import streamlit as st

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
st.header("Going further: a real overfitting run")
st.markdown(
    "Now a real network on real digits, built to overfit: a plain MLP (128 units per layer, no batch norm, "
    "no dropout, Adam at a constant rate) with **far more weights than training images**: by default "
    "8 layers, about 125 000 weights, for 200 images. "
    "It trains for every epoch, **without stopping**, and records its losses. Early stopping is then "
    "**replayed** over the recorded validation loss (the engine's `stop_epoch`), so moving the patience "
    "slider shows where training would have stopped without training again. A run with patience set "
    "stops at exactly that epoch, because training is deterministic for a given seed."
)
c = st.columns(4)
n_train = controls.select_slider(
    "Training images",
    "n",
    (100, 150, 200, 250, 300, 400, 500),
    200,
    help="Size of the training subset of the digits (the validation set stays the same 359 images). "
    "Fewer images: stronger overfitting.",
    container=c[0],
)
depth = controls.slider(
    "Hidden layers", "depth", 2, 10, 8, help="Depth of the plain MLP (128 units each).", container=c[1]
)
epochs = controls.slider(
    "Epochs (no stopping)",
    "epochs",
    20,
    150,
    60,
    step=10,
    help="The run always trains this many epochs.",
    container=c[2],
)
lr = controls.select_slider(
    "Learning rate",
    "lr",
    (1e-4, 3e-4, 1e-3, 3e-3),
    3e-4,
    help="Adam, constant rate.",
    container=c[3],
    format_func=lambda v: f"{float(v):g}",
)
c = st.columns([2, 1])
patience = controls.slider(
    "Patience",
    "patience",
    1,
    MAX_PATIENCE,
    10,
    help="Stop after this many epochs in a row without a new best validation loss. Replayed over the "
    "recorded curve: moving it does not retrain.",
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


def markers(r) -> pd.DataFrame:
    """Vertical chart markers for one replay row: the best epoch and, if it stops, the stop."""
    out = [{"x": int(r["best_epoch"]), "label": f"best: {int(r['best_epoch'])}"}]
    if r["stops"]:
        out.append({"x": int(r["stop_epoch"]), "label": f"stop: {int(r['stop_epoch'])}"})
    return pd.DataFrame(out)


params = dict(n_train=n_train, depth=depth, lr=lr, epochs=epochs, seed=seed)
res, params = runner.run_on_demand(
    "early_stopping",
    "Training until the end, without stopping…",
    what="the network to the last epoch",
    **params,
)
top = st.container()  # the real run's figures, above both curves
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
    left.caption("The real run is drawn here, next to the article's curve, once it has trained.")
else:
    s, cur, rep = res.summary, res.tables["curves"], res.tables["replay"]
    row = rep[(rep["patience"] == patience) & (rep["min_delta"] == min_delta)].iloc[0]
    stops = bool(row["stops"])
    best, stop = int(row["best_epoch"]), (int(row["stop_epoch"]) if stops else None)
    n_epochs = s["epochs_run"]

    m = top.columns(3)  # two rows of three: columns keep them aligned as a grid
    m[0].metric(
        "Best epoch before the stop", best, help="Lowest validation loss seen before stopping: the weights restored."
    )
    m[1].metric(
        f"Stops at epoch (patience {patience})",
        stop if stops else "never",
        help="0-based epoch at which patience runs out.",
    )
    m[2].metric(
        "Epochs saved",
        f"{int(row['epochs_saved'])} of {n_epochs}",
        help="Epochs after the stop that never have to run.",
    )
    m = top.columns(3)
    m[0].metric(
        f"Val. accuracy, restored best (epoch {best})",
        f"{row['val_acc_kept']:.1%}",
        help="Accuracy of the weights of the best epoch, which restore_best puts back.",
    )
    m[1].metric(
        "Val. accuracy, weights at the stop",
        f"{row['val_acc_at_stop']:.1%}",
        help="What you would keep if you stopped but did not restore the best weights.",
    )
    m[2].metric(
        f"Val. accuracy, last weights (epoch {n_epochs - 1})",
        f"{s['val_acc_last']:.1%}",
        help="No early stopping at all: the weights after the whole run.",
    )

    rules = markers(row)
    val = cur.assign(split="validation")
    loss = cur.melt(id_vars="epoch", value_vars=["train_loss", "val_loss"], var_name="split", value_name="loss")
    loss["split"] = loss["split"].map({"train_loss": "train", "val_loss": "validation"})
    acc = cur.melt(id_vars="epoch", value_vars=["train_acc", "val_acc"], var_name="split", value_name="accuracy")
    acc["split"] = acc["split"].map({"train_acc": "train", "val_acc": "validation"})
    with left:
        st.markdown(f"**Real run**: digits, {n_train} training images, {depth} layers, {s['n_weights']:,} weights")
        t = st.tabs(["Validation loss (zoom)", "Train vs validation loss", "Accuracy"])
        with t[0]:
            runner.show_chart(
                charts.early_stopping_curve_chart(
                    val,
                    "epoch",
                    "val_loss",
                    "split",
                    rules=rules,
                    y_domain=s["zoom_val_loss"],
                    title="Validation loss, zoomed on its minimum",
                    x_title="epoch (from 0)",
                    y_title="validation loss",
                )
            )
        with t[1]:
            runner.show_chart(
                charts.line_chart(
                    loss,
                    "epoch",
                    "loss",
                    "split",
                    log_y=True,
                    rules=rules,
                    title="Train and validation loss (log scale)",
                    x_title="epoch (from 0)",
                    y_title="cross-entropy loss",
                )
            )
        with t[2]:
            runner.show_chart(
                charts.line_chart(
                    acc,
                    "epoch",
                    "accuracy",
                    "split",
                    rules=rules,
                    title="Accuracy per epoch",
                    x_title="epoch (from 0)",
                    y_title="accuracy",
                )
            )
    st.caption(
        "Left: measured. Right: the article's simulated curve, with the same patience and min_delta replayed on "
        "it. Dashed markers: the best epoch (the weights restored) and the epoch where training stops."
    )

    gap = row["val_acc_kept"] - s["val_acc_last"]
    if gap < 0:
        verdict = (
            f"Here the restored weights are **{-gap * 100:.1f} points less accurate** than the last ones, even "
            "though their validation loss is lower. Cross-entropy also punishes **confident** mistakes: as the "
            "network grows over-confident, its loss on the images it gets wrong keeps growing while its accuracy "
            "can still creep up. Stopping on validation loss protects the loss, not necessarily the accuracy."
        )
    elif gap > 0:
        verdict = (
            f"Here the restored weights are **{gap * 100:.1f} points more accurate** than the last ones: the extra "
            "epochs made the network worse on new images, and restoring the best weights undoes that."
        )
    else:
        verdict = "Here the restored weights and the last ones are equally accurate."
    st.markdown(
        f"The real validation loss bottoms out at epoch **{s['best_epoch']}** ({s['best_val_loss']:.3f}) and ends "
        f"at {s['last_val_loss']:.3f}, while training accuracy reaches {s['train_acc_last']:.0%}. " + verdict
    )
    at_delta = rep[rep["min_delta"] == min_delta].sort_values("patience")
    finds = at_delta[at_delta["best_epoch"] == s["best_epoch"]]
    rises = (
        f"Its training loss went up from one epoch to the next {s['train_loss_rises']} time(s) in "
        f"{s['train_loss_steps']}: mini-batch noise, which the article's smooth formula does not have. "
        if s["train_loss_rises"]
        else f"Its training loss fell at every one of the {s['train_loss_steps']} epoch-to-epoch steps here: "
        "single mini-batch steps wobble, but an epoch averages many of them. "
    )
    if len(finds) and int(finds["patience"].iloc[0]) > 1:
        p_min = int(finds["patience"].iloc[0])
        early = at_delta[at_delta["patience"] == p_min - 1].iloc[0]
        where = f"epoch {int(early['stop_epoch'])}" if early["stops"] else "the end"
        noisy = (
            f"On the article's curve (min_delta 0) every patience stops at exactly best + patience. Here it takes "
            f"patience **{p_min}** or more to reach the run's lowest validation loss (epoch {s['best_epoch']}); "
            f"with patience {p_min - 1} training stops at {where}, on a bump before the minimum."
        )
    elif len(finds):
        noisy = f"Here even patience 1 reaches the run's lowest validation loss (epoch {s['best_epoch']})."
    else:
        noisy = (
            f"With min_delta {min_delta:g} no patience keeps the run's lowest validation loss (epoch "
            f"{s['best_epoch']}): improvements smaller than min_delta do not count."
        )
    st.markdown(rises + noisy)

    st.markdown(f"**Where each patience stops** on the real run (min_delta {min_delta:g})")
    table = rep[(rep["min_delta"] == min_delta) & rep["patience"].isin(PATIENCES)].copy()
    table["stop_epoch"] = table["stop_epoch"].map(lambda v: "never" if pd.isna(v) else str(int(v)))
    table = table[["patience", "stop_epoch", "best_epoch", "epochs_saved", "val_acc_kept", "val_acc_at_stop"]]
    runner.show_table(
        table,
        column_config={
            "stop_epoch": st.column_config.TextColumn("stops at epoch"),
            "best_epoch": st.column_config.NumberColumn("best epoch (restored)"),
            "epochs_saved": st.column_config.NumberColumn("epochs saved"),
            "val_acc_kept": st.column_config.NumberColumn("val acc, restored weights", format="%.3f"),
            "val_acc_at_stop": st.column_config.NumberColumn("val acc, weights at the stop", format="%.3f"),
        },
    )
    st.caption(
        f"Last weights after all {n_epochs} epochs: val acc {s['val_acc_last']:.3f}. "
        "Too little patience stops on noise; too much saves nothing."
    )
    runner.downloads("early_stopping", res, params)

controls.page_footer()
