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
from ui import controls, room, runner


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
        mark = "✓" if i == right else "✗"
        yours = " (your guess)" if option == guess else ""
        lines.append(f"- {mark} **{option}**{yours}: {why}")
    st.markdown("\n".join(lines))
    st.caption(f"Takeaway: {q.takeaway}")


def ask(question_id: str) -> str | None:
    """Draw the question ``question_id`` at the top of its page; return the committed guess.

    Alone, the answer shows once the guess is committed. In a class the guess is recorded for
    the room, the answer waits for the teacher's reveal, and the teacher sees the live tally.
    """
    q = QUESTIONS[question_id]
    with controls.question_slot():
        seat = room.current()
        return _ask(q, seat)


def _ask(q: Question, seat) -> str | None:
    with st.container(border=True, key=f"quiz_{q.id}"):
        st.markdown(f"**Predict first.** {q.prompt}")
        if seat is not None and seat.teacher:
            st.caption("Options: " + " · ".join(f"**{o}**" for o in q.options))
            if room.teacher_panel(seat, q):
                reveal(q, None)
            return None
        key = _guess_key(q)
        guess = committed(q)
        if guess is None and seat is not None:
            guess = room.recorded(seat, q)  # after a reload: the vote the room already has
            if guess is not None:
                st.session_state[f"{key}_committed"] = guess
                st.session_state[f"{key}_recorded"] = True
        if guess is None:
            with st.form(key=f"{key}_form", border=False):
                choice = st.radio("Your guess", q.options, index=None, key=key, label_visibility="collapsed")
                submitted = st.form_submit_button("Commit my guess", type="primary")
            if submitted and choice is None:
                st.warning("Pick one option first.")
            elif submitted:
                st.session_state[f"{key}_committed"] = guess = choice
                try:
                    if seat is not None:
                        room.record(seat, q, choice)
                        st.session_state[f"{key}_recorded"] = True
                    st.rerun()  # redraw without the form: the guess is committed
                except ValueError as e:  # kept in this browser; the note stays on screen
                    st.error(f"Not recorded for the class: {e}")
        if guess is None:
            if seat is None and st.button("Skip the question and show the answer", key=f"{key}_skip", type="tertiary"):
                st.session_state[f"{key}_skipped"] = True
            if not st.session_state.get(f"{key}_skipped"):
                if seat is not None:
                    room.student_poll(seat, q, waiting=False)
                return None
        else:
            where = " · recorded for the class ✓" if st.session_state.get(f"{key}_recorded") else ""
            st.markdown(f"Your guess: **{guess}**{where}")
        if seat is not None and not room.is_revealed(seat, q):
            st.info("Waiting for your teacher to reveal the answer…")
            room.student_poll(seat, q, waiting=True)
            return guess
        if seat is not None:
            room.student_poll(seat, q, waiting=False)
        reveal(q, guess)
    return guess
