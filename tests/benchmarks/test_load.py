"""Pure helpers of benchmarks/load.py (the load-test client): no server, no network."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import random
import sys
from pathlib import Path

import pytest
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Checkbox_pb2 import Checkbox
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Selectbox_pb2 import Selectbox
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
_spec = importlib.util.spec_from_file_location("load_client", _PATH)
load = importlib.util.module_from_spec(_spec)
sys.modules["load_client"] = load  # dataclasses look their module up while the class is built
_spec.loader.exec_module(load)


def _arun(coro):
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps a loop running in
    this one for the whole session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_join_query_drops_empty_parts_and_leading_separators():
    assert load.join_query("depth=3", "run=1") == "depth=3&run=1"
    assert load.join_query("", "run=1") == "run=1"
    assert load.join_query("depth=3", "") == "depth=3"
    assert load.join_query("", "?run=1") == "run=1"
    assert load.join_query("&a=1", "") == "a=1"
    assert load.join_query("", "") == ""


def test_drawn_state_uses_the_default_until_the_server_sets_a_value():
    slider = Slider(id="s", data_type=Slider.INT, min=1, max=16, step=1, default=[8])
    assert list(load.drawn_state("slider", slider).double_array_value.data) == [8]
    slider.value[:] = [3]
    slider.set_value = True  # a deep link ?depth=3 seeds the widget on its first run
    assert list(load.drawn_state("slider", slider).double_array_value.data) == [3]


def test_drawn_state_of_a_select_slider_is_the_option_text():
    proto = Slider(id="w", options=["64", "128", "256"], default=[2])
    assert list(load.drawn_state("slider", proto).string_array_value.data) == ["256"]
    proto.raw_value[:] = ["64"]
    proto.set_value = True
    assert list(load.drawn_state("slider", proto).string_array_value.data) == ["64"]


def test_drawn_state_of_checkbox_selectbox_and_number_input():
    assert load.drawn_state("checkbox", Checkbox(id="c", default=True)).bool_value is True
    assert load.drawn_state("checkbox", Checkbox(id="c", default=True, value=False, set_value=True)).bool_value is False
    box = Selectbox(id="b", options=["relu", "tanh"], default=1)
    assert load.drawn_state("selectbox", box).string_value == "tanh"
    assert load.drawn_state("selectbox", Selectbox(id="b", options=["relu"])) is None  # nothing selected
    box.set_value, box.raw_value = True, "relu"
    assert load.drawn_state("selectbox", box).string_value == "relu"
    number = NumberInput(id="n", data_type=NumberInput.INT, default=4.0)
    assert load.drawn_state("number_input", number).int_value == 4
    number = NumberInput(id="n", data_type=NumberInput.FLOAT, default=0.25)
    assert load.drawn_state("number_input", number).double_value == 0.25
    assert load.drawn_state("text_input", object()) is None


def test_train_press_carries_every_state_and_one_trigger():
    states = [WidgetState(id="a", bool_value=True), WidgetState(id="b", double_value=2.0)]
    press = load.train_press(states, "go_x")
    assert [s.id for s in press] == ["a", "b", "go_x"]
    assert press[-1].WhichOneof("value") == "trigger_value" and press[-1].trigger_value is True
    assert press[:2] == states


def test_summary_reports_each_kind_and_the_total():
    stats = load.Stats()
    for kind, latency in [("open", 0.2), ("change", 0.1), ("change", 0.3), ("train", 2.0), ("train", 4.0)]:
        stats.record(kind, stats.origin, latency, "/Dropout")
    stats.failed["train"] += 1
    out = stats.summary(10.0)
    assert out["reruns"] == 5 and out["reruns_per_s"] == 0.5
    assert out["latency_open"] == {"n": 1, "p50_s": 0.2, "p95_s": 0.2, "max_s": 0.2}
    assert out["latency_change"]["n"] == 2 and out["latency_change"]["max_s"] == 0.3
    assert out["latency_train"] == {"n": 2, "p50_s": 2.0, "p95_s": 4.0, "max_s": 4.0}
    assert out["latency"]["n"] == 5 and out["latency"]["max_s"] == 4.0
    assert out["failed_interactions"] == {"open": 0, "change": 0, "train": 1}


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]
    random.Random(0).shuffle(values)
    assert load.percentile(values, 50) == 10.0
    assert load.percentile(values, 95) == 19.0
    assert load.percentile([], 50) is None


def test_arguments_train_prob_and_open_query():
    args = load.parse_args(["--open-query", "?run=1"])
    assert args.train_prob == 0.25
    settings = load.settings_for(args, "http://127.0.0.1:1/", [("", "")])
    assert settings.open_query == "run=1" and settings.base_url == "http://127.0.0.1:1"
    with pytest.raises(SystemExit):
        load.parse_args(["--train-prob", "1.5"])


class _FakeSocket:
    """Replays serialized ForwardMsgs and keeps what was sent."""

    def __init__(self, messages):
        self.messages, self.sent = [m.SerializeToString() for m in messages], []

    async def send(self, data):
        self.sent.append(data)

    async def recv(self):
        return self.messages.pop(0)


def _element(fill):
    msg = ForwardMsg()
    fill(msg.delta.new_element)
    return msg


def _finished():
    return ForwardMsg(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY)


def _tab(messages):
    settings = load.Settings("http://127.0.0.1:1", [], "stress", 1, 1.0, 2, 5.0, 10, False, 0)
    tab = load.Tab(settings, load.Stats())
    tab.ws = _FakeSocket(messages)
    return tab


def test_exception_and_st_error_fail_the_interaction_and_count_as_errors():
    def exception(e):
        e.exception.type, e.exception.message = "ValueError", "boom"

    def error_box(e):
        e.alert.format, e.alert.body = Alert.ERROR, "Something went wrong"

    def refusal(e):
        e.alert.format = Alert.ERROR
        e.alert.body = "Can't train this: this run needs about 3.4e+11 FLOPs, over the budget of 2.5e+11: reduce depth"

    def capped(e):
        e.alert.format, e.alert.body = Alert.WARNING, "This run hit the 20 s time cap of the shared demo"

    elements = [_element(exception), _element(error_box), _element(refusal), _element(capped)]
    tab = _tab([*elements, _finished(), _finished()])
    _arun(tab.rerun("train", [WidgetState(id="go", trigger_value=True)]))
    assert tab.stats.errors == {"exception": 1, "st.error": 1}
    assert tab.stats.failed == {"open": 0, "change": 0, "train": 1}
    assert tab.stats.time_capped == 1
    assert tab.stats.refused == 1  # the budget's own message: an answer, not an error
    assert len(tab.stats.latencies["train"]) == 1  # still timed: the student saw the page
    _arun(tab.rerun("change"))  # a clean run after it does not fail
    assert tab.stats.failed["change"] == 0


def test_exchange_collects_train_buttons_and_drops_widgets_that_left_the_page():
    def train_button(e):
        e.button.id, e.button.label = "go_dropout", "▶ Train"

    def other_button(e):
        e.button.id, e.button.label = "reset", "Reset"

    def depth(e):
        e.slider.CopyFrom(Slider(id="depth", data_type=Slider.INT, min=1, max=16, step=1, default=[8]))

    tab = _tab([_element(train_button), _element(other_button), _element(depth), _finished()])
    tab.values["gone"] = WidgetState(id="gone", bool_value=True)  # a widget of the previous page
    _arun(tab.rerun("open"))
    assert tab.buttons == {"go_dropout": "▶ Train"}
    assert list(tab.values) == ["depth"] and list(tab.values["depth"].double_array_value.data) == [8]
    tab.ws = _FakeSocket([_finished()])
    assert _arun(tab.train(random.Random(0))) is True
    sent = BackMsg()
    sent.ParseFromString(tab.ws.sent[0])
    widgets = {w.id: w for w in sent.rerun_script.widget_states.widgets}
    assert widgets["go_dropout"].trigger_value is True
    assert list(widgets["depth"].double_array_value.data) == [8]
