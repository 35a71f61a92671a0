"""`kazoo-vm serve --workers N`: N processes serving one port.

Each worker is a separate Python process (multiprocessing, `spawn`: nothing of the parent's state is
inherited) that binds the port with SO_REUSEPORT, so the kernel spreads new connections across the workers.
The parent only supervises: it starts the workers, restarts one that dies while the others keep serving,
gives up when a worker cannot even start (a port in use, a bad setting), and stops them all on SIGTERM/SIGINT.
Everything the workers must agree on is decided once in the parent and handed to each (the token secret).
README (Performance) lists what each process keeps for itself and why that is safe."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("kazoo_vm.workers")
# a worker that exits sooner than this after its start could not start: restarting it would only loop
START_GRACE_SECONDS = 5.0
STOP_SECONDS = 15.0
RESTART_PAUSE_SECONDS = 1.0
PARENT_CHECK_SECONDS = 1.0


class WorkersFailed(RuntimeError):
    pass


def stop_with_parent() -> None:
    """In a worker: SIGTERM to itself once its supervisor is gone (killed with SIGKILL, say), so that no
    worker keeps serving the port on its own."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="kazoo-vm-parent-watch", daemon=True).start()


class _Wakeup:
    """SIGTERM/SIGINT in the parent: a byte on a socket the supervision loop waits on."""

    def __init__(self) -> None:
        self.read, self.write = socket.socketpair()
        self.read.setblocking(False)
        self.write.setblocking(False)
        self.stopping = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.stopping = True
        try:
            self.write.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        self.read.close()
        self.write.close()


class Supervisor:
    """Runs `target(index, *args_for(index))` in `count` processes until stopped."""

    def __init__(self, count: int, target: Callable[..., None], args_for: Callable[[int], tuple[Any, ...]]):
        self.count = count
        self.target = target
        self.args_for = args_for
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, tuple[BaseProcess, float]] = {}

    def _start(self, index: int) -> None:
        process = self.context.Process(target=self.target, args=(index, *self.args_for(index)),
                                       name=f"kazoo-vm-worker-{index}", daemon=False)
        process.start()
        self.workers[index] = (process, time.monotonic())
        log.info("worker %d started (pid %s)", index, process.pid)

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT (0) or a worker that cannot start (WorkersFailed)."""
        wakeup = _Wakeup()
        try:
            for index in range(self.count):
                self._start(index)
            while not wakeup.stopping:
                sentinels = {process.sentinel: index for index, (process, _) in self.workers.items()}
                wait([*sentinels, wakeup.read])
                if wakeup.stopping:
                    break
                for index, (process, started) in list(self.workers.items()):
                    if process.is_alive():
                        continue
                    process.join()
                    if time.monotonic() - started < START_GRACE_SECONDS:
                        raise WorkersFailed(f"worker {index} exited at start (exit code {process.exitcode})")
                    log.warning("worker %d (pid %s) exited with %s; starting it again", index, process.pid,
                                process.exitcode)
                    time.sleep(RESTART_PAUSE_SECONDS)
                    self._start(index)
            return 0
        finally:
            self.stop()
            wakeup.close()

    def stop(self) -> None:
        """SIGTERM to every worker (each finishes its requests and closes), SIGKILL after STOP_SECONDS."""
        for process, _ in self.workers.values():
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process, _ in self.workers.values():
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                process.kill()
                process.join()
        self.workers.clear()
