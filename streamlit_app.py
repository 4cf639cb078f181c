"""Training Explorer: home page. The map of failure modes and their fixes, and the depth ladder."""

import streamlit as st

from classroom.lessons import FAILURES, LESSONS
from engine.experiments import ladders
from ui import charts, controls, runner

seed = controls.page_setup(
    "Training Explorer",
    "Backpropagation has not changed since 1986, yet deep networks only became easy to train around 2015. "
    "What changed is a handful of **engineering fixes**, each aimed at one way training fails. "
    "Every page here shows one failure and its fix with **real computation**: a small NumPy engine "
    "trains real networks on real handwritten digits while you watch.",
)

# the headline first: on a phone the columns stack, and the ladder is the page's point
headline, failure_map = st.columns([1, 1], gap="large")
with failure_map:
    st.subheader("What goes wrong, and what fixes it")
    for failure, (symptom, fix) in FAILURES.items():
        with st.container(border=True):
            st.markdown(f"**{failure}**: {symptom}  \n**Fix:** {fix}")
            pages = [lesson.title for lesson in LESSONS if failure in lesson.fixes]
            for col, page in zip(st.columns(len(pages)), pages):
                controls.link_to(page, where=col)
    controls.link_to("Full recipe", label="**All of them together: the full recipe →**")

with headline:
    st.subheader("The headline: what lets a network go deep?")
    n_seeds = controls.select_slider(
        "Seeds per network",
        "seeds",
        tuple(range(1, 6)),
        ladders.DEFAULT_SEEDS,
        help="Every recipe and depth is trained from this many seeds (the sidebar seed and the next ones), "
        "all seeds of one network in one stacked computation. A gap counts only when it is bigger than the "
        "spread over the seeds; one seed gives no noise estimate.",
    )
    shape = dict(ladders.HOME_LADDER, seeds=n_seeds, seed=seed)
    shown = runner.on_demand("home_ladder", "depth_ladder", shape, what="four recipes at four depths")
    lad = None
    depths = ladders.DEFAULT_DEPTHS
    if shown is not None:
        # one call per recipe, so that each gets the whole time cap
        parts = [
            runner.run(
                "depth_ladder",
                f"Training the {label} recipe at depths {depths[0]} to {depths[-1]}…",
                heavy=True,
                recipes=(r,),
                **shown,
            )
            for r, label in ladders.LADDER_RECIPES.items()
        ]
        lad = ladders.combine_ladder(parts) if None not in parts else None
    if lad is not None:
        if lad.summary["complete"]:  # every part is cached: show the ladder at once next time
            runner.remember("depth_ladder", shown)
        s = lad.summary
        seeds = s["seeds"]
        runner.show_chart(
            charts.ladder_chart(
                lad.tables["ladder"],
                chance=s["chance_acc"],
                height=430,
                # two lines: a title wider than the column would squeeze the chart
                title=[
                    f"Handwritten digits, {shown['width']} units per layer,",
                    f"{shown['epochs']} epochs, {shown['n_train']} training images",
                ],
            )
        )
        for note in lad.notes:
            st.markdown(f"- {note}")
        if len(seeds) > 1:
            lines = f"Lines: mean test accuracy over seeds {', '.join(map(str, seeds))}; bands: min to max"
        else:
            lines = f"Line: test accuracy of seed {seeds[0]} (one seed: no band, no noise estimate)"
        st.caption(
            "**naive**: sigmoid, 0.01·N(0,1) weights, plain SGD. **1990s** (LeCun et al. 1998): tanh, "
            "std 1/√fan_in, plain SGD 0.1. **modern (article)**: ReLU, He init, batch norm, Adam 10⁻³ with "
            "warmup + cosine. **modern + skips**: the same, each block adding its input to its output. "
            f"Accuracy on the held-out test digits, of the weights after the last epoch. {lines}; dashed: "
            f"chance ({s['chance_acc']:.0%})."
        )
        runner.downloads("depth_ladder", lad, shown, key="home_ladder")

controls.page_footer()
