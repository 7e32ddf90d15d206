"""Paced load generator: a steady request rate through HAProxy, honest about failures.

    python -m lab.load --url http://127.0.0.1:PORT/echo [--url ...] --rate 200 --duration 30 [--out F]

Slot k is due at t0 + k/rate; with several ``--url`` (one per load balancer of an HA pair) slot k goes to URL
k mod n, and the result counts answers and failures per URL (``targets``). A pool of worker threads with keep-alive connections takes the due
slots in order. A slot that no worker could send within ``--max-lag`` of its due time is counted
as FAILED ("missed"): the generator never bursts to catch up, so a stalled path shows as errors,
not as a quiet dip. Latency is measured from the slot's due time (no coordinated omission).

Missed slots are classified, so that a starved generator is not mistaken for a gateway outage and a
gateway stall is not excused as starvation:

- ``missed slot (generator starved: ...)``: the pacing thread itself queued the slot late (it sleeps on a
  timer, so lateness means the process got no CPU), or a worker was free but not scheduled in time. No
  request was sent: this is the generator's own starvation, not an answer from the gateway. Counted in
  ``failed`` (as every missed slot) and also in ``starved``; ``gateway_failed`` = ``failed - starved``.
- ``stalled slot (every worker waiting on the gateway ...)``: the slot was queued on time but every worker
  was still inside a request to the gateway. The gateway is too slow to keep the rate: a gateway failure.

A response is OK when its status is in ``--ok-status`` (default 200); anything else, a timeout or
a connection error is a failure. Reported: total, ok, failed (by kind), p50/p99/max latency, the
longest gap without a successful response (including the start and the end of the run), and the
count of answers per ``Via`` version (``Via: kong/<version>``) and per ``X-Kong-Node``; also
``longest_gateway_gap_s`` (the same gap, but a starved slot counts as "no observation" and ends a gap:
the generator cannot tell what the gateway did while it was not running), ``generator_starved_s``
(time covered by starved slots) and ``missed_windows`` (the longest runs of missed/stalled slots, with
their cause, start offset and length), so that a long gap can be explained from the result alone.

Without ``--duration`` it runs until SIGTERM/SIGINT. With ``--out`` it rewrites the JSON result
file about once a second while running (``"running": true``), then a final time.
"""

import argparse
import http.client
import json
import math
import os
import queue
import re
import signal
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

VIA_RE = re.compile(r"kong/([0-9][0-9A-Za-z.\-]*)")


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(math.ceil(pct / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def longest_gap(success_times, start, end):
    """Longest interval in [start, end] with no successful response (times in seconds)."""
    points = [start] + sorted(t for t in success_times if start <= t <= end) + [end]
    return max(b - a for a, b in zip(points, points[1:])) if len(points) > 1 else 0.0


def via_version(value):
    if not value:
        return None
    m = VIA_RE.search(value)
    return m.group(1) if m else value.strip()


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.ok = 0
        self.failed = 0  # every slot without a successful answer, starved ones included (see ``starved``)
        self.errors = {}
        self.statuses = {}
        self.versions = {}
        self.nodes = {}
        self.targets = {}
        self.latencies = []
        self.success_times = []
        self.first_failure = None
        self.last_failure = None
        self.starved_times = []
        # runs of consecutive missed/stalled slots: [start_due, end_due, count, {kind: n}]
        self.windows = []
        # Running gaps, kept up to date as results come in, so that a progress summary costs O(1) however long the
        # run: sorting every success time once a second (as this generator once did, in its pacing thread) grew to
        # hundreds of ms on long runs and, on a starved machine, made the generator miss its own slots.
        self._last_ok = self._last_seen = None
        self._gap = self._gateway_gap = 0.0

    def start(self, t0):
        with self.lock:
            self._last_ok = self._last_seen = t0
            self._gap = self._gateway_gap = 0.0

    def _saw(self, t, ok):
        """Advance the running gaps to time t: a success ends both gaps, a starved slot only the gateway gap."""
        if self._last_seen is None:
            return
        if t > self._last_seen:
            self._gateway_gap = max(self._gateway_gap, t - self._last_seen)
            self._last_seen = t
        if ok and t > self._last_ok:
            self._gap = max(self._gap, t - self._last_ok)
            self._last_ok = t

    def record(self, due, done, status=None, error=None, via=None, node=None, ok_statuses=(200,), target=None):
        with self.lock:
            self.total += 1
            if target is not None:
                row = self.targets.setdefault(target, {"ok": 0, "failed": 0})
                row["ok" if error is None and status in ok_statuses else "failed"] += 1
            if status is not None:
                self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            if error is None and status in ok_statuses:
                self.ok += 1
                self.latencies.append(done - due)
                self.success_times.append(done)
                self._saw(done, True)
                key = via_version(via) or "unknown"
                self.versions[key] = self.versions.get(key, 0) + 1
                if node:
                    self.nodes[node] = self.nodes.get(node, 0) + 1
            else:
                self.failed += 1
                kind = error or "status %s" % status
                self.errors[kind] = self.errors.get(kind, 0) + 1
                self.first_failure = self.first_failure if self.first_failure is not None else done
                self.last_failure = done

    def record_missed(self, due, now, kind, starved, period):
        """A slot that was never sent. It counts as failed either way; ``starved`` slots (the generator itself is to
        blame, not the gateway) are also counted apart, so that a reader can tell the two apart."""
        with self.lock:
            self.total += 1
            self.failed += 1
            self.errors[kind] = self.errors.get(kind, 0) + 1
            self.first_failure = self.first_failure if self.first_failure is not None else now
            self.last_failure = now
            if starved:
                self.starved_times.append(due)
                self._saw(due, False)
            w = self.windows[-1] if self.windows else None
            if w is not None and due - w[1] <= 2.5 * period:
                w[1] = max(w[1], due)
                w[2] += 1
                w[3][kind] = w[3].get(kind, 0) + 1
            else:
                self.windows.append([due, due, 1, {kind: 1}])

    def summary(self, url, rate, t0_wall, t0, now, running):
        """The result document. While running (progress), latency percentiles are over the last 10,000 answers and the
        gaps are the running ones; the final summary sorts everything once and is exact."""
        with self.lock:
            if running:
                lat = sorted(self.latencies[-10000:])
                gap = max(self._gap, now - self._last_ok) if self._last_ok is not None else now - t0
                gateway_gap = max(self._gateway_gap, now - self._last_seen) if self._last_seen is not None else now - t0
            else:
                lat = sorted(self.latencies)
                gap = longest_gap(self.success_times, t0, now)
                gateway_gap = longest_gap(self.success_times + self.starved_times, t0, now)
            elapsed = max(now - t0, 1e-9)
            return {
                "url": url,
                "rate": rate,
                "running": running,
                "started_at": t0_wall,
                "elapsed_s": round(elapsed, 3),
                "total": self.total,
                "ok": self.ok,
                "failed": self.failed,
                "starved": len(self.starved_times),
                "gateway_failed": self.failed - len(self.starved_times),
                "errors": dict(self.errors),
                "statuses": dict(self.statuses),
                "achieved_rate": round(self.total / elapsed, 1),
                "latency_ms": {
                    "p50": _ms(percentile(lat, 50)),
                    "p99": _ms(percentile(lat, 99)),
                    "max": _ms(lat[-1] if lat else None),
                },
                "longest_gap_s": round(gap, 3),
                "longest_gateway_gap_s": round(gateway_gap, 3),
                "generator_starved_s": round(len(self.starved_times) / float(rate), 3),
                "missed_windows": [
                    {"start_s": round(w[0] - t0, 3), "length_s": round(w[1] - w[0] + 1.0 / rate, 3), "slots": w[2], "kinds": dict(w[3])}
                    for w in sorted(self.windows, key=lambda w: -w[2])[:5]],
                "first_failure_s": None if self.first_failure is None else round(self.first_failure - t0, 3),
                "last_failure_s": None if self.last_failure is None else round(self.last_failure - t0, 3),
                "versions": dict(self.versions),
                "nodes": dict(self.nodes),
                "targets": {k: dict(v) for k, v in self.targets.items()},
            }


def _ms(v):
    return None if v is None else round(v * 1000.0, 2)


class LoadGenerator:
    def __init__(self, url, rate, duration=None, max_lag=0.25, timeout=5.0, ok_statuses=(200,), workers=None,
                 method="GET", headers=None):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("at least one URL is needed")
        self.url = ", ".join(urls)
        self.targets = []
        for u in urls:
            parts = urlsplit(u)
            if parts.scheme != "http":
                raise ValueError("only http:// URLs are supported: %s" % u)
            self.targets.append((u, parts.hostname, parts.port or 80, (parts.path or "/") + ("?" + parts.query if parts.query else "")))
        self.rate = float(rate)
        self.duration = duration
        self.max_lag = max_lag
        self.timeout = timeout
        self.ok_statuses = tuple(ok_statuses)
        self.method = method
        self.headers = dict(headers or {})
        # enough workers that slow requests (a retry inside HAProxy, a busy machine: up to ~250 ms each at
        # the default) do not starve the schedule; idle threads cost nothing
        self.workers = workers or max(16, int(math.ceil(self.rate * 0.25)))
        self.results = Results()
        self.stop_event = threading.Event()
        self.slots = queue.Queue()
        self.in_flight = 0
        self.in_flight_lock = threading.Lock()
        self._in_request = threading.local()
        self.t0 = None
        self.t0_wall = None
        self.t_end = None

    # -- workers -------------------------------------------------------------------------------
    def _worker(self):
        conns = {}
        period = 1.0 / self.rate
        last_done = 0.0  # when this worker's previous request ended
        while True:
            item = self.slots.get()
            if item is None:
                break
            due, queued, target = item
            url, host, port, path = self.targets[target]
            now = time.monotonic()
            if now - due > self.max_lag:
                with self.in_flight_lock:
                    busy = self.in_flight
                if queued - due > self.max_lag:
                    kind, starved = "missed slot (generator starved: queued %.0f ms late)" % (self.max_lag * 1000), True
                elif busy >= self.workers - 1 and last_done >= due + self.max_lag:
                    # every other worker is in a request, and so was this one when the slot became late
                    kind, starved = "stalled slot (every worker waiting on the gateway for over %.0f ms)" % (self.max_lag * 1000), False
                else:
                    kind, starved = "missed slot (generator starved: no worker scheduled within %.0f ms)" % (self.max_lag * 1000), True
                self.results.record_missed(due, now, kind, starved, period)
                continue
            with self.in_flight_lock:
                self.in_flight += 1
            self._in_request.flag = True
            try:
                if target not in conns:
                    conns[target] = http.client.HTTPConnection(host, port, timeout=self.timeout)
                conns[target].request(self.method, path, headers=self.headers)
                resp = conns[target].getresponse()
                resp.read()
                done = last_done = time.monotonic()
                self._not_in_flight()
                self.results.record(due, done, status=resp.status, via=resp.getheader("Via"), node=resp.getheader("X-Kong-Node"),
                                    ok_statuses=self.ok_statuses, target=url if len(self.targets) > 1 else None)
                if resp.will_close:
                    conns.pop(target).close()
            except (OSError, http.client.HTTPException) as e:
                done = last_done = time.monotonic()
                self._not_in_flight()
                kind = type(e).__name__
                if isinstance(e, socket.timeout):
                    kind = "timeout"
                self.results.record(due, done, error=kind, target=url if len(self.targets) > 1 else None)
                if target in conns:
                    conns.pop(target).close()
            finally:
                self._not_in_flight()
        for conn in conns.values():
            conn.close()

    def _not_in_flight(self):
        """This worker's request is over (once per request, whichever path ends it)."""
        if getattr(self._in_request, "flag", False):
            self._in_request.flag = False
            with self.in_flight_lock:
                self.in_flight -= 1

    def _reporter(self, progress, interval):
        """Progress documents from their own thread: the pacing thread never waits for them."""
        while not self.stop_event.wait(interval):
            progress(self.summary(running=True))

    # -- pacing --------------------------------------------------------------------------------
    def run(self, progress=None, progress_interval=1.0):
        """Run until duration elapses or stop() is called; returns the summary dict."""
        threads = [threading.Thread(target=self._worker, daemon=True) for _unused in range(self.workers)]
        for t in threads:
            t.start()
        self.t0_wall = time.time()
        self.t0 = time.monotonic()
        self.results.start(self.t0)
        period = 1.0 / self.rate
        k = 0
        end = self.t0 + self.duration if self.duration else None
        reporter = None
        if progress:
            reporter = threading.Thread(target=self._reporter, args=(progress, progress_interval), daemon=True)
            reporter.start()
        while not self.stop_event.is_set():
            due = self.t0 + k * period
            if end is not None and due >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                if self.stop_event.wait(delay):
                    break
            self.slots.put((due, time.monotonic(), k % len(self.targets)))
            k += 1
        self.t_end = min(time.monotonic(), end) if end is not None else time.monotonic()
        self.stop_event.set()  # ends the reporter (a duration run ends without stop())
        # slots already due are still sent or counted as missed; then the workers stop
        for _unused in threads:
            self.slots.put(None)
        for t in threads:
            t.join(self.timeout + 2)
        doc = self.summary(running=False)
        if reporter is not None:  # joined after the final summary (its last report may take a while), before any final write
            reporter.join()
        return doc

    def stop(self):
        self.stop_event.set()

    def summary(self, running=False):
        now = time.monotonic() if running or self.t_end is None else max(self.t_end, time.monotonic())
        return self.results.summary(self.url, self.rate, self.t0_wall, self.t0, now, running)


def write_json(path, doc):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def format_summary(doc):
    lat = doc["latency_ms"]
    lines = [
        "url            %s" % doc["url"],
        "rate           %s req/s asked, %s req/s sent over %.1f s" % (doc["rate"], doc["achieved_rate"], doc["elapsed_s"]),
        "requests       %d total, %d ok, %d failed" % (doc["total"], doc["ok"], doc["failed"]),
        "latency        p50 %s ms, p99 %s ms, max %s ms" % (lat["p50"], lat["p99"], lat["max"]),
        "longest gap    %.3f s without a successful response" % doc["longest_gap_s"],
        "versions       %s" % (", ".join("%s: %d" % kv for kv in sorted(doc["versions"].items())) or "-"),
    ]
    if doc.get("targets"):
        lines.append("per URL        %s" % ", ".join("%s: %d ok, %d failed" % (k, v["ok"], v["failed"]) for k, v in sorted(doc["targets"].items())))
    if doc["errors"]:
        lines.append("errors         %s" % ", ".join("%s: %d" % kv for kv in sorted(doc["errors"].items())))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description="paced HTTP load generator (lab)")
    p.add_argument("--url", required=True, action="append", help="repeat for several load balancers (slots alternate)")
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--duration", type=float, help="seconds; default: until SIGTERM")
    p.add_argument("--max-lag", type=float, default=0.25, help="seconds a slot may wait for a worker before it counts as failed")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--ok-status", default="200", help="comma-separated statuses that count as success")
    p.add_argument("--workers", type=int)
    p.add_argument("--header", action="append", default=[], help="extra request header 'Name: value'")
    p.add_argument("--out", help="JSON result file (rewritten every second while running)")
    p.add_argument("--pidfile")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    headers = dict(h.split(":", 1) for h in a.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    gen = LoadGenerator(a.url, a.rate, a.duration, max_lag=a.max_lag, timeout=a.timeout,
                        ok_statuses=[int(s) for s in a.ok_status.split(",")], workers=a.workers, headers=headers)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())

    def _stop(signum, frame):
        gen.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    progress = (lambda doc: write_json(a.out, doc)) if a.out else None
    try:
        doc = gen.run(progress=progress)
        if a.out:
            write_json(a.out, doc)
    finally:
        if a.pidfile:
            try:
                os.unlink(a.pidfile)
            except OSError:
                pass
    if not a.quiet:
        print(format_summary(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
