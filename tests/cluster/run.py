"""The chart, running: helm/ao/ci/cluster-values.yaml as a kubelet would run it, faults included.

What it proves. The objects the chart renders, and nothing else, make a working AO network: the
rendered commands, flags and environment start every unit as the chart's non-root user on a
read-only root; the units find each other by the chart's Service and pod names (the CUs' SU URL,
the MUs' router URL, the router's CU headless Service, the Scheduler-Locations the SUs publish
under their pod names); the probes the chart declares tell the truth (a pod counted ready really
serves); and the network keeps its promises through the faults a cluster has: a CU and an MU pod
killed with SIGKILL and made again with the same name and volume (a StatefulSet restart, new
address), and an SU cut off the network for a while. Every message the MU acknowledged is
scheduled exactly once, every Transfer gives exactly one Debit-Notice and one Credit-Notice, and
the token's balances add up.

How. kubelet.py renders nothing and knows no unit: it runs the rendered StatefulSets and the
Deployment as pods, each in its own network namespace on a bridge, with Service names in
per-namespace hosts files (read its header). This file is the user: from a client namespace it
signs and uploads the Lua module to the gateway Service, spawns a token process and two holders
through the MU Service, has the holders send each other tokens (each Transfer an Eval the MU
acknowledges, then messages the MUs push: holder -> token, token -> both holders), reads results
through the router Service, then causes the faults while transfers keep coming, and finally reads
every process's schedule from its SU and the balances from the router.

Usage (root; the venv of helm/ci.sh for PyYAML and Helm's SDK):
    ~/.cache/ao-rs/venv-ops/bin/python tests/cluster/run.py [--bin-dir DIR] [--keep]
--bin-dir: the release binaries, which stand in for the image's /usr/local/bin (default
$CARGO_TARGET_DIR/release, else ~/.cache/ao-rs/target/release). --keep: leave the work
directory (logs, volumes).
Exit 0 when every check passed; 1 otherwise, with the failed checks and each pod's last log lines.
A namespace that cannot be made is a failure, never a skip.
"""
import argparse
import base64
import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import yaml

import kubelet

ROOT = pathlib.Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm/ao/ci/cluster-values.yaml"
MODULE_WASM = ROOT / "modules/lua/dist/process.wasm"
MODULE_TAGS_SRC = ROOT / "modules/lua/src/lib.rs"
START_BALANCE = 1000
# Longest a result may take outside the faults: a fresh CU compiles the module and the gateway
# indexes a new process within a block (1 s here); a minute meant a CU routing bug (see below).
SLOWEST_RESULT = 30
# How long the network may take to deliver everything after the faults: the MU retries a task
# after 1, 2, 4, 8, 16, 32 s (its defaults), so an SU that was away ~25 s is retried within ~40 s.
CONVERGE_TIMEOUT = 120


# -- phases and checks --------------------------------------------------------------------------


class Report:
    """Phase timings and failed checks, printed as they happen."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.timings = []
        self.failures = []

    @contextlib.contextmanager
    def phase(self, name, text):
        """A phase of the test: its name and what it does, then how long it took."""
        print(f"== {name}: {text}", flush=True)
        t = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((name, time.monotonic() - t))
            print(f"   ({time.monotonic() - t:.1f} s)", flush=True)

    def step(self, text):
        """A line saying what was just done, with the time since the test began."""
        print(f"   {time.monotonic() - self.t0:6.1f} s  {text}", flush=True)

    def check(self, ok, text):
        print(f"   {'ok' if ok else 'FAILED'}: {text}", flush=True)
        if not ok:
            self.failures.append(text)
        return ok


# -- the chart ----------------------------------------------------------------------------------


def render(work):
    """helm/ci_chart.py's rendering of the cluster values (the same as CI checks)."""
    out = work / "render"
    done = subprocess.run([sys.executable, str(ROOT / "helm/ci_chart.py"), str(ROOT / "helm/ao"),
                           str(VALUES), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"rendering {VALUES}: {done.stderr.strip()}")
    docs = list(yaml.safe_load_all((out / "rendered.yaml").read_text()))
    return kubelet.Objects(docs)


def component(objects, kind, name):
    """The rendered object of a unit (app.kubernetes.io/component)."""
    for o in objects.of(kind):
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == name and \
                not o["metadata"]["name"].endswith("-headless"):
            return o
    raise KeyError(f"no {kind} for {name}")


def service_url(objects, unit, port="http", domain="cluster.local"):
    """http://<svc>.<ns>.svc.<domain>:<port> of a unit's client Service."""
    svc = component(objects, "Service", unit)
    meta = svc["metadata"]
    number = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == port)
    return f"http://{meta['name']}.{meta['namespace']}.svc.{domain}:{number}"


def pod_url(objects, pod_name, unit, port="http", domain="cluster.local"):
    """A StatefulSet pod's own URL under its headless Service."""
    sts = component(objects, "StatefulSet", unit)
    ns, headless = sts["metadata"]["namespace"], sts["spec"]["serviceName"]
    c = sts["spec"]["template"]["spec"]["containers"][0]
    number = next(p["containerPort"] for p in c["ports"] if p["name"] == port)
    return f"http://{pod_name}.{headless}.{ns}.svc.{domain}:{number}"


def module_tags():
    """The Lua module's publishing tags, read from modules/lua/src/lib.rs (MODULE_TAGS and the
    constants it names), so a change there changes what this test publishes."""
    src = MODULE_TAGS_SRC.read_text()
    consts = dict(re.findall(r'pub const ([A-Z_]+): &str = "([^"]*)";', src))
    block = src[src.index("pub const MODULE_TAGS"):]
    block = block[:block.index("];")]
    tags = []
    for name, value in re.findall(r'\("([^"]+)", ("[^"]*"|[A-Z_]+)\)', block):
        tags.append((name, value.strip('"') if value.startswith('"') else consts[value]))
    return tags


# -- the user -----------------------------------------------------------------------------------


class Client:
    """The user in the client namespace: the `ao` CLI and plain HTTP, by Service names."""

    def __init__(self, netns, bin_dir, home, mu_url, cu_url):
        self.netns = netns
        self.ao_bin = str(pathlib.Path(bin_dir) / "ao")
        self.home = home
        self.wallet = home / "wallet.json"
        self.mu_url, self.cu_url = mu_url, cu_url
        home.mkdir(parents=True, exist_ok=True)

    def run(self, argv, timeout=90, data=None):
        # HOME is the test's own: no ~/.ao/devnet.json of another run is read.
        env = {"PATH": os.environ["PATH"], "HOME": str(self.home)}
        return subprocess.run(["ip", "netns", "exec", self.netns, *argv], input=data,
                              capture_output=True, timeout=timeout, env=env)

    def ao(self, *args, timeout=90):
        """`ao ARGS` as this user; its stdout, or raise with its stderr."""
        done = self.run([self.ao_bin, *args], timeout=timeout)
        if done.returncode != 0:
            why = done.stderr.decode().strip()
            raise RuntimeError(f"ao {args[0]}: exit {done.returncode}: {why}")
        return done.stdout.decode()

    def ao_unit(self, *args):
        """`ao` with the MU and CU (router) Services."""
        return self.ao(*args, "--wallet", str(self.wallet), "--mu-url", self.mu_url,
                       "--cu-url", self.cu_url)

    def http(self, url, body=None, timeout=20, content_type="application/octet-stream"):
        """GET (or POST body) url from the client namespace; the answer's bytes."""
        code = ("import sys, urllib.request\n"
                "body = sys.stdin.buffer.read() if sys.argv[2] == 'post' else None\n"
                "r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=body, "
                "headers={'content-type': sys.argv[4]}), timeout=float(sys.argv[3]))\n"
                "sys.stdout.buffer.write(r.read())\n")
        done = self.run([sys.executable, "-c", code, url, "post" if body else "get", str(timeout),
                         content_type], data=body, timeout=timeout + 10)
        if done.returncode != 0:
            raise RuntimeError(f"{url}: {done.stderr.decode().strip().splitlines()[-1:]}")
        return done.stdout

    def json(self, url):
        return json.loads(self.http(url))


def retry(what, fn, timeout=60, every=1.0):
    """fn() until it returns without raising; raise its last error after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - any failure is retried, the last one reported
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: still failing after {timeout} s: {e}") from e
            time.sleep(every)


# -- the network under test ---------------------------------------------------------------------


class Network:
    """The AO side of the test: the module, the processes, the transfers sent and acknowledged."""

    def __init__(self, objects, client):
        self.objects = objects
        self.client = client
        self.sus = {}  # pod name -> SU address
        self.home_su = {}  # pid -> SU pod name
        # seq -> sender, recipient, qty, id (None: not acknowledged), error, at and done (times)
        self.transfers = {}
        self.lock = threading.Lock()

    # -- setup ---

    def publish_module(self):
        """Sign the Lua module as `ao devnet` publishes it and upload it to the gateway Service."""
        c = self.client
        item = c.home / "module.bin"
        tags = [a for n, v in module_tags() for a in ("--tag", f"{n}={v}")]
        c.ao("item", "sign", "--wallet", str(c.wallet), *tags, "--data", str(MODULE_WASM),
             "--out", str(item))
        gateway = service_url(self.objects, "gateway")
        receipt = json.loads(c.http(gateway + "/tx", body=item.read_bytes()))
        return receipt["id"]

    def discover(self):
        """Each SU's address (GET / on its pod name) and each MU's (its /health)."""
        sts = component(self.objects, "StatefulSet", "su")
        for i in range(sts["spec"]["replicas"]):
            pod = f"{sts['metadata']['name']}-{i}"
            self.sus[pod] = self.client.json(pod_url(self.objects, pod, "su") + "/")["address"]
        mus = component(self.objects, "StatefulSet", "mu")
        pods = [f"{mus['metadata']['name']}-{i}" for i in range(mus["spec"]["replicas"])]
        health = [self.client.json(pod_url(self.objects, pod, "mu") + "/health") for pod in pods]
        self.mu_addresses = [h["address"] for h in health]

    def spawn(self, name, su_pod, module):
        """A process on one SU, trusting every MU (each signs what it pushes)."""
        authorities = [a for m in self.mu_addresses for a in ("--authority", m)]
        pid = retry(f"spawn {name}", lambda: self.client.ao_unit(
            "spawn", "--name", name, "--module", module, "--scheduler", self.sus[su_pod],
            *authorities).strip(), timeout=60, every=2)
        self.home_su[pid] = su_pod
        return pid

    def eval(self, pid, lua):
        """An Eval, its result waited for through the router: `ao send --wait`'s output (the
        message id, then the result's JSON)."""
        return self.client.ao_unit("send", pid, "--action", "Eval", "--data", lua, "--wait")

    # -- transfers ---

    def transfer(self, seq, sender, recipient):
        """Ask `sender` to send the token a Transfer to `recipient` (an Eval through the MU
        Service). Acknowledged when `ao send` prints the Eval's id."""
        qty = 1 + seq % 7
        lua = (f"Send({{Target = '{self.token}', Action = 'Transfer', Recipient = '{recipient}', "
               f"Quantity = '{qty}', ['X-Seq'] = '{seq}'}}); return 'seq {seq}'")
        entry = {"sender": sender, "recipient": recipient, "qty": qty, "id": None, "error": None,
                 "at": time.monotonic(), "done": None}
        with self.lock:
            self.transfers[seq] = entry
        try:
            entry["id"] = self.client.ao_unit("send", sender, "--action", "Eval",
                                              "--data", lua).strip().split()[0]
        except Exception as e:  # noqa: BLE001 - not acknowledged: recorded, checked as such
            entry["error"] = str(e)
        entry["done"] = time.monotonic()
        return entry

    def transfers_between(self, a, b, seqs):
        for seq in seqs:
            self.transfer(seq, *((a, b) if seq % 2 == 0 else (b, a)))

    # -- reading back ---

    def su_url(self, pid):
        return pod_url(self.objects, self.home_su[pid], "su")

    def schedule(self, pid):
        """Every entry of a process's schedule on its SU, by nonce: (nonce, message)."""
        entries, nonce = {}, 0
        while True:
            page = self.client.json(f"{self.su_url(pid)}/{pid}?from-nonce={nonce}&limit=500")
            for edge in page["edges"]:
                tags = {t["name"]: t["value"] for t in edge["node"]["assignment"]["tags"]}
                entries[int(tags["Nonce"])] = edge["node"]["message"] or {}
            if not page["page_info"]["has_next_page"] or not page["edges"]:
                return sorted(entries.items())
            nonce = max(entries) + 1

    def balances(self):
        """The token's Balances, by a dry-run through the router Service."""
        out = self.client.ao_unit("dryrun", self.token, "--action", "Balances")
        result = json.loads(out)
        for m in result.get("Messages", []):
            if m.get("Data", "").startswith("{"):
                return {k: int(v) for k, v in json.loads(m["Data"]).items()}
        raise RuntimeError(f"no Balances reply in {out[:500]}")


def tag(message, name):
    for t in message.get("tags", []):
        if t["name"] == name:
            return t["value"]
    return None


# -- the test -----------------------------------------------------------------------------------


def create_wallet_secrets(cluster, client):
    """What an operator does before `helm install` (`kubectl create secret`): a key for every
    file a rendered init container copies out of a Secret volume (`$(POD_NAME).json`, or the
    CUs' shared key). Adds the Secrets to the cluster's objects; returns pod name -> the address
    of the key that pod should run with."""
    secrets, addresses = {}, {}
    for pod in cluster.pods:
        for init in pod.spec.get("initContainers", []):
            for mount in init.get("volumeMounts", []):
                volume = next(v for v in pod.spec["volumes"] if v["name"] == mount["name"])
                if "secret" not in volume:
                    continue
                name, prefix = volume["secret"]["secretName"], mount["mountPath"] + "/"
                for arg in init.get("command", []) + init.get("args", []):
                    if arg.startswith(prefix):
                        key = kubelet.expand(arg[len(prefix):], {"POD_NAME": pod.name})
                        path = client.home / "secrets" / name / key
                        if not path.exists():
                            path.parent.mkdir(parents=True, exist_ok=True)
                            client.ao("wallet", "new", "--kind", "ed25519", "--out", str(path))
                        secrets.setdefault(name, {})[key] = path.read_bytes()
                        addresses[pod.name] = client.ao("wallet", "address", str(path)).strip()
    for name, data in secrets.items():
        cluster.objects.docs.append({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": cluster.pods[0].namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}})
    return addresses


def bring_up(cluster, report, client):
    """The node's network and the client's namespace, the wallet Secrets, then every pod."""
    with report.phase("pods", "network, wallet Secrets, every pod at once (Parallel StatefulSets), "
                              "until all are ready"):
        cluster.setup_network()
        client.netns = cluster.add_client("client")
        client.ao("wallet", "new", "--kind", "ed25519", "--out", str(client.wallet))
        cluster.secret_addresses = create_wallet_secrets(cluster, client)
        report.step(f"Secrets with the keys of {', '.join(sorted(cluster.secret_addresses))}")
        for pod in cluster.pods:
            cluster.start_pod(pod)
        cluster.start_probing()
        cluster.wait_ready(cluster.pods, timeout=120)
        for pod in cluster.pods:
            print(f"   {pod.name:32} {pod.ip}")


def check_router_members(cluster, net, report, when):
    """The router's members (its GET /) are exactly the CU pods' addresses: it finds them in
    the CU headless Service's name, which must list every pod (one hosts line each)."""
    cus = [p for p in cluster.pods if p.name.startswith(component(
        net.objects, "StatefulSet", "cu")["metadata"]["name"] + "-")]
    port = cus[0].port("http")
    want = sorted(f"http://{p.ip}:{port}" for p in cus)
    deadline = time.monotonic() + 20  # the router resolves the name every 5 s
    while True:
        members = net.client.json(service_url(net.objects, "router") + "/")["members"]
        got = sorted(m["url"] for m in members)
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(1)
    report.check(got == want, f"{when}: the router's members are the {len(want)} CU pods "
                              f"({', '.join(m['url'] + ' ' + m['state'] for m in members)})")


def check_wallets(cluster, net, report):
    """Each unit whose wallet comes from a Secret runs with that key (its GET / says its
    address): the init container copied it, mode 0600, where the unit reads it."""
    for pod in cluster.pods:
        want = cluster.secret_addresses.get(pod.name)
        if want is None:
            continue
        unit = pod.labels["app.kubernetes.io/component"]
        got = net.client.json(pod_url(net.objects, pod.name, unit) + "/")["address"]
        report.check(got == want, f"{pod.name} runs with its key from the Secret ({got})")


def set_up_processes(net, report):
    with report.phase("processes", "the module on the gateway, a token and two holders, "
                                   "through the MU Service"):
        module = retry("publish the module", net.publish_module, timeout=60)
        report.step(f"module {module} on the gateway")
        retry("SU and MU addresses", net.discover, timeout=60)
        report.step(f"SUs {net.sus}, MUs {net.mu_addresses}")
        su0, su1 = sorted(net.sus)
        # The token on su-1, whose link the faults take down; a holder on each SU.
        net.a = net.spawn("holder-a", su0, module)
        report.step(f"holder a {net.a} on {su0}")
        net.b = net.spawn("holder-b", su1, module)
        report.step(f"holder b {net.b} on {su1}")
        net.token = net.spawn("coin", su1, module)
        report.step(f"token {net.token} on {su1}")
        lua = (f"Blueprint('token'); Balances = {{ ['{net.a}'] = '{START_BALANCE}', "
               f"['{net.b}'] = '{START_BALANCE}' }}; TotalSupply = '{2 * START_BALANCE}'; "
               "return 'minted'")
        t0 = time.monotonic()
        out = retry("load the token", lambda: net.eval(net.token, lua), timeout=90, every=2)
        report.check("minted" in out, "the token loaded, its result read through the router")
        took = time.monotonic() - t0
        report.check(took <= SLOWEST_RESULT, f"the token's first result took {took:.1f} s "
                                             f"(at most {SLOWEST_RESULT} s)")


def steady_transfers(net, report, count=8):
    with report.phase("transfers", f"{count} between the holders, results through the router"):
        net.transfers_between(net.a, net.b, range(count))
        acked = [s for s in range(count) if net.transfers[s]["id"]]
        errors = "".join(f"; {net.transfers[s]['error']}" for s in range(count) if s not in acked)
        report.check(len(acked) == count,
                     f"{len(acked)}/{count} transfers acknowledged by the MU Service{errors}")
        slowest, sending = 0, 0
        for seq in acked:
            t = net.transfers[seq]
            t0 = time.monotonic()
            # A result of a process spawned on su-1 once took a minute: the CU kept su-0 (its
            # --su-url) as the route of a process the gateway had not indexed yet (fixed in
            # cu/src/schedule_source.rs, SuRouter::source_of). The check below keeps it fixed.
            result = json.loads(retry("result", lambda: net.client.ao_unit(
                "result", t["sender"], t["id"]), timeout=90))
            slowest = max(slowest, time.monotonic() - t0)
            sent = [m for m in result.get("Messages", [])
                    if {"name": "Action", "value": "Transfer"} in m.get("Tags", [])]
            if result.get("Error") or not sent:
                report.check(False, f"seq {seq}: its result does not send the Transfer: "
                                    f"{json.dumps(result)[:800]}")
            else:
                sending += 1
        report.check(sending == len(acked), f"{sending}/{len(acked)} results, read through the "
                                            f"router, send the Transfer (slowest {slowest:.1f} s)")
        report.check(slowest <= SLOWEST_RESULT, f"the slowest result took {slowest:.1f} s "
                                                f"(at most {SLOWEST_RESULT} s)")
        converge(net, report, "after the steady transfers")


def faults(cluster, net, report, first_seq):
    """Transfers keep coming while a CU and an MU pod are killed and made again and an SU's
    link goes down and comes back: one sender per holder, so one waiting on the cut SU does not
    stop the other."""
    stop = threading.Event()

    def sender(first, pair):
        seq = first
        while not stop.is_set():
            net.transfer(seq, *pair)
            seq += 2
            time.sleep(0.3)

    threads = [threading.Thread(target=sender, args=(first_seq, (net.a, net.b)), daemon=True),
               threading.Thread(target=sender, args=(first_seq + 1, (net.b, net.a)), daemon=True)]
    for t in threads:
        t.start()
    try:
        with report.phase("cu-kill", "kill -9 a CU pod, StatefulSet restart (same name, volume)"):
            restart(cluster, report, "ao-cu-1")
            check_router_members(cluster, net, report, "after the CU restart")
        with report.phase("mu-kill", "kill -9 an MU pod, StatefulSet restart (same name, volume)"):
            restart(cluster, report, "ao-mu-0")
        with report.phase("su-link", "an SU pod's link down until the kubelet sees it not ready, "
                                     "5 s more, then up"):
            cut_link(cluster, net, report, cluster.pod("ao-su-1"))
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    sent = [s for s in net.transfers if s >= first_seq]
    acked = [s for s in sent if net.transfers[s]["id"]]
    report.step(f"during the faults: {len(sent)} transfers sent, {len(acked)} acknowledged")
    report.check(len(acked) > 0, "the MU Service acknowledged transfers during the faults")


def cut_link(cluster, net, report, su):
    """Take the SU pod's link down (its host-side veth) and bring it back."""
    t0 = time.monotonic()
    kubelet.sh("ip", "link", "set", su.veth, "down")
    report.step(f"{su.name}'s link down")
    deadline = t0 + 40
    while su.ready and time.monotonic() < deadline:
        time.sleep(0.2)
    report.check(not su.ready, f"{su.name} not ready (out of its Services' names) "
                               f"{time.monotonic() - t0:.0f} s after its link went down")
    time.sleep(5)
    down_at = time.monotonic()
    kubelet.sh("ip", "link", "set", su.veth, "up")
    report.step(f"{su.name}'s link up again")
    cluster.wait_ready([su], timeout=60)
    for holder in (net.a, net.b):
        # Sent while the SU was away, or sent before and still waiting when it went.
        now = time.monotonic()
        with net.lock:
            during = [t for t in net.transfers.values() if t["sender"] == holder
                      and t["at"] <= down_at and (t["done"] or now) >= t0]
        longest = max(((t["done"] or now) - t["at"] for t in during), default=0)
        report.step(f"while {su.name} was away, Evals to {holder} ({net.home_su[holder]}): "
                    f"{len(during)} sent or in flight, {sum(1 for t in during if t['id'])} "
                    f"acknowledged so far, the longest {longest:.1f} s")


def restart(cluster, report, name):
    """kill -9, then what the StatefulSet controller does: a new pod of the same name on the
    same claim (a new address)."""
    pod = cluster.pod(name)
    old_ip = pod.ip
    cluster.kill_pod(pod)
    report.step(f"{name} killed (SIGKILL)")
    time.sleep(1)
    cluster.restart_pod(pod)
    cluster.wait_ready([pod], timeout=90)
    report.step(f"{name} ready again at {pod.ip} (was {old_ip})")


def converge(net, report, when, timeout=30):
    """Wait until every scheduled transfer has its notices, then check everything."""
    deadline = time.monotonic() + timeout
    while True:
        problems = check_ledger(net)
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(2)
    for p in problems:
        report.check(False, f"{when}: {p}")
    if not problems:
        report.check(True, f"{when}: every acknowledged message scheduled once, every notice "
                           f"delivered once, balances add up ({len(net.transfers)} transfers)")


def check_ledger(net):
    """Read every schedule and the balances; what is wrong (empty: all is well)."""
    schedules = {pid: net.schedule(pid) for pid in (net.a, net.b, net.token)}
    scheduled = scheduled_transfers(net, schedules)
    problems = (scheduled_twice(schedules) + acknowledged_but_unscheduled(net, schedules)
                + transfer_errors(net, schedules) + notices_not_once(net, schedules, scheduled))
    return problems or balance_problems(net, scheduled)


def scheduled_twice(schedules):
    problems = []
    for pid, entries in schedules.items():
        ids = [m["id"] for _, m in entries if m.get("id")]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            problems.append(f"{pid} has messages scheduled twice: {twice[:5]}")
    return problems


def acknowledged_but_unscheduled(net, schedules):
    problems = []
    for pid in (net.a, net.b):
        ids = {m.get("id") for _, m in schedules[pid]}
        for seq, t in sorted(net.transfers.items()):
            if t["sender"] == pid and t["id"] and t["id"] not in ids:
                problems.append(f"seq {seq}: acknowledged Eval {t['id']} not in {pid}'s schedule")
    return problems


def scheduled_transfers(net, schedules):
    """seq -> holder, for every Eval scheduled on a holder, acknowledged or not (an Eval the
    MU scheduled but could not acknowledge still moves tokens): each makes one Transfer."""
    scheduled = {}
    for pid in (net.a, net.b):
        for _, m in schedules[pid]:
            found = re.search(r"\['X-Seq'\] = '(\d+)'", m.get("data") or "")
            if tag(m, "Action") == "Eval" and found:
                scheduled[int(found.group(1))] = pid
    return scheduled


def transfer_errors(net, schedules):
    problems = []
    for pid in (net.a, net.b):
        errors = [(m.get("data") or "")[:200] for _, m in schedules[pid]
                  if tag(m, "Action") == "Transfer-Error"]
        if errors:
            problems.append(f"{pid} got {len(errors)} Transfer-Error(s): {errors[:3]}")
    return problems


def count_by_seq(entries, action):
    """seq -> how many entries with this Action carry X-Seq seq."""
    seen = {}
    for _, m in entries:
        if tag(m, "Action") == action and tag(m, "X-Seq"):
            seq = int(tag(m, "X-Seq"))
            seen[seq] = seen.get(seq, 0) + 1
    return seen


def notices_not_once(net, schedules, scheduled):
    """Each scheduled transfer: one Transfer on the token, one Debit-Notice on its sender, one
    Credit-Notice on its recipient (the token copies X-Seq onto both)."""
    problems = []
    transfers = count_by_seq(schedules[net.token], "Transfer")
    for seq, sender in sorted(scheduled.items()):
        recipient = net.b if sender == net.a else net.a
        debits = count_by_seq(schedules[sender], "Debit-Notice")
        credits = count_by_seq(schedules[recipient], "Credit-Notice")
        for what, seen in (("Transfer on the token", transfers.get(seq, 0)),
                           ("Debit-Notice", debits.get(seq, 0)),
                           ("Credit-Notice", credits.get(seq, 0))):
            if seen != 1:
                problems.append(f"seq {seq}: {what} scheduled {seen} times, not once")
    return problems


def balance_problems(net, scheduled):
    """The token's balances (a dry-run through the router) against the scheduled transfers."""
    expected = {net.a: START_BALANCE, net.b: START_BALANCE}
    for seq in scheduled:
        t = net.transfers.get(seq)
        if t is None:
            return [f"seq {seq} scheduled but never sent by this test"]
        expected[t["sender"]] -= t["qty"]
        expected[t["recipient"]] += t["qty"]
    got = net.balances()
    if {k: got.get(k) for k in expected} != expected or sum(got.values()) != 2 * START_BALANCE:
        return [f"balances {got}, expected {expected} (total {2 * START_BALANCE})"]
    return []


def print_failure_report(cluster):
    print("== what the pods saw")
    for t, text in cluster.events:
        print(f"   {t:7.1f} s  {text}")
    for pod in cluster.pods:
        if pod.log is None:
            continue  # never started
        print(f"-- {pod.name} ({pod.ip or 'deleted'}), last lines of its log:")
        print("   " + cluster.log_tail(pod).replace("\n", "\n   "))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/ao-rs/target"))
    ap.add_argument("--bin-dir", default=os.path.join(target, "release"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    # A CI timeout's SIGTERM unwinds like an error, so the namespaces are still removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = Report()
    # The work directory of an earlier run that was killed (its logs and volumes) goes too.
    for old in pathlib.Path(tempfile.gettempdir()).glob("aoc-cluster-*"):
        shutil.rmtree(old, ignore_errors=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="aoc-cluster-"))
    work.chmod(0o755)  # the pods' volumes live below; their uid must traverse it
    cluster = None
    try:
        kubelet.clear_leftovers()  # an earlier run killed before its cleanup
        with report.phase("render", "helm/ao/ci/cluster-values.yaml"):
            objects = render(work)
        cluster = kubelet.Cluster(objects, args.bin_dir, work)
        client = Client(None, args.bin_dir, work / "client",
                        service_url(objects, "mu"), service_url(objects, "router"))
        bring_up(cluster, report, client)
        net = Network(objects, client)
        check_router_members(cluster, net, report, "at start")
        check_wallets(cluster, net, report)
        set_up_processes(net, report)
        steady_transfers(net, report)
        faults(cluster, net, report, first_seq=1000)
        with report.phase("converge", "everything delivered once, balances add up"):
            converge(net, report, "after the faults", timeout=CONVERGE_TIMEOUT)
        for problem in cluster.problems():
            report.check(False, problem)
    except Exception:  # noqa: BLE001 - any error fails the test, with the pods' logs
        traceback.print_exc()
        report.failures.append("the test stopped on an error (above)")
    except (KeyboardInterrupt, SystemExit):
        report.failures.append("the test was interrupted (SIGINT or SIGTERM)")
    finally:
        if cluster is not None:
            if report.failures:
                print_failure_report(cluster)
            cluster.cleanup()
        else:
            kubelet.clear_leftovers()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - report.t0
    print("== timings: " + ", ".join(f"{n} {t:.0f}s" for n, t in report.timings)
          + f"; total {total:.0f} s")
    if report.failures:
        print(f"cluster test FAILED: {len(report.failures)} check(s)")
        return 1
    print("cluster test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
