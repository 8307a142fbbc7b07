"""Event delivery when one receiver hangs: how long another account's event waits.

    .venv/bin/python benchmarks/events.py

Drives the event deliverer and the HTTP transport of the server (the default settings: a run
every 0.5 s, 5 s per attempt) on the embedded SQLite store, without the API. Each round puts
``--backlog`` events of one session of account A in the outbox, for a receiver on 127.0.0.1
that accepts connections and never answers, then one event of account B for a receiver on
another port that answers at once, and times B's event from the moment it is in the outbox to
its arrival. A second set of rounds has no events for A, as the baseline. Medians and maxima of
``--rounds`` rounds. Writes the section of docs/benchmarks.md between the markers below.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from harness.report import docs_options, docs_target, machine, markers, produced, publish

from maskline.domain.events import Event
from maskline.service.events import EventDeliverer
from maskline.store.open import open_store
from maskline.telemetry import COUNTERS
from maskline.telephony.callbacks import HttpCallbacks

BEGIN, END = markers(__file__)
INTERVAL = 0.5  # MASKLINE_DELIVERY_INTERVAL's default


class Receivers:
    """A receiver that hangs and one that answers 200, on 127.0.0.1."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.held: list[asyncio.StreamWriter] = []
        self.most = 0

    async def start(self) -> tuple[str, str]:
        self.hanging = await asyncio.start_server(self._hang, "127.0.0.1", 0)
        self.answering = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        ports = [s.sockets[0].getsockname()[1] for s in (self.hanging, self.answering)]
        return f"http://127.0.0.1:{ports[0]}/a", f"http://127.0.0.1:{ports[1]}/b"

    async def _hang(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held.append(writer)
        self.most = max(self.most, sum(not w.is_closing() for w in self.held))
        while await reader.read(4096):
            pass
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        self.arrived.set()

    async def close(self) -> None:
        for writer in self.held:
            writer.close()
        for server in (self.hanging, self.answering):
            server.close()


async def one_round(directory: Path, n: int, backlog: int, cap: float) -> tuple[float, int]:
    """Seconds B's event waited (``cap`` if it had not arrived by then), and the most
    connections the hanging receiver held at once."""
    store = await open_store(f"sqlite:///{directory / f'events-{n}-{backlog}.db'}")
    receivers = Receivers()
    slow_url, fair_url = await receivers.start()
    transport = HttpCallbacks(allow_private=True)
    deliverer = EventDeliverer(store.outbox, store.accounts, time.time, transport, COUNTERS)

    async def loop() -> None:  # the server's background loop (_every in maskline.http.app)
        while True:
            await asyncio.sleep(INTERVAL)
            await deliverer.deliver_due()

    worker = asyncio.create_task(loop())
    try:
        now = int(time.time())
        slow = str(uuid.uuid4())
        await store.outbox.enqueue_events(
            [
                Event(slow, "MA" + "A" * 18, slow_url, "POST", now, {"EventName": f"E{i}"})
                for i in range(backlog)
            ]
        )
        began = time.monotonic()
        await store.outbox.enqueue_events(
            [Event(str(uuid.uuid4()), "MA" + "B" * 18, fair_url, "POST", now, {})]
        )
        try:
            await asyncio.wait_for(receivers.arrived.wait(), cap)
            waited = time.monotonic() - began
        except TimeoutError:
            waited = cap
        return waited, receivers.most
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        if hasattr(deliverer, "close"):  # so that the script also measures earlier revisions
            await deliverer.close()
        await transport.close()
        await receivers.close()
        await store.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--backlog", type=int, default=20)
    p.add_argument("--cap", type=float, default=150.0, help="give up waiting for B's event after this")
    docs_options(p)
    args = p.parse_args()
    info = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="maskline-events-") as directory:
        for backlog in (0, args.backlog):
            waits, most = [], 0
            for n in range(args.rounds):
                waited, held = asyncio.run(one_round(Path(directory), n, backlog, args.cap))
                waits.append(waited)
                most = max(most, held)
                print(f"{backlog} events for the hanging receiver: B waited {waited:.2f} s", flush=True)
            rows.append((backlog, statistics.median(waits), max(waits), most))
    section = "\n".join(
        [
            BEGIN,
            "## Event delivery with a receiver that hangs",
            "",
            produced(info["revision"])
            + f"; {info['nproc']} CPUs, Python {info['python']}, SQLite {info['sqlite']}.",
            "",
            "The event deliverer and HTTP transport of the server with their defaults (a run every "
            f"{INTERVAL:g} s, 5 s per attempt) on the embedded SQLite store. Account A's session has "
            "events in the outbox for a receiver on 127.0.0.1 that accepts connections and never "
            "answers; then account B's session gets one event for a receiver that answers at once. "
            f"*B waited*: from B's event entering the outbox to its arrival, over {args.rounds} rounds "
            f"(given up at {args.cap:g} s). Without the hanging receiver's events it is the wait for "
            "the next run of the deliverer.",
            "",
            "| A's events for the hanging receiver | B waited, median | B waited, max"
            " | connections the hanging receiver held at once |",
            "|---:|---:|---:|---:|",
            *[f"| {b} | {m:.2f} s | {x:.2f} s | {c} |" for b, m, x, c in rows],
            "",
            END,
        ]
    )
    publish(section, docs_target(args), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
