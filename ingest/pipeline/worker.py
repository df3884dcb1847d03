"""The ingest worker: a child process that writes the batches the consumer has read and
prepared.

The consumer's process reads Kafka, decodes and checks each batch, writes its store segments to
temporary files (fsynced) and commits offsets; the worker moves the segments into place, sends
the dead letters and loads the warehouse. Preparing one batch and writing the one before it then
run on a core each instead of taking turns on one interpreter lock. Between the two the ingest
contract holds as before: a batch's offsets are committed only after the worker reports the
batch written, and a failure the worker reports ends the run with them uncommitted. Each batch
travels in a shared memory block named over the pipe; the worker removes a block once it has
read it, and closing the worker removes those it never read.

The worker is a fresh interpreter (spawned, not forked: a fork would inherit the caller's
threads and sockets, such as Kafka clients a host process already runs); it starts while the
consumer joins its group. It ignores SIGINT and SIGTERM (the consumer decides when to stop and
tells it) and is killed with its parent (``PR_SET_PDEATHSIG``), so a kill -9 of ``dlrw ingest``
leaves no writer holding the warehouse.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from collections import Counter, deque
from dataclasses import dataclass, replace
from multiprocessing import shared_memory
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from kafka.errors import KafkaError
from kafka.future import Future

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.client import producer
from dlrw.ingest.kafka.deadletter import dead_letter_headers
from dlrw.ingest.logs import configure_logging
from dlrw.ingest.pipeline.batch import DeadLetter, PreparedBatch
from dlrw.ingest.pipeline.outage import RECONNECT_BACKOFF_MAX_MS, Outage
from dlrw.ingest.store.segments import SegmentBatch
from dlrw.ingest.warehouse.connection import Warehouse, open_warehouse

__all__ = ["BatchWritten", "IngestWorker"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# An idle worker checks its warehouse connection this often, for ``/readyz``.
_PING_EVERY_S = 5.0
# Where Linux keeps shared memory blocks, and the room a batch's block wants there: blocks of
# the batches before it may not be read yet.
_SHARED_MEMORY_DIR = "/dev/shm"
_SHARED_MEMORY_MARGIN = 4


@dataclass(frozen=True)
class BatchWritten:
    """The worker's report of one batch: everything in it is durable. It carries what the
    batch counts, for the consumer's summary and metrics."""

    events: Counter[str]
    dead_letters: Counter[str]  # by error class
    newest_ms: dict[str, int]  # the newest event time per event type, epoch milliseconds


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class IngestWorker:
    """The consumer's handle on the worker process: batches handed over with ``submit`` are
    reported by ``result`` in the same order."""

    def __init__(
        self,
        settings: Settings,
        warehouse_url: str,
        lock_wait_s: float = 0.0,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        # A flag in shared memory, set without a lock: safe from a signal handler.
        self._stopping: Synchronized[int] = context.RawValue("b", 0)
        # Set by the worker: whether its last query on the warehouse (load or check) succeeded.
        self._reachable: Synchronized[int] = context.RawValue("b", 0)
        self._process = context.Process(
            target=_serve,
            args=(child, settings, warehouse_url, lock_wait_s, self._stopping, self._reachable),
            name="dlrw-ingest-worker",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._ready = False
        # The shared memory blocks of the batches handed over and not reported written yet
        # (None for one sent through the pipe).
        self._blocks: deque[str | None] = deque()
        self._warned = False

    def wait_ready(self) -> None:
        """Wait until the worker has opened the warehouse and made its tables, raising why it
        could not. The worker starts while the consumer joins its group; this is the meeting
        point."""
        if not self._ready:
            self._receive()
            self._ready = True

    def submit(self, segments: SegmentBatch, prepared: PreparedBatch) -> None:
        """Hand over a batch to write: its store segments staged (``SegmentBatch.staged``, in
        this process), which the worker moves into place, then the rest of ``prepared``."""
        self.wait_ready()
        # The segments' records are in their staged files already. The rest (~8MB) goes through
        # shared memory: through the pipe the worker would read it 200KB at a time, each read
        # waiting for its interpreter lock, which held the consumer up for 10-40ms a batch.
        payload = pickle.dumps((segments, replace(prepared, segments=[])), pickle.HIGHEST_PROTOCOL)
        try:
            self._conn.send(self._hand_over(payload))
        except OSError:
            # The worker stopped at a failure while batches were still coming: raise what it
            # reported (the batches it wrote before are not committed; they are replayed).
            while True:
                self._receive()

    def _hand_over(self, payload: bytes) -> tuple[str, int] | bytes:
        """The message that hands over ``payload``: its shared memory block's name and size, or
        the payload itself where shared memory has no room for it (a container's /dev/shm is
        64MB by default; a write past its end would kill this process)."""
        if _shared_memory_free() < _SHARED_MEMORY_MARGIN * len(payload):
            if not self._warned:
                log.warning(
                    "shared memory (%s) is short of room for a batch of %.0fMB: batches go "
                    "through a pipe, more slowly; give it more (docker run --shm-size) or "
                    "lower --batch-size",
                    _SHARED_MEMORY_DIR,
                    len(payload) / 2**20,
                )
                self._warned = True
            self._blocks.append(None)
            return payload
        block = shared_memory.SharedMemory(create=True, size=len(payload))
        try:
            assert block.buf is not None  # until closed
            block.buf[: len(payload)] = payload
        finally:
            block.close()
        self._blocks.append(block.name)
        return block.name, len(payload)

    def result(self) -> BatchWritten:
        """Wait for the oldest batch not reported yet to be written; raises what made it (or
        the worker) fail."""
        done = self._receive()
        assert isinstance(done, BatchWritten)
        self._blocks.popleft()  # the worker read and removed it
        return done

    def alive(self) -> bool:
        """Whether the worker process is running (safe to call from any thread)."""
        return not wait([self._process.sentinel], timeout=0)

    def warehouse_reachable(self) -> bool:
        """Whether the worker's last query on the warehouse succeeded: its last load, or the
        check it makes every few seconds while idle (safe to call from any thread)."""
        return bool(self._reachable.value)

    def stop_waiting(self) -> None:
        """Make a worker waiting out an unavailable warehouse give up the batch (safe to call
        from a signal handler)."""
        self._stopping.value = 1

    def close(self) -> None:
        """Let the batch being written end, then stop the worker."""
        self._stopping.value = 1
        with contextlib.suppress(OSError):  # unless it has gone already
            self._conn.send(None)
        self._process.join()
        self._conn.close()
        # Batches the worker never reported written may still be in shared memory.
        for name in filter(None, self._blocks):
            with contextlib.suppress(FileNotFoundError):
                shared_memory.SharedMemory(name=name).unlink()
        self._blocks.clear()

    def _receive(self) -> Any:
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            self._process.join()
            raise ServiceUnavailable(
                f"the ingest worker process died (exit code {self._process.exitcode}); "
                "offsets after the last written batch were not committed"
            ) from None
        if kind == "error":
            raise payload
        return payload


def _serve(
    conn: Connection,
    settings: Settings,
    warehouse_url: str,
    lock_wait_s: float,
    stopping: Synchronized[int],
    reachable: Synchronized[int],
) -> None:
    """The worker process: open the warehouse, then write batches in the order they arrive,
    reporting each as soon as it is written, and check the warehouse while idle; the first
    failure is reported and ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    configure_logging(settings.log_format, "ingest")

    def report(kind: str, payload: Any) -> None:
        with contextlib.suppress(OSError):  # unless the consumer has gone
            conn.send((kind, payload))

    try:
        writer = _Writer(settings, open_warehouse(warehouse_url, lock_wait_s), stopping, reachable)
    except BaseException as exc:
        report("error", _portable(exc))
        conn.close()
        return
    report("ready", None)
    # Batches are read off the pipe as soon as they are sent, so the consumer never waits for
    # this process to finish writing the batch before.
    jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_receive_jobs, args=(conn, jobs), daemon=True).start()
    try:
        while True:
            try:
                job = jobs.get(timeout=_PING_EVERY_S)
            except queue.Empty:
                writer.check_warehouse()
                continue
            if job is None:
                break
            if isinstance(job, BaseException):
                raise job
            segments, prepared = job
            writer.write(segments, prepared)
            dead = Counter(d.error_class for d in prepared.dead_letters)
            report("done", BatchWritten(prepared.events, dead, prepared.newest_ms))
    except EOFError:
        pass  # the consumer is gone; nothing is waiting for a report
    except BaseException as exc:
        # The first failure ends the worker: the batches after it are neither written nor
        # reported, and their offsets stay uncommitted.
        report("error", _portable(exc))
    finally:
        writer.close()
        conn.close()


def _receive_jobs(conn: Connection, jobs: queue.SimpleQueue[Any]) -> None:
    """Move batches from their shared memory blocks (named on the pipe) to ``jobs`` until the
    stop request (None) or the pipe's end (EOFError, put on the queue for the worker to raise)."""
    while True:
        try:
            job = _take(conn.recv())
        except BaseException as exc:
            jobs.put(exc)
            return
        jobs.put(job)
        if job is None:
            return


def _shared_memory_free() -> int:
    """Bytes free for shared memory blocks (unbounded where it is not a mounted tmpfs)."""
    try:
        stats = os.statvfs(_SHARED_MEMORY_DIR)
    except OSError:
        return sys.maxsize
    return stats.f_bavail * stats.f_frsize


def _take(handed: tuple[str, int] | bytes | None) -> Any:
    """The batch a message hands over: unpickled from the shared memory block it names (name
    and size; the block is removed) or from the message itself; None, the stop request, as is."""
    if handed is None:
        return None
    if isinstance(handed, bytes):
        return pickle.loads(handed)
    name, size = handed
    block = shared_memory.SharedMemory(name=name)
    try:
        assert block.buf is not None  # until closed
        with block.buf[:size] as payload:
            return pickle.loads(payload)
    finally:
        block.close()
        block.unlink()


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # elsewhere the worker ends when the pipe closes, after its current batch
    if os.getppid() == 1:  # the parent died before the request
        os._exit(1)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling to the consumer's process; else a stand-in carrying its
    message and the worker's traceback."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        text = "".join(traceback.format_exception(exc))
        return RuntimeError(f"ingest worker failed: {type(exc).__name__}: {exc}\n{text}")


class _Writer:
    """Store, dead letters, warehouse, each durable before the batch is reported written. A
    warehouse or a Kafka that goes away is waited out (``Outage``); a stop request gives up the
    batch, unreported, so its offsets stay uncommitted."""

    def __init__(
        self,
        settings: Settings,
        warehouse: Warehouse,
        stopping: Synchronized[int],
        reachable: Synchronized[int],
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.stopping = stopping
        self.reachable = reachable
        self.producer: Any = None
        self._warehouse = Outage(f"warehouse {warehouse.display_url}", self._stop_requested)
        self._kafka = Outage(f"Kafka at {settings.kafka_bootstrap}", self._stop_requested)
        try:
            warehouse.share_cores()
            warehouse.ensure_tables()
            self.producer = producer(
                settings,
                linger_ms=5,
                client_id="dlrw-ingest-deadletter",
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            )
        except BaseException:
            warehouse.close()
            raise
        reachable.value = 1

    def close(self) -> None:
        if self.producer is not None:
            self.producer.close()
        self.warehouse.close()

    def write(self, segments: SegmentBatch, prepared: PreparedBatch) -> None:
        try:
            segments.commit()
        except BaseException:
            segments.abort()
            raise
        sent = self._send(prepared.dead_letters)
        self._load(prepared.tables)
        self._acknowledge(sent)

    def check_warehouse(self) -> None:
        """Note whether the warehouse answers a query, on a new connection if the current one
        fails (the server may have restarted meanwhile)."""
        try:
            try:
                self.warehouse.ping()
            except Exception:
                self.warehouse.reconnect()
                self.warehouse.ping()
        except Exception as exc:
            self._warehouse_failed(exc)
            return
        self._warehouse_answered()

    def _stop_requested(self) -> bool:
        return bool(self.stopping.value)

    def _give_up_if_stopping(self, outage: Outage, problem: str, what: str) -> None:
        if self.stopping.value:
            raise ServiceUnavailable(
                f"{outage.service} unavailable ({problem}); stopped before {what}, "
                "the batch's offsets were not committed"
            )

    def _warehouse_failed(self, exc: Exception) -> str:
        self.reachable.value = 0
        problem = _first_line(exc)
        self._warehouse.failed(problem, "batches are loaded once it answers, offsets not committed")
        return problem

    def _warehouse_answered(self) -> None:
        self.reachable.value = 1
        self._warehouse.answered()

    def _load(self, tables: dict[str, Any]) -> None:
        """Load the batch, waiting out a warehouse that went away (stopped, restarting, cut
        off), on a new connection each attempt; its offsets stay uncommitted until it loads."""
        while True:
            try:
                if self._warehouse.away:
                    self.warehouse.reconnect()
                self.warehouse.load(tables)
            except Exception as exc:
                if not self.warehouse.is_transient(exc):
                    raise
                problem = self._warehouse_failed(exc)
                self._give_up_if_stopping(self._warehouse, problem, "the batch was loaded")
                self._warehouse.pause()
                continue
            self._warehouse_answered()
            return

    def _send(self, letters: list[DeadLetter]) -> list[tuple[DeadLetter, Any]]:
        """Queue the dead letters to their topic; each with its future (failed at once if
        Kafka took no more records)."""
        sent = []
        for dead in letters:
            try:
                future = self.producer.send(
                    self.settings.topic("deadletter"),
                    key=dead.key,
                    value=dead.value,
                    headers=dead_letter_headers(
                        dead.error_class,
                        dead.reason,
                        topic=dead.topic,
                        partition=dead.partition,
                        offset=dead.offset,
                    ),
                )
            except KafkaError as exc:
                future = Future().failure(exc)
            sent.append((dead, future))
        return sent

    def _acknowledge(self, sent: list[tuple[DeadLetter, Any]]) -> None:
        """Wait until Kafka has acknowledged every dead letter, sending again, after a pause,
        those it failed: a Kafka that went away is waited out. A stop request gives the batch
        up only once one has failed (after the delivery timeout), never a batch merely slow."""
        while sent:
            # Until each is acknowledged or failed: the producer's delivery timeout bounds it.
            self.producer.flush()
            failed = [(dead, future.exception) for dead, future in sent if future.failed()]
            if not failed:
                break
            problem = f"{len(failed)} dead letter(s) not acknowledged: {failed[0][1]}"
            self._kafka.failed(problem, "they are sent again, the batch's offsets not committed")
            self._give_up_if_stopping(self._kafka, problem, "Kafka acknowledged them")
            self._kafka.pause()
            sent = self._send([dead for dead, _ in failed])
        self._kafka.answered()
