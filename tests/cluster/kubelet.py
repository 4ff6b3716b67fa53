"""A kubelet, an endpoints controller and a cluster DNS for one rendered chart, on one Linux host.

Kubernetes cannot run on the project's machines, but network namespaces can. This module runs the
objects `helm/ci_chart.py` rendered the way a kubelet would, from those objects alone:

- every StatefulSet and Deployment becomes its pods (StatefulSet pods named `<set>-<ordinal>`,
  Deployment pods `<deployment>-<template hash>-<suffix>`); a pod is a process started with exactly
  its container's `command`, `args` and `env` (`valueFrom` fields, Secrets and ConfigMaps resolved,
  `$(VAR)` expanded as Kubernetes does), its init containers first;
- each pod has its own network namespace `aoc-<pod>` with one veth on the bridge `aoc-br0` and its
  own address; the node (this process) is on the bridge too, as a kubelet is, and probes from there;
- volumes are directories: emptyDir per pod (a new pod gets a new one), volumeClaimTemplates per
  claim name (`data-<pod>`, kept when the pod is deleted and made again, like a PVC), Secrets and
  ConfigMaps written out with their modes; `pod-root.sh` binds them at their mountPaths in a
  private mount namespace, over a read-only root built from the host's /usr and /etc, with the
  release binaries at /usr/local/bin where the image has them (any other program, such as the
  wallet init container's `install`, is the host's Debian one, as the image's Debian would have
  it), as the pod's uid, gid and fsGroup;
- probes (startup, readiness, liveness) are HTTP GETs at the rendered path and port with the
  rendered period, timeout and thresholds; a pod is ready only while its readiness probe passes,
  and not ready the moment its process exits (the kubelet sees a container die at once);
- Service names resolve through per-namespace hosts files, `/etc/netns/<ns>/hosts`, which
  `ip netns exec` binds over /etc/hosts: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`,
  and a StatefulSet pod's `pod.<headless svc>...`, each to the addresses of the ready pods (all pods
  where the Service publishes not-ready addresses). A name with several pods gets one line per
  address: glibc's files backend returns every line of a name only with `multi on`, so each
  namespace gets its own /etc/netns/<ns>/host.conf saying so rather than trusting the host's.

The host must forward between the bridge's ports: where br_netfilter is loaded and iptables'
FORWARD policy drops (Docker sets that), pods cannot reach each other and the test fails at its
first request; `iptables -I FORWARD -i aoc-br0 -o aoc-br0 -j ACCEPT` allows it.

What this is not: there is no kube-proxy, so a ClusterIP Service name resolves to its ready pods'
addresses (the order rotated per namespace, so clients spread over them) instead of one virtual
address; no scheduler, cgroup limits, seccomp, NetworkPolicy or PVC provisioning.

Every namespace, veth, the bridge and every /etc/netns/aoc-* directory is removed by `cleanup()`,
and `clear_leftovers()` removes those of an earlier run that was killed.
"""
import base64
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

PREFIX = "aoc-"
BRIDGE = "aoc-br0"
# A /24 for the pods, unlikely to meet a real network; .1 is the node (the bridge), .2 the client.
SUBNET = os.environ.get("AOC_SUBNET", "10.213.77")
NODE_IP = f"{SUBNET}.1"
CLIENT_IP = f"{SUBNET}.2"
FIRST_POD_HOST = 10
# The image (deploy/docker/Dockerfile): binaries in /usr/local/bin, WORKDIR /var/lib/ao, Debian's
# default PATH.
IMAGE_WORKDIR = "/var/lib/ao"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POD_ROOT_SH = pathlib.Path(__file__).with_name("pod-root.sh")
# Hosts files are rewritten in place (a bind mount pins the inode) as one write of whole pages,
# so a lookup racing a rewrite reads old or new lines, never a torn one.
PAGE = 4096


def sh(*cmd, check=True):
    """Run a command of the node (ip, ...) and return its output; raise with its stderr."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


# -- the cluster's objects ----------------------------------------------------------------------


class Objects:
    """The rendered manifests, by kind."""

    def __init__(self, docs):
        self.docs = [d for d in docs if d]

    def of(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def named(self, kind, name):
        for d in self.of(kind):
            if d["metadata"]["name"] == name:
                return d
        raise KeyError(f"no {kind} named {name} in the rendered chart")

    def secret_data(self, name):
        """A Secret's keys and decoded bytes (data is base64, stringData plain)."""
        s = self.named("Secret", name)
        data = {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
        data.update({k: v.encode() for k, v in (s.get("stringData") or {}).items()})
        return data

    def configmap_data(self, name):
        c = self.named("ConfigMap", name)
        data = {k: v.encode() for k, v in (c.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (c.get("binaryData") or {}).items()})
        return data


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def expand(text, env):
    """Kubernetes' `$(VAR)` expansion in command, args and env values: a defined variable is
    replaced, an undefined one left as written, `$$` is a literal `$`."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


# -- pods ---------------------------------------------------------------------------------------


class Pod:
    """One pod: its spec, where it lives on the bridge, its process and its probe state."""

    def __init__(self, name, namespace, spec, labels, subdomain=None, claims=()):
        self.name = name
        self.namespace = namespace
        self.spec = spec
        self.labels = labels
        self.subdomain = subdomain  # a StatefulSet's serviceName: <pod>.<subdomain> resolves
        self.claims = claims  # volumeClaimTemplates names
        self.netns = PREFIX + name
        self.ip = None
        self.veth = None
        self.proc = None
        self.log = None
        self.ready = False
        self.started = False  # the startup probe passed (or there is none)
        self.killed = False  # we stopped it; an exit is not a failure
        self.exit_code = None
        self.due = {}  # probe kind -> next time to run it
        self.probing = set()  # probe kinds with a probe in flight
        self.generation = 0  # one per start: a probe of an earlier process is ignored
        self.failures = {}  # probe kind -> consecutive failures
        self.liveness_failed = False

    @property
    def container(self):
        return self.spec["containers"][0]

    def port(self, port):
        """A probe's port: a number, or a container port's name."""
        if isinstance(port, int):
            return port
        for p in self.container.get("ports", []):
            if p.get("name") == port:
                return p["containerPort"]
        raise KeyError(f"{self.name}: no container port named {port}")


def template_hash(template):
    """A stand-in for the pod-template-hash of a Deployment's ReplicaSet."""
    return hashlib.sha256(repr(template).encode()).hexdigest()[:10]


def pods_of(objects):
    """Every pod the rendered workloads ask for, StatefulSets in ordinal order."""
    pods = []
    for sts in objects.of("StatefulSet"):
        meta, spec = sts["metadata"], sts["spec"]
        t = spec["template"]
        claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
        for i in range(spec.get("replicas", 1)):
            pods.append(Pod(f"{meta['name']}-{i}", meta["namespace"], t["spec"],
                            t["metadata"]["labels"], spec["serviceName"], claims))
    for dep in objects.of("Deployment"):
        meta, spec = dep["metadata"], dep["spec"]
        t = spec["template"]
        h = template_hash(t)
        for i in range(spec.get("replicas", 1)):
            suffix = hashlib.sha256(f"{h}{i}".encode()).hexdigest()[:5]
            pods.append(Pod(f"{meta['name']}-{h}-{suffix}", meta["namespace"], t["spec"],
                            t["metadata"]["labels"]))
    return pods


# -- the node -----------------------------------------------------------------------------------


class Cluster:
    """The node: network, pods, probes and DNS for the rendered objects."""

    def __init__(self, objects, bin_dir, work, cluster_domain="cluster.local"):
        self.objects = objects
        self.bin_dir = pathlib.Path(bin_dir)
        self.work = pathlib.Path(work)
        self.domain = cluster_domain
        self.pods = pods_of(objects)
        self.next_host = FIRST_POD_HOST
        self.next_veth = 0
        self.lock = threading.RLock()
        self.stop_probing = threading.Event()
        self.prober = None
        self.events = []  # (time, text): readiness changes, exits, for the failure report
        self.extra_netns = []  # client namespaces
        self.t0 = time.monotonic()

    # -- network ---

    def setup_network(self):
        """The bridge, with the node's address on it. Fails (never skips) where the kernel or
        our privileges cannot make it."""
        if any(SUBNET + "." in line for line in sh("ip", "-4", "route").splitlines()):
            raise RuntimeError(f"{SUBNET}.0/24 is already routed here; "
                               "set AOC_SUBNET to a free /24")
        try:
            sh("ip", "link", "add", BRIDGE, "type", "bridge")
        except RuntimeError as e:
            raise RuntimeError(f"cannot make the pods' bridge (this test needs root: network "
                               f"namespaces, veths, a bridge): {e}") from e
        sh("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")

    def attach(self, netns, ip):
        """A network namespace with one veth on the bridge, `eth0` inside with `ip`; the
        host-side veth's name (the pod's link, to take down in tests)."""
        veth = f"{PREFIX}v{self.next_veth}"
        peer = f"{PREFIX}p{self.next_veth}"
        self.next_veth += 1
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", netns)
        sh("ip", "link", "set", veth, "master", BRIDGE)
        sh("ip", "link", "set", veth, "up")
        inside = ["ip", "netns", "exec", netns, "ip"]
        sh(*inside, "link", "set", peer, "name", "eth0")
        sh(*inside, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh(*inside, "link", "set", "eth0", "up")
        sh(*inside, "link", "set", "lo", "up")
        return veth

    def detach(self, netns, veth):
        sh("ip", "netns", "del", netns, check=False)  # takes eth0 and so its veth peer with it
        sh("ip", "link", "del", veth, check=False)
        shutil.rmtree(f"/etc/netns/{netns}", ignore_errors=True)

    def add_client(self, name, ip=CLIENT_IP):
        """A namespace for a client of the cluster (a pod of its own, with no process)."""
        netns = PREFIX + name
        self.write_dns_files(netns, own=None)
        veth = self.attach(netns, ip)
        self.extra_netns.append((netns, veth))
        self.update_dns()
        return netns

    # -- DNS ---

    def dns_records(self):
        """name -> addresses, as cluster DNS would answer them now."""
        records = {}
        def sfx(name, ns):  # the names cluster DNS answers for a Service (or pod) in ns
            return [name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.{self.domain}"]
        for svc in self.objects.of("Service"):
            meta, spec = svc["metadata"], svc["spec"]
            ns, not_ready = meta["namespace"], spec.get("publishNotReadyAddresses", False)
            members = [p for p in self.pods if p.ip and p.namespace == ns
                       and matches(spec.get("selector"), p.labels) and (p.ready or not_ready)]
            for name in sfx(meta["name"], ns):
                records[name] = [p.ip for p in members]
            # A StatefulSet pod's own name under its governing (headless) Service.
            for p in members:
                if p.subdomain == meta["name"]:
                    for name in sfx(f"{p.name}.{meta['name']}", ns):
                        records[name] = [p.ip]
        return records

    def hosts_text(self, records, own, rotate):
        """A pod's /etc/hosts: localhost, the pod's own line (as the kubelet writes it), then one
        line per address of each set of names sharing the same addresses."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if own is not None and own.ip:
            fqdn = (f"{own.name}.{own.subdomain}.{own.namespace}.svc.{self.domain} "
                    if own.subdomain else "")
            lines.append(f"{own.ip}\t{fqdn}{own.name}")
        by_ips = {}
        for name, ips in sorted(records.items()):
            if ips:
                by_ips.setdefault(tuple(ips), []).append(name)
        for ips, names in by_ips.items():
            k = rotate % len(ips)  # the order clients try; rotated so they spread
            lines += [f"{ip}\t{' '.join(names)}" for ip in ips[k:] + ips[:k]]
        return "\n".join(lines) + "\n"

    def write_dns_files(self, netns, own, records=None, rotate=0):
        d = pathlib.Path("/etc/netns") / netns
        d.mkdir(parents=True, exist_ok=True)
        # No nameserver answers in the namespace: a name not in hosts fails at once.
        (d / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        (d / "host.conf").write_text("multi on\n")
        text = self.hosts_text(records or {}, own, rotate).encode()
        size = -(-len(text) // PAGE) * PAGE
        text += b"#" * (size - len(text) - 1) + b"\n"
        fd = os.open(d / "hosts", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, text, 0)
            os.ftruncate(fd, len(text))
        finally:
            os.close(fd)

    def update_dns(self):
        """Rewrite every namespace's hosts file from the pods' current readiness."""
        with self.lock:
            records = self.dns_records()
            for i, p in enumerate(self.pods):
                if p.ip:
                    self.write_dns_files(p.netns, p, records, rotate=i)
            for i, (netns, _) in enumerate(self.extra_netns):
                self.write_dns_files(netns, None, records, rotate=i)

    # -- volumes and environment ---

    def pod_dir(self, pod):
        return self.work / "pods" / pod.name

    def volume_dir(self, pod, vol, fs_group):
        """A directory standing in for one volume of the pod."""
        name = vol["name"]
        if name in pod.claims:  # a PVC: data-<pod>, kept across pod restarts
            d = self.work / "pvc" / f"{name}-{pod.name}"
            fresh = not d.exists()
            d.mkdir(parents=True, exist_ok=True)
            if fresh or d.stat().st_gid != fs_group:  # fsGroupChangePolicy OnRootMismatch
                os.chown(d, 0, fs_group)
                d.chmod(0o2775)
            return d
        d = self.pod_dir(pod) / "volumes" / name
        d.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in vol:
            d.chmod(0o777)
        elif "secret" in vol or "configMap" in vol:
            src = vol.get("secret") or vol.get("configMap")
            data = (self.objects.secret_data(src["secretName"]) if "secret" in vol
                    else self.objects.configmap_data(src["name"]))
            mode = src.get("defaultMode", 0o644)
            for key, value in data.items():
                f = d / key
                f.write_bytes(value)
                os.chown(f, 0, fs_group)
                f.chmod(mode)
        else:
            raise NotImplementedError(f"{pod.name}: volume {name}: {vol}")
        return d

    def container_env(self, pod, c):
        """The container's environment, as the runtime gives it: the image's PATH, HOSTNAME,
        then envFrom and env in order, each value `$(VAR)`-expanded over the ones before."""
        env = {"PATH": IMAGE_PATH, "HOSTNAME": pod.name, "HOME": IMAGE_WORKDIR}
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                data = self.objects.configmap_data(src["configMapRef"]["name"])
            else:
                data = self.objects.secret_data(src["secretRef"]["name"])
            env.update({src.get("prefix", "") + k: v.decode() for k, v in data.items()})
        fields = {"metadata.name": pod.name, "metadata.namespace": pod.namespace,
                  "status.podIP": pod.ip, "spec.nodeName": "aoc-node",
                  "spec.serviceAccountName": pod.spec.get("serviceAccountName", "default")}
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif "fieldRef" in e["valueFrom"]:
                env[e["name"]] = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in e["valueFrom"]:
                ref = e["valueFrom"]["secretKeyRef"]
                env[e["name"]] = self.objects.secret_data(ref["name"])[ref["key"]].decode()
            elif "configMapKeyRef" in e["valueFrom"]:
                ref = e["valueFrom"]["configMapKeyRef"]
                env[e["name"]] = self.objects.configmap_data(ref["name"])[ref["key"]].decode()
            else:
                raise NotImplementedError(f"{pod.name}: env {e}")
        return env

    def container_argv(self, c, env):
        """command + args, `$(VAR)`-expanded; an image without ENTRYPOINT runs `command`."""
        argv = [expand(a, env) for a in c.get("command", []) + c.get("args", [])]
        if not argv:
            raise ValueError(f"container {c['name']}: no command (the image has no ENTRYPOINT)")
        if not self.image_has(argv[0], env.get("PATH", IMAGE_PATH)):
            raise FileNotFoundError(f"{argv[0]}: not on the image's PATH (/usr/local/bin is "
                                    f"{self.bin_dir}, the rest the host's /usr)")
        return argv

    def image_has(self, program, path):
        """Whether `program` is on `path` in the pod's root: /usr/local/bin is the release
        binaries, the other directories the host's (the init container's `install` is
        coreutils', as in the image's Debian)."""
        if "/" in program:
            return pathlib.Path(program).is_file()
        dirs = [self.bin_dir if d == "/usr/local/bin" else pathlib.Path(d) for d in path.split(":")]
        return any((d / program).is_file() for d in dirs)

    def identity(self, pod, c):
        """uid, gid, fsGroup from the pod's and the container's securityContext."""
        psc, csc = pod.spec.get("securityContext", {}), c.get("securityContext", {})
        uid = csc.get("runAsUser", psc.get("runAsUser", 0))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", 0))
        if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
            raise ValueError(f"{pod.name}: runAsNonRoot with uid 0 (the kubelet refuses it)")
        return uid, gid, psc.get("fsGroup", gid)

    def container_cmd(self, pod, c, volumes):
        """The command line that runs container `c` of the pod, and its environment."""
        uid, gid, fs_group = self.identity(pod, c)
        env = self.container_env(pod, c)
        argv = self.container_argv(c, env)
        mounts = [f"{volumes[m['name']]}:{m['mountPath']}:{'ro' if m.get('readOnly') else 'rw'}"
                  for m in c.get("volumeMounts", [])]
        root = self.pod_dir(pod) / "root"
        root.mkdir(parents=True, exist_ok=True)
        cmd = ["ip", "netns", "exec", pod.netns, "unshare", "--uts", "--mount",
               "--propagation", "private", "bash", str(POD_ROOT_SH), str(root), pod.name,
               str(self.bin_dir), c.get("workingDir", IMAGE_WORKDIR), str(uid), str(gid),
               str(fs_group), *mounts, "--", *argv]
        return cmd, env

    # -- pod lifecycle ---

    def start_pod(self, pod):
        """Create the pod: address, namespace, volumes, init containers, then its container.
        A pod made again after a delete gets a new address, as Kubernetes gives it."""
        with self.lock:
            pod.proc = None  # the prober skips the pod until its new process runs
            pod.generation += 1
            pod.ip = f"{SUBNET}.{self.next_host}"
            self.next_host += 1
            pod.ready = pod.started = pod.killed = pod.liveness_failed = False
            pod.exit_code = None
            pod.failures, pod.due = {}, {}
            shutil.rmtree(self.pod_dir(pod), ignore_errors=True)  # emptyDirs die with the pod
            self.write_dns_files(pod.netns, pod)
            pod.veth = self.attach(pod.netns, pod.ip)
        fs_group = self.identity(pod, pod.container)[2]
        volumes = {v["name"]: self.volume_dir(pod, v, fs_group)
                   for v in pod.spec.get("volumes", [])}
        for claim in pod.claims:
            volumes[claim] = self.volume_dir(pod, {"name": claim}, fs_group)
        self.update_dns()
        log_dir = self.work / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        pod.log = log_dir / f"{pod.name}.log"
        with open(pod.log, "ab") as log:
            for init in pod.spec.get("initContainers", []):
                cmd, env = self.container_cmd(pod, init, volumes)
                code = subprocess.run(cmd, env=env, stdout=log, stderr=log).returncode
                if code != 0:
                    raise RuntimeError(f"{pod.name}: init container {init['name']} exited {code}")
            cmd, env = self.container_cmd(pod, pod.container, volumes)
            log.write(f"--- {time.strftime('%H:%M:%S')} start {pod.name} at {pod.ip}\n".encode())
            log.flush()
            pod.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self.event(f"{pod.name} started at {pod.ip}")
        now = time.monotonic()
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            if kind in pod.container:
                pod.due[kind] = now + pod.container[kind].get("initialDelaySeconds", 0)
        pod.started = "startupProbe" not in pod.container

    def kill_pod(self, pod, sig=signal.SIGKILL, wait=30):
        """Signal the pod's process and wait for it to end; the pod stays (its address and DNS
        lines go when it is deleted)."""
        pod.killed = True
        if pod.proc and pod.proc.poll() is None:
            pod.proc.send_signal(sig)
            pod.proc.wait(wait)
        self.mark_exited(pod)

    def delete_pod(self, pod):
        """Remove the pod's namespace, link and DNS files (its PVC directories stay)."""
        if pod.proc and pod.proc.poll() is None:
            self.kill_pod(pod)
        with self.lock:
            if pod.ip:
                self.detach(pod.netns, pod.veth)
            pod.ip = pod.veth = None
            pod.ready = False
        self.update_dns()

    def restart_pod(self, pod):
        """A StatefulSet's answer to a dead pod: the same name and claims, a new pod."""
        self.delete_pod(pod)
        self.start_pod(pod)

    def mark_exited(self, pod):
        with self.lock:
            code = pod.proc.poll() if pod.proc else None
            if code is not None and pod.exit_code is None:
                pod.exit_code = code
                why = "" if pod.killed else " UNEXPECTEDLY"
                self.event(f"{pod.name} exited with {code}{why}")
                self.set_ready(pod, False)

    def set_ready(self, pod, ready):
        if pod.ready != ready:
            pod.ready = ready
            self.event(f"{pod.name} {'ready' if ready else 'not ready'}")
            self.update_dns()

    def event(self, text):
        with self.lock:
            self.events.append((time.monotonic() - self.t0, text))

    # -- probes ---

    def probe_once(self, pod, probe):
        """One HTTP probe from the node: a status in 200..399 within the timeout passes."""
        get = probe["httpGet"]
        url = f"http://{pod.ip}:{pod.port(get['port'])}{get.get('path', '/')}"
        try:
            with urllib.request.urlopen(url, timeout=probe.get("timeoutSeconds", 1)) as r:
                return 200 <= r.status < 400
        except urllib.error.HTTPError as e:
            return 200 <= e.code < 400
        except OSError:
            return False

    def run_probe(self, pod, kind, generation):
        """One probe and what its result means; in its own thread, as the kubelet runs each
        container's probes on their own (a probe waiting out its timeout on a cut link must
        not delay the others)."""
        probe = pod.container[kind]
        try:
            ok = self.probe_once(pod, probe)
        finally:
            pod.probing.discard(kind)
        with self.lock:
            if generation != pod.generation or pod.exit_code is not None:
                return
            self.probe_result(pod, kind, probe, ok)

    def probe_result(self, pod, kind, probe, ok):
        pod.failures[kind] = 0 if ok else pod.failures.get(kind, 0) + 1
        threshold = probe.get("failureThreshold", 3)
        if kind == "startupProbe":
            if ok:
                pod.started = True
            elif pod.failures[kind] >= threshold:
                self.failed_liveness(pod, kind)
        elif kind == "readinessProbe":
            if ok:
                self.set_ready(pod, True)
            elif pod.failures[kind] >= threshold:
                self.set_ready(pod, False)
        elif kind == "livenessProbe" and pod.failures[kind] >= threshold:
            self.failed_liveness(pod, kind)

    def failed_liveness(self, pod, kind):
        """A kubelet would restart the container; here the test counts it as a failure (no unit
        should ever fail liveness in this test) and keeps probing."""
        if not pod.liveness_failed:
            pod.liveness_failed = True
            self.event(f"{pod.name} FAILED its {kind}")

    def probe_loop(self):
        while not self.stop_probing.wait(0.2):
            now = time.monotonic()
            for pod in list(self.pods):
                if not pod.ip or not pod.proc:
                    continue
                if pod.proc.poll() is not None:
                    self.mark_exited(pod)
                    continue
                for kind, due in list(pod.due.items()):
                    if due > now or kind in pod.probing:
                        continue
                    if (kind == "startupProbe") == pod.started:
                        continue  # the startup probe until it passes, then the others
                    pod.due[kind] = now + pod.container[kind].get("periodSeconds", 10)
                    pod.probing.add(kind)
                    threading.Thread(target=self.run_probe, args=(pod, kind, pod.generation),
                                     daemon=True).start()

    def start_probing(self):
        self.prober = threading.Thread(target=self.probe_loop, name="prober", daemon=True)
        self.prober.start()

    # -- waiting and reporting ---

    def wait_ready(self, pods, timeout):
        """Wait until every pod is ready; raise naming those that are not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.ready for p in pods):
                return
            dead = [p.name for p in pods if p.exit_code is not None]
            if dead:
                raise RuntimeError(f"pods exited before ready: {', '.join(dead)}")
            time.sleep(0.2)
        late = ", ".join(p.name for p in pods if not p.ready)
        raise RuntimeError(f"not ready in {timeout} s: {late}")

    def pod(self, prefix):
        """The pod whose name starts with `prefix` (a StatefulSet pod's full name, or a
        Deployment's name)."""
        found = [p for p in self.pods if p.name == prefix or p.name.startswith(prefix + "-")]
        if len(found) != 1:
            raise KeyError(f"{len(found)} pods named {prefix}")
        return found[0]

    def log_tail(self, pod, lines=15):
        if not pod.log or not pod.log.exists():
            return "(no log)"
        return "\n".join(pod.log.read_text(errors="replace").splitlines()[-lines:])

    def problems(self):
        """What went wrong with the pods themselves: unexpected exits and failed liveness."""
        return [f"{p.name}: exited {p.exit_code}" for p in self.pods
                if p.exit_code is not None and not p.killed] + \
               [f"{p.name}: failed liveness" for p in self.pods if p.liveness_failed]

    # -- teardown ---

    def cleanup(self):
        """Stop every pod (SIGTERM, then SIGKILL after 10 s) and remove everything we made."""
        self.stop_probing.set()
        for p in self.pods:
            if p.proc and p.proc.poll() is None:
                p.killed = True
                p.proc.terminate()
        deadline = time.monotonic() + 10
        for p in self.pods:
            if p.proc and p.proc.poll() is None:
                try:
                    p.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.proc.kill()
                    p.proc.wait()
        clear_leftovers()


def clear_leftovers():
    """Remove every aoc- namespace, link and /etc/netns dir, ours or an earlier killed run's.
    The processes of a killed run still in those namespaces are killed first (by pid, as
    `ip netns pids` lists them), or the namespaces would live on."""
    for line in sh("ip", "netns", "list").splitlines():
        netns = line.split()[0] if line.strip() else ""
        if not netns.startswith(PREFIX):
            continue
        for pid in sh("ip", "netns", "pids", netns, check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        sh("ip", "netns", "del", netns, check=False)
    for line in sh("ip", "-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(PREFIX):
            sh("ip", "link", "del", name, check=False)
    for d in pathlib.Path("/etc/netns").glob(PREFIX + "*"):
        shutil.rmtree(d, ignore_errors=True)
