"""Fixtures for surge's integration tests: real `surge serve` processes over real HTTP.

    def test_health(surge_server):
        srv = surge_server()                       # started, listening and ready
        assert srv.get("/healthz").json() == {"status": "ok"}

    def test_restart_keeps_data(surge_server):
        srv = surge_server(config={"log.access": True})
        ...
        srv.kill9()                                # crash it
        again = surge_server(data_dir=srv.data_dir)  # restart on the same data

Which binary: env SURGE_BIN (ctest sets it to the binary of its build), else build/surge.
Each server listens on 127.0.0.1 with a port the kernel picks (`--listen 127.0.0.1:0`); the
server writes the address it got to <data_dir>/listen.addr as HOST:PORT, and the fixture waits
for that file and then for GET /readyz to answer 200.

At teardown every server a test started is stopped (SIGTERM, then SIGKILL after 10 s), and the
test fails, showing the end of the server's log, when a server crashed or was killed by a
signal the test did not send, exited non-zero, did not stop within 10 s of SIGTERM, or wrote a
sanitizer report (AddressSanitizer, LeakSanitizer, UBSan's "runtime error").

Timeouts can be stretched on slow machines with SURGE_TEST_START_TIMEOUT (seconds to wait for
listen.addr, default 15) and SURGE_TEST_READY_TIMEOUT (seconds to wait for /readyz, default 30).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "test-admin-token"
STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = float(os.environ.get("SURGE_TEST_START_TIMEOUT", "15"))
READY_TIMEOUT_S = float(os.environ.get("SURGE_TEST_READY_TIMEOUT", "30"))
REQUEST_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 80
# What sanitizers print when they find a bug; any of these in a log fails the test.
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:")
ADDR_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


def surge_binary() -> Path:
    """The surge binary under test: $SURGE_BIN, else build/surge (relative to the repo)."""
    path = Path(os.environ.get("SURGE_BIN", "build/surge"))
    if not path.is_absolute():
        path = REPO / path
    return path


def child_env(extra: dict | None = None) -> dict:
    """The environment for a surge process: ours without SURGE_* variables.

    surge rejects SURGE_* variables that do not name a configuration key, and the test
    runner's own (SURGE_BIN, SURGE_BUILD_DIR, SURGE_TEST_*) are not keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(extra or {})
    return env


def run_surge(*args: str, env: dict | None = None, timeout: float = 60, **kw):
    """Runs a one-shot surge command (`surge config docs`, ...) and returns the
    CompletedProcess with text stdout and stderr."""
    return subprocess.run(
        [str(surge_binary()), *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


class SurgeServer:
    """One running `surge serve`. Attributes: url, data_dir, token, proc, log_path."""

    def __init__(self, binary: Path, data_dir: Path, log_path: Path, args: list[str], env: dict):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.args = args
        self.token = ADMIN_TOKEN
        self.url = ""
        self.host = ""
        self.port = 0
        self.session = requests.Session()
        self.problems: list[str] = []  # reasons to fail the test at teardown
        self._expected_signal: int | None = None
        self._stopped = False
        self._reported = False  # start-up failure already failed the test
        data_dir.mkdir(parents=True, exist_ok=True)
        # A listen.addr left by an earlier run on this data dir names the old port.
        (data_dir / "listen.addr").unlink(missing_ok=True)
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [str(binary), *args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(REPO),
            start_new_session=True,  # a Ctrl-C to pytest does not reach the server twice
        )

    # ------------------------------------------------------------ start-up

    def wait_ready(self) -> None:
        """Waits for listen.addr, then for GET /readyz == 200; fails the test otherwise."""
        addr_file = self.data_dir / "listen.addr"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            self._fail_if_exited("before writing listen.addr")
            try:
                text = addr_file.read_text().strip()
            except FileNotFoundError:
                text = ""
            match = ADDR_RE.match(text)  # a half-written file does not match yet
            if match:
                break
            if time.monotonic() > deadline:
                self._abort(f"{addr_file} did not appear with HOST:PORT within "
                            f"{START_TIMEOUT_S:g} s (content: {text!r})")
            time.sleep(0.02)
        host, self.port = match.group(1), int(match.group(2))
        if host in ("0.0.0.0", "[::]", "::"):
            host = "127.0.0.1"
        self.host = host
        self.url = f"http://{host}:{self.port}"

        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while True:
            self._fail_if_exited("before /readyz answered 200")
            try:
                r = requests.get(self.url + "/readyz", timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                self._abort(f"GET {self.url}/readyz did not return 200 within "
                            f"{READY_TIMEOUT_S:g} s (last: {last})")
            time.sleep(0.05)

    def _fail_if_exited(self, when: str) -> None:
        rc = self.proc.poll()
        if rc is not None:
            self._stopped = True
            self._reported = True
            pytest.fail(f"surge exited with {describe_exit(rc)} {when}\n"
                        f"command: {self.command()}\n"
                        f"--- {self.log_path} (last lines) ---\n{_tail(self.log_path)}",
                        pytrace=False)

    def _abort(self, why: str) -> None:
        self.kill9()
        self._reported = True
        pytest.fail(f"{why}\ncommand: {self.command()}\n"
                    f"--- {self.log_path} (last lines) ---\n{_tail(self.log_path)}",
                    pytrace=False)

    def command(self) -> str:
        return " ".join([str(self.binary), *self.args])

    # ------------------------------------------------------------ HTTP helpers

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """Any request to this server; path starts with '/'. Default timeout 10 s."""
        kw.setdefault("timeout", REQUEST_TIMEOUT_S)
        return self.session.request(method, self.url + path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.request("POST", path, json=json, **kw)

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        """A request with the admin bearer token (Authorization: Bearer test-admin-token)."""
        headers = dict(kw.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.token}"
        return self.request(method, path, headers=headers, **kw)

    # ------------------------------------------------------------ stopping

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait up to timeout seconds, then SIGKILL. Returns the exit status
        (negative: killed by that signal). A server that needed SIGKILL fails the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.problems.append(f"did not exit within {timeout:g} s of SIGTERM; "
                                     "sent SIGKILL")
                self._expected_signal = signal.SIGKILL
                self.proc.kill()
                self.proc.wait()
        self._finish()
        return self.proc.returncode

    def kill9(self) -> int:
        """SIGKILL, as a crash or power loss would; this exit does not fail the test."""
        if self.proc.poll() is None:
            self._expected_signal = signal.SIGKILL
            self.proc.kill()
            self.proc.wait()
        self._finish()
        return self.proc.returncode

    def _finish(self) -> None:
        self._stopped = True
        self.session.close()
        if not self._log.closed:
            self._log.close()

    def check(self) -> list[str]:
        """Stops the server if needed and returns what went wrong (empty when nothing)."""
        died_early = self.proc.poll() is not None and not self._stopped
        self.stop()
        if self._reported:
            return []
        rc = self.proc.returncode
        if died_early:
            self.problems.append(f"died during the test with {describe_exit(rc)}")
        if not died_early and rc != 0 and -rc != (self._expected_signal or 0):
            self.problems.append(f"exited with {describe_exit(rc)}")
        try:
            log = self.log_path.read_text(errors="replace")
        except OSError:
            log = ""
        for marker in SANITIZER_MARKERS:
            if marker in log:
                self.problems.append(f"its log contains {marker!r}")
        return self.problems


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


@pytest.fixture
def surge_server(tmp_path):
    """A factory that starts `surge serve` and returns a ready SurgeServer.

    surge_server(extra_args=[], config={}, data_dir=None, env=None, wait_ready=True)
      extra_args  more command-line arguments, appended as given
      config      {key: value}, each passed as `--set key=value` (booleans as true/false)
      data_dir    reuse a data dir (a restart); default: a fresh one under tmp_path
      env         extra environment variables (SURGE_* ones are passed only from here)
      wait_ready  False returns as soon as the process is started (no url yet)
    Every server started is stopped at teardown and checked as the module docstring says."""
    binary = surge_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"surge binary not found at {binary}: run `make build` or set SURGE_BIN",
                    pytrace=False)
    servers: list[SurgeServer] = []

    def start(extra_args=None, config=None, data_dir=None, env=None, wait_ready=True):
        n = len(servers)
        data = Path(data_dir) if data_dir else tmp_path / f"surge{n}"
        args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                "--set", f"admin.token={ADMIN_TOKEN}"]
        for key, value in (config or {}).items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            args += ["--set", f"{key}={value}"]
        args += [str(a) for a in (extra_args or [])]
        srv = SurgeServer(binary, data, tmp_path / f"surge{n}.log", args, child_env(env))
        servers.append(srv)
        if wait_ready:
            srv.wait_ready()
        return srv

    yield start

    failures = []
    for srv in servers:
        problems = srv.check()
        if problems:
            failures.append(f"surge server {srv.url or '(not listening)'} "
                            f"[{srv.command()}]: " + "; ".join(problems) +
                            f"\n--- {srv.log_path} (last lines) ---\n{_tail(srv.log_path)}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
