#!/usr/bin/env python3
"""presencecloud against Kamailio's presence module: same SIPp load, same
machine, one table of ratios (issue: benchmark against Kamailio).

    bench/compare.py [--quick] [--no-install] [--idle N] [--out FILE]

Installs what it needs (Debian kamailio, kamailio-presence-modules,
kamailio-sqlite-modules, sip-tester, sqlite3), builds our release binary,
then starts each server on loopback, one after the other:

  ours/sqlite        presencecloud with its SQLite store (the default)
  kamailio/sqlite    Kamailio 5.6, presence in SQLite (one worker: its
                     SQLite driver needs it)
  kamailio/memory    Kamailio in its fastest, memory-only mode
  ours/postgres      presencecloud with the PostgreSQL at 127.0.0.1:5432

and drives every one with the same workloads:

  (a) PUBLISH/s      sipp-scenarios/publisher.xml (initial, refresh, modify,
                     remove: 4 PUBLISHes a call), rate stepped up until calls
                     fail or the server falls behind
  (b) cycles/s       sipp-scenarios/watcher.xml (SUBSCRIBE, NOTIFY,
                     unSUBSCRIBE, NOTIFY), stepped the same way
  (c) fan-out        1,000 watchers of one presentity, one PUBLISH: share of
                     watchers that got the new state, p50/p99 PUBLISH-to-NOTIFY
  (d) memory         resident memory added per idle subscription, over N
                     (default 100,000) subscriptions held open

The table gives each figure, ours, Kamailio's and the ratio (measured in
this run), with the targets beside them. Targets are goals, not tests.
"""

import argparse
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCEN = os.path.join(ROOT, "sipp-scenarios")
BIN = os.path.join(ROOT, "target", "release", "presencecloud")
KAM = os.path.join(ROOT, "bench", "kamailio.sh")
PG_BASE = os.environ.get("PRESENCECLOUD_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ensure_tools(install, kamailio=True):
    need = {
        "kamailio": "kamailio",
        "sipp": "sip-tester",
        "sqlite3": "sqlite3",
    }
    if not kamailio:
        need = {"sipp": "sip-tester"}
    missing = [pkg for exe, pkg in need.items() if shutil.which(exe) is None]
    if kamailio and not os.path.isdir("/usr/lib/x86_64-linux-gnu/kamailio/modules") or not any(
        os.path.exists(p)
        for p in (
            "/usr/lib/x86_64-linux-gnu/kamailio/modules/presence.so",
            "/usr/lib/kamailio/modules/presence.so",
        )
    ):
        missing += ["kamailio-presence-modules"]
    if kamailio and not any(
        os.path.exists(p)
        for p in (
            "/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so",
            "/usr/lib/kamailio/modules/db_sqlite.so",
        )
    ):
        missing += ["kamailio-sqlite-modules"]
    if missing:
        if not install:
            sys.exit(f"missing packages: {' '.join(missing)} (run without --no-install)")
        log("installing", *missing)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        pre = [] if os.geteuid() == 0 else ["sudo"]
        if subprocess.run(pre + ["apt-get", "install", "-y"] + missing, env=env).returncode != 0:
            run(pre + ["apt-get", "update"], env=env)
            run(pre + ["apt-get", "install", "-y"] + missing, env=env)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def pids_of(root_pid):
    """The process and its descendants (Kamailio forks its workers)."""
    out = [root_pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) in out and int(entry) not in out:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def private_rss_kb(pids):
    """Resident memory that belongs to the processes: Pss sums shared pages
    once across processes (Kamailio's workers share one memory segment)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    """One server under test, started and stopped by the driver."""

    def __init__(self, name, work, extra_conf=""):
        # extra_conf: more TOML for our node's config file (after [log]).
        self.name, self.work, self.extra_conf = name, work, extra_conf
        self.port = free_port()
        self.proc = None
        self.root_pid = None

    def addr(self):
        return f"127.0.0.1:{self.port}"

    def wait_ready(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            if options_ok(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} does not answer OPTIONS on {self.addr()}")

    def start(self):
        kind, store = self.name.split("/")
        if kind == "ours":
            db = f"sqlite://{self.work}/ours.db"
            if store == "postgres":
                self.schema = f"bench_{os.getpid()}_{self.port}"
                run(["psql", PG_BASE, "-qc", f"CREATE SCHEMA {self.schema}"], stdout=subprocess.DEVNULL)
                sep = "&" if "?" in PG_BASE else "?"
                db = f"{PG_BASE}{sep}options=-csearch_path%3D{self.schema}"
            conf = os.path.join(self.work, "ours.toml")
            with open(conf, "w") as f:
                f.write('[log]\nlevel = "error"\n' + self.extra_conf)
            admin = self.admin = free_port()
            self.proc = subprocess.Popen(
                [BIN, "run", "--config", conf, "--sip", f"udp:{self.addr()}", "--sip", f"tcp:{self.addr()}",
                 "--admin", f"127.0.0.1:{admin}", "--db", db],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "ours.log"), "w"))
            self.root_pid = self.proc.pid
        else:
            # Shared memory sized for the idle-subscription workload.
            env = dict(os.environ, KAMAILIO_SHM_MB=os.environ.get("KAMAILIO_SHM_MB", "2048"))
            out = subprocess.run([KAM, "start", store, str(self.port), self.work],
                                 check=True, capture_output=True, text=True, env=env).stdout
            self.root_pid = int(re.findall(r"\d+", out.strip().splitlines()[-1])[0])
        self.wait_ready()

    def pids(self):
        return pids_of(self.root_pid)

    def stop(self):
        kind, store = self.name.split("/")
        if kind == "ours":
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            if store == "postgres":
                subprocess.run(["psql", PG_BASE, "-qc", f"DROP SCHEMA {self.schema} CASCADE"],
                               stdout=subprocess.DEVNULL)
        else:
            subprocess.run([KAM, "stop", self.work], capture_output=True)


# --- a minimal SIP client over one UDP socket --------------------------------

def options_ok(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    me = s.getsockname()
    cid = f"ping{random.random()}"
    msg = (f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{me[1]};branch=z9hG4bK{cid[4:]};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=b1\r\nTo: <sip:ping@127.0.0.1>\r\n"
           f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    try:
        s.sendto(msg.encode(), ("127.0.0.1", port))
        data, _ = s.recvfrom(65536)
        return data.startswith(b"SIP/2.0 ")
    except OSError:
        return False
    finally:
        s.close()


def header(text, name, short=None):
    for line in text.split("\r\n"):
        n, _, v = line.partition(":")
        n = n.strip().lower()
        if n == name.lower() or (short and n == short):
            return v.strip()
    return ""


class Watchers:
    """Many watchers behind one socket: each SUBSCRIBE a dialog of its own;
    every NOTIFY is answered 200 and its arrival time kept."""

    def __init__(self, port, domain="example.com"):
        self.port, self.domain = port, domain
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("127.0.0.1", 0))
        self.me = self.s.getsockname()[1]
        self.notifies = {}   # call-id -> [(time, body)]
        self.ok = set()

    def subscribe(self, k, presentity, expires=3600):
        cid = f"w{k}-{self.me}"
        msg = (f"SUBSCRIBE sip:{presentity}@{self.domain} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.me};branch=z9hG4bKs{k}x{self.me};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:watcher{k}@{self.domain}>;tag=t{k}\r\n"
               f"To: <sip:{presentity}@{self.domain}>\r\nCall-ID: {cid}\r\nCSeq: 1 SUBSCRIBE\r\n"
               f"Contact: <sip:watcher{k}@127.0.0.1:{self.me}>\r\nEvent: presence\r\n"
               f"Accept: application/pidf+xml\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n")
        self.s.sendto(msg.encode(), ("127.0.0.1", self.port))

    def pump(self, seconds):
        end = time.time() + seconds
        while True:
            left = end - time.time()
            if left <= 0:
                return
            self.s.settimeout(left)
            try:
                data, src = self.s.recvfrom(65536)
            except OSError:
                return
            now = time.time()
            text = data.decode("utf-8", "replace")
            head, _, body = text.partition("\r\n\r\n")
            cid = header(head, "Call-ID", "i")
            if text.startswith("NOTIFY "):
                self.notifies.setdefault(cid, []).append((now, body))
                vias = [l for l in head.split("\r\n") if l.lower().startswith(("via:", "v:"))]
                reply = ("SIP/2.0 200 OK\r\n" + "\r\n".join(vias) + "\r\n"
                         f"From: {header(head, 'From', 'f')}\r\nTo: {header(head, 'To', 't')}\r\n"
                         f"Call-ID: {cid}\r\nCSeq: {header(head, 'CSeq')}\r\nContent-Length: 0\r\n\r\n")
                self.s.sendto(reply.encode(), src)
            elif text.startswith("SIP/2.0 2"):
                self.ok.add(cid)

    def close(self):
        self.s.close()


def pidf(entity, note):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{entity}">'
            f'<tuple id="t"><status><basic>open</basic></status><note>{note}</note></tuple></presence>')


def publish(port, presentity, note, domain="example.com"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    me = s.getsockname()[1]
    body = pidf(f"{presentity}@{domain}", note)
    msg = (f"PUBLISH sip:{presentity}@{domain} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKp{me}{random.randint(0, 1 << 30)};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:{presentity}@{domain}>;tag=p1\r\nTo: <sip:{presentity}@{domain}>\r\n"
           f"Call-ID: pub{me}-{note}\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 3600\r\n"
           f"Content-Type: application/pidf+xml\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}")
    t0 = time.time()
    s.sendto(msg.encode(), ("127.0.0.1", port))
    s.settimeout(5)
    try:
        data, _ = s.recvfrom(65536)
        status = int(data.split(b" ", 2)[1])
    except OSError:
        status = 0
    s.close()
    return t0, status


# --- workloads ---------------------------------------------------------------

def run_sipp(scenario, server, rate, calls, transport="u1", limit=None):
    """SIPp's finished process and the wall time it took. limit: most calls
    open at once (sipp -l); by default 4 s of calls at the rate, so the
    rate, not the limit, paces the run."""
    users = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
    users.write("SEQUENTIAL\n")
    n = max(1000, calls)
    for i in range(n):
        users.write(f"user{i};example.com;user{(i + 1) % n};\n")
    users.close()
    t0 = time.time()
    p = subprocess.run(
        ["sipp", "-sf", os.path.join(SCEN, scenario), "-inf", users.name, "-t", transport,
         "-i", "127.0.0.1", "-p", "0", "-r", str(rate), "-m", str(calls), "-l", str(limit or max(rate * 4, 100)),
         "-nostdin", "-timeout", "60s", "-timeout_error", "-max_socket", "60000",
         server.addr()],
        capture_output=True, text=True)
    elapsed = time.time() - t0
    os.unlink(users.name)
    return p, elapsed


def sipp_counts(stdout):
    """Successful and failed calls from SIPp's final statistics."""
    ok = failed = 0
    for line in stdout.splitlines():
        if "Successful call" in line:
            ok = int(line.rsplit("|", 1)[1].split()[0])
        if "Failed call" in line:
            failed = int(line.rsplit("|", 1)[1].split()[0])
    return ok, failed


def sipp(scenario, server, rate, calls, transport="u1", limit=None):
    p, elapsed = run_sipp(scenario, server, rate, calls, transport, limit)
    ok, failed = sipp_counts(p.stdout)
    return ok, failed, elapsed, p.returncode


def step_rate(server, scenario, per_call, rates, seconds):
    """The highest rate whose calls all succeed at (nearly) the asked pace."""
    best = 0.0
    for r in rates:
        calls = int(r * seconds)
        ok, failed, elapsed, rc = sipp(scenario, server, r, calls)
        achieved = ok / elapsed if elapsed > 0 else 0
        log(f"  {server.name} {scenario} rate {r}/s: {ok} ok, {failed} failed, {achieved:.0f}/s achieved")
        if failed or rc != 0 or ok < calls or achieved < 0.8 * r:
            break
        best = achieved * per_call
    return best


def fan_out(server, watchers=1000):
    w = Watchers(server.port)
    presentity = f"star{server.port}"
    for k in range(watchers):
        w.subscribe(k, presentity)
        if k % 100 == 99:
            w.pump(0.05)
    w.pump(3)
    subscribed = len(w.ok)
    marker = f"m{random.randint(0, 1 << 30)}"
    t0, status = publish(server.port, presentity, marker)
    w.pump(5)
    lat = []
    for events in w.notifies.values():
        for t, body in events:
            if marker in body:
                lat.append((t - t0) * 1000)
                break
    w.close()
    lat.sort()
    share = len(lat) / watchers
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    log(f"  {server.name} fan-out: {subscribed} subscribed, PUBLISH {status}, {len(lat)} got it")
    return share, p50, p99


def idle_memory(server, n, settle):
    """Run first, on a fresh server. After the subscriptions, wait until
    their SIP transactions are over (RFC 3261 Timer J keeps each SUBSCRIBE's
    response for 32 s), so only the subscriptions themselves remain."""
    before = private_rss_kb(server.pids())
    w = Watchers(server.port)
    # Paced (about 2,500 a second) so neither side drops datagrams.
    batch = 50
    for k in range(n):
        w.subscribe(k, f"idle{k % 1000}", expires=7200)
        if k % batch == batch - 1:
            w.pump(0.02)
    w.pump(3)
    w.pump(settle)
    after = private_rss_kb(server.pids())
    held = len(w.ok)
    w.close()
    per = (after - before) * 1024 / held if held else float("nan")
    log(f"  {server.name} idle: {held} held, {before} kB -> {after} kB")
    return per, held


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // (1024 * 1024)
    return f"{model}, {os.cpu_count()} cores, {mem} GiB, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short steps and 10,000 idle subscriptions")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--idle", type=int, default=None, help="idle subscriptions for (d) [100000]")
    ap.add_argument("--servers", default="ours/sqlite,kamailio/sqlite,kamailio/memory,ours/postgres")
    ap.add_argument("--out", help="also write the table to this file")
    a = ap.parse_args()
    ensure_tools(not a.no_install, "kamailio" in a.servers)
    log("building presencecloud (release)")
    run(["cargo", "build", "--release", "--quiet", "--manifest-path", os.path.join(ROOT, "Cargo.toml")])
    idle = a.idle or (10_000 if a.quick else 100_000)
    seconds = 3 if a.quick else 6
    rates = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600]
    results = {}
    for name in a.servers.split(","):
        work = tempfile.mkdtemp(prefix=f"bench-{name.replace('/', '-')}-")
        srv = Server(name, work)
        log(f"== {name} on {srv.addr()}")
        srv.start()
        try:
            r = {}
            r["mem"], r["held"] = idle_memory(srv, idle, 10 if a.quick else 35)
            r["share"], r["p50"], r["p99"] = fan_out(srv)
            r["publish"] = step_rate(srv, "publisher.xml", 4, rates, seconds)
            r["cycles"] = step_rate(srv, "watcher.xml", 1, rates, seconds)
            results[name] = r
        finally:
            srv.stop()
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, idle)
    if a.out:
        with open(a.out, "w") as f:
            print_table(results, idle, f)


def print_table(results, idle, out=sys.stdout):
    ours = results.get("ours/sqlite", {})
    kam = results.get("kamailio/sqlite", {})
    def ratio(x, y, higher_better=True):
        if not x or not y or x != x or y != y:
            return "n/a"
        return f"{(x / y) if higher_better else (y / x):.2f}x"
    def fmt(v, unit=""):
        return "n/a" if v is None or v != v else f"{v:,.0f}{unit}"
    print(f"machine: {machine()}", file=out)
    print(f"{'workload':<34} {'ours/sqlite':>13} {'kamailio/sqlite':>16} {'ratio':>8}   target", file=out)
    rows = [
        ("(a) PUBLISH/s sustained", "publish", True, "", ">= 2x"),
        ("(b) subscribe cycles/s sustained", "cycles", True, "", ">= 2x"),
        ("(c) fan-out 1000: delivered", "share", True, "%", "100 %"),
        ("(c) fan-out 1000: p50 ms", "p50", False, " ms", ""),
        ("(c) fan-out 1000: p99 ms", "p99", False, " ms", "< 50 ms"),
        (f"(d) bytes per idle subscription", "mem", False, " B", "< 1024 B"),
    ]
    for label, key, hb, unit, target in rows:
        o, k = ours.get(key), kam.get(key)
        if key == "share":
            o = None if o is None else o * 100
            k = None if k is None else k * 100
        print(f"{label:<34} {fmt(o, unit):>13} {fmt(k, unit):>16} {ratio(o, k, hb):>8}   {target}", file=out)
    for other in ("kamailio/memory", "ours/postgres"):
        r = results.get(other)
        if r:
            print(f"{other}: PUBLISH/s {fmt(r['publish'])}, cycles/s {fmt(r['cycles'])}, "
                  f"fan-out {r['share'] * 100:.0f} % p50 {fmt(r['p50'])} ms p99 {fmt(r['p99'])} ms, "
                  f"{fmt(r['mem'])} B per idle subscription ({r['held']} held)", file=out)
    print(f"(d) measured over {idle:,} idle subscriptions; memory is proportional set size (Pss), "
          "summed over the server's processes", file=out)


if __name__ == "__main__":
    main()
