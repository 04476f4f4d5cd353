# The lock's versions as pip constraints, except those a declared requirement now
# excludes (a version changed in the config wins over the lock) and direct URLs (pip
# takes only names and versions as constraints). Filtered with pip's own `packaging`.
# Run by lib/mix/build/mix_packages.exs: python -c <this> LOCK OUT REQUIREMENTS PACKAGE...
import sys
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
lock, out, requirements = sys.argv[1:4]
declared = list(sys.argv[4:])
if requirements:
    with open(requirements) as f:
        declared += [l.split(' #')[0].strip() for l in f if l.strip() and l.strip()[0] not in '#-']
specs = {}
for text in declared:
    try:
        r = Requirement(text)
    except Exception:
        continue
    specs.setdefault(canonicalize_name(r.name), []).append(r.specifier)
kept = []
with open(lock) as f:
    for line in f:
        line = line.strip()
        if not line or line.startswith('#') or ' @ ' in line or '==' not in line:
            continue
        r = Requirement(line)
        version = line.split('==', 1)[1].strip()
        if all(s.contains(version, prereleases=True) for s in specs.get(canonicalize_name(r.name), [])):
            kept.append(line)
with open(out, 'w') as f:
    f.write(''.join(l + '\n' for l in kept))
