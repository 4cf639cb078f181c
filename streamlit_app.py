"""Training Explorer: home page. The map of failure modes and their fixes, and one headline chart."""

import streamlit as st

from ui import charts, controls, runner

P = {title: path for path, title in controls.PAGES}
SHORT = {"Vanishing & exploding gradients": "Gradients", "Learning-rate schedules": "LR schedules"}

seed = controls.page_setup(
    "Training Explorer",
    "Backpropagation has not changed since 1986, yet deep networks only became easy to train around 2015. "
    "What changed is a handful of **engineering fixes**, each aimed at one way training fails. "
    "Every page here shows one failure and its fix with **real computation**: a small NumPy engine "
    "trains real networks on real handwritten digits while you watch.",
)

# (failure mode, what you see, the fix, pages that show it)
FAILURES = [
    (
        "Vanishing or exploding gradients",
        "The first layers get gradients near 0 (or huge): they stop learning, or training blows up.",
        "ReLU, He/Xavier init, batch norm, skip connections",
        ["Vanishing & exploding gradients", "Full recipe"],
    ),
    (
        "Signal collapse at initialization",
        "Activations shrink to 0 or blow up layer after layer before training even starts.",
        "He / Xavier initialization",
        ["Initialization"],
    ),
    (
        "Distribution drift",
        "Each layer's inputs keep changing scale while the layers below learn: training is slow and fragile.",
        "Batch normalization",
        ["Batch normalization"],
    ),
    (
        "Overfitting",
        "Training accuracy keeps rising while validation accuracy stalls or falls.",
        "Dropout, early stopping, weight decay",
        ["Dropout", "Early stopping"],
    ),
    (
        "Bad step sizes",
        "Too big and the loss diverges, too small and nothing moves.",
        "Learning-rate schedules (warmup + cosine), Adam",
        ["Learning-rate schedules", "Full recipe"],
    ),
]

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("What goes wrong, and what fixes it")
    for failure, symptom, fix, pages in FAILURES:
        with st.container(border=True):
            st.markdown(f"**{failure}**: {symptom}  \n**Fix:** {fix}")
            for col, page in zip(st.columns(len(pages)), pages):
                col.page_link(P[page], label=f"→ {SHORT.get(page, page)}")
    st.page_link(P["Full recipe"], label="**All of them together: the full recipe →**")

with right:
    st.subheader("The headline: the same network, two recipes")
    params = dict(depth=10, width=64, dataset="digits", epochs=20, seed=seed)
    res, params = runner.run_on_demand(
        "recipe_compare",
        "Training the classic and the modern recipe…",
        what="the classic and the modern recipe",
        **params,
    )
    if res is not None:
        s = res.summary
        runner.show_chart(
            charts.line_chart(
                res.tables["curves"],
                "epoch",
                "val_acc",
                "run",
                points=True,
                height=380,
                title="10 hidden layers on handwritten digits",
                y_title="validation accuracy",
            )
        )
        m = controls.metric_row(3)
        m[0].metric("Classic recipe", f"{s['classic_val_acc']:.0%}", help="Final validation accuracy.")
        m[1].metric("Modern recipe", f"{s['modern_val_acc']:.0%}", help="Final validation accuracy.")
        m[2].metric("Random guessing", f"{s['chance_acc']:.0%}")
        st.markdown(
            "**Classic** (1990s): sigmoid, small random weights, plain SGD at a constant rate. "
            "**Modern**: ReLU, He init, batch norm, Adam with warmup + cosine decay. Same network, same "
            "data, same number of epochs: only the recipe differs."
        )
        runner.downloads("recipe_compare", res, params, key="home_compare")

controls.page_footer()
