"""Load test: simulated students drive a Streamlit app over its websocket protocol.

Each student is one browser tab. Like the browser, it fetches ``/_stcore/health``
first (which sets the XSRF cookie, and nginx's route cookie behind deploy/), then
opens ``ws://HOST/_stcore/stream`` with the subprotocols ``streamlit, <xsrf token>``
and sends ``BackMsg.rerun_script`` messages, reading ``ForwardMsg`` replies until
the run's final ``script_finished``. Two kinds of interaction:

- ``open``: go to a page, by ``ClientState.page_name`` (the page's URL pathname)
  and ``query_string``, e.g. ``Dropout?depth=12&seed=3``. The first open of a
  student is a deep link on a fresh session, so URL-bound widgets take the values
  in the query string.
- ``change``: move one URL-bound control of the current page to a random value,
  by sending its new value in ``widget_states`` (widget id, type and range come
  from the element the server sent). A rerun with a different query string is not
  enough: in 1.67 it does not change a bound widget after the first run.

Modes: ``classroom`` (3-8 s pauses between interactions) and ``stress`` (none).
Only loopback targets are accepted. Every loop is bounded by a count and a time.

    python benchmarks/load.py --start-app --mode classroom --students 30 --duration 120
    python benchmarks/load.py --url http://127.0.0.1:8080 --pid-dir /tmp/training-explorer \
        --mode classroom --students 60 --duration 120
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app.py"
TRIVIAL_APP = Path(__file__).resolve().parent / "trivial_app.py"

# Pages the students visit when --pages is not given and pages/ is absent.
# "" is the home page; "Name?a=1&b=2" opens a page with URL parameters.
DEFAULT_PAGES = [
    "",
    "Vanishing_gradients",
    "Initialization",
    "Batch_normalization",
    "Dropout",
    "LR_schedules",
    "Early_stopping",
    "Full_recipe",
]

CLASSROOM_PAUSE = (3.0, 8.0)  # seconds between a student's interactions
MAX_STUDENTS = 500
MAX_DURATION = 3600.0
FINAL_STATUSES = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}
WIDGET_KINDS = ("slider", "checkbox", "selectbox", "radio", "number_input")
# Plain HTTP to loopback only: never go through a proxy from the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


def discover_pages(root: Path = ROOT) -> list[str]:
    """Home plus one URL pathname per file in root/pages, as Streamlit derives them."""
    from streamlit.source_util import page_icon_and_name, page_sort_key

    folder = root / "pages"
    files = [p for p in folder.glob("*.py") if not p.name.startswith((".", "__"))]
    if not files:
        return list(DEFAULT_PAGES)
    return [""] + [page_icon_and_name(p)[1] for p in sorted(files, key=page_sort_key)]


def parse_pages(spec: str | None) -> list[tuple[str, str]]:
    """Parse --pages (comma list, or a .json list) into (page_name, query) pairs."""
    if spec is None:
        entries = discover_pages()
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

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"open": [], "change": []})
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    unsupported_changes: int = 0

    def error(self, kind: str, detail: str) -> None:
        """Count an error of a kind and keep the first few messages."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {detail}"[:300])

    def summary(self, elapsed: float) -> dict:
        """Latency percentiles, error counts and throughput."""
        every = self.latencies["open"] + self.latencies["change"]

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
            "unsupported_changes": self.unsupported_changes,
            "elapsed_s": elapsed,
            "reruns_per_s": len(every) / elapsed if elapsed > 0 else None,
            "latency": pcts(every),
            "latency_open": pcts(self.latencies["open"]),
            "latency_change": pcts(self.latencies["change"]),
        }


# ---------------------------------------------------------------- protocol


def fetch_cookies(base_url: str, timeout: float) -> dict[str, str]:
    """GET /_stcore/health like the browser does and return the cookies it sets."""
    with HTTP.open(f"{base_url}/_stcore/health", timeout=timeout) as response:
        cookies = {}
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            cookies[name.strip()] = value.strip()
        return cookies


def new_widget_value(kind: str, proto, rng: random.Random) -> WidgetState | None:
    """A WidgetState moving this widget to a random value, or None if unsupported."""
    state = WidgetState(id=proto.id)
    if kind == "slider" and proto.options:  # select_slider: formatted option strings
        count = min(max(1, len(proto.default)), len(proto.options))
        picks = sorted(rng.sample(range(len(proto.options)), count))
        state.string_array_value.data.extend(proto.options[i] for i in picks)
    elif kind == "slider" and proto.data_type in (Slider.INT, Slider.FLOAT):
        steps = int(round((proto.max - proto.min) / proto.step)) if proto.step > 0 else 0
        values = sorted(
            round(proto.min + proto.step * rng.randint(0, steps), 10) for _ in range(max(1, len(proto.default)))
        )
        state.double_array_value.data.extend(values)
    elif kind == "checkbox":
        state.bool_value = rng.random() < 0.5
    elif kind in ("selectbox", "radio") and proto.options:
        state.string_value = rng.choice(list(proto.options))
    elif kind == "number_input":
        step = proto.step or 1.0
        low = proto.min if proto.has_min else proto.default - 10 * step
        high = proto.max if proto.has_max else proto.default + 10 * step
        value = low + step * rng.randint(0, int((high - low) / step))
        if proto.data_type == NumberInput.INT:
            state.int_value = int(round(value))
        else:
            state.double_value = value
    else:
        return None
    return state


def with_param(query: str, key: str, state: WidgetState) -> str:
    """The query string with `key` set to the widget's new value, as the URL shows it."""
    which = state.WhichOneof("value")
    raw = getattr(state, which)
    values = list(raw.data) if which.endswith("_array_value") else [raw]
    text = [str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != key]
    return urlencode(pairs + [(key, v) for v in text])


class Tab:
    """One simulated browser tab: a websocket session on the app."""

    def __init__(self, settings: Settings, stats: Stats) -> None:
        self.settings = settings
        self.stats = stats
        self.ws = None
        self.page = ""
        self.query = ""
        self.widgets: dict[str, tuple[str, object]] = {}

    async def connect(self) -> None:
        """Open the websocket the way the browser does (cookies, XSRF subprotocol)."""
        base = self.settings.base_url
        cookies = await asyncio.to_thread(fetch_cookies, base, self.settings.timeout)
        protocols = ["streamlit"]
        if "_streamlit_xsrf" in cookies:
            protocols.append(cookies["_streamlit_xsrf"])
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        self.ws = await websockets.connect(
            "ws" + base.removeprefix("http") + "/_stcore/stream",
            origin=base,
            subprotocols=protocols,
            additional_headers=headers,
            compression=None,
            proxy=None,
            max_size=2**28,
            open_timeout=self.settings.timeout,
        )

    async def close(self) -> None:
        """Close the websocket; the server keeps the session for its TTL."""
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def rerun(self, kind: str, widget: WidgetState | None = None) -> None:
        """Send rerun_script and wait for this run's final script_finished."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = self.page
        if widget is not None:
            msg.rerun_script.widget_states.widgets.append(widget)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._exchange(msg), self.settings.timeout)
        except asyncio.TimeoutError:
            self.stats.error("timeout", f"{kind} {self.page}?{self.query}")
            raise
        self.stats.latencies[kind].append(time.perf_counter() - started)

    async def _exchange(self, msg: BackMsg) -> None:
        """Send a BackMsg, then consume ForwardMsgs until the run ends."""
        await self.ws.send(msg.SerializeToString())
        self.widgets = {}
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            what = fwd.WhichOneof("type")
            if what == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                name = element.WhichOneof("type")
                if name == "exception":
                    detail = f"{element.exception.type}: {element.exception.message}"
                    self.stats.error("exception", f"{self.page}?{self.query} {detail}")
                elif name in WIDGET_KINDS:
                    proto = getattr(element, name)
                    if not proto.form_id and not proto.disabled:
                        self.widgets[proto.id] = (name, proto)
            elif what == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif what == "page_not_found":
                self.stats.error("page_not_found", repr(self.page))
            elif what == "session_event" and fwd.session_event.HasField("script_compilation_exception"):
                detail = fwd.session_event.script_compilation_exception.message
                self.stats.error("compile_error", detail)
            elif what == "script_finished" and fwd.script_finished in FINAL_STATUSES:
                return

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
            state = new_widget_value(kind, proto, rng)
            if state is not None:
                if proto.query_param_key:  # the browser rewrites the URL too
                    self.query = with_param(self.query, proto.query_param_key, state)
                await self.rerun("change", state)
                return
        self.stats.unsupported_changes += 1
        await self.rerun("change")  # nothing to move: a plain rerun ("R" key)


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
            await tab.open(page, query)
            done += 1
            for _ in range(settings.changes):
                await pause(settings, rng, deadline)
                if time.monotonic() >= deadline or done >= settings.max_interactions:
                    break
                await tab.change(rng)
                done += 1
            await pause(settings, rng, deadline)
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
            if not isinstance(exc, asyncio.TimeoutError):  # timeouts are counted in rerun()
                stats.error("websocket", f"student {index}: {type(exc).__name__}: {exc}")
            done += 1
            await tab.close()  # like the browser: reconnect on a fresh session
            await asyncio.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
    await tab.close()


async def warm_up(settings: Settings) -> None:
    """Open every page once from a single tab (imports, caches); not measured."""
    tab = Tab(settings, Stats())
    try:
        await tab.connect()
        for page, query in settings.pages:
            await tab.open(page, query)
    finally:
        await tab.close()


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


def total_rss_mb(pids: list[int]) -> float | None:
    """Summed RSS of the server processes in MB, or None without pids."""
    values = [v for v in (rss_kb(p) for p in pids) if v is not None]
    return sum(values) / 1024 if values else None


async def sample_peak(pids: list[int], peak: list[float], stop: asyncio.Event) -> None:
    """Track the peak summed RSS every 0.5 s until stopped."""
    while not stop.is_set():
        value = total_rss_mb(pids)
        if value is not None and value > peak[0]:
            peak[0] = value
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


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
    if warm:
        await warm_up(settings)
    before = total_rss_mb(pids)
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
    if settle > 0 and pids:
        await asyncio.sleep(settle)
    stop.set()
    await sampler
    result = stats.summary(elapsed)
    result["memory_mb"] = {
        "before": before,
        "peak": peak[0] if pids else None,
        "after": total_rss_mb(pids),
        "after_delay_s": settle,
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
    except RuntimeError:
        stop_server(proc)
        raise
    return proc, base_url


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server we started: SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


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
        ("errors", lambda r: str(r["errors"])),
        ("reruns/s", lambda r: fmt(r["reruns_per_s"])),
        ("p50 latency s", lambda r: fmt(r["latency"]["p50_s"], digits=3)),
        ("p95 latency s", lambda r: fmt(r["latency"]["p95_s"], digits=3)),
        ("max latency s", lambda r: fmt(r["latency"]["max_s"], digits=3)),
        ("p95 open s", lambda r: fmt(r["latency_open"]["p95_s"], digits=3)),
        ("p95 change s", lambda r: fmt(r["latency_change"]["p95_s"], digits=3)),
    ]
    for key in ("before", "peak", "after"):
        rows.append((f"RSS {key} MB", lambda r, k=key: fmt(r["memory_mb"][k], digits=0)))
    width = max(len(label) for label, _ in rows) + 2
    print("".join([" " * width] + [f"{n:>14}" for n in names]))
    for label, get in rows:
        print(f"{label:<{width}}" + "".join(f"{get(results[n]):>14}" for n in names))
    for name in names:
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
    ap.add_argument("--mode", choices=("classroom", "stress"), default="classroom")
    ap.add_argument("--students", type=int, default=10)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of student activity")
    ap.add_argument("--pages", help='comma list like "Dropout?depth=12&seed=3,Initialization" or a .json list')
    ap.add_argument("--changes", type=int, default=2, help="control changes after each page open")
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
    pages = parse_pages(args.pages)
    results: dict[str, dict] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="load-"))
    proc = None
    try:
        if args.start_app:
            proc, base_url = start_server(Path(args.app), log_dir / "load-app.log")
            pids = [proc.pid]
        else:
            base_url = args.url.rstrip("/")
            check_loopback(base_url)
            pids = pids_from_dir(args.pid_dir) if args.pid_dir else []
        pids += args.server_pid
        results["app"] = run_target(args, "app", base_url, pages, pids)
    finally:
        if proc is not None:
            stop_server(proc)
    if args.baseline:
        proc, base_url = start_server(TRIVIAL_APP, log_dir / "load-baseline.log")
        try:
            results["baseline"] = run_target(args, "baseline", base_url, [("", "")], [proc.pid])
        finally:
            stop_server(proc)
    print()
    print_table(results)
    report = {"settings": asdict(settings_for(args, "", pages)), "results": results}
    if "baseline" in results:
        app_rate = results["app"]["reruns_per_s"] or 0.0
        base_rate = results["baseline"]["reruns_per_s"] or 0.0
        report["capacity_pct_of_trivial"] = 100 * app_rate / base_rate if base_rate else None
        print(f"\nthroughput vs the trivial page: {fmt(report['capacity_pct_of_trivial'], digits=0)} %")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
