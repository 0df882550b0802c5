"""keygated under systemd's protocols, without systemd as PID 1: the notify
protocol on a datagram socket standing in for NOTIFY_SOCKET, and sockets
handed over with LISTEN_FDS (by systemd-socket-activate and by a holder that
keeps them open across a restart, as keygated.socket does)."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import KEYGATE, KEYGATED, Keygated


def notify_listener(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(15)
    return s


def next_message(s, want):
    """The next datagram containing `want`, and every message seen before it."""
    seen = []
    while True:
        m = s.recv(4096).decode()
        seen.append(m)
        if want in m:
            return m, seen


def connects(path):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(path)
        return True
    except OSError:
        return False
    finally:
        c.close()


def test_notify_messages_arrive_in_order():
    d = Keygated("")
    try:
        ns_path = os.path.join(d.dir, "notify.sock")
        ns = notify_listener(ns_path)
        logf = open(d.log, "ab")
        env = dict(os.environ, NOTIFY_SOCKET=ns_path, WATCHDOG_USEC="400000")
        d.proc = subprocess.Popen([KEYGATED, "--config", d.config], stdout=logf, stderr=logf, env=env)
        ready, before = next_message(ns, "READY=1")
        # READY=1 only once both sockets accept and the state is loaded.
        assert connects(d.service) and connects(d.admin)
        assert "STATUS=0 accounts, 0 keys, 0 clients, 0 live tokens" in ready
        assert f"MAINPID={d.proc.pid}" in ready
        assert not any("READY=1" in m for m in before[:-1])
        # Watchdog keep-alives at half of WATCHDOG_USEC.
        next_message(ns, "WATCHDOG=1")
        # SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
        d.proc.send_signal(signal.SIGHUP)
        reloading, _ = next_message(ns, "RELOADING=1")
        usec = int(reloading.split("MONOTONIC_USEC=")[1].split("\n")[0])
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert 0 < now_usec - usec < 10_000_000
        again, between = next_message(ns, "READY=1")
        assert "reloaded" in again
        # The same around `keygate reload` (what ExecReload= runs) and a refused reload.
        env_cli = dict(os.environ, KEYGATE_ADMIN_SOCKET=d.admin)
        assert subprocess.run([KEYGATE, "reload"], env=env_cli, capture_output=True).returncode == 0
        next_message(ns, "RELOADING=1")
        assert "reloaded" in next_message(ns, "READY=1")[0]
        open(d.config, "a").write("bogus: 1\n")
        assert subprocess.run([KEYGATE, "reload"], env=env_cli, capture_output=True).returncode == 1
        next_message(ns, "RELOADING=1")
        assert "reload refused (1 errors)" in next_message(ns, "READY=1")[0]
        # SIGTERM: STOPPING=1, then exit 0.
        d.proc.send_signal(signal.SIGTERM)
        next_message(ns, "STOPPING=1")
        assert d.proc.wait(timeout=20) == 0
    finally:
        d.cleanup()


def test_systemd_socket_activate_hands_over_both_sockets():
    d = Keygated("")
    try:
        logf = open(d.log, "ab")
        d.proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", d.service, "-l", d.admin, "--fdname=service:admin",
             KEYGATED, "--config", d.config], stdout=logf, stderr=logf)
        deadline = time.time() + 15
        while time.time() < deadline and open(d.log).read().count("Listening on") < 2:
            time.sleep(0.05)
        # systemd-socket-activate starts the daemon on the first connection, like a .socket unit.
        assert d.session().get("http://keygate/healthz", timeout=20).json() == {"status": "ok"}
        # The service socket may answer before the admin socket's line is written: wait for both.
        deadline = time.time() + 15
        while time.time() < deadline and open(d.log).read().count("adopted socket from systemd") < 2:
            time.sleep(0.05)
        log = open(d.log).read()
        assert "name=service" in log and "name=admin" in log, log
        env = dict(os.environ, KEYGATE_ADMIN_SOCKET=d.admin, KEYGATE_SOCKET=d.service)
        created = subprocess.run([KEYGATE, "key", "create", "acme", "--name", "activated", "--json"], env=env, capture_output=True, text=True)
        assert created.returncode == 0, created.stderr
        assert d.session().get("http://keygate/healthz").json() == {"status": "ok"}
        assert d.stop() == 0
    finally:
        d.cleanup()


def listening_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(64)
    return s


def start_with_fds(d, fds, names="service:admin"):
    """Starts keygated with `fds` as descriptors 3, 4, ... and LISTEN_* naming them,
    the way systemd starts a socket-activated service."""
    def move_fds():
        high = [os.dup2(fd, 100 + i) for i, fd in enumerate(fds)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
    logf = open(d.log, "ab")
    return subprocess.Popen(
        ["/bin/sh", "-c", f'LISTEN_PID=$$ LISTEN_FDS={len(fds)} LISTEN_FDNAMES={names} exec "$0" --config "$1"', KEYGATED, d.config],
        stdout=logf, stderr=logf, preexec_fn=move_fds, close_fds=False)


def test_a_client_connecting_during_a_restart_is_served_when_the_daemon_is_back():
    d = Keygated("")
    try:
        service = listening_socket(d.service)
        admin = listening_socket(d.admin)
        d.proc = start_with_fds(d, [service.fileno(), admin.fileno()])
        d_ready = time.time() + 15
        while time.time() < d_ready and "keygated ready" not in open(d.log).read():
            time.sleep(0.05)
        assert d.session().get("http://keygate/healthz").status_code == 200
        assert d.stop() == 0
        # The daemon is gone, the socket is still held: the connection waits in the backlog.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(20)
        c.connect(d.service)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: keygate\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)
        d.proc = start_with_fds(d, [service.fileno(), admin.fileno()])
        answer = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
        assert answer.endswith(b'{"status":"ok"}')
        assert d.stop() == 0
        assert os.path.exists(d.service), "adopted sockets belong to their owner; keygated does not remove them"
    finally:
        d.cleanup()


def test_a_passed_descriptor_that_is_not_a_unix_stream_socket_is_refused():
    d = Keygated("")
    try:
        dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dgram.bind(os.path.join(d.dir, "dgram.sock"))
        proc = start_with_fds(d, [dgram.fileno()])
        assert proc.wait(timeout=20) == 1
        log = open(d.log).read()
        assert "descriptor 3 ('service') is not a listening Unix stream socket" in log, log
    finally:
        d.cleanup()
