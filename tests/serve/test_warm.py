"""The warm-up: it opens every page the server announces, with run=1, and logs what failed."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import socket
import threading

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from serve import client, warm


def _arun(fn, *args):
    """Run in a thread of its own: the browser tests' Playwright keeps a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


class _FakeServer:
    """Answers each rerun_script like Streamlit 1.67 does: a navigation message listing the pages,
    then the end of the run (page "Broken" never ends: its socket fails)."""

    def __init__(self, pages):
        self.pages, self.sent, self.inbox = pages, [], []

    async def send(self, data):
        msg = BackMsg()
        msg.ParseFromString(data)
        self.sent.append((msg.rerun_script.page_name, msg.rerun_script.query_string))
        if msg.rerun_script.page_name == "Broken":
            self.inbox.append(None)
            return
        hello, nav = ForwardMsg(), ForwardMsg()
        hello.new_session.app_pages.add(url_pathname="")  # 1.67 lists only the main page here
        for name in self.pages:
            nav.navigation.app_pages.add(url_pathname=name, page_name=name or "Home")
        nav.navigation.app_pages.add(url_pathname="Hidden", is_hidden=True)
        self.inbox += [hello, nav, ForwardMsg(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY)]

    async def recv(self):
        msg = self.inbox.pop(0)
        if msg is None:
            raise ConnectionResetError("the socket went away")
        return msg.SerializeToString()

    async def close(self):
        pass


def test_the_warm_up_opens_every_announced_page_with_run_1(monkeypatch, caplog):
    server = _FakeServer(["", "Dropout", "Broken", "Full_recipe"])

    async def connect(self):
        self.ws = server

    monkeypatch.setattr(client.Session, "connect", connect)
    with caplog.at_level(logging.INFO, logger="serve.warm"):
        out = _arun(warm.warm, "http://127.0.0.1:1")
    assert server.sent == [("", "run=1"), ("Dropout", "run=1"), ("Broken", "run=1"), ("Full_recipe", "run=1")]
    assert set(out) == {"/", "/Dropout", "/Broken", "/Full_recipe"}  # hidden pages are not opened
    assert isinstance(out["/Dropout"], float) and isinstance(out["/Full_recipe"], float)
    assert out["/Broken"].startswith("ConnectionResetError")
    failures = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in failures] == ["warm-up /Broken failed: ConnectionResetError: the socket went away"]


def test_a_warm_up_that_cannot_reach_its_server_logs_the_failure(caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="serve.warm"):
        out = _arun(warm.warm, f"http://127.0.0.1:{port}", 5.0)
    assert list(out) == ["/"] and "Error" in out["/"]
    assert "warm-up / failed" in caplog.text
    assert _arun(warm.main, [f"http://127.0.0.1:{port}"]) == 1  # the command's exit status says so


def test_the_in_process_warm_up_starts_only_beside_its_own_server(monkeypatch):
    started, warmed = [], []
    monkeypatch.setattr(warm.compute, "start", lambda: started.append("workers"))
    monkeypatch.setattr(warm, "warm", lambda base: warmed.append(base))
    monkeypatch.setattr(warm, "_started", threading.Lock())  # a fresh "once per process"
    monkeypatch.setattr(warm, "SETTINGS", dataclasses.replace(warm.SETTINGS, warm=True))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # not listening: as under AppTest, where no server runs
        assert warm.start_in_background(port) is None
        assert started == ["workers"] and warmed == []
        assert warm.start_in_background(port) is None and started == ["workers"]  # once per process
        monkeypatch.setattr(warm, "_started", threading.Lock())
        s.listen()  # now this process is the server on that port
        thread = warm.start_in_background(port, "/app/")
        thread.join(10)
    assert warmed == [f"http://127.0.0.1:{port}/app"]


def test_as_a_readiness_probe_it_warms_once_then_only_checks_health(monkeypatch, tmp_path):
    ready = tmp_path / "ready"
    calls, health = [], []
    monkeypatch.setattr(warm, "warm", lambda base: calls.append(base) or {"": 1.0, "Dropout": 2.0})
    monkeypatch.setattr(warm, "fetch_cookies", lambda base, timeout: health.append(base) or {})
    assert warm.main(["--ready-file", str(ready), "http://127.0.0.1:9"]) == 0
    assert calls == ["http://127.0.0.1:9"] and ready.exists()
    assert warm.main(["--ready-file", str(ready), "http://127.0.0.1:9"]) == 0
    assert calls == ["http://127.0.0.1:9"] and health == ["http://127.0.0.1:9"]  # no second warm-up

    def down(base, timeout):
        raise OSError("connection refused")

    monkeypatch.setattr(warm, "fetch_cookies", down)
    assert warm.main(["--ready-file", str(ready), "http://127.0.0.1:9"]) == 1  # warm once, but down now


def test_a_failed_page_leaves_the_replica_not_ready(monkeypatch, tmp_path):
    ready = tmp_path / "ready"
    monkeypatch.setattr(warm, "warm", lambda base: {"": 1.0, "Dropout": "timeout (300 s)"})
    assert warm.main(["--ready-file", str(ready), "http://127.0.0.1:9"]) == 1
    assert not ready.exists()
