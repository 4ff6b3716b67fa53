"""Check that the chart passes only flags and AO_* variables the binaries have.

Usage: check_flags.py BIN_DIR RENDERED.yaml...
For every container of every rendered workload whose command is one of our binaries, each `--flag`
in its args must be listed by `BIN --help`, and each AO_* variable in its env must be one the
binary reads (`[env: NAME=`). So a renamed or removed flag fails CI here instead of a pod's start.
A binary missing from BIN_DIR fails: build them first (the tests do).
"""
import pathlib
import re
import subprocess
import sys

import yaml

# Programs of the image that are ours (the wallet init container runs coreutils' install).
OURS = {"su", "cu", "mu", "router", "arweave-local", "ao"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def main() -> int:
    bin_dir = pathlib.Path(sys.argv[1])
    helps: dict[str, str] = {}
    problems = []
    checked = 0
    for path in sys.argv[2:]:
        for doc in yaml.safe_load_all(open(path)):
            if not doc or doc.get("kind") not in WORKLOADS:
                continue
            spec = doc["spec"]["template"]["spec"]
            where = f"{path}: {doc['kind']} {doc['metadata']['name']}"
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                prog = (c.get("command") or [""])[0]
                if prog not in OURS:
                    continue
                if prog not in helps:
                    exe = bin_dir / prog
                    if not exe.exists():
                        print(f"{exe} is missing: build the binaries first", file=sys.stderr)
                        return 1
                    helps[prog] = subprocess.run(
                        [str(exe), "--help"], capture_output=True, text=True, timeout=30, check=True
                    ).stdout
                text = helps[prog]
                for arg in c.get("args", []):
                    if not arg.startswith("--"):
                        continue
                    flag = arg.split("=", 1)[0]
                    checked += 1
                    if not re.search(rf"(?m)^\s+(-\w, )?{re.escape(flag)}([ =\n]|$)", text):
                        problems.append(f"{where}: {prog} has no flag {flag}")
                for env in c.get("env", []):
                    name = env.get("name", "")
                    if name.startswith("AO_"):
                        checked += 1
                        if f"[env: {name}=" not in text:
                            problems.append(f"{where}: {prog} reads no variable {name}")
    for p in problems:
        print(p, file=sys.stderr)
    print(f"checked {checked} flags and variables of {', '.join(sorted(helps))}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
