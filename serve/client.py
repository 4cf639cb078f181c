"""A Streamlit websocket client: one browser tab, speaking the protocol the browser speaks.

Like the browser, a :class:`Session` fetches ``/_stcore/health`` first (which sets the XSRF cookie,
and a load balancer's route cookie), then opens ``ws://HOST/_stcore/stream`` with the
subprotocols ``streamlit, <xsrf token>``. Each :meth:`Session.rerun` sends one
``BackMsg.rerun_script`` (page, query string, widget states) and reads ``ForwardMsg`` replies
until the run's final ``script_finished``. The warm-up (``serve.warm``) and the load test
(``benchmarks/load.py``) both drive the app through it.

It talks to a server over the wire: it imports only Streamlit's protocol messages
(``streamlit.proto``), never Streamlit's runtime, and it never goes through a proxy.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Sequence

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

#: ``script_finished`` values that end a run (a plain rerun, a compile error, a fragment).
FINAL_STATUSES = frozenset(
    {
        ForwardMsg.FINISHED_SUCCESSFULLY,
        ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
        ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
    }
)
#: Plain HTTP, never through a proxy from the environment (the targets are the app's own servers).
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_cookies(base_url: str, timeout: float) -> dict[str, str]:
    """GET ``/_stcore/health`` like the browser does; the cookies it sets. OSError if not healthy."""
    with HTTP.open(f"{base_url}/_stcore/health", timeout=timeout) as response:
        if response.read().strip() != b"ok":
            raise OSError(f"{base_url} is not healthy")
        cookies = {}
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            cookies[name.strip()] = value.strip()
        return cookies


def rerun_message(page: str, query: str = "", widgets: Sequence[WidgetState] = ()) -> BackMsg:
    """The BackMsg that runs ``page`` (its URL pathname, "" for the home page) with ``query``."""
    msg = BackMsg()
    msg.rerun_script.SetInParent()  # an empty ClientState must still be sent
    msg.rerun_script.query_string = query
    msg.rerun_script.page_name = page
    msg.rerun_script.widget_states.widgets.extend(widgets)
    return msg


class Session:
    """One browser tab: a websocket session on the app at ``base_url`` (``http://host:port[/path]``)."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.ws = None
        #: URL pathnames of the app's pages ("" is the home page), as the server announced them.
        self.app_pages: list[str] = []

    async def connect(self) -> None:
        """Open the websocket the way the browser does (cookies, XSRF subprotocol)."""
        base = self.base_url
        cookies = await asyncio.to_thread(fetch_cookies, base, self.timeout)
        protocols = ["streamlit"] + ([cookies["_streamlit_xsrf"]] if "_streamlit_xsrf" in cookies else [])
        self.ws = await websockets.connect(
            "ws" + base.removeprefix("http") + "/_stcore/stream",
            origin=base,
            subprotocols=protocols,
            additional_headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            compression=None,
            proxy=None,
            max_size=2**28,
            open_timeout=self.timeout,
        )

    async def close(self) -> None:
        """Close the websocket; the server keeps the session for its TTL."""
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def exchange(self, msg: BackMsg, on_message: Callable[[ForwardMsg], None] | None = None) -> None:
        """Send ``msg``, then pass every ForwardMsg to ``on_message`` until the run ends.

        Records the app's pages from the ``navigation`` message a run sends (older Streamlit
        versions listed them in ``new_session``).
        """
        await self.ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            what = fwd.WhichOneof("type")
            if what in ("navigation", "new_session") and getattr(fwd, what).app_pages:
                self.app_pages = [p.url_pathname for p in getattr(fwd, what).app_pages if not p.is_hidden]
            if on_message is not None:
                on_message(fwd)
            if what == "script_finished" and fwd.script_finished in FINAL_STATUSES:
                return

    async def open(self, page: str, query: str = "", timeout: float | None = None) -> float:
        """Run ``page`` with ``query`` once (connecting first if needed); its seconds."""
        if self.ws is None:
            await self.connect()
        started = time.perf_counter()
        await asyncio.wait_for(self.exchange(rerun_message(page, query)), timeout or self.timeout)
        return time.perf_counter() - started
