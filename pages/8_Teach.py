"""Teach: run a class (room code, QR, live polls), the lesson plan, teacher notes, exercises and handouts."""

import io

import pandas as pd
import segno
import streamlit as st

from classroom import exercises, lessons
from classroom.questions import QUESTIONS
from ui import controls, room, runner

controls.page_setup(
    "Teach",
    "Run a class from the app: start a room, share its code or QR, and every student's guess on "
    "each page's question shows up in your tally before you reveal the answer.",
    icon="🧑‍🏫",
)
TITLES = dict(controls.PAGES)

# ---------------------------------------------------------------------------------------------
st.header("Your class")
seat = room.current()
if seat is None or not seat.teacher:
    st.markdown(
        "Start a room, put the QR code on the projector, then open each page from the plan below. "
        "Students join anonymously: no names, no accounts."
    )
    if st.button("▶ Start a class", type="primary", key="start_class") and (code := room.start_class()):
        st.query_params[controls.ROOM_PARAM] = code
        st.rerun()
else:
    s = room.store()
    base = room.public_base()
    student_link = f"{base}/?{controls.ROOM_PARAM}={seat.code}"
    try:
        status, answers = s.status(seat.code, seat.teacher_key), s.export(seat.code, seat.teacher_key)
    except (ValueError, room.StoreUnavailable) as e:  # expired meanwhile, or the store went down
        st.warning(f"This class is not available: {e}")
        status = None
    if status is not None:
        left, right = st.columns([1, 2], gap="large")
        with left:
            png = io.BytesIO()
            segno.make(student_link, error="m").save(png, kind="png", scale=8, border=2)
            st.image(png.getvalue(), caption="Scan to join: the student link", width=260)
        with right:
            st.metric("Room code", seat.code, help="Students type it, or scan the QR code.")
            st.markdown(f"**Student link:** `{student_link}`")
            closed = status.closed_at is not None
            st.markdown(
                f"{status.joined} joined · {'closed' if closed else 'open'} · answers deleted at "
                f"{status.expires_at:%Y-%m-%d %H:%M} UTC"
            )
            with st.expander("Your teacher link (keep it private: it can reveal and close)"):
                st.code(f"{base}/Teach?{controls.ROOM_PARAM}={seat.code}&{room.TEACHER_PARAM}={seat.teacher_key}")
            row = st.container(horizontal=True)
            row.download_button(
                "⬇ Answers (CSV)",
                answers.to_csv(index=False).encode(),
                file_name=f"class-{seat.code}.csv",
                mime="text/csv",
                key="export_room",
            )
            if not closed and row.button("Close the room", key="close_room"):
                s.close(seat.code, seat.teacher_key)
                st.rerun()
        st.caption(
            "On each page you see the live tally under its question, with **Reveal** and **Send the class "
            "here**. Set TRAINING_EXPLORER_PUBLIC_URL when the app runs behind a proxy, so the link and QR "
            "code point at the public address."
        )

# ---------------------------------------------------------------------------------------------
st.header("A 50-minute lesson")
plan = pd.DataFrame(
    [
        {"minutes": q.minutes, "page": TITLES[q.page], "question": q.prompt, "takeaway": q.takeaway}
        for q in QUESTIONS.values()
    ]
)
intro, wrap = 5, 50 - 5 - int(plan["minutes"].sum())
st.markdown(
    f"{intro} min: the home page's depth ladder, and how a question works. Then one page after another "
    f"({int(plan['minutes'].sum())} min), each opened with its question; {wrap} min to sum up."
)
runner.show_table(plan, width="stretch")
links = st.container(horizontal=True)
for q in QUESTIONS.values():
    links.page_link(q.page, label=f"{TITLES[q.page]} →", query_params=controls.carried() or None)

st.header("Teacher notes")
st.markdown(
    "- Each answer is computed when it is revealed, from one run at the question's own settings and "
    "seed: the whole room sees the same numbers.\n"
    "- Several pages admit where the article's story does not hold: read their *Going further* "
    "sections before class (the 50-layer test on **Full recipe**, the learning-rate sweep on "
    "**Batch normalization**, the seed spreads on **Initialization** and **Learning-rate schedules**).\n"
    "- A difference smaller than the seed spread is noise: when a page says *within seed noise*, "
    "that is the result, not a failure of the demo."
)


def _answer(ex: exercises.Exercise, results: list) -> str:
    """The exercise's computed answer, or a plain note when a run or the answer failed."""
    if None in results:
        return "could not be computed (see the message above)."
    try:
        return ex.solve(results)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        return f"could not be computed from this result ({type(e).__name__}: {e})."


st.header("Exercises")
st.markdown(
    "Two or three per page, for a lab or homework. Each is answered by the engine at the exercise's "
    "own settings and seed, the ones a student reaches by moving the controls named in the task."
)
if st.button(
    "▶ Compute the answers",
    key="make_answers",
    help="Runs each exercise's experiment: most do not train, the others train small networks "
    "for a few seconds (cached for everyone).",
):
    st.session_state["exercise_answers"] = True
answers_on = bool(st.session_state.get("exercise_answers"))
for page, exs in exercises.by_page().items():
    with st.container(border=True):
        st.markdown(f"**{TITLES[page]}**\n\n" + "\n".join(f"{i}. {ex.task}" for i, ex in enumerate(exs, start=1)))
        with st.expander("Answers"):
            if not answers_on:
                st.caption("Press **▶ Compute the answers** above.")
                continue
            lines = []
            for i, ex in enumerate(exs, start=1):
                # The runs' own notes (e.g. a one-seed caveat) speak of one run on its page: the
                # answer below speaks for the exercise's runs. Errors and time-cap warnings show.
                results = [
                    runner.run(ex.experiment, f"{TITLES[page]}, exercise {i}…", heavy=ex.heavy, notes=False, **call)
                    for call in ex.calls()
                ]
                lines.append(f"{i}. " + _answer(ex, results))
            st.markdown("\n".join(lines))

st.header("Handouts")
st.markdown(
    "One card per page: the measured key figure, the takeaway and the link. Print this page from "
    "the browser (the sidebar is left out)."
)
st.html(
    "<style>@media print { [data-testid=stSidebar], header, .st-key-page_footer, [data-testid=stButton],"
    " [data-testid=stTooltipContent], [role=tooltip] { display: none; } }</style>"
)
if st.button("▶ Make the handouts", key="make_handouts", help="Runs each question's experiment (cached for everyone)."):
    st.session_state["handouts"] = True
if st.session_state.get("handouts"):
    base = room.public_base()
    for q in QUESTIONS.values():
        result = runner.run(q.experiment, f"{TITLES[q.page]}…", heavy=q.heavy, notes=False, **dict(q.params))
        if result is None:
            continue
        with st.container(border=True):
            st.markdown(
                f"**{TITLES[q.page]}**  \n{q.measured(result)}  \n*{q.takeaway}*  \n"
                f"{base}/{lessons.by_path(q.page).url}"
            )

controls.page_footer()
