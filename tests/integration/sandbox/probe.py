"""Containment probes, run as workflow steps by test_sandbox_probes.sh.

python3 probe.py NAME [ARGS...] prints "PROBE NAME: held ..." and exits 0 when
the sandbox held, or "PROBE NAME: ESCAPED ..." and exits 1 when it did not.
The forkbomb and memhog probes are meant to fail their step.
"""
import ctypes
import errno
import os
import platform
import signal
import socket
import sys
import time

NR = {
    "x86_64": dict(ptrace=101, reboot=169, init_module=175, kexec_load=246, keyctl=250,
                   bpf=321, mount=165, unshare=272),
    "aarch64": dict(ptrace=117, reboot=142, init_module=105, kexec_load=104, keyctl=219,
                    bpf=280, mount=40, unshare=97),
}
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def syscall(name, *args):
    nr = NR[platform.machine()][name]
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *conv)
    return r, ctypes.get_errno()


def report(name, held, detail):
    print(f"PROBE {name}: {'held' if held else 'ESCAPED'} {detail}", flush=True)
    return 0 if held else 1


def denied(name, *args):
    r, err = syscall(name, *args)
    return report(name, r < 0 and err == errno.EPERM,
                  f"rc={r} errno={errno.errorcode.get(err, err)}")


def syscalls():
    bad = 0
    bad |= denied("mount", b"none", b"/mnt", b"tmpfs", 0, None)
    bad |= denied("unshare", 0x10000000)  # CLONE_NEWUSER
    bad |= denied("unshare", 0x00020000)  # CLONE_NEWNS
    bad |= denied("kexec_load", 0, 0, None, 0)
    bad |= denied("init_module", None, 0, b"")
    bad |= denied("bpf", 0, None, 0)  # BPF_MAP_CREATE
    bad |= denied("keyctl", 0, -3, 0)  # KEYCTL_GET_KEYRING_ID, session keyring
    bad |= denied("reboot", 0, 0, 0, None)  # bad magic: EINVAL unless refused first
    return bad


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def runner_hidden():
    """No ghrun process is visible, and ptrace of the job's pid 1 is refused."""
    seen = [p for p in pids() if comm(p) == "ghrun"]
    bad = report("runner-invisible", not seen, f"ghrun pids seen: {seen}")
    bad |= denied("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH to the job init
    return bad


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def lineage():
    """This process and its ancestors (the step's shell, the job init)."""
    seen, p = set(), os.getpid()
    while p > 0 and p not in seen:
        seen.add(p)
        p = ppid(p)
    return seen


def environ(canary):
    """Replay hands its environment to steps, as GitHub's runner does: the step and its
    shell may hold the canary; any other process (the job init, a runner) must not."""
    mine = lineage()
    found = []
    for p in pids():
        if p in mine:
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if canary.encode() in f.read():
                    found.append(p)
        except OSError:
            pass
    try:
        with open("/proc/1/environ", "rb") as f:
            init_env = f.read()
    except OSError as e:
        init_env = b""
        print(f"/proc/1/environ: {e.strerror}")
    bad = report("environ", not found, f"canary in the environment of {found}")
    return bad | report("proc1-environ", canary.encode() not in init_env and len(init_env) == 0,
                        f"{len(init_env)} bytes")


def read_key(path, canary):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return report("runner-key", True, f"{e.strerror}")
    return report("runner-key", canary.encode() not in data, f"read {len(data)} bytes")


def write(path):
    """Writing the file, or replacing it (a running binary answers ETXTBSY to a write before
    the mount is asked, so its metadata and its directory are tried too)."""
    refused = (errno.EROFS, errno.EACCES, errno.EPERM)
    planted = os.path.join(os.path.dirname(path), ".gr-probe-planted")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.close(fd)
        return report("write", False, f"{path} opened for writing")
    except OSError as e:
        if e.errno == errno.ENOENT and not os.path.isdir(os.path.dirname(path)):
            # its whole directory is out of sight (a runner under /tmp, behind the private /tmp)
            return report("write", True, f"{path}: not visible")
        if e.errno != errno.ETXTBSY:
            return report("write", e.errno in refused, f"{path}: {errno.errorcode.get(e.errno)}")
    for what, fn in (("utime", lambda: os.utime(path)),
                     ("create beside", lambda: os.close(os.open(planted, os.O_WRONLY | os.O_CREAT)))):
        try:
            fn()
            return report("write", False, f"{path}: {what} worked")
        except OSError as e:
            if e.errno not in refused:
                return report("write", False, f"{path}: {what}: {errno.errorcode.get(e.errno)}")
    return report("write", True, f"{path}: busy, and its mount is read-only")


def cgroup_escape():
    bad = 0
    for path in ("/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs",
                 "/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/unified/cgroup.procs"):
        if not os.path.exists(path):
            continue
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
            bad |= report("cgroup-escape", False, f"moved into {path}")
        except OSError as e:
            bad |= report("cgroup-escape", True, f"{path}: {errno.errorcode.get(e.errno)}")
    return bad


def forkbomb(limit):
    """Forks until refused. Capped at 4 x limit, so that a host without the sandbox
    is not taken down by the test itself."""
    n = 0
    try:
        while n < 4 * int(limit):
            pid = os.fork()
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            n += 1
    except OSError as e:
        print(f"PROBE forkbomb: stopped after {n} forks: {errno.errorcode.get(e.errno)}",
              flush=True)
        return 1 if n < int(limit) else 2
    print(f"PROBE forkbomb: ESCAPED {n} forks and no refusal", flush=True)
    return 2


def memhog():
    chunks = []
    for i in range(512):
        chunks.append(bytearray(1 << 20))  # zero-filled: touched
        if i % 64 == 0:
            print(f"allocated {i} MiB", flush=True)
    print("PROBE memhog: ESCAPED allocated 512 MiB", flush=True)
    return 1


def spin(quota):
    """Two busy processes for 2 s of wall time: their CPU time over wall time must stay
    near the quota (a runaway step cannot starve the host)."""
    t0 = time.monotonic()
    kids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            while time.monotonic() - t0 < 2.0:
                pass
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
    wall = time.monotonic() - t0
    t = os.times()
    ratio = (t.children_user + t.children_system) / wall
    return report("cpu-quota", ratio <= 2 * float(quota),
                  f"{ratio:.2f} CPUs used for a quota of {quota}")


def daemon(mark):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.execvp("sh", ["sh", "-c", f"trap '' TERM HUP; while :; do sleep 1; done # {mark}"])
        os._exit(0)
    time.sleep(0.2)
    print(f"PROBE daemon: started {mark}", flush=True)
    return 0


def daemon_gone(mark):
    mine = lineage()  # this probe's own command line holds the mark too
    alive = []
    for p in [p for p in pids() if p not in mine]:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if mark.encode() in f.read():
                    alive.append(p)
        except OSError:
            pass
    return report("daemon-gone", not alive, f"still running: {alive}")


def network_none(host_port):
    bad = report("netns-lo-only", os.listdir("/sys/class/net") == ["lo"],
                 f"interfaces {os.listdir('/sys/class/net')}")
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("1.1.1.1", 80))
        bad |= report("egress", False, "connected to 1.1.1.1:80")
    except OSError as e:
        bad |= report("egress", True, f"{errno.errorcode.get(e.errno, e)}")
    s.close()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=3)
    bad |= report("loopback", True, "a local server works")
    c.close()
    srv.close()
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", int(host_port)))
        bad |= report("host-loopback", False, f"reached the host's 127.0.0.1:{host_port}")
    except OSError as e:
        bad |= report("host-loopback", True, f"{errno.errorcode.get(e.errno, e)}")
    return bad


def main():
    name, args = sys.argv[1], sys.argv[2:]
    fn = {"syscalls": syscalls, "runner": runner_hidden, "environ": environ, "key": read_key,
          "write": write, "cgroup": cgroup_escape, "forkbomb": forkbomb, "memhog": memhog, "spin": spin,
          "daemon": daemon, "daemon-gone": daemon_gone, "network-none": network_none}[name]
    return fn(*args)


if __name__ == "__main__":
    sys.exit(main())
