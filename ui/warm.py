"""Warm start: the first request to a server process opens every page once in the background.

The default view of each page, its training sections included (``?run=1``), is then computed
once and shared through the result cache (``ui.runner``), so students see its real training
results at once instead of a "Train" button. The warm-up is a small Streamlit websocket client
talking to this same process over loopback: it runs each page script exactly as a browser would,
so it warms exactly the calls the default view makes.

``python -m ui.warm http://127.0.0.1:8501`` warms a running server from outside (deploy/start.sh
does this for each replica right after it is healthy). Set ``TRAINING_EXPLORER_WARM=0`` to
switch the in-process warm-up off.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

import streamlit as st
from streamlit.source_util import page_icon_and_name

from ui import compute
from ui.controls import PAGES, RUN_PARAM

PAGE_TIMEOUT = 300.0
_FINAL = (0, 1, 3)  # ForwardMsg: FINISHED_SUCCESSFULLY, _WITH_COMPILE_ERROR, FRAGMENT_RUN_SUCCESSFULLY
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def page_names() -> list[str]:
    """URL names of every page in ui.controls.PAGES, as Streamlit derives them ("" is the home page)."""
    return ["" if p == "streamlit_app.py" else page_icon_and_name(Path(p))[1] for p, _ in PAGES]


def _cookies(base: str) -> dict[str, str]:
    with _HTTP.open(f"{base}/_stcore/health", timeout=10) as r:
        if r.read().strip() != b"ok":
            raise OSError("server not healthy")
        pairs = (h.split(";", 1)[0].partition("=") for h in r.headers.get_all("Set-Cookie") or [])
        return {k.strip(): v.strip() for k, _, v in pairs}


async def _open(base: str, page: str) -> float:
    """Run ``page`` once on a fresh session; return its seconds."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    cookies = await asyncio.to_thread(_cookies, base)
    protocols = ["streamlit"] + ([cookies["_streamlit_xsrf"]] if "_streamlit_xsrf" in cookies else [])
    t0 = time.perf_counter()
    async with websockets.connect(
        "ws" + base.removeprefix("http") + "/_stcore/stream",
        origin=base,
        subprotocols=protocols,
        additional_headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
        proxy=None,
        max_size=2**28,
    ) as ws:
        msg = BackMsg()
        msg.rerun_script.SetInParent()
        msg.rerun_script.page_name = page
        msg.rerun_script.query_string = f"{RUN_PARAM}=1"  # train every section of the default view
        await ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(ws.recv(), PAGE_TIMEOUT))
            if fwd.WhichOneof("type") == "script_finished" and fwd.script_finished in _FINAL:
                return time.perf_counter() - t0


def warm(base: str, log=print) -> dict[str, float | str]:
    """Open every page of the server at ``base`` once, one after the other."""
    out: dict[str, float | str] = {}
    for page in page_names():
        try:
            out[page or "/"] = round(asyncio.run(_open(base, page)), 2)
        except Exception as e:  # noqa: BLE001 - a warm-up must never take the server down
            out[page or "/"] = f"{type(e).__name__}: {e}"
        log(f"warm-up /{page}: {out[page or '/']}")
    return out


@st.cache_resource(show_spinner=False)
def start_in_background() -> threading.Thread | None:
    """Start the warm-up thread once per server process (on its first request)."""
    compute.start()  # workers and memory upkeep; the workers import the engine meanwhile
    if os.environ.get("TRAINING_EXPLORER_WARM", "1") == "0":
        return None
    port = st.get_option("server.port")
    path = (st.get_option("server.baseUrlPath") or "").strip("/")
    base = f"http://127.0.0.1:{port}" + (f"/{path}" if path else "")
    thread = threading.Thread(target=warm, args=(base, lambda s: None), name="warm-up", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8501"
    results = warm(url.rstrip("/"))
    sys.exit(0 if all(isinstance(v, float) for v in results.values()) else 1)
