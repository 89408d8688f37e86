#!/usr/bin/env python3
"""Writes the .deb's copyright file (DEP-5) from what the shaded jar holds: every Maven artifact in it (its
META-INF/maven/*/*/pom.properties) with the licences its POM, or the nearest parent POM, declares (read from the
local Maven repository). Run after a build, commit the result: python3 packaging/licenses.py > packaging/doc/copyright
"""
import os, re, sys, zipfile
import xml.etree.ElementTree as ET

JAR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'cli', 'target', 'ambientctl.jar')
M2 = os.path.expanduser('~/.m2/repository')
NS = '{http://maven.apache.org/POM/4.0.0}'


def pom(g, a, v):
    p = os.path.join(M2, *g.split('.'), a, v, f'{a}-{v}.pom')
    return ET.parse(p).getroot() if os.path.exists(p) else None


def text(e, tag):
    x = e.find(NS + tag)
    return x.text.strip() if x is not None and x.text else None


def licences(g, a, v, depth=0):
    root = pom(g, a, v)
    if root is None or depth > 8:
        return []
    ls = root.find(NS + 'licenses')
    if ls is not None and len(ls):
        return [(text(l, 'name') or '?', text(l, 'url') or '') for l in ls]
    par = root.find(NS + 'parent')
    if par is None:
        return []
    return licences(text(par, 'groupId'), text(par, 'artifactId'), text(par, 'version'), depth + 1)


def short(name, url):
    s = (name + ' ' + url).lower()
    if 'apache' in s and '2' in s:
        return 'Apache-2.0'
    if 'eclipse public license' in s and '2' in s or 'epl-2' in s:
        return 'EPL-2.0'
    if 'eclipse public license' in s or 'epl-v10' in s or 'epl-1' in s:
        return 'EPL-1.0'
    if 'bsd' in s and ('3' in s or 'new' in s or 'revised' in s):
        return 'BSD-3-clause'
    if 'bsd' in s and '2' in s:
        return 'BSD-2-clause'
    if 'bsd' in s:
        return 'BSD-3-clause'
    if 'mit' in s.split() or 'mit license' in s or 'opensource.org/licenses/mit' in s:
        return 'Expat'
    if 'lgpl' in s or 'lesser general public' in s:
        return 'LGPL-2.1+' if '2.1' in s else 'LGPL-3+'
    if 'gpl' in s and 'classpath' in s:
        return 'GPL-2 with Classpath exception'
    if 'public domain' in s or 'cc0' in s:
        return 'public-domain'
    if 'eclipse distribution' in s or 'edl' in s:
        return 'BSD-3-clause'
    if 'universal permissive' in s or 'upl' in s:
        return 'UPL-1.0'
    return name


# where the POM (or its parent) is not in the local repository, what the project's site states
KNOWN = {'org.jline': 'BSD-3-clause', 'org.jctools': 'Apache-2.0'}
arts = []
with zipfile.ZipFile(JAR) as z:
    for n in z.namelist():
        if re.match(r'META-INF/maven/[^/]+/[^/]+/pom.properties$', n):
            props = dict(l.split('=', 1) for l in z.read(n).decode().splitlines() if '=' in l and not l.startswith('#'))
            if props.get('groupId') != 'io.ambientctl':
                arts.append((props['groupId'], props['artifactId'], props['version']))
arts.sort()
by = {}
for g, a, v in arts:
    ls = licences(g, a, v)
    key = ' or '.join(sorted({short(n, u) for n, u in ls})) or KNOWN.get(g, 'unknown')
    by.setdefault(key, []).append(f'{g}:{a}:{v}')

out = ['Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
       'Upstream-Name: ambientctl',
       'Upstream-Contact: ambientctl developers <ambientctl@users.noreply.github.com>',
       'Comment: /usr/lib/ambientctl/ambientctl.jar is one jar with every Java dependency in it (maven-shade-plugin);',
       ' each dependency keeps its licence and notice files in the jar (META-INF). The dependencies and their',
       ' licences below are generated from that jar and the dependencies\' POMs by packaging/licenses.py.',
       '',
       'Files: *',
       'Copyright: 2026 ambientctl developers',
       'License: Apache-2.0',
       '']
out.append('Files: usr/lib/ambientctl/ambientctl.jar')
out.append('Copyright: 2026 ambientctl developers, and the authors of each dependency below (see their notice files in the jar)')
out.append('License: ' + ' and '.join('(' + l + ')' if ' or ' in l else l for l in ['Apache-2.0'] + sorted(x for x in by if x != 'Apache-2.0')))
out.append('Comment: the dependencies shaded into the jar, by licence (a dependency offered under either of two')
out.append(' licences is listed as "A or B"):')
for lic in sorted(by):
    out.append(' .')
    out.append(f' {lic}:')
    for x in by[lic]:
        out.append('  ' + x)
out.append('')
texts = {
    'Apache-2.0': 'On Debian systems, the full text of the Apache License, Version 2.0, is in\n /usr/share/common-licenses/Apache-2.0.',
    'EPL-1.0': 'Eclipse Public License 1.0: https://www.eclipse.org/legal/epl-v10.html',
    'EPL-2.0': 'Eclipse Public License 2.0: https://www.eclipse.org/legal/epl-2.0/',
    'BSD-3-clause': 'The 3-clause BSD licence; each component\'s text is in the jar (META-INF/LICENSE*).',
    'BSD-2-clause': 'The 2-clause BSD licence; each component\'s text is in the jar (META-INF/LICENSE*).',
    'Expat': 'The MIT (Expat) licence; each component\'s text is in the jar (META-INF/LICENSE*).',
    'LGPL-2.1+': 'On Debian systems, the full text of the GNU Lesser General Public License version 2.1\n is in /usr/share/common-licenses/LGPL-2.1.',
    'LGPL-3+': 'On Debian systems, the full text of the GNU Lesser General Public License version 3\n is in /usr/share/common-licenses/LGPL-3.',
    'public-domain': 'Dedicated to the public domain (CC0 1.0 or equivalent).',
    'UPL-1.0': 'The Universal Permissive License 1.0: https://oss.oracle.com/licenses/upl/',
}
seen = set()
for lic in ['Apache-2.0'] + sorted(by):
    for part in lic.split(' or '):
        if part in seen:
            continue
        seen.add(part)
        out.append(f'License: {part}')
        out.append(' ' + texts.get(part, 'See the licence files of the components in the jar (META-INF).'))
        out.append('')
sys.stdout.write('\n'.join(out).rstrip('\n') + '\n')
