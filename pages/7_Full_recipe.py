"""Full recipe: the article's checklist, a live run with every technique switchable, fixes added
one at a time, a leave-one-out ablation, per-layer diagnostics and the 50-layer test."""

import streamlit as st

from engine.datasets import DATASETS
from engine.experiments import recipe
from engine.experiments.common import DEFAULT_SEEDS, noise_words
from engine.init import STRATEGIES, init_std
from engine.layers import ACTIVATIONS
from engine.optim import OPTIMIZERS
from engine.schedules import SCHEDULES
from engine.train import TrainConfig
from ui import charts, controls, live, quiz, runner

SELF = "pages/7_Full_recipe.py"

seed = controls.page_setup(
    "The full recipe",
    "Each technique of the previous pages fixes **one** failure mode. Put together they make a deep "
    "network **reliable** to train. Here you switch each one on and off and train for real, add the "
    "fixes one at a time, remove them one at a time, and test the claim that a **50-layer** network "
    "is easy to train.",
)
quiz.ask("recipe")

# =============================================================================================
st.header("As in the article")
st.markdown("The article ends with a checklist in four groups. In our words, with the page that shows each idea:")

CHECKLIST = {
    "Architecture": [
        (
            "**ReLU** in hidden layers: its slope is 1 where it is active, so with He init the gradients "
            "keep their size layer after layer.",
            "Vanishing & exploding gradients",
        ),
        ("**He init**, std √(2/fan_in): the signal keeps its size through depth.", "Initialization"),
        ("**Batch norm** between the linear layer and the activation.", "Batch normalization"),
    ],
    "Regularization": [
        ("**Dropout** 0.3-0.5 after the activation of dense layers.", "Dropout"),
        ("**Early stopping**, patience 5-20, keeping the best weights.", "Early stopping"),
        ("Optionally a little **L2 weight decay** (the *Weight decay* control below).", "Full recipe"),
    ],
    "Optimization": [
        ("**Warmup then cosine** decay of the learning rate.", "Learning-rate schedules"),
        ("**Adam** as the optimizer (compare it with SGD in the ablation below).", "Full recipe"),
        ("**Mini-batches** of 32 to 256 examples.", "Batch normalization"),
    ],
    "Monitoring": [
        ("Look at **training and validation** loss after every epoch.", "Early stopping"),
        ("Watch for **divergence**: a loss that jumps to infinity.", "Vanishing & exploding gradients"),
        ("Watch the **train-validation gap**: growing means overfitting.", "Dropout"),
    ],
}
for col, (group, items) in zip(st.columns(4), CHECKLIST.items()):
    with col.container(border=True):
        st.markdown(f"#### {group}")
        for text, page in items:
            st.markdown(text)
            controls.link_to(page)

st.subheader("The article's full-recipe curve")
st.markdown(
    "To illustrate the recipe, the article does not train a network: its curve comes from two formulas, "
    "and it replays early stopping (patience 15) on them. Below, that article (simulated) curve is drawn "
    "**next to a real run**, the one you configure further down."
)
st.latex(
    r"L_{train}=0.6\,e^{-t/25}+0.02 \qquad "
    r"L_{val}=0.65\,e^{-t/25}+0.03+0.0005\,\max(0,\,t-100)^{1.2}"
)
art = runner.run("recipe_article", "Computing the article's curve…")
sim_col, real_col = st.columns(2)
if art is not None:
    a = art.summary
    runner.show_chart(
        where=sim_col,
        chart=charts.line_chart(
            art.tables["curves"],
            "epoch",
            "loss",
            "split",
            log_y=True,
            rules=art.tables["markers"],
            title="article (simulated): formulas, not training",
            x_title="epoch (from 0)",
            y_title="loss (log scale)",
        ),
    )
    m = sim_col.columns(2) + sim_col.columns(2)
    m[0].metric("Best epoch", a["best_epoch"], help="Lowest validation loss of the article's curve.")
    m[1].metric("Best val loss", f"{a['best_val_loss']:.4f}")
    m[2].metric("Stops at epoch", a["stop_epoch"], help="Patience 15 runs out 15 epochs after the best one.")
    m[3].metric(
        "Epochs never run",
        f"{a['epochs_not_run']} of 200",
        help=f"Stopping at epoch {a['stop_epoch']} (0-based) means epochs 0 to {a['stop_epoch']} ran: "
        f"{a['epochs_run']} epochs. The article prints “Saved {a['epochs_saved']} epochs”, counting the "
        "stopping epoch itself as saved (the Early stopping page explains it).",
    )

# =============================================================================================
st.header("Going further: real training")
st.markdown(
    "Pick a recipe, then watch a real network train on real data: the curves are redrawn while it "
    "learns. The presets set every control at once (and the link in your address bar reproduces the view)."
)

#: Every control of the live run at its default, as URL values: a preset link sets all of them.
DEFAULTS = dict(
    depth="10",
    width="64",
    epochs="20",
    data="digits",
    act="relu",
    init="he",
    opt="adam",
    lr="0.001",
    bn="true",
    skips="false",
    drop="0.0",
    label_noise="0.0",
    sched="warmup_cosine",
    warm="auto",
    patience="0",
    wd="0",
)
_SGD = {"bn": "false", "opt": "sgd", "lr": "0.1", "sched": "constant"}
PRESETS = {
    "Modern": DEFAULTS,
    "Naive": {**DEFAULTS, **_SGD, "act": "sigmoid", "init": "small"},
    "1990s": {**DEFAULTS, **_SGD, "act": "tanh", "init": "xavier"},
    "Article's settings": {
        **DEFAULTS,
        "depth": "3",
        "width": "128",
        "drop": "0.3",
        "patience": "15",
        "epochs": "200",
        "warm": "10",
    },
    "50 layers + skips": {**DEFAULTS, "depth": "50", "skips": "true"},
}
for col, (name, query) in zip(st.columns(len(PRESETS)), PRESETS.items()):
    col.page_link(SELF, label=f"⚙️ {name}", query_params={**query, **controls.carried()})
st.caption(
    "**Modern**: the article's recipe. **Naive**: sigmoid, 0.01·N(0,1) weights, SGD. "
    "**1990s** (LeCun et al. 1998): tanh, std 1/√fan_in, SGD. "
    "**Article's settings**: the article's lr 0.001, 10 warmup epochs, 200 epochs, dropout 0.3, patience 15, "
    "He init and batch norm; the network (3 hidden layers × 128 units, ReLU, Adam, batches of 64, digits) "
    "is this app's choice, since the article's snippet trains none."
)

c = st.columns(4)
depth = controls.slider(
    "Hidden layers (depth)",
    "depth",
    1,
    recipe.DEPTH_SKIP_MAX,
    10,
    container=c[0],
    help=f"Up to {recipe.DEPTH_PLAIN_MAX} without skip connections, {recipe.DEPTH_SKIP_MAX} with them.",
)
width = controls.select_slider(
    "Units per layer (width)",
    "width",
    (16, 32, 64, 128, 256),
    64,
    container=c[1],
    help="Neurons in every hidden layer. Cost grows with width².",
)
epochs = controls.select_slider(
    "Epochs",
    "epochs",
    (5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200),
    20,
    container=c[2],
    help="Passes over the training set (early stopping may end sooner).",
)
dataset = controls.select(
    "Dataset",
    "data",
    DATASETS,
    "digits",
    container=c[3],
    help="  \n".join(f"**{k}**: {v}" for k, v in DATASETS.items()),
)

c = st.columns(4)
activation = controls.select(
    "Activation",
    "act",
    ACTIVATIONS,
    "relu",
    container=c[0],
    help="ReLU is the modern choice; tanh the 1990s one (LeCun 1998); sigmoid the naive one.",
)
init = controls.select(
    "Initialization",
    "init",
    STRATEGIES,
    "he",
    container=c[1],
    help="he: std √(2/fan_in), made for ReLU. xavier: std 1/√fan_in (LeCun 1998). small: 0.01·N(0,1).",
)
optimizer = controls.select(
    "Optimizer",
    "opt",
    OPTIMIZERS,
    "adam",
    container=c[2],
    help="adam adapts the step size of every weight; sgd takes plain gradient steps.",
)
lr = controls.select_slider(
    "Learning rate",
    "lr",
    (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
    1e-3,
    container=c[3],
    format_func=lambda v: f"{float(v):g}",
    help="Peak learning rate. Adam likes ~1e-3, plain SGD ~0.1.",
)

c = st.columns([1.3, 1, 1, 1, 1])
bn = controls.toggle(
    "Batch norm", "bn", True, container=c[0], help="Normalise every hidden layer's pre-activations over the mini-batch."
)
skips = controls.toggle(
    "Skip connections",
    "skips",
    False,
    container=c[0],
    help="Residual connections: each hidden block adds its input to its output.",
)
dropout = controls.select_slider(
    "Dropout rate",
    "drop",
    (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    0.0,
    container=c[2],
    help="Fraction of hidden units zeroed at random during training (0 = off).",
)
label_noise = controls.label_noise_slider(0.0, container=c[2])
schedule = controls.select(
    "LR schedule",
    "sched",
    SCHEDULES,
    "warmup_cosine",
    container=c[1],
    help="How the learning rate changes over the epochs.  \n"
    + "  \n".join(f"**{k}**: {v}" for k, v in SCHEDULES.items()),
)
warm = controls.select_slider(
    "Warmup epochs",
    "warm",
    ("auto", "0", "1", "2", "3", "5", "10", "15", "20", "30"),
    "auto",
    container=c[1],
    format_func=lambda v: "10% of epochs" if v == "auto" else v,
    help="Epochs of linear warmup for warmup_cosine (auto: 10% of the epochs). The article warms up for 10 "
    "of 200 epochs (5%); 5-10% is the usual guide.",
)
patience = controls.slider(
    "Early-stopping patience",
    "patience",
    0,
    50,
    0,
    container=c[4],
    help="Stop after this many epochs without a better validation loss (0 = off).",
)
weight_decay = controls.select_slider(
    "Weight decay",
    "wd",
    (0.0, 1e-4, 1e-3, 1e-2, 1e-1),
    0.0,
    container=c[3],
    format_func=lambda v: f"{float(v):g}",
    help="L2 penalty pulling every weight towards 0 at each step (0 = off).",
)

depth, depth_msg = recipe.clamp_depth(depth, skips)
if depth_msg:
    st.warning(depth_msg)
warmup = -1 if warm == "auto" else min(int(warm), epochs - 1)
if warm != "auto" and warmup < int(warm):
    st.warning(f"{warm} warmup epochs do not fit in {epochs} epochs: this run warms up for {warmup}.")
params = dict(
    depth=depth,
    width=width,
    dataset=dataset,
    activation=activation,
    init=init,
    batch_norm=bn,
    dropout=dropout,
    label_noise=label_noise,
    residual=skips,
    optimizer=optimizer,
    lr=lr,
    weight_decay=weight_decay,
    schedule=schedule,
    warmup_epochs=warmup,
    epochs=epochs,
    patience=patience,
    seed=seed,
)
config = recipe.make_config(**params)

with st.container(border=True):
    st.markdown(
        "**What Adam does** (the optimiser of most pages here). For every weight it keeps a running mean of the "
        "gradient, *m*, and of its square, *v*.  \n"
        "Each step moves the weight by lr · m / (√v + ε): about **lr**, whatever the gradient's scale.  \n"
        "So the sign and steadiness of a gradient set the step, not its size; plain SGD's step is lr × gradient."
    )

st.subheader("Live training")
live_cfg = runner.on_demand("live", live.LIVE, config.to_dict(), what="this network")
hist = (
    None
    if live_cfg is None
    else live.train_live(TrainConfig(**live_cfg), label=f"Training {depth} hidden layers × {width} units…")
)
run = recipe.history_tables(hist) if hist is not None else None
if run is not None:
    s = run.summary
    runner.show_notes(run.notes)
    m = controls.metric_row(6)
    m[0].metric(
        "Final test accuracy",
        f"{s['final_test_acc']:.1%}" if s["final_test_acc"] is not None else "—",
        help="Accuracy on the test split, which nothing in training sees or chooses by, with the weights the run "
        "keeps. One seed: no noise estimate.",
    )
    m[1].metric(
        "Final val accuracy",
        f"{s['final_val_acc']:.1%}" if s["final_val_acc"] is not None else "—",
        help="Accuracy on the validation split, which picks the best epoch (and stops early, with patience).",
    )
    m[2].metric(
        "Final train accuracy",
        f"{s['final_train_acc']:.1%}" if s["final_train_acc"] is not None else "—",
        help="Eval-mode pass over the training split" + (", with its noisy labels." if label_noise else "."),
    )
    m[3].metric("Best epoch", s["best_epoch"], help="Epoch with the lowest validation loss.")
    m[4].metric("Epochs run", f"{s['epochs_run']} of {epochs}")
    m[5].metric("Seconds per epoch", s["seconds_per_epoch"], help="Measured when this run was first computed.")
    runner.show_chart(
        where=real_col,
        chart=charts.line_chart(
            run.tables["curves"],
            "epoch",
            "loss",
            "split",
            log_y=True,
            rules=run.tables["markers"],
            title=f"real run: depth {depth}{' + skips' if skips else ''}, {activation}, {init} init, "
            f"{optimizer}{', BN' if bn else ''}",
            x_title="epoch (from 0)",
            y_title="loss (log scale)",
        ),
    )
    cur = run.tables["curves"]
    last = cur[cur["epoch"] == cur["epoch"].max()].set_index("split")["loss"]
    if {"train", "validation"} <= set(last.index):
        side = "above" if last["validation"] > last["train"] else "below"
        real_col.caption(
            f"This run's last epoch ({int(cur['epoch'].max())}, counted from 0): validation loss "
            f"{last['validation']:.3g}, {side} the training loss {last['train']:.3g}; its lowest validation "
            f"loss was at epoch {s['best_epoch']}. The *Article's settings* preset adds dropout and early "
            "stopping with patience 15."
        )
    runner.downloads("recipe", run, params, key="recipe_live")

# =============================================================================================
tab_names = ["Per-layer diagnostics", "Add one fix at a time", "Leave-one-out ablation", "The 50-layer test"]
tabs = st.tabs(tab_names, key="view", bind="query-params", on_change="rerun")

with tabs[0]:
    if tabs[0].open is not False and run is not None:
        st.markdown(
            "Measured on the first mini-batch of every epoch of the run above, per layer. "
            "**Activation std** shows whether the signal survives the depth, **gradient norm** whether the "
            "learning signal reaches the first layers, and the **update:data ratio** (step size / weight "
            "size) how far one step moves a layer's weights."
        )
        lay = run.tables["layers"]
        shown = lay[lay["layer"].isin(recipe.key_layers(s["n_layers"]))].rename(
            columns={"layer": "layer_no", "layer_name": "layer"}
        )
        c1, c2 = st.columns(2)
        runner.show_chart(
            where=c1,
            chart=charts.line_chart(
                shown,
                "epoch",
                "act_std",
                "layer",
                log_y=True,
                title="Activation std per layer",
                x_title="epoch (from 0)",
                y_title="activation std (log)",
            ),
        )
        runner.show_chart(
            where=c2,
            chart=charts.line_chart(
                shown,
                "epoch",
                "grad_norm",
                "layer",
                log_y=True,
                title="Gradient norm per layer",
                x_title="epoch (from 0)",
                y_title="‖∂L/∂W‖ (log)",
            ),
        )
        c1, c2 = st.columns(2)
        runner.show_chart(
            where=c1,
            chart=charts.line_chart(
                shown,
                "epoch",
                "update_ratio",
                "layer",
                log_y=True,
                hline=1e-3,
                hline_label="1e-3 rule of thumb",
                title="Update:data ratio per layer",
                x_title="epoch (from 0)",
                y_title="std(ΔW) / std(W) (log)",
            ),
        )
        runner.show_chart(
            where=c2,
            chart=charts.recipe_layer_heatmap(
                lay, "grad_norm", title="Gradient norm, every layer", value_title="grad norm"
            ),
        )
        w_std = init_std(init, width, width)
        if optimizer in ("adam", "adamw"):
            cur = run.tables["curves"]
            lr0 = float(cur.loc[cur["epoch"] == 0, "lr"].iloc[0]) if (cur["epoch"] == 0).any() else lr
            guide = (
                "**The 1e-3 line.** It is a rule of thumb from plain SGD, where a step is lr × gradient. Under "
                "Adam every weight moves by about lr (exactly lr on the first step), so the ratio is about "
                f"lr / std(W) by construction: at epoch 0 the schedule gives lr = {lr0:g}, and {lr0:g} / "
                f"{w_std:.3g} = {lr0 / w_std:.2g} for a {width}-unit hidden layer at {init} init, whatever its "
                "gradient. It then moves only with the schedule's lr and the weights' size."
            )
        else:
            guide = (
                "**The 1e-3 line.** A rule of thumb for SGD: a step is lr × gradient (with momentum, its running "
                "sum), so the ratio follows each layer's gradient. Far below the line a layer barely learns; far "
                "above, one step rewrites it."
            )
        st.markdown(guide)
        st.caption(
            f"Lines show layers {', '.join(map(str, recipe.key_layers(s['n_layers'])))} "
            f"of {s['n_layers']} (the last one is the output layer); the heatmap shows all of them."
        )

with tabs[1]:
    if tabs[1].open is not False:
        st.markdown(
            "Start from the **naive** recipe (sigmoid, 0.01·N(0,1) weights, SGD at 0.1), add **one fix** at a time, "
            f"then **every pair** of fixes, then all of them, from {DEFAULT_SEEDS} seeds each (the sidebar seed and "
            "the next ones). Each bar is the mean test accuracy over the seeds; the black line spans their min and "
            "max. A gain counts only when it is bigger than that spread."
        )
        c = st.columns([1, 3])
        aod = controls.select_slider(
            "Depth", "aod", (3, 5, 10, 15), 10, container=c[0], help="Hidden layers of every network in this tab."
        )
        oparams = dict(depth=aod, width=width, dataset=dataset, epochs=min(epochs, 20), seeds=DEFAULT_SEEDS, seed=seed)
        one, oparams = runner.run_on_demand(
            "add_one_in",
            "Training the naive recipe plus one or two fixes…",
            what="the naive recipe with each fix and each pair of fixes",
            **oparams,
        )
        if one is not None:
            one_seeds = one.summary["seeds"]
            of = (
                f"mean of seeds {', '.join(map(str, one_seeds))} (line: min to max)"
                if len(one_seeds) > 1
                else f"seed {one_seeds[0]}"
            )
            runner.show_chart(
                chart=charts.add_one_in_chart(
                    one.tables["variants"],
                    title=f"Test accuracy, {aod} hidden layers × {width} units, {oparams['epochs']} epochs, "
                    f"{dataset}: {of}",
                )
            )
            runner.show_table(one.tables["variants"])
            runner.downloads("add_one_in", one, oparams)

with tabs[2]:
    if tabs[2].open is not False:
        st.markdown(
            "Start from the modern recipe (with your width, epochs, dropout and patience), then **remove one "
            f"technique at a time** and train again, from {DEFAULT_SEEDS} seeds each (the sidebar seed and the next "
            "ones). A drop bigger than the seeds' spread means that technique matters for this network; a change "
            "within it is seed noise. SGD gets learning rate 0.1, since Adam's 10⁻³ would be unfair to it. "
            "Accuracies are on the test split."
        )
        c = st.columns([1, 1, 2])
        abd = controls.select_slider(
            "Depth",
            "abd",
            (3, 5, 10, 20, 30),
            recipe.ABLATION_DEPTH,
            container=c[0],
            help="Hidden layers of the ablation's networks. At 20 with skips, removing batch norm or the skips "
            "costs far more than seed noise; at 10 without skips, try it.",
        )
        abk = controls.toggle(
            "With skips",
            "abk",
            recipe.ABLATION_RESIDUAL,
            container=c[1],
            help="Skip connections; adds a 'no skips' variant.",
        )
        aparams = dict(
            depth=abd,
            width=width,
            dataset=dataset,
            epochs=epochs,
            dropout=dropout,
            patience=patience,
            residual=abk,
            seed=seed,
        )
        abl, aparams = runner.run_on_demand(
            "ablation",
            "Training the recipe minus one technique at a time…",
            what="the recipe minus one technique at a time",
            **aparams,
        )
        if abl is not None and len(abl.tables["accuracy"]):
            acc = abl.tables["accuracy"]
            seeds_txt = ", ".join(map(str, abl.summary["seeds"]))
            runner.show_chart(
                chart=charts.recipe_ablation_chart(
                    acc,
                    title=f"Final test accuracy, mean of seeds {seeds_txt}"
                    + (" (line: min to max)" if len(abl.summary["seeds"]) > 1 else ""),
                )
            )
            cmp = abl.summary["comparison"]
            essential = abl.summary.get("essential") or []
            if essential:
                st.markdown(
                    "The parts this page calls essential for a deep network, removed one at a time: "
                    + "; ".join(
                        f"**{v}** {cmp['mean'][v]:.1%} instead of {cmp['mean']['full recipe']:.1%} "
                        f"({cmp['diff'][v] * 100:+.1f} pts, {noise_words(cmp['beyond_noise'][v])})"
                        for v in essential
                    )
                    + "."
                )
            runner.show_table(acc)
            runner.downloads("ablation", abl, aparams)

with tabs[3]:
    if tabs[3].open is not False:
        st.markdown(
            "The article says a 50-layer network is *almost boring* to train with this recipe. Test it: "
            "the modern recipe (ReLU, He, batch norm, Adam, warmup + cosine) at **depth 50**, once as a "
            "plain stack and once with **skip connections** (each block adds its input to its output, as "
            f"in ResNets). Each network is trained from {DEFAULT_SEEDS} seeds (the seeds of one network train "
            "together as one stack); they start with the toggle."
        )
        c = st.columns([1, 1, 2])
        dw = controls.select_slider(
            "Width", "d50w", (32, 64, 128), 64, container=c[0], help="Units per layer of both 50-layer networks."
        )
        de = controls.select_slider(
            "Epochs",
            "d50e",
            (5, 10, 15, 20, 25, 30),
            20,
            container=c[1],
            help="Epochs of each run (depth 50 costs about 5× depth 10).",
        )
        go = controls.toggle(
            "Run the 50-layer test",
            "d50",
            False,
            container=c[2],
            help="Trains two 50-layer networks. Cached: the next visit is instant.",
        )
        if go:
            dparams = dict(depth=50, width=dw, dataset=dataset, epochs=de, seed=seed)
            # one call per network, so that each gets the whole time cap
            parts = [
                runner.run("deep50", f"Training 50 layers, {r}…", heavy=True, runs=(r,), **dparams)
                for r in recipe.DEEP_RUNS
            ]
            deep = recipe.combine_deep50(parts) if None not in parts else None
            if deep is not None:
                runner.show_notes(deep.notes)
                ds = deep.summary
                dcmp = ds.get("comparison")
                n_seeds = len(ds["seeds"])
                of = f"mean of seeds {', '.join(map(str, ds['seeds']))}" if n_seeds > 1 else "one seed"
                m = st.columns(2)
                for col, (run_name, key) in zip(m, (("plain", "plain"), ("with skips", "with_skips"))):
                    spread = None if dcmp is None else dcmp["spread"].get(run_name)
                    col.metric(
                        f"{run_name.capitalize()}: final test accuracy",
                        f"{ds[f'{key}_test_acc']:.1%}",
                        help=f"{of}"
                        + ("" if spread is None else f"; spread over the seeds {spread * 100:.1f} pts")
                        + (f". Final validation accuracy {ds[f'{key}_val_acc']:.1%}."),
                    )
                runner.show_chart(
                    charts.band_line_chart(
                        deep.tables["bands"],
                        "epoch",
                        "test_acc",
                        "test_acc_min",
                        "test_acc_max",
                        "run",
                        integer_x=True,
                        title=f"Test accuracy, depth 50 ({of}" + (", band: min to max)" if n_seeds > 1 else ")"),
                        x_title="epoch (from 0)",
                        y_title="test accuracy",
                        height=260,
                    ),
                )
                c1, c2 = st.columns(2)
                first = deep.tables["first_epoch_layers"]
                runner.show_chart(
                    where=c1,
                    chart=charts.line_chart(
                        first,
                        "layer",
                        "grad_norm",
                        "run",
                        log_y=True,
                        title="Gradient norm per layer, first step",
                        y_title="‖∂L/∂W‖ (log)",
                    ),
                )
                runner.show_chart(
                    where=c2,
                    chart=charts.line_chart(
                        first,
                        "layer",
                        "update_ratio",
                        "run",
                        log_y=True,
                        title="Update:data ratio per layer, first step",
                        y_title="std(ΔW) / std(W) (log)",
                    ),
                )
                why = (
                    f"Seed {ds['seeds'][0]}. Left: how strongly the loss reacts to each layer's weights. Right: how "
                    "far Adam's first step moved each layer's weights, relative to their size."
                )
                if (ds.get("plain_grad_ratio_first_to_last") or 0) > 10:
                    why += (
                        " Batch norm keeps the *forward* signal steady but not the backward one: in this plain "
                        "stack the gradient grows towards the input, as Yang et al. (2019) predict for batch "
                        "norm with ReLU."
                    )
                st.caption(why)
                runner.downloads("deep50", deep, dparams)
        else:
            st.info("Switch on **Run the 50-layer test** to train both networks (progress bar, cached).")

controls.page_footer()
