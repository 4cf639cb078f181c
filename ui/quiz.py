"""Predict, then reveal: the question that opens every lesson page (``classroom.questions``).

The student commits a guess first (a control keyed ``guess_<question>``, so a guess never
carries over to the next page). Only then is the question's own experiment shown, with the right
option computed from its result and a sentence on why each wrong option is wrong. The experiment
runs at the question's fixed settings, cached for everyone: a reveal costs one run per server,
not one per student. In a class (``?room=``) the guess is recorded for the room and the reveal
waits for the teacher (``ui.classroom``); alone, it lives in this browser session only.
"""

from __future__ import annotations

import streamlit as st

from classroom.questions import QUESTIONS, Question
from ui import runner


def _guess_key(q: Question) -> str:
    return f"guess_{q.id}"


def committed(q: Question) -> str | None:
    """The option this session committed to for ``q``, or None."""
    v = st.session_state.get(f"{_guess_key(q)}_committed")
    return v if v in q.options else None


def reveal(q: Question, guess: str | None) -> None:
    """The answer to ``q``: computed from its experiment, each option explained."""
    result = runner.run(q.experiment, "Running the experiment that answers it…", heavy=q.heavy, **dict(q.params))
    if result is None:
        return
    right = q.correct(result)
    if guess is not None:
        if guess == q.options[right]:
            st.success(f"**Right: {q.options[right]}.** {q.measured(result)}")
        else:
            st.warning(f"**Not quite: the answer is {q.options[right]}.** {q.measured(result)}")
    else:
        st.info(f"**The answer: {q.options[right]}.** {q.measured(result)}")
    lines = []
    for i, (option, why) in enumerate(zip(q.options, q.why, strict=True)):
        mark = "✅" if i == right else "✗"
        yours = " (your guess)" if option == guess else ""
        lines.append(f"- {mark} **{option}**{yours}: {why}")
    st.markdown("\n".join(lines))
    st.caption(f"Takeaway: {q.takeaway}")


def ask(question_id: str, *, on_commit=None, revealed=None) -> str | None:
    """Draw the question ``question_id``; return the committed guess (None before it).

    ``on_commit(choice)`` records a guess elsewhere (the class's poll) and returns a note to
    show, or raises ``ValueError`` with a message. ``revealed()`` says whether the answer may be
    shown; by default it is shown as soon as the guess is committed.
    """
    q = QUESTIONS[question_id]
    key = _guess_key(q)
    with st.container(border=True, key=f"quiz_{q.id}"):
        st.markdown(f"**🤔 Predict first.** {q.prompt}")
        guess = committed(q)
        if guess is None:
            with st.form(key=f"{key}_form", border=False):
                choice = st.radio("Your guess", q.options, index=None, key=key, label_visibility="collapsed")
                submitted = st.form_submit_button("Commit my guess", type="primary")
            if submitted and choice is None:
                st.warning("Pick one option first.")
            elif submitted:
                note = None
                if on_commit is not None:
                    try:
                        note = on_commit(choice)
                    except ValueError as e:
                        st.error(f"Your guess was not recorded: {e}")
                        return None
                st.session_state[f"{key}_committed"] = choice
                guess = choice
                if note:
                    st.success(note)
        if guess is None:
            if st.button("Skip the question and show the answer", key=f"{key}_skip", type="tertiary"):
                st.session_state[f"{key}_skipped"] = True
            if not st.session_state.get(f"{key}_skipped"):
                return None
        else:
            st.markdown(f"Your guess: **{guess}**")
        if revealed is not None and not revealed():
            st.info("Waiting for your teacher to reveal the answer…")
            return guess
        reveal(q, guess)
    return guess
