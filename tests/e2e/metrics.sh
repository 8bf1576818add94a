#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# End-to-end tests of 'rstguard metrics' and 'rstguard serve': an attached filter that has seen
# traffic of every reason, its exposition checked by promtool and against 'stats -j', the HTTP
# server's behaviour under odd clients, the textfile output, and the files under user/dist/.
#
#   [ x ] xA ---- gA [ r ]   gateway role, native XDP     crafted frames from x into r;
#         xB ---- gB         both role, skb XDP           r forwards nothing, has no addresses;
#                 lo         rstguard serve on 127.0.0.1:9477 (the default), inside r
set -u
. "$(dirname "$0")/lib.bash"
# Our own names, so this suite never meets another one's.
E2E_NSP="rgmet$$"
E2E_PIN="/sys/fs/bpf/rgmet-$$"
e2e_init "${1:-build}"
e2e_require
SRC=$(cd "$E2E_DIR/../.." && pwd)
DIST=$SRC/user/dist
PY=$E2E_PY
command -v promtool >/dev/null || skip "needs promtool (Debian package prometheus)"
$PY -B -c 'import prometheus_client.parser' 2>/dev/null || skip "needs python3-prometheus-client for $PY"
e2e_have_cli || skip "no usable $RG (run make all)"
"$RG" serve --help >/dev/null 2>&1 || skip "this rstguard has no serve command"

R=$E2E_NSP-r
X=$E2E_NSP-x
URL=http://127.0.0.1:9477
T=$E2E_TMP
SERVE=

ns_add r && ns_add x || skip "cannot create namespaces"
# No IPv6 of their own: nothing but the crafted frames reaches the filter.
for n in r x; do
	nsx $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
veth_add x xA r gA && veth_add x xB r gB || skip "cannot create veth pairs"

eq() { # eq NAME ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "    got:  $2"; echo "    want: $3"; fi
}
rc_of() { "$@" >/dev/null 2>&1; echo $?; }
# A process we stopped and reaped ourselves leaves the cleanup list: its PID may be reused.
forget_pid() {
	local p keep=()
	for p in "${E2E_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	E2E_PIDS=("${keep[@]}")
}

# The Python side: traffic, exposition checks, HTTP clients. Lines starting "ok " or "FAIL " are
# added to this script's totals.
cat >"$T/met.py" <<'EOF'
import argparse, concurrent.futures, json, os, socket, struct, subprocess, sys, threading, time
import urllib.error, urllib.request
sys.path.insert(0, os.environ["E2E_DIR"])

def ok(name): print("ok   " + name, flush=True)
def fail(name, why=""): print("FAIL " + name + (": " + why if why else ""), flush=True)
def check(name, cond, why=""):
    (ok if cond else fail)(name, *(() if cond else (why,)))

def parse(text):
    """{(sample name, sorted labels): value} and the set of family names; duplicates fail."""
    from prometheus_client.parser import text_string_to_metric_families
    samples, fams, dups = {}, set(), []
    for f in text_string_to_metric_families(text):
        fams.add(f.name)
        for s in f.samples:
            k = (s.name, tuple(sorted(s.labels.items())))
            if k in samples:
                dups.append(k)
            samples[k] = s.value
    return samples, fams, dups

def lab(**kw): return tuple(sorted(kw.items()))

# --- traffic ----------------------------------------------------------------------------------
def traffic(a):
    import netlab as nl
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
    from scapy.layers.l2 import Ether
    g = nl.Guard(a.rg, a.pin, a.guard_ns)
    sent = {}
    C, S, C6, S6 = "198.18.10.1", "198.18.20.1", "fd00:10::1", "fd00:20::1"

    def tx(inj, pkt):
        inj.send(bytes(Ether(src=inj.src_mac, dst=inj.dst_mac) / pkt))
        sent[inj] = sent.get(inj, 0) + 1

    def seg(inj, sp, flags, seq, ack=0, load=b"", back=False, src=C, dst=S, dport=179):
        ip = IP(src=dst, dst=src) if back else IP(src=src, dst=dst)
        ports = dict(sport=dport, dport=sp) if back else dict(sport=sp, dport=dport)
        tx(inj, ip / TCP(flags=flags, seq=seq, ack=ack, window=8192, **ports) / load)

    def handshake(inj, sp):
        seg(inj, sp, "S", 1000)
        seg(inj, sp, "SA", 5000, 1001, back=True)
        seg(inj, sp, "A", 1001, 5001)

    ia = nl.Injector(a.ns, "xA", a.mac_xa, a.mac_ga)
    ib = nl.Injector(a.ns, "xB", a.mac_xb, a.mac_gb)
    # An established flow: data from C, acked; then RSTs out of window, inexact, exact.
    handshake(ia, 1001)
    seg(ia, 1001, "PA", 1001, 5001, load=b"x" * 100)
    seg(ia, 1001, "A", 5001, 1101, back=True)
    seg(ia, 1001, "R", 1101 + (1 << 31))                  # out_of_window
    seg(ia, 1001, "R", 1101 + 500)                        # inexact
    seg(ia, 1001, "R", 1101)                              # valid
    seg(ia, 2001, "R", 42)                                # learning (the table is new)
    g.policy(learning=0)
    seg(ia, 2002, "R", 42)                                # no_flow
    handshake(ia, 2003)                                   # tracked, then timed out:
    g.run("policy", "set", "timeout.established=1")
    time.sleep(2.2)
    seg(ia, 2003, "R", 1001)                              # untracked
    g.run("policy", "set", "timeout.established=default")
    seg(ia, 3003, "A", 7000, 9000, load=b"y" * 10)        # picked up mid-stream, one way
    seg(ia, 3003, "R", 1234)                              # one_way
    seg(ia, 3004, "A", 7000, 9000, load=b"y" * 10)        # one way, then a segment far from it:
    seg(ia, 3004, "A", 7000 + (1 << 30), 9000 + (1 << 30))  # contested
    seg(ia, 3004, "R", 1234)                              # unverified
    seg(ia, 4004, "S", 100)                               # SYN-SENT ...
    seg(ia, 4004, "RA", 0, 999, back=True)                # ... unverified (a gateway's lone SYN)
    handshake(ia, 5005)                                   # closed both ways: TIME-WAIT
    seg(ia, 5005, "FA", 1001, 5001)
    seg(ia, 5005, "A", 5001, 1002, back=True)
    seg(ia, 5005, "FA", 5001, 1002, back=True)
    seg(ia, 5005, "A", 1002, 5002)
    seg(ia, 5005, "R", 5002, back=True)                   # timewait (accept: passed)
    seg(ia, 6006, "SR", 1)                                # bad_flags
    tcp = bytes(TCP(sport=7007, dport=179, flags="R", seq=1))
    tx(ia, IP(src=C, dst=S, proto=6, flags="MF") / tcp[:8])        # short_fragment
    tx(ia, IP(src=C, dst=S, proto=6, frag=1) / (b"z" * 16))        # fragment
    tx(ia, IP(src=C, dst=S) / TCP(sport=7008, dport=179, flags="R", dataofs=2))  # malformed
    ext = IPv6ExtHdrDestOpt()
    for _ in range(6):
        ext = ext / IPv6ExtHdrDestOpt()
    tx(ia, IPv6(src=C6, dst=S6) / ext / TCP(sport=7009, dport=179, flags="R", seq=1))  # deep_chain
    tx(ia, IPv6(src=C6, dst=S6) / TCP(sport=7010, dport=179, flags="S", seq=1))        # an IPv6 flow
    g.policy(mode="monitor")
    seg(ia, 8008, "R", 42)                                # no_flow, would_drop
    g.policy(mode="enforce")
    g.run("policy", "exempt", "add", "198.18.99.0/24")
    seg(ia, 9009, "R", 42, src="198.18.99.1")             # exempt
    g.run("policy", "protect", "add", "179")
    seg(ia, 80, "R", 42, dport=81)                        # unprotected
    # The second device: one segment of each kind.
    seg(ib, 1111, "S", 1)
    seg(ib, 2222, "R", 42)
    ia.close(); ib.close()
    # Every frame is counted exactly once (flow events aside): wait until all are.
    want = {"gA": sent[ia], "gB": sent[ib]}
    end = time.time() + 5
    while True:
        got = {i["name"]: sum(v["packets"] for r, acts in i["reasons"].items()
                              if r not in ("flow_created", "flow_insert_fail") and
                              not r.startswith("challenge_") for v in acts.values())
               for i in g.json("stats")["interfaces"]}
        if all(got.get(k) == v for k, v in want.items()) or time.time() > end:
            break
        time.sleep(0.05)
    check("traffic: every frame counted once (%s)" % want, all(got.get(k) == v for k, v in want.items()),
          "counted %s" % got)

# --- the exposition against the CLI -------------------------------------------------------------
KIND = {"short_fragment": "unparsed", "deep_chain": "unparsed", "fragment": "fragment",
        "non_rst_tcp": "non_rst_tcp", "malformed": "malformed", "flow_created": "flows_created",
        "flow_insert_fail": "flow_insert_failures"}

def expected_counters(stats):
    """Every counter sample the exposition must hold, from `stats -j`."""
    exp = {}
    for itf in stats["interfaces"]:
        dev = itf["name"]
        for reason, acts in itf["reasons"].items():
            k = KIND.get(reason, "rst")
            if reason.startswith("challenge_"):
                exp[("rstguard_challenge_acks_total", lab(device=dev, result=reason[10:]))] = \
                    sum(v["packets"] for v in acts.values())
            elif k in ("rst", "unparsed"):
                for act, v in acts.items():
                    for col in ("packets", "bytes"):
                        exp[("rstguard_%s_%s_total" % (k, col), lab(device=dev, reason=reason, action=act))] = v[col]
            elif k in ("flows_created", "flow_insert_failures"):
                exp[("rstguard_%s_total" % k, lab(device=dev))] = sum(v["packets"] for v in acts.values())
            else:
                for col in ("packets", "bytes"):
                    exp[("rstguard_%s_%s_total" % (k, col), lab(device=dev))] = sum(v[col] for v in acts.values())
    return exp

def compare(a):
    text = open(a.exposition).read()
    stats, status, pol = (json.load(open(f)) for f in (a.stats, a.status, a.policy))
    samples, fams, dups = parse(text)
    check("exposition parses with prometheus_client, no duplicate series", not dups, str(dups[:3]))
    exp = expected_counters(stats)
    if a.per_cpu:
        summed = {}
        for (name, labels), v in samples.items():
            if name.endswith("_total"):
                d = dict(labels)
                check_cpu = d.pop("cpu", None)
                if check_cpu is None:
                    fail("per-cpu: %s%s has no cpu label" % (name, labels))
                key = (name, tuple(sorted(d.items())))
                summed[key] = summed.get(key, 0) + v
        counters = summed
    else:
        counters = {k: v for k, v in samples.items() if k[0].endswith("_total")}
    bad = [(k, counters.get(k), v) for k, v in exp.items() if counters.get(k) != v]
    extra = sorted(set(counters) - set(exp))
    tag = "per-cpu sums" if a.per_cpu else "counters"
    check("%s: all %d equal 'stats -j' (%d devices)" % (tag, len(exp), len(stats["interfaces"])),
          not bad and len(exp) > 0, "; ".join("%s%s=%s want %s" % (k[0], k[1], g, w) for k, g, w in bad[:5]))
    check("%s: no series beyond what 'stats -j' reports" % tag, not extra, str(extra[:5]))
    if a.per_cpu:
        return
    check("rstguard_up 1 and build_info", samples.get(("rstguard_up", ())) == 1 and
          any(k[0] == "rstguard_build_info" and v == 1 for k, v in samples.items()))
    ft = status["flow_table"]
    want = {("rstguard_flows_tracked", lab(family="ipv4")): ft["ipv4"]["entries"],
            ("rstguard_flows_tracked", lab(family="ipv6")): ft["ipv6"]["entries"],
            ("rstguard_flow_table_capacity", lab(family="ipv4")): ft["ipv4"]["capacity"],
            ("rstguard_flow_table_capacity", lab(family="ipv6")): ft["ipv6"]["capacity"]}
    got = {k: samples.get(k) for k in want}
    check("flows tracked and capacity equal 'status -j' (%d v4, %d v6 of %d)" % (ft["ipv4"]["entries"], ft["ipv6"]["entries"], ft["ipv4"]["capacity"]),
          got == want and ft["ipv4"]["entries"] > 0 and ft["ipv6"]["entries"] > 0, "got %s want %s" % (got, want))
    want = {("rstguard_attached", lab(device=i["name"], role=i["role"], xdp_mode=i["xdp_mode"])): 1 if i["state"] == "ok" else 0
            for i in status["interfaces"]}
    got = {k: v for k, v in samples.items() if k[0] == "rstguard_attached"}
    check("rstguard_attached per device, role and xdp_mode equals 'status -j'", got == want, "got %s want %s" % (got, want))
    want = {("rstguard_attach_timestamp_seconds", lab(device=i["name"])): i["attached_since_unix_seconds"] for i in status["interfaces"]}
    got = {k: v for k, v in samples.items() if k[0] == "rstguard_attach_timestamp_seconds"}
    check("attach timestamps equal 'status -j'", got == want, "got %s want %s" % (got, want))
    info = [dict(k[1]) for k in samples if k[0] == "rstguard_policy_info"]
    want = {k: pol[k] for k in ("mode", "inexact", "unknown", "timewait", "unparsed")}
    check("rstguard_policy_info labels equal 'policy show -j' (%s)" % want, info == [want], str(info))
    check("rstguard_policy_generation equals 'policy show -j' (%d)" % pol["policy_generation"],
          samples.get(("rstguard_policy_generation", ())) == pol["policy_generation"])
    ips = [k for k in samples for _, v in k[1] if v.count(".") == 3 or "::" in v or v.count(":") > 2]
    check("no label value looks like an IP address", not ips, str(ips[:3]))
    names = set(k[0] for k in samples)
    helps = [l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")]
    types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
    hist = set(l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ") and l.split()[3] == "histogram")
    def family_of(n):
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix) and n[:-len(suffix)] in hist:
                return n[:-len(suffix)]
        return n[:-6] if n.endswith("_total") else n
    base = set(family_of(n) for n in names)
    check("HELP and TYPE for every family (%d)" % len(types),
          set(helps) == set(types) and len(types) == len(set(types)) and
          all((n in types) or (n + "_total" in types) for n in base), "HELP %d TYPE %d" % (len(helps), len(types)))
    check("every metric is prefixed rstguard_", all(n.startswith("rstguard_") for n in names))

def coverage(a):
    stats = json.load(open(a.stats))
    itf = [i for i in stats["interfaces"] if i["name"] == "gA"][0]
    seen = {r: sum(v["packets"] for v in acts.values()) for r, acts in itf["reasons"].items()}
    # An LRU hash evicts instead of failing: no traffic makes an insert fail.
    # Nor does it send challenge ACKs (policy inexact=challenge: test_challenge, challenge.sh).
    # syn_sent_bad_ack is the host role's: a gateway cannot tell a lone SYN's entry from an older
    # connection's, so it passes such an RST as unverified.
    missing = [r for r, n in seen.items() if n == 0 and
               r not in ("flow_insert_fail", "syn_sent_bad_ack") and not r.startswith("challenge_")]
    check("traffic covered every reason but flow_insert_fail, syn_sent_bad_ack and challenges on "
          "gA (%d reasons)" %
          len(seen), not missing,
          "none counted for " + ", ".join(missing))
    acts = set(act for acts in itf["reasons"].values() for act, v in acts.items() if v["packets"])
    check("... and every action (%s)" % ", ".join(sorted(acts)), acts == {"pass", "drop", "would_drop"})

def down(a):
    samples, fams, dups = parse(open(a.exposition).read())
    check("pins absent: rstguard_up 0 and nothing but build_info",
          samples.get(("rstguard_up", ())) == 0 and fams == {"rstguard_up", "rstguard_build_info"},
          "families %s" % sorted(fams))

def families(a):
    """Prints the metric names of an exposition, one per line."""
    samples, _, _ = parse(open(a.exposition).read())
    for n in sorted(set(k[0] for k in samples)):
        print(n)

# --- HTTP -------------------------------------------------------------------------------------
def req(url, method="GET", data=None, timeout=5):
    r = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

def wait_up(a):
    end = time.time() + 5
    while time.time() < end:
        try:
            if req(a.url + "/metrics", timeout=1)[0] == 200:
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(1)

def code(a):
    """Prints the HTTP status of GET url+path, waiting up to 5 s for the server to listen."""
    end = time.time() + 5
    while True:
        try:
            print(req(a.url + a.path, timeout=2)[0])
            return
        except OSError:
            if time.time() > end:
                print("unreachable")
                return
            time.sleep(0.05)

def fetch(a):
    st, h, body = req(a.url + a.path)
    if st != 200:
        sys.exit(1)
    sys.stdout.write(body.decode())

def raw(host, port, data, linger0=False, rcvbuf=0, read=0, close_at_once=True):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((host, port))
    if data:
        s.sendall(data)
    if read:
        s.recv(read)
    if linger0:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if close_at_once:
        s.close()
    return s

def http(a):
    u = a.url
    host, port = u.split("//")[1].split(":")
    port = int(port)
    st, h, body = req(u + "/metrics")
    check("GET /metrics: 200, text format 0.0.4",
          st == 200 and h.get("Content-Type", "").startswith("text/plain; version=0.0.4"), "%s %s" % (st, h))
    st, h, body = req(u + "/")
    check("GET /: 200, a page linking to /metrics", st == 200 and b'href="/metrics"' in body, "%s %r" % (st, body[:80]))
    st, h, body = req(u + "/metrics", method="HEAD")
    check("HEAD /metrics: 200 without a body", st == 200 and body == b"", "%s %d bytes" % (st, len(body)))
    st = [req(u + p)[0] for p in ("/nope", "/metricsx", "/metrics/", "/index.html")]
    check("other paths: 404", st == [404] * 4, str(st))
    res = [req(u + "/metrics", method=m, data=b"x=1" if m in ("POST", "PUT") else None) for m in ("POST", "PUT", "DELETE", "OPTIONS")]
    check("other methods: 405 with Allow: GET, HEAD",
          all(r[0] == 405 and "GET" in r[1].get("Allow", "") for r in res), str([(r[0], r[1].get("Allow")) for r in res]))
    st = req(u + "/metrics?format=x")[0]
    check("a query string is ignored: 200", st == 200, str(st))

    barrier = threading.Barrier(50)
    def one(_):
        barrier.wait()
        st, h, body = req(u + "/metrics", timeout=10)
        return st == 200 and b"\nrstguard_up 1\n" in body and body.endswith(b"\n") and \
            b"rstguard_scrape_duration_seconds" in body
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        good = sum(ex.map(one, range(50)))
    check("50 concurrent scrapes: all 200 and complete (%.2f s)" % (time.time() - t0), good == 50, "%d of 50" % good)

    get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(20):
        raw(host, port, get, linger0=True)                  # gone before the answer: RST
        raw(host, port, get, rcvbuf=1024, read=64)          # reads a little, then closes
        raw(host, port, get[:10])                           # half a request line
        raw(host, port, b"")                                # connects, says nothing
    slow = raw(host, port, b"GET /metrics HTTP/1.1\r\n", close_at_once=False)
    t0 = time.time()
    st = req(u + "/metrics", timeout=3)[0]
    check("a stalled client does not hold up others (%.2f s)" % (time.time() - t0), st == 200, str(st))
    slow.close()
    st, h, body = req(u + "/metrics")
    check("after 80 clients that closed early or mid-request, it still answers 200",
          st == 200 and b"\nrstguard_up 1\n" in body, str(st))
    s = socket.socket()
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(get + get)
    data = b""
    while data.count(b"HTTP/1.1 200") < 2:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    check("two pipelined requests on one connection: two 200s", data.count(b"HTTP/1.1 200") == 2)
    trickle(host, port, u)

def trickle(host, port, u):
    """64 clients each send their request a byte every 0.5 s, never idle long enough for an
    idle timeout: scrapes must still be answered at once, and the server must cut the
    trickling clients off once their request has taken too long."""
    req_line = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
    socks, stop = [], [False]
    for _ in range(64):
        s = socket.socket()
        s.settimeout(5)
        s.connect((host, port))
        socks.append(s)
    cut = [None] * len(socks)
    t0 = time.time()
    def drip():
        i = 0
        while not stop[0] and i < len(req_line):
            for n, s in enumerate(socks):
                if cut[n] is not None:
                    continue
                try:
                    s.sendall(req_line[i:i + 1])
                except OSError:
                    cut[n] = time.time() - t0
            i += 1
            time.sleep(0.5)
    th = threading.Thread(target=drip)
    th.start()
    time.sleep(1)
    times = []
    for _ in range(5):
        t = time.time()
        try:
            st = req(u + "/metrics", timeout=3)[0]
        except OSError as e:
            st = str(e)
        times.append((st, round(time.time() - t, 2)))
        time.sleep(0.5)
    check("64 clients trickling a request a byte every 0.5 s: 5 scrapes beside them all 200 "
          "within 1 s %s" % [x[1] for x in times], all(x[0] == 200 and x[1] < 1 for x in times),
          str(times))
    # Each is cut off by the request deadline (10 s), so none holds a place for good.
    end = time.time() + 20
    while time.time() < end and any(c is None for c in cut):
        time.sleep(0.2)
    stop[0] = True
    th.join()
    done = [c for c in cut if c is not None]
    check("... and the server cut every one of them off after 10 to 15 s (%d of 64, after %.1f-%.1f s)"
          % (len(done), min(done or [0]), max(done or [0])),
          len(done) == 64 and 9 <= min(done) and max(done) <= 15, str(sorted(done)[:5]))
    for s in socks:
        s.close()

def atomic(a):
    """Rewrites the textfile while another reader keeps reading it: every read sees a whole file."""
    stop, bad, reads = [False], [], [0]
    def reader():
        while not stop[0]:
            try:
                t = open(a.file).read()
            except FileNotFoundError:
                continue
            reads[0] += 1
            if not t.endswith("\n") or "\nrstguard_scrape_duration_seconds " not in t:
                bad.append(len(t))
    th = threading.Thread(target=reader)
    th.start()
    rcs = [subprocess.run(a.writer.split() + ["-o", a.file], stdout=subprocess.DEVNULL).returncode for _ in range(15)]
    stop[0] = True
    th.join()
    check("metrics -o rewritten 15 times under a concurrent reader: %d reads, none partial" % reads[0],
          rcs == [0] * 15 and not bad and reads[0] > 0, "rcs %s, partial reads %s" % (set(rcs), bad[:5]))

def grafana(a):
    d = json.load(open(a.file))
    titles = [p["title"] for p in d["panels"]]
    exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    check("dashboard: JSON with uid, %d panels, drops by reason and device, flow-table fill, attach state" % len(titles),
          d.get("uid") == "rstguard" and "RST drops per second by reason and device" in titles and
          "Flow-table fill" in titles and "Attach state" in titles, str(titles))
    import re
    known = set(l.strip() for l in open(a.names))
    used = set(re.findall(r"rstguard_[a-z0-9_]+", " ".join(exprs) + open(a.rules).read()))
    check("dashboard and alert rules use only metrics the exporter has (%d)" % len(used),
          used and used <= known, "unknown: %s" % sorted(used - known))

ap = argparse.ArgumentParser()
sub = ap.add_subparsers(dest="cmd", required=True)
p = sub.add_parser("traffic")
for o in ("rg", "pin", "guard_ns", "ns", "mac_xa", "mac_ga", "mac_xb", "mac_gb"):
    p.add_argument("--" + o, required=True)
p = sub.add_parser("compare")
for o in ("exposition", "stats", "status", "policy"):
    p.add_argument("--" + o, required=True)
p.add_argument("--per-cpu", action="store_true")
p = sub.add_parser("coverage"); p.add_argument("--stats", required=True)
p = sub.add_parser("down"); p.add_argument("--exposition", required=True)
p = sub.add_parser("families"); p.add_argument("--exposition", required=True)
p = sub.add_parser("wait_up"); p.add_argument("--url", required=True)
p = sub.add_parser("fetch"); p.add_argument("--url", required=True); p.add_argument("--path", default="/metrics")
p = sub.add_parser("code"); p.add_argument("--url", required=True); p.add_argument("--path", default="/metrics")
p = sub.add_parser("http"); p.add_argument("--url", required=True)
p = sub.add_parser("atomic"); p.add_argument("--file", required=True); p.add_argument("--writer", required=True)
p = sub.add_parser("grafana")
for o in ("file", "names", "rules"):
    p.add_argument("--" + o, required=True)
a = ap.parse_args()
globals()[a.cmd](a)
EOF
export E2E_DIR

# py [nsx NS] ARGS...: runs met.py, echoes its lines and adds its ok/FAIL lines to the totals.
py() {
	local out=$T/py.out rc p f
	if [ "$1" = nsx ]; then
		nsx "$2" "$PY" -B "$T/met.py" "${@:3}" >"$out" 2>&1
	else
		"$PY" -B "$T/met.py" "$@" >"$out" 2>&1
	fi
	rc=$?
	cat "$out"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	E2E_PASS=$((E2E_PASS + p))
	E2E_FAIL=$((E2E_FAIL + f))
	[ "$rc" = 0 ] || [ "$f" != 0 ] || fail "met.py $1 exited $rc"
}
scrape() { nsx r "$PY" -B "$T/met.py" fetch --url "$URL" "$@"; }
scrape_has() { scrape | grep -qx -- "$1"; }

# --- before anything is attached: the exporter starts anyway and says up 0 --------------------
spawn r "$RG" --pin-dir "$E2E_PIN" serve 2>"$T/serve.err"
SERVE=$!
nsx r "$PY" -B "$T/met.py" wait_up --url "$URL" ||
	{ fail "serve answers on the default $URL"; cat "$T/serve.err"; e2e_summary; exit; }
ok "serve starts with nothing attached, on the default 127.0.0.1:9477"
scrape >"$T/down.prom"
py down --exposition "$T/down.prom"
check "promtool check metrics accepts the up 0 exposition" promtool check metrics <"$T/down.prom"
out=$(rg r metrics 2>"$T/err"); rc=$?
eq "metrics with no pins: exit 0, rstguard_up 0, a warning on stderr" \
	"$rc $(grep -c '^rstguard_up 0$' <<<"$out") $(grep -c 'rstguard_up is 0' "$T/err")" "0 1 1"

# --- attach, traffic of every reason ------------------------------------------------------------
check "attach gA --role gateway (native)" rg r attach gA --role gateway --flows 4096
check "attach gB --role both --xdp-mode skb" rg r attach gB --role both --xdp-mode skb
check "the running server now reads the pins: rstguard_up 1 without a restart" scrape_has 'rstguard_up 1'
py traffic --rg "$RG" --pin "$E2E_PIN" --guard_ns "$R" --ns "$X" \
	--mac_xa "$(mac_of x xA)" --mac_ga "$(mac_of r gA)" --mac_xb "$(mac_of x xB)" --mac_gb "$(mac_of r gB)"

# Nothing moves from here on: one snapshot of everything, compared.
scrape >"$T/live.prom"
rg r stats -j >"$T/stats.json"
rg r status -j >"$T/status.json"
rg r policy show -j >"$T/policy.json"
rg r metrics --per-cpu >"$T/percpu.prom"
py coverage --stats "$T/stats.json"
check "promtool check metrics exits 0 on the live exposition" promtool check metrics <"$T/live.prom"
check "promtool check metrics exits 0 on the --per-cpu exposition" promtool check metrics <"$T/percpu.prom"
py compare --exposition "$T/live.prom" --stats "$T/stats.json" --status "$T/status.json" --policy "$T/policy.json"
py compare --exposition "$T/percpu.prom" --stats "$T/stats.json" --status "$T/status.json" --policy "$T/policy.json" --per-cpu
rg r metrics >"$T/once.prom"
eq "metrics prints the same exposition as serve (but the scrape time)" \
	"$(grep -v scrape_duration_seconds "$T/once.prom" | md5sum)" "$(grep -v scrape_duration_seconds "$T/live.prom" | md5sum)"
eq "--no-flow-count leaves out rstguard_flows_tracked and nothing else" \
	"$(rg r metrics --no-flow-count | grep -v scrape_duration_seconds | md5sum)" \
	"$(grep -v -e scrape_duration_seconds -e rstguard_flows_tracked "$T/live.prom" | md5sum)"

# --- HTTP behaviour -----------------------------------------------------------------------------
py nsx r http --url "$URL"
check "the server process survived all of it" kill -0 "$SERVE"

# --- the textfile output ------------------------------------------------------------------------
mkdir -p "$T/tf"
check "metrics -o writes the file" rg r metrics -o "$T/tf/rstguard.prom"
eq "... mode 0644, rstguard_up 1, no temporary file left" \
	"$(stat -c %a "$T/tf/rstguard.prom") $(grep -c '^rstguard_up 1$' "$T/tf/rstguard.prom") $(ls -A "$T/tf" | wc -l)" "644 1 1"
ino=$(stat -c %i "$T/tf/rstguard.prom")
rg r metrics -o "$T/tf/rstguard.prom"
check "... and replaces it by rename (a new inode), not in place" [ "$(stat -c %i "$T/tf/rstguard.prom")" != "$ino" ]
if command -v strace >/dev/null; then
	nsx r strace -f -qq -o "$T/strace" -e trace=openat,write,fsync,rename,renameat,renameat2 \
		"$RG" --pin-dir "$E2E_PIN" metrics -o "$T/tf/rstguard.prom" >/dev/null 2>&1
	order=$(grep -oE '^[0-9]+ +(fsync|rename[a-z0-9]*)\(' "$T/strace" | awk '{print $2}' | tr -d '(' | tr '\n' ' ')
	eq "... the temporary file is fsynced before the rename, then the directory" "$order" "fsync rename fsync "
fi
py atomic --file "$T/tf/rstguard.prom" --writer "nsenter --net=/run/netns/$R $RG --pin-dir $E2E_PIN metrics"
out=$(rg r metrics -o "$T/nodir/x.prom" 2>&1); rc=$?
eq "metrics -o into a missing directory: exit 1, names the file" "$rc $(grep -c "$T/nodir/x.prom" <<<"$out")" "1 1"
check "promtool check metrics accepts the file" promtool check metrics <"$T/tf/rstguard.prom"

# --- user/dist ----------------------------------------------------------------------------------
check "promtool check rules passes on user/dist/rstguard.rules.yml" promtool check rules "$DIST/rstguard.rules.yml"
check "promtool test rules: every alert fires where it should, with its labels and text, and stays quiet elsewhere" \
	promtool test rules "$SRC/tests/e2e/rstguard.rules.test.yml"
missing=$("$PY" -B -c '
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
fired = {t["alertname"] for g in tests["tests"] for t in g.get("alert_rule_test", []) if t.get("exp_alerts")}
print(" ".join(sorted(alerts - fired)))' "$DIST/rstguard.rules.yml" "$SRC/tests/e2e/rstguard.rules.test.yml")
eq "every alert of the rules has a case where it fires" "$missing" ""
py families --exposition "$T/live.prom" >"$T/names"
py grafana --file "$DIST/rstguard-dashboard.json" --names "$T/names" --rules "$DIST/rstguard.rules.yml"
check "the exporter unit runs 'rstguard serve' on the default port" grep -q '^ExecStart=.*rstguard .*serve --listen 127.0.0.1:9477$' "$DIST/rstguard-exporter.service"
if command -v systemd-analyze >/dev/null; then
	sed "s#^ExecStart=[^ ]*#ExecStart=$RG#" "$DIST/rstguard-exporter.service" >"$T/rstguard-exporter.service"
	check "systemd-analyze verify accepts the unit" systemd-analyze verify --man=no "$T/rstguard-exporter.service"
fi
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$DIST/rstguard-exporter.service" | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ /,+/g')
if command -v setpriv >/dev/null; then
	out=$(nsx r setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all${caps:+,+$caps} \
		"$RG" --pin-dir "$E2E_PIN" metrics 2>&1)
	eq "the unit's capabilities (${caps:-none}) are enough to read the pins" "$(grep -c '^rstguard_up 1$' <<<"$out")" 1
fi

# --- a device that goes away; bad options -------------------------------------------------------
nsx r ip link del gB
check "a deleted device shows rstguard_attached 0" scrape_has 'rstguard_attached{device="gB",role="both",xdp_mode="skb"} 0'
check "... the others stay up" scrape_has 'rstguard_attached{device="gA",role="gateway",xdp_mode="native"} 1'
eq "serve --listen without a port exits 2" "$(rc_of rg r serve --listen 127.0.0.1)" 2
eq "serve --listen with a bad port exits 2" "$(rc_of rg r serve --listen 127.0.0.1:70000)" 2
eq "serve --metrics-path without a leading / exits 2" "$(rc_of rg r serve --metrics-path metrics)" 2
out=$(timeout 5 nsenter --net=/run/netns/$R "$RG" --pin-dir "$E2E_PIN" serve 2>&1); rc=$?
eq "serve on a port in use: exit 1, says why" "$rc $(grep -c 'Address already in use' <<<"$out")" "1 1"
spawn r "$RG" --pin-dir "$E2E_PIN" serve --listen 127.0.0.1:9478 --metrics-path /probe/rstguard 2>/dev/null
CUSTOM=$!
eq "--metrics-path /probe/rstguard: 200 there, 404 on /metrics" \
	"$(nsx r "$PY" -B "$T/met.py" code --url http://127.0.0.1:9478 --path /probe/rstguard) $(nsx r "$PY" -B "$T/met.py" code --url http://127.0.0.1:9478)" "200 404"
kill "$CUSTOM"
wait "$CUSTOM" 2>/dev/null
forget_pid "$CUSTOM"

# --- SIGTERM: a clean stop, the filter stays ------------------------------------------------------
kill -TERM "$SERVE"
t0=$SECONDS
wait "$SERVE"
rc=$?
forget_pid "$SERVE"
eq "SIGTERM: serve exits 0 at once and says so" "$rc $((SECONDS - t0 < 3)) $(grep -c 'stopped on SIGTERM' "$T/serve.err")" "0 1 1"
eq "... and the filter stays attached on gA" "$(rg r status -j | "$PY" -c 'import json,sys; print([i["state"] for i in json.load(sys.stdin)["interfaces"] if i["name"]=="gA"])')" "['ok']"
check "... XDP still on gA" bash -c "ip -n $R link show gA | grep -q 'prog/xdp'"

e2e_summary
