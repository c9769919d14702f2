"""Start, watch and stop one vLLM OpenAI-compatible server process.

Only process management lives here: building the command line, capturing the log, waiting on
`/health`, and stopping the whole process group by PID. Every server started is stopped on
close(), at interpreter exit, on SIGTERM, and (Linux) when the harness process itself dies.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from harness.errors import EngineError

# The environment vLLM needs here: runtime LoRA loading on, a small KV cache (CPU build), and
# no model hub (the model is a local folder). Values already in os.environ win.
DEFAULT_SERVER_ENV = {
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
}

_LIVE: dict[int, VLLMServer] = {}  # pid -> server, for the exit and signal handlers
_LIVE_LOCK = threading.RLock()  # re-entrant: the SIGTERM handler may run inside a `with`


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it; tiny race until vLLM binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_args(
    model_path: str,
    *,
    host: str,
    port: int,
    max_lora_rank: int,
    max_loras: int,
    max_model_len: int | None,
    dtype: str | None,
    served_model_name: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The arguments after the command: LoRA on, bound to `host`, sized for this run."""
    args = [
        "--model", model_path,
        "--host", host,
        "--port", str(port),
        "--enable-lora",
        "--max-lora-rank", str(max_lora_rank),
        "--max-loras", str(max_loras),
    ]
    if served_model_name:
        args += ["--served-model-name", served_model_name]
    if max_model_len:
        args += ["--max-model-len", str(max_model_len)]
    if dtype:
        args += ["--dtype", dtype]
    return args + list(extra_args)


def resolve_command(command: Sequence[str]) -> list[str]:
    """`command` with its program made absolute; EngineError when it cannot be run."""
    if not command:
        raise EngineError("vLLM command is empty: set engine.python or engine.command")
    program = str(command[0])
    found = shutil.which(program) if os.sep not in program else program
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise EngineError(
            f"vLLM command not found: {program} (run scripts/setup_vllm.sh, or set "
            "HARNESS_VLLM_PYTHON / engine.python to a python that has vllm installed)"
        )
    return [found, *map(str, command[1:])]


class VLLMServer:
    """One server process in its own process group, its output going to `log_path`."""

    def __init__(
        self,
        command: Sequence[str],
        args: Sequence[str],
        *,
        host: str,
        port: int,
        log_path: str | Path,
        env: Mapping[str, str] | None = None,
    ):
        self.command = list(command)
        self.args = list(args)
        self.host = host
        self.port = port
        self.log_path = Path(log_path)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        argv = resolve_command(self.command) + self.args
        env = {**DEFAULT_SERVER_ENV, **os.environ, **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(  # argv list, never a shell string
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Own process group: vLLM forks an engine-core process; stop() ends the group.
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),
            )
        with _LIVE_LOCK:
            _LIVE[self.proc.pid] = self
        _install_exit_handlers()

    def poll(self) -> int | None:
        """None while running, else the exit code."""
        return self.proc.poll() if self.proc else -1

    def is_alive(self) -> bool:
        return self.poll() is None

    def wait_healthy(self, timeout_s: float, interval_s: float = 0.5) -> float:
        """Block until GET /health answers 200; return the seconds it took.

        EngineError (with the log tail) if the process exits first or the timeout passes; in
        both cases the process is stopped before raising.
        """
        start = time.monotonic()
        deadline = start + timeout_s
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self.poll()
                if code is not None:
                    self.stop()
                    raise EngineError(
                        f"vLLM server exited with code {code} during start-up "
                        f"(log: {self.log_path}); last log lines: {self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return time.monotonic() - start
                if time.monotonic() >= deadline:
                    self.stop()
                    raise EngineError(
                        f"vLLM server not healthy after {timeout_s:g} s (log: {self.log_path}); "
                        f"last log lines: {self.log_tail()}"
                    )
                time.sleep(interval_s)

    def log_tail(self, lines: int = 12, max_chars: int = 1500) -> str:
        """The last lines of the log on one line (` | ` between them), for error messages."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64_000))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
        tail = " | ".join(kept) or "(log is empty)"
        return tail[-max_chars:]

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `timeout_s`. Safe to repeat."""
        proc = self.proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session made the server its group's leader
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Children (the engine core) may outlive the leader by a moment: wait, then kill them.
        deadline = time.monotonic() + 5.0
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        with _LIVE_LOCK:
            _LIVE.pop(proc.pid, None)
        self.proc = None


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all() -> None:
    """Stop every server this process started (exit and signal handlers call this)."""
    with _LIVE_LOCK:
        servers = list(_LIVE.values())
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(timeout_s=10.0)


_handlers_installed = False


def _install_exit_handlers() -> None:
    """atexit covers normal exit and Ctrl-C (KeyboardInterrupt unwinds to exit); SIGTERM's
    default action would skip atexit, so turn it into SystemExit when nobody else handles it."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_all)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def _die_with_parent_hook():
    """On Linux, have the kernel SIGTERM the server if the harness is killed outright (SIGKILL,
    OOM), which no Python handler can see. The prctl function is looked up here, before fork,
    so the child only makes one C call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    # PDEATHSIG fires when the forking *thread* ends; from a worker thread that could kill the
    # server early, so only arm it from the main thread.
    if threading.current_thread() is not threading.main_thread():
        return None

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return hook
