"""Packaging and deployment files: the lock, the Kubernetes manifests, the launcher, a lean runtime."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import os
import re
import shlex
import shutil
import site
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
#: The Kubernetes version every manifest must be valid for (a schema kubernetes-validate bundles).
K8S_VERSION = "1.35.0"
LOCK = ROOT / "requirements.lock"


def _need(module: str):
    """Import a dev requirement, or skip; with ``CI=true`` a missing one FAILS (no silent skips)."""
    try:
        return __import__(module)
    except ImportError as e:
        if in_ci():
            pytest.fail(f"CI=true requires {module} (requirements-dev.txt): {e}", pytrace=False)
        pytest.skip(f"{module} is not installed: pip install -r requirements-dev.txt")


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _requirements(path: Path) -> dict[str, str]:
    """name -> requirement line, comments and ``-r`` includes left out."""
    lines = (ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines())
    return {_name(ln): ln for ln in lines if ln and not ln.startswith("-")}


# ---------------------------------------------------------------------------------------------
# Declared dependencies and the lock
# ---------------------------------------------------------------------------------------------


def test_pyproject_takes_its_dependencies_from_requirements():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["dependencies"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert pyproject["project"]["requires-python"] == ">=3.11"  # Streamlit 1.67's floor
    listed = _requirements(ROOT / "requirements.txt")
    for heavy in ("scikit-learn", "scipy", "torch"):  # test-only
        assert heavy not in listed
    assert not [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln.startswith("-")]


def test_every_module_the_app_imports_is_declared():
    listed = _requirements(ROOT / "requirements.txt")
    assert re.fullmatch(r"websockets>=1[5-9].*", listed["websockets"])  # additional_headers=, proxy=
    assert "threadpoolctl" in listed


def test_lock_pins_every_requirement_with_hashes():
    text = LOCK.read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", text, flags=re.M))
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for name in _requirements(ROOT / "requirements.txt"):
        assert name in pins, f"{name} is not pinned in requirements.lock"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for block in blocks:
        if block.strip() and not block.startswith("#"):
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


def test_lock_is_current(tmp_path):
    """Regenerate the lock into a temp file, keeping its pins, and compare: the same, or stale."""
    _need("uv")
    header = LOCK.read_text().splitlines()[1].lstrip("#").strip()
    cmd = shlex.split(header)
    assert cmd[:3] == ["uv", "pip", "compile"] and cmd[-2:] == ["-o", "requirements.lock"], header
    tmp = tmp_path / "requirements.lock"
    tmp.write_text(LOCK.read_text())  # existing pins are preferred: only a real change shows
    out = subprocess.run(
        [sys.executable, "-m", "uv", *cmd[1:-2], "-o", str(tmp), "-q", "--custom-compile-command", header],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert tmp.read_text() == LOCK.read_text(), f"requirements.lock is stale: run `{header}`"


# ---------------------------------------------------------------------------------------------
# Kubernetes manifests
# ---------------------------------------------------------------------------------------------


def _manifests() -> dict[str, list[dict]]:
    yaml = _need("yaml")
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
        for p in sorted(K8S.glob("*.yaml"))
        if p.name != "kustomization.yaml"
    }


def _kind(kind: str, name: str | None = None) -> dict:
    found = [d for docs in _manifests().values() for d in docs if d["kind"] == kind]
    found = [d for d in found if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def test_every_manifest_is_valid_for_the_pinned_kubernetes():
    kv = _need("kubernetes_validate")
    manifests = _manifests()
    assert {"app.yaml", "ingress.yaml", "postgres.yaml", "secret.example.yaml"} <= set(manifests)
    for name, docs in manifests.items():
        for doc in docs:
            try:
                kv.validate(doc, K8S_VERSION, strict=True)
            except kv.ValidationError as e:
                pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {e}")


@pytest.mark.parametrize(
    "breakage",
    ["unknown field", "wrong type", "missing required"],
)
def test_the_validator_rejects_a_broken_deployment(breakage):
    """The check above can fail: the same Deployment, broken three ways, is refused."""
    kv = _need("kubernetes_validate")
    doc = copy.deepcopy(_kind("Deployment"))
    container = doc["spec"]["template"]["spec"]["containers"][0]
    if breakage == "unknown field":
        doc["spec"]["replicass"] = 3
    elif breakage == "wrong type":
        container["readinessProbe"]["periodSeconds"] = "often"
    else:
        del container["name"]
    with pytest.raises(kv.ValidationError):
        kv.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_applies_every_manifest_but_the_example_secret():
    yaml = _need("yaml")
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(k["resources"]) == sorted(set(_manifests()) - {"secret.example.yaml"})


def test_deployment_probes_resources_workers_and_secrets():
    pod = _kind("Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/_stcore/health"
    for probe in ("startupProbe", "readinessProbe"):  # ready only after the warm-up (serve/warm.py)
        assert c[probe]["exec"]["command"][:4] == ["python", "-m", "serve.warm", "--ready-file"], probe
    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"]
    assert res["requests"] == res["limits"]  # guaranteed QoS: never squeezed mid-class
    env = {e["name"]: e for e in c["env"]}
    workers = env["TRAINING_EXPLORER_WORKERS"]["valueFrom"]["resourceFieldRef"]
    assert workers["resource"] == "limits.cpu" and str(workers["divisor"]) == "1"  # one per CPU
    secret = _kind("Secret")
    for var, key in (("STREAMLIT_SERVER_COOKIE_SECRET", "cookie-secret"), ("TRAINING_EXPLORER_DB_URL", "db-url")):
        ref = env[var]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and key in secret["stringData"]
    pg_env = {
        e["name"]: e for e in _kind("StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert pg_env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"]


def test_service_and_ingress_route_by_a_sticky_cookie():
    deploy, svc, ing = _kind("Deployment"), _kind("Service", "training-explorer"), _kind("Ingress")
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert "sessionAffinity" not in svc["spec"]  # ClientIP affinity: a school's NAT on one pod
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # the websocket


# ---------------------------------------------------------------------------------------------
# One host: the systemd unit
# ---------------------------------------------------------------------------------------------


def test_systemd_unit_restarts_a_crashed_replica_on_its_instance_port():
    unit = (ROOT / "deploy" / "systemd" / "training-explorer@.service").read_text()
    keys = dict(re.findall(r"^(\w+)=(.*)$", unit, flags=re.M))
    assert keys["Restart"] == "on-failure"
    assert "training-explorer " in keys["ExecStart"] and "--server.port=%i" in keys["ExecStart"]
    assert keys["User"] != "root"


# ---------------------------------------------------------------------------------------------
# The installed package
# ---------------------------------------------------------------------------------------------

#: What a wheel is built from (a copy, so the build leaves nothing in the checkout).
_SOURCES = ["pyproject.toml", "README.md", "requirements.txt", "streamlit_app.py", ".streamlit", "pages"]
_SOURCES += ["engine", "ui", "serve", "classroom", "training_explorer"]


@pytest.mark.slow
def test_the_wheel_installs_the_engine_cli_and_the_app_for_the_launcher(tmp_path):
    """Build the wheel, install it in a fresh venv, and use it from a directory outside the repo."""
    _need("setuptools")
    src = tmp_path / "src"
    for name in _SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif (ROOT / name).exists():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "-q"]
    run = dict(capture_output=True, text=True, env=env, timeout=300)
    out = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src], **run)
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("training_explorer-*.whl")
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = {Requirement(ln.split(":", 1)[1]) for ln in meta.splitlines() if ln.startswith("Requires-Dist:")}
    assert requires == {Requirement(r) for r in _requirements(ROOT / "requirements.txt").values()}

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # The dependencies come from this interpreter's site packages (a virtual environment's own,
    # which --system-site-packages would not see): a .pth file adds them after the venv's own.
    new_site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], **run)
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()})
    (Path(new_site.stdout.strip()) / "_parent_site.pth").write_text("\n".join(ours) + "\n")
    out = subprocess.run([py, "-m", "pip", "-q", "install", "--no-deps", wheel], **run)
    assert out.returncode == 0, out.stderr[-3000:]
    assert any((venv / ("Scripts" if os.name == "nt" else "bin")).glob("training-explorer*"))  # the command

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    listing = subprocess.run([py, "-m", "engine", "list"], cwd=elsewhere, **{**run, "env": env})
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert re.search(r"^gradients ", listing.stdout, flags=re.M)
    code = (
        "import engine, training_explorer as t; from engine.datasets import load\n"
        "print(engine.__file__); print(t.app_dir()); print(load('digits').X_train.shape)"
    )
    out = subprocess.run([py, "-c", code], cwd=elsewhere, **{**run, "env": env})
    assert out.returncode == 0, out.stderr[-3000:]
    engine_file, app, shape = out.stdout.splitlines()
    assert Path(engine_file).is_relative_to(venv)  # the installed copy, not the checkout
    app = Path(app)
    assert app.is_relative_to(venv) and app.name == "training-explorer", app
    assert (app / "streamlit_app.py").is_file() and (app / ".streamlit" / "config.toml").is_file()
    assert sorted(p.name for p in (app / "pages").glob("*.py")) == sorted(p.name for p in (ROOT / "pages").glob("*.py"))
    assert shape == "(1079, 64)"


# ---------------------------------------------------------------------------------------------
# The launcher and a runtime without scikit-learn
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _new_session(base: str):
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async with websockets.connect(
        "ws" + base.removeprefix("http") + "/_stcore/stream", origin=base, subprotocols=["streamlit"], proxy=None
    ) as ws:
        msg = BackMsg()
        msg.rerun_script.SetInParent()
        await ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(ws.recv(), 60))
            if fwd.WhichOneof("type") == "new_session":
                return fwd.new_session


@pytest.mark.slow
def test_launcher_serves_the_app_with_its_config_from_any_directory(tmp_path):
    """``python -m training_explorer`` from an empty directory: the app's config.toml applies."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TRAINING_EXPLORER_WARM": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "training_explorer", "--server.address=127.0.0.1", f"--server.port={port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(120):
            try:
                if opener.open(f"{base}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the launched server never answered /_stcore/health")
        # in a thread of its own: the browser tests' Playwright keeps a loop running in this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            session = pool.submit(asyncio.run, _new_session(base)).result()
        assert session.custom_theme.primary_color == config["theme"]["primaryColor"]
        assert session.custom_theme.base_font_size == config["theme"]["baseFontSize"]
        assert session.config.hide_sidebar_nav is (not config["client"]["showSidebarNavigation"])
        assert session.config.toolbar_mode == 2  # "viewer" in Streamlit's Config.ToolbarMode
    finally:
        proc.terminate()
        proc.wait(timeout=20)


_NO_SKLEARN = textwrap.dedent(
    """
    import os, sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("sklearn", "scipy"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
    sys.meta_path.insert(0, Block())
    sys.path.insert(0, sys.argv[1])
    from streamlit.testing.v1 import AppTest
    from ui.controls import LESSON_PATH
    for path, _ in LESSON_PATH:
        at = AppTest.from_file(os.path.join(sys.argv[1], "streamlit_app.py"), default_timeout=300)
        if path != "streamlit_app.py":
            at.switch_page(path)
        at.query_params["run"] = "1"
        at.run()
        errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
        n_charts = len(at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart"))
        print(path, n_charts, errors, flush=True)
    """
)


@pytest.mark.slow
def test_every_page_trains_its_default_view_without_sklearn_or_scipy():
    """A runtime without the test-only packages: every page's default view, training included."""
    env = {**os.environ, "TRAINING_EXPLORER_WORKERS": "0", "TRAINING_EXPLORER_WARM": "0"}
    out = subprocess.run(
        [sys.executable, "-c", _NO_SKLEARN, str(ROOT)], capture_output=True, text=True, env=env, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    from ui.controls import LESSON_PATH  # every page but Teach, which trains nothing by default

    rows = [ln.split(" ", 2) for ln in out.stdout.splitlines()]
    assert [r[0] for r in rows] == [p for p, _ in LESSON_PATH], out.stdout
    for path, n_charts, errors in rows:
        assert errors == "[]" and int(n_charts) > 0, f"{path}: {n_charts} charts, errors {errors}"
