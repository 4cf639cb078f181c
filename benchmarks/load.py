"""Load test: simulated students drive a Streamlit app over its websocket protocol.

Each student is one browser tab, a :class:`serve.client.Session` (the client the warm-up uses
too): it fetches ``/_stcore/health`` first (which sets the XSRF cookie, and a load balancer's
route cookie), then opens ``ws://HOST/_stcore/stream`` and sends ``BackMsg.rerun_script``
messages, reading ``ForwardMsg`` replies until the run's final ``script_finished``. Three kinds
of interaction:

- ``open``: go to a page, by ``ClientState.page_name`` (the page's URL pathname)
  and ``query_string``, e.g. ``Dropout?depth=12&seed=3``, plus ``--open-query``
  (e.g. ``run=1``, a teacher's link that trains every section as it opens). The
  first open of a student is a deep link on a fresh session, so URL-bound widgets
  take the values in the query string.
- ``change``: move one URL-bound control of the current page to a new value
  (``--change-style random`` anywhere in its range, ``nudge`` a few steps); widget
  id, type and range come from the element the server sent. A rerun with only a
  different query string is not enough: in 1.67 the URL seeds a bound widget on
  its first run only. Since the app's training sections train only on demand, a
  change is a cheap rerun: the section keeps showing its last run.
- ``train``: after each change, with probability ``--train-prob`` (0.25), the
  student's next interaction presses one "▶ ..." button of the page (at random if
  there are several), by sending the button's id with ``trigger_value = True``.
  That is where the real training cost is, unless someone already ran those
  settings in this server process (then it is a cache hit).

Like the browser's widget manager, a tab keeps the last known state of every
supported widget on the page (what it sent, else the value the server drew it
with) and sends them all in ``widget_states`` with every change and train press;
states of widgets that left the page are dropped when a run finishes.

An interaction counts as failed, and its cause as an error, when its run shows a
Streamlit exception element or an ``st.error`` box, times out, or its websocket
fails. Two designed answers are counted apart: runs cut by the app's time cap
(``time_capped``: the student still sees curves) and settings the compute budget
refuses (``refused``: an ``st.error`` starting "Can't run this" / "Can't train
this" that says what to reduce, which a random walk over the controls can reach).

Modes: ``classroom`` (3-8 s pauses between interactions), ``stress`` (none) and ``poll``: a
class poll. The test creates a room in the class store the server uses (``--db-url``, which
``--start-app`` hands to the server it starts); each student opens ``--poll-page`` with
``?room=CODE``, commits a guess within ``--duration`` seconds (the radio's state and the form's
submit trigger, as the browser sends them), then waits like a real page: it reruns the polling
fragment whenever the server's ``auto_rerun`` message says so. The report gives how many answers
the store holds (all must be recorded, none twice), when the last one became visible to the
teacher's tally, and the server CPU per second spent on the waiting students' polls.
Only loopback targets are accepted. Every loop is bounded by a count and a time.

    python benchmarks/load.py --start-app --mode classroom --students 30 --duration 120
    python benchmarks/load.py --start-app --mode classroom --students 30 --duration 120 \
        --train-prob 0.25 --open-query run=1
    python benchmarks/load.py --url http://127.0.0.1:8080 --pid-dir /tmp/training-explorer \
        --mode classroom --students 60 --duration 120
    python benchmarks/load.py --start-app --mode poll --students 60 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
from serve.client import HTTP, Session, rerun_message  # noqa: E402

APP = ROOT / "streamlit_app.py"
TRIVIAL_APP = Path(__file__).resolve().parent / "trivial_app.py"

CLASSROOM_PAUSE = (3.0, 8.0)  # seconds between a student's interactions
MAX_STUDENTS = 500
MAX_DURATION = 3600.0
WIDGET_KINDS = ("slider", "checkbox", "selectbox", "radio", "number_input")
KINDS = ("open", "change", "train")  # interaction kinds, in report order
#: How the app's budget refusals start (ui.runner.run, ui.live.train_live).
REFUSAL_PREFIXES = ("Can't run this", "Can't train this")
TRAIN_PREFIX = "▶ "  # label prefix of the buttons that start real training (ui/runner.on_demand)


# ---------------------------------------------------------------- configuration


def check_loopback(url: str) -> str:
    """Return the URL's host:port, or exit if it is not a loopback http URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http":
        sys.exit(f"only http:// URLs are supported, got {url!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"refusing non-loopback target {host!r}: use 127.0.0.1")
    return parts.netloc


def discover_pages(app: Path = APP) -> list[str]:
    """Home plus one URL pathname per file in the app's pages/, as Streamlit derives them."""
    from streamlit.source_util import page_icon_and_name, page_sort_key

    files = [p for p in (app.parent / "pages").glob("*.py") if not p.name.startswith((".", "__"))]
    return [""] + [page_icon_and_name(p)[1] for p in sorted(files, key=page_sort_key)]


def parse_pages(spec: str | None, app: Path = APP) -> list[tuple[str, str]]:
    """Parse --pages (comma list, or a .json list) into (page_name, query) pairs."""
    if spec is None:
        entries = discover_pages(app)
    elif spec.endswith(".json"):
        entries = json.loads(Path(spec).read_text())
    else:
        entries = spec.split(",")
    pages = []
    for entry in entries:
        path, _, query = entry.strip().partition("?")
        pages.append((path.strip("/"), query))
    return pages


@dataclass
class Settings:
    """What one measured run needs."""

    base_url: str
    pages: list[tuple[str, str]]
    mode: str
    students: int
    duration: float
    changes: int
    timeout: float
    max_interactions: int
    reconnect: bool
    seed: int
    change_style: str = "random"
    train_prob: float = 0.25  # chance that a change is followed by a "▶ Train" press
    open_query: str = ""  # appended to every page open, e.g. "run=1"


def join_query(*parts: str) -> str:
    """Query strings joined with "&", empty parts and leading "?"/"&" dropped."""
    return "&".join(p.lstrip("?&") for p in parts if p.lstrip("?&"))


# ---------------------------------------------------------------- results


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Stats:
    """Latencies and errors gathered by all students of one run."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    timeline: list[tuple[float, str, float, str]] = field(default_factory=list)  # start, kind, latency, url
    origin: float = field(default_factory=time.perf_counter)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    unsupported_changes: int = 0
    trains_without_button: int = 0  # a press was due but the page had no "▶" button
    time_capped: int = 0  # runs the app stopped at its time cap (a warning, not an error)
    refused: int = 0  # settings the budget refused with its message (not an error)
    failed: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})  # interactions with an error

    def record(self, kind: str, started: float, latency: float, url: str) -> None:
        """Keep one finished rerun's latency, when it started and on which URL."""
        self.latencies[kind].append(latency)
        self.timeline.append((round(started - self.origin, 3), kind, round(latency, 4), url))

    def error(self, kind: str, detail: str) -> None:
        """Count an error of a kind and keep the first few messages."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {detail}"[:300])

    def summary(self, elapsed: float) -> dict:
        """Latency percentiles, error counts and throughput."""
        every = [value for kind in KINDS for value in self.latencies[kind]]
        by_page: dict[str, list[float]] = {}
        for _, _, latency, url in self.timeline:
            by_page.setdefault(url.split("?")[0], []).append(latency)

        def pcts(values: list[float]) -> dict:
            return {
                "n": len(values),
                "p50_s": percentile(values, 50),
                "p95_s": percentile(values, 95),
                "max_s": max(values) if values else None,
            }

        return {
            "reruns": len(every),
            "errors": sum(self.errors.values()),
            "errors_by_kind": self.errors,
            "error_samples": self.error_samples,
            "failed_interactions": dict(self.failed),
            "unsupported_changes": self.unsupported_changes,
            "trains_without_button": self.trains_without_button,
            "time_capped": self.time_capped,
            "refused": self.refused,
            "elapsed_s": elapsed,
            "reruns_per_s": len(every) / elapsed if elapsed > 0 else None,
            "latency": pcts(every),
            **{f"latency_{kind}": pcts(self.latencies[kind]) for kind in KINDS},
            # what students do most (open pages, change controls), without the Train presses
            "latency_open_change": pcts(self.latencies["open"] + self.latencies["change"]),
            "latency_by_page": {page: pcts(values) for page, values in sorted(by_page.items())},
            "timeline": sorted(self.timeline),
        }


# ---------------------------------------------------------------- protocol


@dataclass
class Control:
    """A widget a student can move: an ordered domain of values and the current positions."""

    id: str
    field: str  # the WidgetState value field that carries it
    size: int  # number of values in the domain
    value_at: Callable[[int], Any]
    current: list[int]  # position(s) of the current value(s); two for a range

    def move(self, rng: random.Random, style: str) -> WidgetState:
        """A WidgetState with a random value ("random") or a few steps away ("nudge")."""
        if style == "random":
            positions = [rng.randrange(self.size) for _ in self.current]
        else:
            positions = []
            for now in self.current:
                delta = rng.choice((-3, -2, -1, 1, 2, 3))
                step = now + delta if 0 <= now + delta < self.size else now - delta
                positions.append(min(self.size - 1, max(0, step)))
        values = [self.value_at(i) for i in sorted(positions)]
        state = WidgetState(id=self.id)
        if self.field.endswith("_array_value"):
            getattr(state, self.field).data.extend(values)
        else:
            setattr(state, self.field, values[0])
        return state


def grid(low: float, high: float, step: float) -> tuple[int, Callable[[int], float]]:
    """Size and value function of the grid low, low+step, ..., high."""
    size = int(round((high - low) / step)) + 1 if step > 0 and high > low else 1
    return size, lambda i: round(low + step * i, 10)


def control_for(kind: str, proto: Any, last: WidgetState | None) -> Control | None:
    """Describe a received widget element as a Control, or None if unsupported."""

    def on_grid(values: Sequence[float], low: float, step: float, size: int) -> list[int]:
        return [min(size - 1, max(0, round((v - low) / step))) if step > 0 else 0 for v in values]

    def by_name(names: Sequence[str], options: Sequence[str]) -> list[int]:
        return [options.index(n) if n in options else 0 for n in names]

    if kind == "slider" and proto.options:  # select_slider: formatted option strings
        options = list(proto.options)
        names = list(last.string_array_value.data) if last else list(proto.raw_value)
        current = by_name(names, options) if names else [min(int(d), len(options) - 1) for d in proto.default]
        return Control(proto.id, "string_array_value", len(options), options.__getitem__, current or [0])
    if kind == "slider" and proto.data_type in (Slider.INT, Slider.FLOAT):
        size, value_at = grid(proto.min, proto.max, proto.step)
        values = list(last.double_array_value.data) if last else list(proto.value or proto.default)
        current = on_grid(values, proto.min, proto.step, size) or [0]
        return Control(proto.id, "double_array_value", size, value_at, current)
    if kind == "checkbox":
        value = last.bool_value if last else (proto.value if proto.set_value else proto.default)
        return Control(proto.id, "bool_value", 2, bool, [int(value)])
    if kind in ("selectbox", "radio") and proto.options:
        options = list(proto.options)
        name = last.string_value if last else (proto.raw_value if proto.set_value else None)
        current = by_name([name], options) if name else [min(max(proto.default, 0), len(options) - 1)]
        return Control(proto.id, "string_value", len(options), options.__getitem__, current)
    if kind == "number_input":
        step = proto.step or 1.0
        low = proto.min if proto.has_min else proto.default - 10 * step
        high = proto.max if proto.has_max else proto.default + 10 * step
        size, value_at = grid(low, high, step)
        is_int = proto.data_type == NumberInput.INT
        if last:
            value = last.int_value if is_int else last.double_value
        else:
            value = proto.value if proto.set_value else proto.default
        field_name, cast = ("int_value", lambda i: int(round(value_at(i)))) if is_int else ("double_value", value_at)
        return Control(proto.id, field_name, size, cast, on_grid([value], low, step, size))
    return None


def drawn_state(kind: str, proto: Any) -> WidgetState | None:
    """The state a widget element was drawn with, as the browser would send it back.

    That is the value the server set (``set_value``) or else the widget's default; None for
    kinds or values this client does not model (e.g. a selectbox with no selection).
    """
    if kind not in WIDGET_KINDS:
        return None
    state = WidgetState(id=proto.id)
    if kind == "slider" and proto.options:  # select_slider: formatted option strings
        options = list(proto.options)
        picked = [int(i) for i in proto.default if 0 <= int(i) < len(options)]  # defaults are indices
        names = list(proto.raw_value) if proto.set_value else [options[i] for i in picked]
        if not names:
            return None
        state.string_array_value.data.extend(names)
    elif kind == "slider":
        values = list(proto.value) if proto.set_value else list(proto.default)
        if not values:
            return None
        state.double_array_value.data.extend(values)
    elif kind == "checkbox":
        state.bool_value = proto.value if proto.set_value else proto.default
    elif kind in ("selectbox", "radio"):
        if proto.set_value:
            if not proto.HasField("raw_value"):
                return None
            state.string_value = proto.raw_value
        elif proto.HasField("default") and 0 <= proto.default < len(proto.options):
            state.string_value = proto.options[proto.default]
        else:
            return None
    elif kind == "number_input":
        value = proto.value if proto.set_value else proto.default
        if proto.data_type == NumberInput.INT:
            state.int_value = int(round(value))
        else:
            state.double_value = value
    else:
        return None
    return state


def train_press(states: Sequence[WidgetState], button_id: str) -> list[WidgetState]:
    """The widget_states of a button press: every known widget state plus the button's trigger."""
    return [s for s in states if s.id != button_id] + [WidgetState(id=button_id, trigger_value=True)]


def with_param(query: str, key: str, state: WidgetState) -> str:
    """The query string with `key` set to the widget's new value, as the URL shows it."""
    which = state.WhichOneof("value")
    raw = getattr(state, which)
    values = list(raw.data) if which.endswith("_array_value") else [raw]
    text = [str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != key]
    return urlencode(pairs + [(key, v) for v in text])


class Tab(Session):
    """One simulated browser tab: a websocket session on the app, keeping the statistics."""

    def __init__(self, settings: Settings, stats: Stats) -> None:
        super().__init__(settings.base_url, settings.timeout)
        self.settings = settings
        self.stats = stats
        self.page = ""
        self.query = ""
        self.widgets: dict[str, tuple[str, Any]] = {}  # id -> (element type, proto) of the last run
        self.values: dict[str, WidgetState] = {}  # id -> last known state (sent, or drawn by the server)
        self.buttons: dict[str, str] = {}  # id -> label of the last run's "▶ ..." buttons
        self.failed = False  # the run in progress showed an exception or an st.error
        self._kind = "open"  # the interaction in progress

    async def connect(self) -> None:
        """Open the websocket; a fresh session knows no widgets."""
        self.widgets, self.values, self.buttons = {}, {}, {}
        await super().connect()

    async def rerun(self, kind: str, widgets: Sequence[WidgetState] = ()) -> None:
        """Send rerun_script and wait for this run's final script_finished."""
        msg = rerun_message(self.page, self.query, widgets)
        started = time.perf_counter()
        self.failed = False
        try:
            await asyncio.wait_for(self._exchange(msg, kind), self.settings.timeout)
        except TimeoutError:
            self.stats.error("timeout", f"{kind} {self.page}?{self.query}")
            self.stats.failed[kind] += 1
            raise
        except (OSError, websockets.exceptions.WebSocketException):
            self.stats.failed[kind] += 1
            raise
        url = f"/{self.page}?{self.query}" if self.query else f"/{self.page}"
        self.stats.record(kind, started, time.perf_counter() - started, url)
        if self.failed:
            self.stats.failed[kind] += 1

    def _fail(self, what: str, kind: str, detail: str) -> None:
        """Count an error shown by the run of a `kind` interaction."""
        self.failed = True
        self.stats.error(what, f"{kind} /{self.page}?{self.query} {detail}")

    async def _exchange(self, msg: BackMsg, kind: str) -> None:
        """Send a BackMsg, then read every ForwardMsg until the run ends."""
        self.widgets, self.buttons, self._kind = {}, {}, kind
        await self.exchange(msg, self._on_message)
        # Like the browser's widget manager: forget widgets that left the page.
        self.values = {i: v for i, v in self.values.items() if i in self.widgets}

    def _on_message(self, fwd: ForwardMsg) -> None:
        """Note the widgets, Train buttons, errors and warnings one ForwardMsg brings."""
        kind = self._kind
        what = fwd.WhichOneof("type")
        if what == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            element = fwd.delta.new_element
            name = element.WhichOneof("type")
            if name == "exception":
                self._fail("exception", kind, f"{element.exception.type}: {element.exception.message}")
            elif (
                name == "alert"
                and element.alert.format == Alert.ERROR
                and element.alert.body.startswith(REFUSAL_PREFIXES)
                and "budget" in element.alert.body
            ):
                self.stats.refused += 1
            elif name == "alert" and element.alert.format == Alert.ERROR:
                self._fail("st.error", kind, element.alert.body)
            elif name == "alert" and element.alert.format == Alert.WARNING and "time cap" in element.alert.body:
                self.stats.time_capped += 1
            elif name == "button":
                button = element.button
                if button.label.startswith(TRAIN_PREFIX) and not button.form_id and not button.disabled:
                    self.buttons[button.id] = button.label
            elif name in WIDGET_KINDS:
                proto = getattr(element, name)
                if not proto.form_id and not proto.disabled:
                    self.widgets[proto.id] = (name, proto)
                    if proto.set_value or proto.id not in self.values:  # the server's value wins
                        state = drawn_state(name, proto)
                        if state is not None:
                            self.values[proto.id] = state
        elif what == "page_info_changed":
            self.query = fwd.page_info_changed.query_string
        elif what == "page_not_found":
            self._fail("page_not_found", kind, repr(self.page))
        elif what == "session_event" and fwd.session_event.HasField("script_compilation_exception"):
            self._fail("compile_error", kind, fwd.session_event.script_compilation_exception.message)

    def known_states(self) -> list[WidgetState]:
        """The last known state of every supported widget on the page, as the browser sends them."""
        return [self.values[i] for i in self.widgets if i in self.values]

    async def open(self, page: str, query: str) -> None:
        """Go to a page with a query string (a deep link on a fresh tab)."""
        self.page, self.query = page, query
        await self.rerun("open")

    async def change(self, rng: random.Random) -> None:
        """Move one URL-bound control (else any supported control) to a new value."""
        bound = [(k, p) for k, p in self.widgets.values() if p.query_param_key]
        candidates = bound or list(self.widgets.values())
        rng.shuffle(candidates)
        for kind, proto in candidates:
            control = control_for(kind, proto, self.values.get(proto.id))
            if control is not None and control.size > 1:
                state = control.move(rng, self.settings.change_style)
                self.values[proto.id] = state
                if proto.query_param_key:  # the browser rewrites the URL too
                    self.query = with_param(self.query, proto.query_param_key, state)
                await self.rerun("change", self.known_states())
                return
        self.stats.unsupported_changes += 1
        await self.rerun("change", self.known_states())  # nothing to move: a plain rerun ("R" key)

    async def train(self, rng: random.Random) -> bool:
        """Press one "▶ ..." button of the page (at random); False if the page has none."""
        if not self.buttons:
            self.stats.trains_without_button += 1
            return False
        button_id = rng.choice(list(self.buttons))
        await self.rerun("train", train_press(self.known_states(), button_id))
        return True


# ---------------------------------------------------------------- students


async def pause(settings: Settings, rng: random.Random, deadline: float) -> None:
    """Think time between interactions (classroom mode), cut at the deadline."""
    if settings.mode == "classroom":
        wait = rng.uniform(*CLASSROOM_PAUSE)
        await asyncio.sleep(max(0.0, min(wait, deadline - time.monotonic())))


async def student(index: int, settings: Settings, stats: Stats, deadline: float) -> None:
    """One student: open pages, move controls, until the deadline or the count."""
    rng = random.Random(settings.seed * 100_003 + index)
    if settings.mode == "classroom":  # students join over the first few seconds
        await asyncio.sleep(rng.uniform(0, CLASSROOM_PAUSE[0]))
    tab = Tab(settings, stats)
    done = 0
    while time.monotonic() < deadline and done < settings.max_interactions:
        try:
            page, query = rng.choice(settings.pages)
            if tab.ws is None or settings.reconnect:
                await tab.close()
                await tab.connect()
            await tab.open(page, join_query(query, settings.open_query))
            done += 1
            for _ in range(settings.changes):
                await pause(settings, rng, deadline)
                if time.monotonic() >= deadline or done >= settings.max_interactions:
                    break
                await tab.change(rng)
                done += 1
                # No draw at --train-prob 0: the same seed then gives the same runs as before.
                if settings.train_prob > 0 and rng.random() < settings.train_prob:
                    if not tab.buttons:
                        stats.trains_without_button += 1
                        continue
                    await pause(settings, rng, deadline)
                    if time.monotonic() >= deadline or done >= settings.max_interactions:
                        break
                    await tab.train(rng)
                    done += 1
            await pause(settings, rng, deadline)
        except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as exc:
            if not isinstance(exc, asyncio.TimeoutError):  # timeouts are counted in rerun()
                stats.error("websocket", f"student {index}: {type(exc).__name__}: {exc}")
            done += 1
            await tab.close()  # like the browser: reconnect on a fresh session
            await asyncio.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
    await tab.close()


async def warm_up(settings: Settings) -> dict:
    """Open every page once from one tab (imports, caches); report each page's cold time.

    The pages open with ``run=1``, so their training sections are computed too: "before" then
    means a server ready for the class, as after its own warm-up (``serve/warm.py``).
    """
    stats = Stats()
    tab = Tab(settings, stats)
    cold: dict[str, float | str] = {}
    for page, query in settings.pages:
        query = join_query(query, settings.open_query)
        if "run=" not in query:
            query = join_query(query, "run=1")
        url = f"/{page}?{query}" if query else f"/{page}"
        try:
            if tab.ws is None:
                await tab.connect()
            await tab.open(page, query)
            cold[url] = round(stats.timeline[-1][2], 3)
        except TimeoutError:  # before OSError: it is one since Python 3.11
            cold[url] = f"timeout ({settings.timeout:g} s)"
            await tab.close()
        except (OSError, websockets.exceptions.WebSocketException) as exc:
            cold[url] = f"{type(exc).__name__}: {exc}"
            await tab.close()
        print(f"  warm-up {url}: {cold[url]}" + (" s" if isinstance(cold[url], float) else ""))
    await tab.close()
    return {"cold_open_s": cold, "errors": stats.error_samples}


# ---------------------------------------------------------------- memory


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process in kB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def with_descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (the app's compute workers, ``serve/compute.py``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def rss_by_role(pids: list[int]) -> dict[str, float]:
    """RSS in MB of the server processes and, apart, of their compute workers."""
    workers = [p for p in with_descendants(pids) if p not in pids]
    return {
        role: sum(v for v in (rss_kb(p) for p in group) if v is not None) / 1024
        for role, group in (("servers", pids), ("workers", workers))
    }


def total_mb(by_role: dict[str, float]) -> float | None:
    """The summed RSS of :func:`rss_by_role`'s figures in MB, or None when no process was found."""
    return sum(by_role.values()) or None


def total_rss_mb(pids: list[int]) -> float | None:
    """Summed RSS of the server processes and their workers in MB, or None without pids."""
    return total_mb(rss_by_role(pids))


async def sample_peak(pids: list[int], peak: list[float], stop: asyncio.Event) -> None:
    """Track the peak summed RSS every 0.5 s until stopped."""
    while not stop.is_set():
        value = total_rss_mb(pids)
        if value is not None and value > peak[0]:
            peak[0] = value
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


def cpu_seconds(pids: list[int], workers: bool = True) -> float | None:
    """Summed user+system CPU time of the server processes and (``workers``) their workers, or
    None without pids.

    A worker that exits during the test takes its CPU time with it (only waited-for children's
    time reaches the parent); the app's workers live as long as the server.
    """
    ticks, total, seen = os.sysconf("SC_CLK_TCK"), 0, False
    for pid in with_descendants(pids) if workers else pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total, seen = total + int(fields[11]) + int(fields[12]), True
    return total / ticks if seen else None


def load_average() -> float | None:
    """The machine's 1-minute load average (other work skews the figures)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError):
        return None


def pids_from_dir(run_dir: str) -> list[int]:
    """Streamlit replica PIDs written by deploy/start.sh."""
    pids = []
    for path in sorted(Path(run_dir).glob("replica-*.pid")):
        try:
            pids.append(int(path.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return pids


# ---------------------------------------------------------------- one measured run


async def measure(settings: Settings, pids: list[int], settle: float, warm: bool) -> dict:
    """Warm up, run all students, and sample memory before, during and after."""
    warmup = await warm_up(settings) if warm else {}
    before_by_role = rss_by_role(pids)
    before = total_mb(before_by_role)
    cpu_before = cpu_seconds(pids)
    client_before = time.process_time()
    load_before = load_average()
    peak = [before or 0.0]
    stats = Stats()
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_peak(pids, peak, stop))
    started = time.monotonic()
    deadline = started + settings.duration
    tasks = [asyncio.create_task(student(i, settings, stats, deadline)) for i in range(settings.students)]
    # In-flight reruns may finish after the deadline, each within its own timeout.
    _, late = await asyncio.wait(tasks, timeout=settings.duration + settings.timeout + 30)
    for task in late:
        task.cancel()
        stats.error("cancelled", "student still running after the hard deadline")
    await asyncio.gather(*late, return_exceptions=True)
    elapsed = time.monotonic() - started
    cpu_after = cpu_seconds(pids)
    client_cpu = time.process_time() - client_before
    load_after = load_average()
    if settle > 0 and pids:
        await asyncio.sleep(settle)
    stop.set()
    await sampler
    result = stats.summary(elapsed)
    result["warmup"] = warmup
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    result["server_cpu_s"] = cpu
    result["server_cpu_ms_per_rerun"] = 1000 * cpu / result["reruns"] if cpu and result["reruns"] else None
    result["client_cpu_ms_per_rerun"] = 1000 * client_cpu / result["reruns"] if result["reruns"] else None
    result["load_average"] = {"before": load_before, "after": load_after}
    after_by_role = rss_by_role(pids)
    result["memory_mb"] = {
        "before": before,
        "peak": peak[0] if pids else None,
        "after": total_mb(after_by_role),
        "after_delay_s": settle,
        "by_role": {"before": before_by_role, "after": after_by_role},
        "pids": pids,
    }
    return result


# ---------------------------------------------------------------- servers we start


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base_url: str, limit: float = 60.0) -> None:
    """Poll /_stcore/health until it answers ok, for at most `limit` seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with HTTP.open(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{base_url} did not become healthy in {limit:.0f} s")


def start_server(script: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run script` on a free loopback port, from the repo root."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url)
    except RuntimeError as exc:
        stop_server(proc)
        raise RuntimeError(f"{exc}; see {log_path}") from exc
    return proc, base_url


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server we started: SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ---------------------------------------------------------------- class poll

POLL_WAIT = 20.0  # seconds the students wait for the reveal after the last answer (polls measured)


class PollStudent(Session):
    """A student in a class: joins by the room link, commits a guess, then polls for the reveal."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(base_url, timeout)
        self.query, self.radio, self.submit = "", None, None
        self.fragments: dict[str, float] = {}  # fragment id -> seconds between auto-reruns
        self.polls = 0
        self.answered_at: float | None = None  # perf_counter when its answer's run ended

    def _note(self, fwd: ForwardMsg) -> None:
        what = fwd.WhichOneof("type")
        if what == "page_info_changed":
            self.query = fwd.page_info_changed.query_string
        elif what == "auto_rerun":
            self.fragments[fwd.auto_rerun.fragment_id] = fwd.auto_rerun.interval
        elif what == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            element = fwd.delta.new_element
            name = element.WhichOneof("type")
            if name == "radio" and element.radio.form_id.startswith("guess_"):
                self.radio = element.radio
            elif name == "button" and element.button.is_form_submitter and element.button.form_id.startswith("guess_"):
                self.submit = element.button

    async def run(self, page: str, room: str, rng: random.Random, window: float, until: float) -> float:
        """Join, answer at a random moment within ``window`` seconds, poll until ``until``; the
        answer's latency in seconds."""
        await self.connect()
        self.query = f"room={room}"
        await asyncio.wait_for(self.exchange(rerun_message(page, self.query), self._note), self.timeout)
        if self.radio is None or self.submit is None:
            raise RuntimeError(f"no question form on {page!r}")
        await asyncio.sleep(rng.uniform(0, window))
        answer = WidgetState(id=self.radio.id, string_value=rng.choice(list(self.radio.options)))
        press = WidgetState(id=self.submit.id, trigger_value=True)
        started = time.perf_counter()
        self.fragments = {}  # the page after the guess draws its own polling fragment
        await asyncio.wait_for(
            self.exchange(rerun_message(page, self.query, [answer, press]), self._note), self.timeout
        )
        self.answered_at = time.perf_counter()
        latency = self.answered_at - started
        while self.fragments and time.monotonic() < until:  # the page's polling fragment
            fragment_id, interval = list(self.fragments.items())[-1]
            await asyncio.sleep(min(interval, max(0.0, until - time.monotonic())))
            if time.monotonic() >= until:
                break
            msg = rerun_message(page, self.query)
            msg.rerun_script.fragment_id, msg.rerun_script.is_auto_rerun = fragment_id, True
            await asyncio.wait_for(self.exchange(msg, self._note), self.timeout)
            self.polls += 1
        return latency


async def class_poll(settings: Settings, db_url: str, page: str, pids: list[int]) -> dict:
    """Run a class poll of ``settings.students`` students against the store at ``db_url``."""
    from classroom.questions import by_page
    from classroom.store import Store

    store = Store(db_url)
    room = store.create_room()
    qid = next(q.id for q in by_page().values() if q.page.split("_", 1)[-1].removesuffix(".py") == page)
    rng = random.Random(settings.seed)
    window = settings.duration
    until = time.monotonic() + window + POLL_WAIT + 30  # joining takes a while too
    students = [PollStudent(settings.base_url, settings.timeout) for _ in range(settings.students)]
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    own = lambda: cpu_seconds(pids, workers=False)  # noqa: E731 - polls run in the server processes themselves

    async def one(s: PollStudent, r: random.Random):
        try:
            return await s.run(page, room.code, r, window, until)
        finally:
            await s.close()

    tasks = [asyncio.create_task(one(s, random.Random(rng.random()))) for s in students]
    seen_all = None
    while seen_all is None and time.perf_counter() - t0 < window + 120:  # the teacher's tally, polled
        await asyncio.sleep(0.2)
        if store.answered(room.code, qid, room.teacher_key) >= settings.students:
            seen_all = time.perf_counter() - t0
    answers_done, cpu_answers, own_answers = time.perf_counter(), cpu_seconds(pids), own()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    polls_over = time.perf_counter() - answers_done
    own_end = own()
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    latencies = [r for r in results if isinstance(r, float)]
    export = store.export(room.code, room.teacher_key)
    polls = sum(s.polls for s in students)
    out = {
        "students": settings.students,
        "answer_window_s": window,
        "recorded": len(export),
        "recorded_twice": int(export.duplicated(["question", "student"]).sum()),
        "tally": store.tally(room.code, qid, room.teacher_key),
        "all_in_tally_after_s": round(seen_all, 2) if seen_all is not None else None,
        "last_answer_to_tally_s": (
            max(0.0, round(t0 + seen_all - max(s.answered_at for s in students if s.answered_at), 3))
            if seen_all is not None and any(s.answered_at for s in students)
            else None
        ),
        "answer_p50_s": percentile(latencies, 50),
        "answer_p95_s": percentile(latencies, 95),
        "polls": polls,
        "poll_interval_s": next((s.fragments for s in students if s.fragments), {}),
        "errors": errors[:10],
    }
    if None not in (cpu0, cpu_answers, own_answers, own_end):
        out["server_cpu_s_joining_and_answering"] = round(cpu_answers - cpu0, 2)  # page opens included
        out["server_cpu_s_per_s_polling"] = round((own_end - own_answers) / max(polls_over, 1e-9), 3)
        out["server_cpu_ms_per_poll"] = round(1000 * (own_end - own_answers) / polls, 2) if polls else None
    store.dispose()
    return out


# ---------------------------------------------------------------- report


def fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    """Format a number for the table, '-' for missing."""
    return "-" if value is None else f"{value * scale:.{digits}f}"


def print_table(results: dict) -> None:
    """One column per measured target."""
    names = list(results)
    rows = [
        ("students", lambda r: str(r["students"])),
        ("mode", lambda r: r["mode"]),
        ("reruns", lambda r: str(r["reruns"])),
        ("  open/change/train", lambda r: "/".join(str(r[f"latency_{k}"]["n"]) for k in KINDS)),
        ("errors", lambda r: str(r["errors"])),
        ("  failed open/change/train", lambda r: "/".join(str(r["failed_interactions"][k]) for k in KINDS)),
        ("time-capped runs", lambda r: str(r["time_capped"])),
        ("refused by the budget", lambda r: str(r.get("refused", 0))),
        ("reruns/s", lambda r: fmt(r["reruns_per_s"])),
    ]
    kinds = [("all", "latency"), ("open+change", "latency_open_change")] + [(k, f"latency_{k}") for k in KINDS]
    for kind, key in kinds:
        for stat in ("p50", "p95", "max"):
            rows.append((f"{stat} {kind} s", lambda r, key=key, stat=stat: fmt(r[key][f"{stat}_s"], digits=3)))
    rows += [
        ("server CPU ms/rerun", lambda r: fmt(r["server_cpu_ms_per_rerun"], digits=1)),
        ("client CPU ms/rerun", lambda r: fmt(r["client_cpu_ms_per_rerun"], digits=1)),
        ("load avg (1 min)", lambda r: fmt(r["load_average"]["after"], digits=1)),
    ]
    for key in ("before", "peak", "after"):
        rows.append((f"RSS {key} MB", lambda r, k=key: fmt(r["memory_mb"][k], digits=0)))
        if key != "peak":
            rows.append(
                (
                    f"  servers/workers {key}",
                    lambda r, k=key: "/".join(
                        fmt(r["memory_mb"]["by_role"][k][role], digits=0) for role in ("servers", "workers")
                    ),
                )
            )
    width = max(len(label) for label, _ in rows) + 2
    print("".join([" " * width] + [f"{n:>14}" for n in names]))
    for label, get in rows:
        print(f"{label:<{width}}" + "".join(f"{get(results[n]):>14}" for n in names))
    for name in names:
        slowest = sorted(results[name]["timeline"], key=lambda entry: -entry[2])[:3]
        for _, kind, latency, url in slowest:
            print(f"  [{name}] slow {kind}: {latency:.2f} s {url}")
        for sample in results[name]["error_samples"][:5]:
            print(f"  [{name}] {sample}")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8501", help="loopback app URL")
    ap.add_argument("--start-app", action="store_true", help="start streamlit_app.py on a free port")
    ap.add_argument("--app", default=str(APP), help="script for --start-app")
    ap.add_argument("--baseline", action="store_true", help="also measure benchmarks/trivial_app.py")
    ap.add_argument("--mode", choices=("classroom", "stress", "poll"), default="classroom")
    ap.add_argument("--db-url", help="poll mode: the class store the server uses (default: a fresh SQLite file)")
    ap.add_argument("--poll-page", default="Dropout", help="poll mode: the page whose question the class answers")
    ap.add_argument("--students", type=int, default=10)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of student activity")
    ap.add_argument("--pages", help='comma list like "Dropout?depth=12&seed=3,Initialization" or a .json list')
    ap.add_argument("--changes", type=int, default=2, help="control changes after each page open")
    ap.add_argument(
        "--change-style",
        choices=("random", "nudge"),
        default="random",
        help="random: anywhere in the control's range; nudge: 1-3 steps from its value",
    )
    ap.add_argument(
        "--train-prob",
        type=float,
        default=0.25,
        help='chance that a change is followed by pressing a "▶ Train" button of the page',
    )
    ap.add_argument("--open-query", default="", help='appended to every page open, e.g. "run=1" (a teacher\'s link)')
    ap.add_argument("--reconnect", action="store_true", help="open every page on a fresh session")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-rerun timeout, seconds")
    ap.add_argument("--max-interactions", type=int, default=1000, help="per student")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds to wait before the after-RSS")
    ap.add_argument("--no-warmup", action="store_true", help="skip opening every page once first")
    ap.add_argument("--pid-dir", help="deploy/start.sh run dir: sum RSS of its replicas")
    ap.add_argument("--server-pid", type=int, action="append", default=[], help="PID to measure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if not 1 <= args.students <= MAX_STUDENTS:
        ap.error(f"--students must be in [1, {MAX_STUDENTS}]")
    if not 0 < args.duration <= MAX_DURATION:
        ap.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if not 0 <= args.train_prob <= 1:
        ap.error("--train-prob must be in [0, 1]")
    return args


def settings_for(args: argparse.Namespace, base_url: str, pages) -> Settings:
    """Settings for one target."""
    return Settings(
        base_url=base_url.rstrip("/"),
        pages=pages,
        mode=args.mode,
        students=args.students,
        duration=args.duration,
        changes=max(0, args.changes),
        timeout=args.timeout,
        max_interactions=max(1, args.max_interactions),
        reconnect=args.reconnect,
        seed=args.seed,
        change_style=args.change_style,
        train_prob=args.train_prob,
        open_query=join_query(args.open_query),
    )


def run_target(args, name: str, base_url: str, pages, pids: list[int]) -> dict:
    """Measure one target and label the result."""
    settings = settings_for(args, base_url, pages)
    print(f"[{name}] {settings.students} {settings.mode} students for {settings.duration:g} s on {base_url}")
    result = asyncio.run(measure(settings, pids, args.settle, not args.no_warmup))
    result.update(students=settings.students, mode=settings.mode, url=base_url)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print/write the report."""
    args = parse_args(argv)
    app = Path(args.app).resolve()
    pages = parse_pages(args.pages, app if args.start_app else APP)
    results: dict[str, dict] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="load-"))
    proc = None
    if args.mode == "poll":
        return poll_main(args, log_dir)
    try:
        proc, base_url, pids = open_target(args, log_dir)
        results["app"] = run_target(args, "app", base_url, pages, pids)
    finally:
        if proc is not None:
            stop_server(proc)
    if args.baseline:
        proc, base_url = start_server(TRIVIAL_APP, log_dir / "baseline.log")
        try:
            results["baseline"] = run_target(args, "baseline", base_url, [("", "")], [proc.pid])
        finally:
            stop_server(proc)
    print()
    print_table(results)
    report = {"settings": asdict(settings_for(args, "", pages)), "results": results}
    if "baseline" in results:
        app, base = results["app"], results["baseline"]
        # Throughput is capacity only in stress mode; in classroom mode the students set it.
        if args.mode == "stress" and base["reruns_per_s"]:
            report["capacity_pct_of_trivial"] = 100 * (app["reruns_per_s"] or 0.0) / base["reruns_per_s"]
            print(f"\nthroughput vs the trivial page: {report['capacity_pct_of_trivial']:.0f} %")
        if app["server_cpu_ms_per_rerun"] and base["server_cpu_ms_per_rerun"]:
            report["cpu_per_rerun_x_trivial"] = app["server_cpu_ms_per_rerun"] / base["server_cpu_ms_per_rerun"]
            print(f"server CPU per rerun: {report['cpu_per_rerun_x_trivial']:.1f} x the trivial page's")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 1 if any(r["errors"] for r in results.values()) else 0


def open_target(args: argparse.Namespace, log_dir: Path) -> tuple[subprocess.Popen | None, str, list[int]]:
    """The app under test: started here (``--start-app``) or at ``--url``; (process or None, base
    URL, PIDs whose CPU and memory are measured)."""
    proc = None
    if args.start_app:
        proc, base_url = start_server(Path(args.app).resolve(), log_dir / "app.log")
        pids = [proc.pid]
    else:
        base_url = args.url.rstrip("/")
        check_loopback(base_url)
        pids = pids_from_dir(args.pid_dir) if args.pid_dir else []
    return proc, base_url, pids + args.server_pid


def poll_main(args: argparse.Namespace, log_dir: Path) -> int:
    """``--mode poll``: one class poll; prints and writes its report."""
    db_url = args.db_url or f"sqlite:///{log_dir / 'classroom.db'}"
    os.environ["TRAINING_EXPLORER_DB_URL"] = db_url  # a server we start uses the same store
    proc = None
    try:
        proc, base_url, pids = open_target(args, log_dir)
        settings = settings_for(args, base_url, [(args.poll_page, "")])
        print(f"[poll] {settings.students} students answer {args.poll_page}'s question within {settings.duration:g} s")
        result = asyncio.run(class_poll(settings, db_url, args.poll_page, pids))
    finally:
        if proc is not None:
            stop_server(proc)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    ok = result["recorded"] == settings.students and not result["recorded_twice"] and not result["errors"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
