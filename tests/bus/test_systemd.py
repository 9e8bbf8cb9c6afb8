# The broker under systemd, with systemd played by the test (none runs where these tests do):
# NOTIFY_SOCKET is a unix datagram socket the test binds, so READY=1, RELOADING=1 and STOPPING=1 are
# read as systemd would read them (and from which pid); socket activation is a listening socket passed
# as fd 3 with LISTEN_FDS=1 and LISTEN_PID set in the forked child before it execs the broker; the
# journal is a datagram socket bind-mounted over /run/systemd in a private mount namespace.
# dbus-daemon sends the bare READY=1, RELOADING=1 and STOPPING=1; jetbus adds STATUS= lines, and its
# structured journal fields are its own, so those tests run against jetbus only.
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import harness
from harness import CLIENT_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, read_line, run

DRIVER_CALL = ['--dest=org.freedesktop.DBus', '/org/freedesktop/DBus']
# How long to listen for a notification that must not come.
QUIET = 0.5


def fields(datagram):
    """An sd_notify datagram as a dict: one KEY=VALUE per line."""
    return dict(line.split('=', 1) for line in datagram.decode().split('\n') if '=' in line)


class NotifySocket:
    """The NOTIFY_SOCKET systemd would own; remembers each datagram with the pid that sent it."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def receive(self, timeout):
        """The next notification as (fields, sender pid), or None after timeout seconds."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack('iII', payload[:12])[0]
        return fields(data), pid

    def wait_for(self, key, timeout=START_TIMEOUT):
        """Notifications up to and including the first that sets key=1; fails the wait on timeout."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            got = self.receive(max(0.0, deadline - time.monotonic()))
            if got is None:
                raise TimeoutError('no %s=1 within %.1fs; got %r' % (key, timeout, seen))
            seen.append(got)
            if got[0].get(key) == '1':
                return seen

    def close(self):
        self.sock.close()


class SystemdTestCase(unittest.TestCase):
    """A temp dir with the harness's session-style config and a notify socket; brokers are started
    by the tests, each with NOTIFY_SOCKET pointing at it."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='jetbus-systemd-')
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name
        self.socket = os.path.join(self.dir, 'bus.sock')
        self.config = os.path.join(self.dir, 'bus.conf')
        os.mkdir(os.path.join(self.dir, 'services'))
        self.write_config(harness.CONFIG_TEMPLATE.format(socket=self.socket,
                                                         servicedir=os.path.join(self.dir, 'services')))
        self.notify = NotifySocket(os.path.join(self.dir, 'notify'))
        self.addCleanup(self.notify.close)
        self.log = os.path.join(self.dir, 'daemon.log')
        self.pid = None

    def write_config(self, text):
        with open(self.config + '.new', 'w') as f:
            f.write(text)
        os.rename(self.config + '.new', self.config)

    def broker_env(self, **extra):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        for name in ('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'JOURNAL_STREAM',
                     'DBUS_SESSION_BUS_ADDRESS', 'DBUS_SYSTEM_BUS_ADDRESS'):
            env.pop(name, None)
        env.update(extra)
        return env

    def start_plain(self):
        """The broker on its own socket (--address=unix:path=), as a Type=notify unit without a .socket."""
        cmd = [harness.DAEMON_PATH, '--config-file=' + self.config, '--address=unix:path=' + self.socket,
               '--nofork']
        with open(self.log, 'w') as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.broker_env())
        self.pid = proc.pid
        self.addCleanup(self._reap_popen, proc)
        return proc

    def _reap_popen(self, proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT)

    def get_id(self):
        return run(['dbus-send', '--bus=unix:path=' + self.socket, '--print-reply=literal'] + DRIVER_CALL
                   + ['org.freedesktop.DBus.GetId'])

    def assert_answers(self):
        result = self.get_id()
        self.assertEqual(result.returncode, 0, 'GetId failed: %s\nbroker log:\n%s' % (result.stderr, self.daemon_log()))
        self.assertRegex(result.stdout.strip(), r'^[0-9a-f]{32}$')

    def daemon_log(self):
        with open(self.log) as f:
            return f.read()

    def assert_from_broker(self, notifications):
        for f, pid in notifications:
            self.assertEqual(pid, self.pid, 'notification %r came from pid %s, not the broker (%s): '
                             'NotifyAccess=main would drop it' % (f, pid, self.pid))

    def keys(self, notifications):
        """The state keys (READY, RELOADING, STOPPING) set in each notification, in order."""
        return [k for f, _ in notifications for k in ('READY', 'RELOADING', 'STOPPING') if f.get(k) == '1']


class Notify(SystemdTestCase):

    def test_ready_arrives_once_the_socket_accepts_connections(self):
        self.start_plain()
        seen = self.notify.wait_for('READY')
        self.assertEqual(self.keys(seen), ['READY'])
        self.assert_from_broker(seen)
        self.assert_answers()  # at once: READY=1 promised that the socket is listening

    def test_sighup_sends_reloading_then_ready_and_the_bus_keeps_answering(self):
        self.start_plain()
        self.notify.wait_for('READY')
        os.kill(self.pid, signal.SIGHUP)
        seen = self.notify.wait_for('READY')
        self.assertEqual(self.keys(seen), ['RELOADING', 'READY'])
        self.assert_from_broker(seen)
        self.assert_answers()

    def test_reload_config_sends_reloading_then_ready(self):
        self.start_plain()
        self.notify.wait_for('READY')
        result = run(['dbus-send', '--bus=unix:path=' + self.socket, '--print-reply'] + DRIVER_CALL
                     + ['org.freedesktop.DBus.ReloadConfig'])
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = self.notify.wait_for('READY')
        self.assertEqual(self.keys(seen), ['RELOADING', 'READY'])
        self.assert_from_broker(seen)

    def test_a_failed_reload_still_ends_with_ready(self):
        # systemd would otherwise leave the unit "reloading" for good.
        self.start_plain()
        self.notify.wait_for('READY')
        self.write_config('<busconfig><policy')
        os.kill(self.pid, signal.SIGHUP)
        self.assertEqual(self.keys(self.notify.wait_for('READY')), ['RELOADING', 'READY'])
        self.assert_answers()

    def test_sigterm_sends_stopping_and_the_broker_exits_0(self):
        proc = self.start_plain()
        self.notify.wait_for('READY')
        os.kill(self.pid, signal.SIGTERM)
        seen = self.notify.wait_for('STOPPING', timeout=STOP_TIMEOUT)
        self.assertEqual(self.keys(seen), ['STOPPING'])
        self.assert_from_broker(seen)
        self.assertEqual(proc.wait(STOP_TIMEOUT), 0)
        self.assertIsNone(self.notify.receive(QUIET), 'nothing more after STOPPING=1')

    def test_status_says_what_the_bus_is_doing(self):
        if harness.testing_reference_daemon():
            self.skipTest('dbus-daemon sends no STATUS=')
        self.start_plain()
        ready = self.notify.wait_for('READY')[-1][0]
        self.assertEqual(ready.get('STATUS'), 'Processing requests...')
        os.kill(self.pid, signal.SIGHUP)
        reloading, ready = [f for f, _ in self.notify.wait_for('READY')]
        self.assertEqual(reloading.get('STATUS'), 'Reloading configuration...')
        self.assertEqual(ready.get('STATUS'), 'Processing requests...')
        os.kill(self.pid, signal.SIGTERM)
        stopping = self.notify.wait_for('STOPPING', timeout=STOP_TIMEOUT)[-1][0]
        self.assertEqual(stopping.get('STATUS'), 'Shutting down...')


class SocketActivation(SystemdTestCase):
    """The broker started as a .socket unit starts it: --address=systemd: and the socket as fd 3."""

    def listening_socket(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.socket)
        sock.listen(16)
        return sock

    def spawn(self, listen_fd, listen_pid=None, print_address=True):
        """Forks; the child puts listen_fd at 3, sets LISTEN_FDS=1 and LISTEN_PID (its own pid unless
        given) and execs the broker. Returns the read end of its stdout (the printed address)."""
        cmd = [harness.DAEMON_PATH, '--config-file=' + self.config, '--address=systemd:', '--nofork']
        if print_address:
            cmd.append('--print-address=1')
        out_r, out_w = os.pipe()
        log_fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(listen_fd, 3)
                os.dup2(out_w, 1)
                os.dup2(log_fd, 2)
                env = self.broker_env(LISTEN_FDS='1', LISTEN_PID=str(listen_pid or os.getpid()),
                                      LISTEN_FDNAMES='bus.socket')
                os.execve(cmd[0], cmd, env)
            finally:
                os._exit(127)
        os.close(out_w)
        os.close(log_fd)
        self.pid = pid
        self.addCleanup(self._reap, pid)
        self.addCleanup(os.close, out_r)
        return out_r

    def _reap(self, pid):
        if self.wait_exit(pid, 0) is None:
            os.kill(pid, signal.SIGKILL)
            self.wait_exit(pid, STOP_TIMEOUT)

    def wait_exit(self, pid, timeout):
        """The exit status of pid, or None if it still runs after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return 0  # already reaped
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def test_a_socket_passed_as_fd_3_serves_clients(self):
        sock = self.listening_socket()
        self.spawn(sock.fileno())
        sock.close()  # only the broker holds it now, as after systemd's exec
        self.assert_from_broker(self.notify.wait_for('READY'))
        self.assert_answers()

    def test_the_printed_address_is_the_passed_sockets_path(self):
        sock = self.listening_socket()
        out = self.spawn(sock.fileno())
        sock.close()
        address = read_line(out, START_TIMEOUT).strip()
        self.assertRegex(address, r'^unix:path=%s,guid=[0-9a-f]{32}$' % re.escape(self.socket))

    def test_sigterm_exits_0_and_leaves_the_socket_file_to_systemd(self):
        sock = self.listening_socket()
        self.spawn(sock.fileno())
        sock.close()
        self.notify.wait_for('READY')
        os.kill(self.pid, signal.SIGTERM)
        self.assertEqual(self.wait_exit(self.pid, STOP_TIMEOUT), 0)
        self.assertTrue(os.path.exists(self.socket), 'the .socket unit owns the file; the broker must not remove it')

    def test_sockets_meant_for_another_pid_are_not_taken(self):
        sock = self.listening_socket()
        self.spawn(sock.fileno(), listen_pid=1, print_address=False)
        sock.close()
        status = self.wait_exit(self.pid, START_TIMEOUT)
        self.assertIsNotNone(status, 'the broker runs without a socket')
        self.assertNotEqual(status, 0)
        self.assertIsNone(self.notify.receive(QUIET), 'no READY=1 from a broker that failed to start')

    def test_address_systemd_without_sockets_fails_with_a_message(self):
        result = run([harness.DAEMON_PATH, '--config-file=' + self.config, '--address=systemd:', '--nofork'],
                     timeout=START_TIMEOUT, env=self.broker_env())
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('Failed to start message bus', result.stderr)


def journal_entry(datagram):
    """A native journal protocol datagram as a dict: NAME=value lines, or NAME, newline, a 64-bit
    little-endian length and that many bytes for values that contain a newline."""
    entry = {}
    pos = 0
    while pos < len(datagram):
        eol = datagram.index(b'\n', pos)
        line = datagram[pos:eol]
        if b'=' in line:
            name, _, value = line.partition(b'=')
            pos = eol + 1
        else:
            name = line
            size = struct.unpack('<Q', datagram[eol + 1:eol + 9])[0]
            value = datagram[eol + 9:eol + 9 + size]
            pos = eol + 9 + size + 1
        entry[name.decode()] = value.decode(errors='replace')
    return entry


class Journal(SystemdTestCase):
    """jetbus under systemd with stderr on the journal (JOURNAL_STREAM): its lines reach the journal
    socket as entries, tagged with the connection they are about."""

    def setUp(self):
        if harness.testing_reference_daemon():
            self.skipTest('the JETBUS_* journal fields are jetbus\'s own')
        if os.geteuid() != 0:
            self.skipTest('needs root: the journal socket is faked by a mount in a private namespace')
        if run(['unshare', '--mount', '--propagation', 'private', 'true']).returncode != 0:
            self.skipTest('cannot make a private mount namespace here (unshare --mount)')
        if not os.path.isdir('/run/systemd'):
            self.skipTest('no /run/systemd to mount the fake journal over')
        super().setUp()
        self.fake_run_systemd = os.path.join(self.dir, 'run-systemd')
        os.makedirs(os.path.join(self.fake_run_systemd, 'journal'))
        self.journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.journal.bind(os.path.join(self.fake_run_systemd, 'journal', 'socket'))
        self.addCleanup(self.journal.close)
        self.entries = []

    def start_under_journal(self):
        # unshare and sh exec in turn, so the broker keeps the pid Popen reports.
        cmd = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
               'mount --bind "$0" /run/systemd && exec "$@"', self.fake_run_systemd,
               harness.DAEMON_PATH, '--config-file=' + self.config, '--address=unix:path=' + self.socket, '--nofork']
        env = self.broker_env(JOURNAL_STREAM='8:1234', SPDLOG_LEVEL='debug')
        with open(self.log, 'w') as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self.pid = proc.pid
        self.addCleanup(self._reap_popen, proc)
        self.notify.wait_for('READY')
        return proc

    def collect_until(self, predicate, timeout=CLIENT_TIMEOUT):
        """Reads journal entries until one satisfies predicate; returns it, or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.entries:
                if predicate(e):
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.journal], [], [], left)
            if ready:
                self.entries.append(journal_entry(self.journal.recv(65536)))

    def test_a_line_about_a_connection_names_its_unique_name_and_peer_pid(self):
        self.start_under_journal()
        import dbus.bus
        conn = dbus.bus.BusConnection('unix:path=' + self.socket)
        unique_name = conn.get_unique_name()
        conn.close()
        entry = self.collect_until(lambda e: e.get('JETBUS_UNIQUE_NAME') == unique_name)
        self.assertIsNotNone(entry, 'no journal entry names %s; entries: %r\nbroker log:\n%s'
                             % (unique_name, self.entries, self.daemon_log()))
        self.assertEqual(entry.get('JETBUS_PEER_PID'), str(os.getpid()))
        self.assertRegex(entry.get('JETBUS_CONNECTION', ''), r'^[1-9][0-9]*$')
        self.assertEqual(entry.get('SYSLOG_IDENTIFIER'), 'jetbus')
        self.assertEqual(entry.get('PRIORITY'), '7')  # these are debug lines
        self.assertIn(entry.get('JETBUS_CONNECTION'), entry.get('MESSAGE', ''))

    def test_a_line_about_no_connection_has_no_connection_fields(self):
        proc = self.start_under_journal()
        os.kill(self.pid, signal.SIGHUP)  # "reloaded configuration from ...", about the bus itself
        entry = self.collect_until(lambda e: 'reloaded configuration' in e.get('MESSAGE', ''))
        self.assertIsNotNone(entry, 'entries: %r\nbroker log:\n%s' % (self.entries, self.daemon_log()))
        self.assertEqual(entry.get('PRIORITY'), '6')
        self.assertEqual([k for k in entry if k.startswith('JETBUS_')], [])
        os.kill(self.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(STOP_TIMEOUT), 0)

    def test_nothing_goes_to_stderr_when_the_journal_takes_it(self):
        proc = self.start_under_journal()
        self.assert_answers()
        os.kill(self.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(STOP_TIMEOUT), 0)
        self.assertEqual(self.daemon_log(), '')
