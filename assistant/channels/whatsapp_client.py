"""The neonize client as Foreman runs it: Go calls on bounded threads, its logs kept quiet.

neonize runs every Go call through `asyncio.to_thread`, i.e. on the event loop's default
executor. Its connection call (`Neonize`) blocks for the connection's whole life, and for a
session that is not linked it can block for ever (whatsmeow's QR loop runs on a context
`stop()` cannot cancel). Each such call held one of the default executor's few threads, and
those threads are joined at exit, so a handful of reconnects stalled every later call and the
process could not end. Here the connection call gets one daemon thread per client, other calls
a small daemon pool of their own: nothing Foreman or asyncio needs waits behind a stuck Go call,
and a stuck call cannot keep the process alive.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

log = logging.getLogger("foreman.channels.whatsapp")

# neonize keeps its Go bridge in a name-mangled attribute of NewAClient (0.5.2)
_BRIDGE_ATTRIBUTE = "_NewAClient__client"
# loggers neonize and the Go side log through ("Whatsmeow.Database" is spelled so by neonize)
_LIBRARY_LOGGERS = ("neonize", "whatsmeow", "Whatsmeow")


class GoThreads(Executor):
    """Runs blocking Go calls on at most `size` daemon threads, started on demand.

    Daemon threads, unlike `ThreadPoolExecutor`'s, are not joined at exit: a Go call that
    never returns cannot hold the process open. Idle threads end after `idle_seconds`.
    """

    def __init__(self, name: str, size: int, *, idle_seconds: float = 2.0) -> None:
        self.name = name
        self.size = size
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._running = 0
        self._started = itertools.count()

    @property
    def busy(self) -> int:
        """Calls running or waiting (a call stuck in Go counts for as long as it is stuck)."""
        return self._running + self._queue.qsize()

    @property
    def threads(self) -> int:
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((future, functools.partial(fn, *args, **kwargs)))
        with self._lock:
            if self.busy > len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{next(self._started)}", daemon=True
                )
                self._threads.add(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, call = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._threads.discard(threading.current_thread())
                        return
                continue
            if not future.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._running += 1
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the awaiting coroutine, never lost
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._running -= 1


# one connection thread per session in this process: a second connection call on a session
# whose first is still inside Go would give whatsmeow two clients on one store
_CONNECTIONS: dict[str, GoThreads] = {}
_CONNECTIONS_LOCK = threading.Lock()


def connection_threads(session: str) -> GoThreads:
    with _CONNECTIONS_LOCK:
        return _CONNECTIONS.setdefault(session, GoThreads("whatsapp-connection", 1))


class GoCalls:
    """Stands in for neonize's Go bridge: the same calls, run on Foreman's own threads."""

    def __init__(self, library: Any, session: str) -> None:
        self.library = library  # neonize's loaded Go library, or a stand-in for it in tests
        self.connection = connection_threads(session)
        self.calls = GoThreads("whatsapp-calls", 4)

    @property
    def connecting(self) -> bool:
        """True while a connection call for this session is running (connected, or stuck)."""
        return self.connection.busy > 0

    async def connection_closed(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the connection call to return; True if it did."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.connecting:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def __getattr__(self, name: str) -> Callable[..., asyncio.Future[Any]]:
        function = getattr(self.library, name)
        threads = self.connection if name == "Neonize" else self.calls

        def call(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(threads, functools.partial(function, *args, **kwargs))

        return call


_PARKED: list[asyncio.AbstractEventLoop] = []


def park_callbacks() -> None:
    """Send neonize's callbacks to a loop that never runs.

    A Go call that could not be stopped (a QR loop nobody answered) keeps calling back; once
    the loop it was started on is closed, neonize would raise inside each ctypes callback and
    print a traceback. Parked, the callbacks are queued and never run.
    """
    from neonize.aioze import events

    if not _PARKED:
        _PARKED.append(asyncio.new_event_loop())
    events.event_global_loop = _PARKED[0]


def go_calls(client: Any) -> GoCalls | None:
    bridge = getattr(client, _BRIDGE_ATTRIBUTE, None)
    return bridge if isinstance(bridge, GoCalls) else None


def load_neonize() -> None:
    """Import neonize without letting it reconfigure logging.

    Importing neonize calls `logging.basicConfig(level=INFO)`, which turns on INFO logs
    (whatsmeow's included) for a process that configured nothing. The root logger is put
    back as it was, and neonize's and whatsmeow's loggers follow Foreman's level.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    import neonize  # noqa: F401

    root.setLevel(level)
    root.handlers[:] = handlers
    follow_foreman_log_level()


def follow_foreman_log_level() -> None:
    level = logging.getLogger("foreman").getEffectiveLevel()
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # neonize hands this logger's own level to the Go side, which then filters at the source
    logging.getLogger("neonize.utils.log").setLevel(level)
    # neonize warns once that ffmpeg is missing; Foreman sends no media, so it is noise
    logging.getLogger("neonize.utils.ffmpeg").setLevel(max(level, logging.ERROR))


def neonize_client(db: Path, *, library: Any = None) -> Any:
    """A neonize client whose session lives in `db`, its Go calls on `GoCalls` threads.

    `library` is neonize's Go library by default; tests pass a stand-in with its behaviour.
    """
    from assistant.channels.whatsapp_session import keep_private

    load_neonize()
    from neonize.aioze.client import NewAClient, gocode

    keep_private(db)
    client = NewAClient(str(db))
    if not hasattr(client, _BRIDGE_ATTRIBUTE):
        raise RuntimeError("this neonize version is not supported: install neonize==0.5.2")
    bridge = GoCalls(library if library is not None else gocode, str(db.resolve()))
    setattr(client, _BRIDGE_ATTRIBUTE, bridge)
    return client


def bind_callbacks() -> None:
    """Dispatch neonize's callbacks to the running loop; called right before `connect()`.

    neonize keeps the first loop that ever connected, so a second `asyncio.run` in one
    process (a login, then serving) would get its events on a closed loop.
    """
    from neonize.aioze import events

    events.event_global_loop = asyncio.get_running_loop()
