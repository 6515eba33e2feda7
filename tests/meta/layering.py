#!/usr/bin/env python3
# The checker of test-layering.sh: python3 layering.py [ROOT]; exit 1 on any include that
# runs up or sideways, or names another module's internal header.
import os, re, sys

os.chdir(sys.argv[1] if len(sys.argv) > 1 else ".")

# module -> the modules it may include (besides itself)
below = {
    "common": [],
    "nbd": ["common"],
    "attach": ["common", "nbd"],
    "layers": ["common"],
    "mounts": ["common", "nbd", "attach", "layers"],
    "volumes": ["common", "nbd", "attach", "layers", "mounts"],
    "archive": ["common", "layers", "mounts"],
    "graphdriver": ["common", "nbd", "attach", "layers", "mounts", "volumes", "archive"],
    "snapshotter": ["common", "nbd", "attach", "layers", "mounts", "archive"],
    "cli": ["common", "nbd", "attach", "layers", "mounts", "volumes", "archive", "graphdriver",
            "snapshotter"],
}
public = {m: m + "/" + m + ".h" for m in below}
public["nbd"] = "nbd/nbds.h"
# attach may see nbd's public header only (it hands sockets to the NBD server)
bad = []
checked = 0
for mod in below:
    if not os.path.isdir(mod):
        continue
    for name in sorted(os.listdir(mod)):
        path = os.path.join(mod, name)
        if not name.endswith((".c", ".h")):
            continue
        if "_" in name:
            bad.append(f"{path}: file names use '-', not '_'")
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            checked += 1
            inc = m.group(1)
            if "/" not in inc:
                bad.append(f"{path}:{n}: include \"{inc}\" without its module folder")
                continue
            target = inc.split("/")[0]
            if target == mod:
                continue
            if target not in below:
                if target != "tests":
                    bad.append(f"{path}:{n}: includes \"{inc}\" from outside the modules")
                continue
            if target not in below[mod]:
                bad.append(f"{path}:{n}: {mod}/ includes \"{inc}\": {target}/ is not below {mod}/")
            elif inc != public[target]:
                bad.append(f"{path}:{n}: {mod}/ includes \"{inc}\", not {target}'s public header {public[target]}")
for b in bad:
    print("FAIL:", b)
print(f"{checked} includes checked, {len(bad)} problems")
sys.exit(1 if bad or checked == 0 else 0)
