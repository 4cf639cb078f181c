"""A class in the app: joining a room, the teacher's key, and the live poll around each question.

A room is ``?room=CODE`` on every link (``ui.controls.carried``). A student gets an anonymous
token in the URL (``?student=``) the first time, so a reload keeps the same vote. The teacher's
link carries ``?teacher=KEY`` once: the key moves into the session and leaves the address bar,
because the teacher's screen is projected. Every database call goes through ``classroom.store``;
when the store is unreachable the lesson and the lone guess keep working, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from classroom.questions import Question
from classroom.store import JoinLimiter, Store, StoreUnavailable, normalise_code
from serve.settings import SETTINGS
from ui import charts, runner
from ui.controls import PAGES, ROOM_PARAM, STUDENT_PARAM, carried, student_token

TEACHER_PARAM = "teacher"
#: Seconds between two looks at the store from a student's or the teacher's page.
POLL_SECONDS = SETTINGS.poll_s

_KEYS, _JOINED, _LIMITER = "room_teacher_keys", "room_joined", "room_limiter"
#: The last "follow me" this session obeyed (its time), so a student who goes back is not moved again.
_FOLLOWED = "room_followed"


@st.cache_resource(show_spinner=False)
def _store() -> Store:
    return Store()


def store() -> Store | None:
    """The class store, or None (with a note) when it cannot be reached."""
    try:
        return _store()
    except (StoreUnavailable, ValueError) as e:
        st.warning(f"The class poll is offline ({e}). The lesson works; your guesses stay in this browser.")
        return None


@dataclass(frozen=True)
class Seat:
    """This browser's place in a room: a student's token, or the teacher's key."""

    code: str
    student: str | None = None
    teacher_key: str | None = None

    @property
    def teacher(self) -> bool:
        return self.teacher_key is not None


def _drop_room(message: str) -> None:
    st.error(message)
    for k in (ROOM_PARAM, STUDENT_PARAM, TEACHER_PARAM):
        st.query_params.pop(k, None)


def current() -> Seat | None:
    """This browser's seat in the room named by the URL, or None outside a class."""
    raw = st.query_params.get(ROOM_PARAM)
    if not raw:
        return None
    try:
        code = normalise_code(raw)
    except ValueError as e:
        _drop_room(f"Can't join the class: {e}")
        return None
    s = store()
    if s is None:
        return None
    keys = st.session_state.setdefault(_KEYS, {})
    given = st.query_params.get(TEACHER_PARAM)
    if given:
        st.query_params.pop(TEACHER_PARAM, None)  # out of the projected address bar at once
        try:
            s.status(code, given)
            keys[code] = given
        except PermissionError:
            st.error(f"That teacher key is wrong for room {code}: you joined as a student.")
        except (ValueError, StoreUnavailable) as e:
            _drop_room(f"Can't open the class: {e}")
            return None
    if code in keys:
        return Seat(code, teacher_key=keys[code])
    student = student_token()
    if st.session_state.get(_JOINED) != (code, student):
        limiter = st.session_state.setdefault(_LIMITER, JoinLimiter())
        try:
            limiter.join(s, code, student)
        except ValueError as e:
            _drop_room(f"Can't join the class: {e}")
            return None
        except StoreUnavailable as e:
            st.warning(f"The class poll is offline ({e}). The lesson works; your guesses stay in this browser.")
            return None
        st.session_state[_JOINED] = (code, student)
    return Seat(code, student=student)


def record(seat: Seat, q: Question, choice: str) -> str:
    """Record a student's guess for the room (committed before it returns)."""
    s = store()
    if s is None:
        raise ValueError("the class poll is offline; your guess is kept in this browser only")
    try:
        s.answer(seat.code, q.id, seat.student, choice)
    except StoreUnavailable as e:
        raise ValueError(f"the class poll is offline ({e})") from e
    return "Recorded for the class ✓"


def recorded(seat: Seat, q: Question) -> str | None:
    """The guess this student already recorded (after a reload), or None."""
    s = store()
    try:
        return s.my_answer(seat.code, q.id, seat.student) if s else None
    except (ValueError, StoreUnavailable):
        return None


def is_revealed(seat: Seat, q: Question) -> bool:
    s = store()
    try:
        return bool(s and s.revealed(seat.code, q.id))
    except (ValueError, StoreUnavailable):
        return False


def student_poll(seat: Seat, q: Question, waiting: bool) -> None:
    """Poll the store every few seconds: rerun the page once the teacher reveals ``q``, and move
    the student to the page the teacher sends the class to ("follow me").

    A follow moves this session once: its time is kept in the session, so a student who goes back
    stays there (with a link to the teacher's page) until the teacher sends the class again.
    """

    @st.fragment(run_every=POLL_SECONDS)
    def poll():
        s = store()
        if s is None:
            return
        try:
            if waiting and s.revealed(seat.code, q.id):
                st.rerun()
            follow = s.following(seat.code)
        except (ValueError, StoreUnavailable):
            return
        if follow is None or not any(p == follow.page for p, _ in PAGES):
            return
        seen = st.session_state.get(_FOLLOWED)
        new = seen is None or follow.at > seen
        st.session_state[_FOLLOWED] = follow.at
        if follow.page == q.page:
            return
        if new:
            st.switch_page(follow.page, query_params=carried())
        title = next(t for p, t in PAGES if p == follow.page)
        st.page_link(follow.page, label=f"Your teacher moved on: go to **{title}** →", query_params=carried())

    poll()


def teacher_panel(seat: Seat, q: Question) -> bool:
    """The teacher's live tally of ``q`` with "Reveal" and "Send the class here"; True once revealed."""
    s = store()
    if s is None:
        return False
    c1, c2 = st.columns(2)
    try:
        if c1.button("Send the class to this question", key=f"follow_{q.id}"):
            s.follow(seat.code, seat.teacher_key, q.page, q.id)
        revealed = s.revealed(seat.code, q.id)
        if not revealed and c2.button("Reveal the answer to the class", key=f"reveal_{q.id}", type="primary"):
            s.reveal(seat.code, q.id, seat.teacher_key)
            revealed = True
    except (ValueError, PermissionError, StoreUnavailable) as e:  # e.g. the room was closed
        st.warning(f"The class poll is unavailable: {e}")
        return False

    @st.fragment(run_every=POLL_SECONDS)
    def tally():
        try:
            counts = s.tally(seat.code, q.id, seat.teacher_key)
            joined = s.joined(seat.code, seat.teacher_key)
        except (ValueError, PermissionError, StoreUnavailable) as e:
            st.warning(f"The tally is unavailable: {e}")
            return
        answered = sum(counts.values())
        st.markdown(f"**Room {seat.code}**: {answered} of {joined} joined have answered.")
        df = pd.DataFrame({"option": list(counts), "answers": list(counts.values())})
        runner.show_chart(charts.bar_chart(df, "option", "answers", sort=None, title="The room's guesses", height=200))

    tally()
    return revealed


def start_class() -> str | None:
    """Open a new room with this session as its teacher; its code, or None (with a note)."""
    s = store()
    if s is None:
        return None
    try:
        new = s.create_room()
    except StoreUnavailable as e:
        st.warning(f"The class poll is offline ({e}): no room could be opened.")
        return None
    st.session_state.setdefault(_KEYS, {})[new.code] = new.teacher_key
    return new.code


def public_base() -> str:
    """The app's public address: the setting, else what this browser used."""
    base = SETTINGS.public_url
    if not base:
        url = str(st.context.url or "")
        base = url.split("?", 1)[0].rsplit("/", 1)[0] if "://" in url else "http://localhost:8501"
    return base.rstrip("/")
