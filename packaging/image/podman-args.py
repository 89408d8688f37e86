#!/usr/bin/env python3
"""Prints, one per line, the podman run options that give a container what the DaemonSet gives its agent container:
host network and PID namespace, the user, the capabilities (drop ALL, add the list), a read-only root file system,
seccomp, the hostPath and emptyDir volumes at their mount paths (HostToContainer propagation: rslave), the
environment (NODE_NAME from the downward API: this host's name), the memory limit. The arguments (the container's args) follow a line
"--". Fails on anything in the container it does not know how to translate, so CI runs exactly the manifest.
usage: podman-args.py packaging/kubernetes/daemonset.yaml
"""
import socket, sys
import yaml

ds = yaml.safe_load(open(sys.argv[1]))
pod = ds['spec']['template']['spec']
(c,) = pod['containers']
out = []
if pod.get('hostNetwork'):
    out.append('--network=host')
if pod.get('hostPID'):
    out.append('--pid=host')
sc = c.get('securityContext', {})
known_sc = {'privileged', 'allowPrivilegeEscalation', 'runAsUser', 'readOnlyRootFilesystem', 'seccompProfile', 'capabilities'}
unknown = set(sc) - known_sc
if unknown:
    sys.exit(f'podman-args.py: securityContext fields not translated: {sorted(unknown)}')
if sc.get('privileged'):
    out.append('--privileged')
if 'runAsUser' in sc:
    out.append(f"--user={sc['runAsUser']}")
if sc.get('allowPrivilegeEscalation') is False:
    out.append('--security-opt=no-new-privileges')
if sc.get('readOnlyRootFilesystem'):
    # Kubernetes adds no tmpfs of its own: podman's default /tmp, /run, /var/tmp tmpfs are turned off
    out += ['--read-only', '--read-only-tmpfs=false']
sp = sc.get('seccompProfile', {}).get('type', 'RuntimeDefault')
if sp == 'Unconfined':
    out.append('--security-opt=seccomp=unconfined')
elif sp != 'RuntimeDefault':
    sys.exit(f'podman-args.py: seccompProfile {sp} not translated')
caps = sc.get('capabilities', {})
for d in caps.get('drop', []):
    out.append(f'--cap-drop={d}')
for a in caps.get('add', []):
    out.append(f'--cap-add={a}')
vols = {v['name']: v for v in pod.get('volumes', [])}
for m in c.get('volumeMounts', []):
    v = vols[m['name']]
    opts = ['ro'] if m.get('readOnly') else []
    prop = m.get('mountPropagation')
    if prop == 'HostToContainer':
        opts.append('rslave')
    elif prop == 'Bidirectional':
        opts.append('rshared')
    if 'hostPath' in v:
        path, typ = v['hostPath']['path'], v['hostPath'].get('type', '')
        # what the kubelet does for these types, so the bind source exists
        if typ == 'DirectoryOrCreate':
            out.append(f'#mkdir {path}')
        elif typ == 'FileOrCreate':
            out.append(f'#touch {path}')
        out.append(f"--volume={path}:{m['mountPath']}" + (':' + ','.join(opts) if opts else ''))
    elif 'emptyDir' in v:
        out.append(f"--mount=type=tmpfs,destination={m['mountPath']}")
    else:
        sys.exit(f"podman-args.py: volume {m['name']} not translated")
# the memory limit (the JVM sizes its heap from it: MaxRAMPercentage); requests only schedule, nothing to translate
mem = c.get('resources', {}).get('limits', {}).get('memory')
if mem:
    units = {'Ki': 'k', 'Mi': 'm', 'Gi': 'g'}
    if mem[-2:] not in units:
        sys.exit(f'podman-args.py: memory limit {mem} not translated')
    out.append(f'--memory={mem[:-2]}{units[mem[-2:]]}')
if set(c.get('resources', {}).get('limits', {})) - {'memory', 'cpu'}:
    sys.exit('podman-args.py: resource limits other than memory and cpu not translated')
if 'cpu' in c.get('resources', {}).get('limits', {}):
    cpu = str(c['resources']['limits']['cpu'])
    out.append(f"--cpus={int(cpu[:-1]) / 1000 if cpu.endswith('m') else cpu}")
for e in c.get('env', []):
    if 'value' in e:
        out.append(f"--env={e['name']}={e['value']}")
    elif e.get('valueFrom', {}).get('fieldRef', {}).get('fieldPath') == 'spec.nodeName':
        out.append(f"--env={e['name']}={socket.gethostname()}")
    else:
        sys.exit(f"podman-args.py: env {e['name']} not translated")
out.append('--')
out += c.get('args', [])
print('\n'.join(out))
