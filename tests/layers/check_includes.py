#!/usr/bin/env python3
"""Fails when a file of akt includes a header of a layer above its own.

Layers, lowest first: core (src/core, src/pubsub, src/router, src/testkit and
every public header but the ones below), grain (src/grain, akt/grain.h),
remote (src/remote, akt/remote.h, akt/testing/sim.h, akt/remote/*.pb.h), cluster
(src/cluster, akt/cluster*.h, akt/cluster/*.pb.h). akt/akt.h is the
umbrella header and may include anything. Prints every wrong-way include as
file:line and exits 1; --self-test proves it catches one.
"""
import os
import re
import sys
import tempfile

RANK = {"core": 0, "grain": 1, "remote": 2, "cluster": 3}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')

PUBLIC = {"akt/grain.h": "grain", "akt/remote.h": "remote", "akt/testing/sim.h": "remote",
          "akt/cluster.h": "cluster"}
UMBRELLA = {"include/akt/akt.h"}
SRC_LAYER = {"core": "core", "pubsub": "core", "router": "core", "testkit": "core",
             "grain": "grain", "remote": "remote", "cluster": "cluster"}


def layer_of_file(rel):
    parts = rel.split("/")
    if parts[0] == "include":
        name = "/".join(parts[1:])
        return PUBLIC.get(name, "cluster" if name.startswith("akt/cluster") else "core")
    if parts[0] == "src" and len(parts) > 2:
        return SRC_LAYER.get(parts[1])
    return None


def internal_headers(root):
    """Basename of every header under src/<dir>/ -> its layer."""
    out = {}
    src = os.path.join(root, "src")
    for d in sorted(os.listdir(src)):
        layer = SRC_LAYER.get(d)
        if layer is None:
            continue
        for f in os.listdir(os.path.join(src, d)):
            if f.endswith(".h"):
                out.setdefault(f, layer)
    return out


def layer_of_include(name, headers):
    if name in PUBLIC:
        return PUBLIC[name]
    if name.startswith("akt/remote/"):
        return "remote"
    if name.startswith("akt/cluster"):
        return "cluster"
    if name.startswith("akt/"):
        return "core"
    return headers.get(os.path.basename(name)) if "/" not in name else None


def check(root):
    headers = internal_headers(root)
    bad = []
    for top in ("include", "src"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                own = layer_of_file(rel)
                if own is None or rel in UMBRELLA:
                    continue
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = layer_of_include(m.group(1), headers)
                        if target is not None and RANK[target] > RANK[own]:
                            bad.append(f"{rel}:{n}: {own} includes {m.group(1)} ({target})")
    return bad


def self_test():
    with tempfile.TemporaryDirectory() as root:
        for d in ("include/akt", "src/core", "src/grain", "src/remote"):
            os.makedirs(os.path.join(root, d))
        open(os.path.join(root, "src/grain/grain_registry.h"), "w").close()
        open(os.path.join(root, "src/remote/wire.h"), "w").close()
        with open(os.path.join(root, "src/core/ok.cc"), "w") as f:
            f.write('#include "akt/system.h"\n#include <vector>\n')
        if check(root):
            print("self-test: a clean tree was reported")
            return 1
        with open(os.path.join(root, "src/core/bad.cc"), "w") as f:
            f.write('#include "grain_registry.h"\n')
        with open(os.path.join(root, "include/akt/bad.h"), "w") as f:
            f.write('#include "akt/remote.h"\n')
        with open(os.path.join(root, "src/grain/bad.cc"), "w") as f:
            f.write('#include "wire.h"\n')
        found = check(root)
        if len(found) != 3:
            print("self-test: expected 3 wrong-way includes, got", found)
            return 1
    print("self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    bad = check(sys.argv[1] if len(sys.argv) > 1 else ".")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} wrong-way include(s): see docs/design.md, Layers")
        return 1
    print("layers: every include points down or sideways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
