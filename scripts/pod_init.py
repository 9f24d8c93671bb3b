"""The programs ``scripts/pods.py`` runs inside the namespaces it makes (as root).

    pod_init.py hold HOSTS            the namespace's first process: loopback up, then wait
    pod_init.py pod SPEC              a pod: its mounts, then chroot, user, exec its command
    pod_init.py forward LISTEN HOST PORT   relay a Unix (or TCP) socket to HOST:PORT

Standard library only; each runs with the Python that runs pods.py, before any chroot.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def hold(hosts: str) -> int:
    """The namespace's first process: loopback up, the hosts file in place, then wait."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by closing stdin, not Ctrl+C
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
    print("ready", flush=True)
    sys.stdin.read()  # until the cluster closes our stdin
    return 0


def mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise OSError(f"mount {' '.join(args)}: {result.stderr.strip()}")


def touch(path: Path, directory: bool) -> None:
    if directory:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def become(launch: dict) -> None:
    """chroot, user, groups, no_new_privs, working directory, then exec the command."""
    libc = ctypes.CDLL(None, use_errno=True)
    env = launch["env"]
    os.chroot(launch["root"])
    os.chdir(launch["workdir"])
    os.setgroups(launch["groups"])
    os.setgid(launch["gid"])
    os.setuid(launch["uid"])  # from root to a non-root user: no capabilities remain
    if launch["no_new_privs"] and libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    argv = launch["argv"]
    program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH", ""))
    if program is None:
        raise FileNotFoundError(f"{argv[0]}: not found on the image's PATH {env.get('PATH')}")
    os.execve(program, argv, env)


def pod_main(arg: str) -> int:
    """Inside the pod's own mount namespace (as root, until ``become``)."""
    launch = json.loads(Path(arg).read_text() if not arg.startswith("{") else arg)
    try:
        if not launch.get("join"):
            root = Path(launch["root"])
            mount("--bind", str(root), str(root))  # a mount point of its own, to remount
            for target in ("proc", "dev", "etc/hosts", "etc/resolv.conf", "tmp"):
                touch(root / target, directory=not target.startswith("etc/"))
            for volume in launch["volumes"]:
                target = root / volume["target"].lstrip("/")
                if volume["type"] == "tmpfs":
                    touch(target, directory=True)
                    size = f",size={volume['size']}" if volume.get("size") else ""
                    mount("-t", "tmpfs", "-o", f"mode=1777,nosuid,nodev{size}", "tmpfs",
                          str(target))
                else:
                    touch(target, directory=Path(volume["source"]).is_dir())
                    mount("--bind", volume["source"], str(target))
            mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(root / "proc"))
            mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=65536k", "tmpfs", str(root / "dev"))
            for device in ("null", "zero", "full", "random", "urandom", "tty"):
                (root / "dev" / device).write_text("")
                mount("--bind", f"/dev/{device}", str(root / "dev" / device))
            (root / "dev" / "shm").mkdir()
            mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=64m", "tmpfs",
                  str(root / "dev" / "shm"))
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                (root / "dev" / name).symlink_to(target)
            # What the kubelet manages in every container.
            mount("--bind", "-o", "ro", launch["hosts"], str(root / "etc/hosts"))
            mount("--bind", "-o", "ro", launch["resolv"], str(root / "etc/resolv.conf"))
            if launch["read_only"]:
                mount("-o", "remount,bind,ro", str(root))
        become(launch)
    except OSError as error:
        print(f"pods: cannot start {launch['argv']}: {error}", file=sys.stderr, flush=True)
        return 127
    return 0  # not reached: become() execs


def forward_main(listen: str, host: str, port: str) -> int:
    """Relay connections from ``unix:PATH`` or ``tcp:HOST:PORT`` to ``host:port``."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass

    async def handle(reader, writer) -> None:
        try:
            if host.startswith("unix:"):
                upstream = await asyncio.open_unix_connection(host[5:])
            else:
                upstream = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    async def main() -> None:
        if listen.startswith("unix:"):
            server = await asyncio.start_unix_server(handle, path=listen[5:])
        else:
            _, listen_host, listen_port = listen.split(":")
            server = await asyncio.start_server(handle, listen_host, int(listen_port))
        print("listening", flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(main())
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "hold":
        return hold(argv[1])
    if argv and argv[0] == "pod":
        return pod_main(argv[1])
    if argv and argv[0] == "forward":
        return forward_main(*argv[1:4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
