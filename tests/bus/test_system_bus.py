# The broker as a real machine starts its system bus: `BROKER --system --nofork` with Debian's
# /usr/share/dbus-1/system.conf as installed (unix:path=/run/dbus/system_bus_socket, pidfile
# /run/dbus/pid, <user>messagebus</user>), reached by clients through their default system bus
# address. Checks the socket, the pid file, the switch to messagebus, root's tools (dbus-send,
# busctl), the stock policy for nobody, and what is left in /run/dbus after SIGTERM, which depends
# on who owns the directory, exactly as with dbus-daemon.
# Needs root. It uses the real /run/dbus, so: a bus already answering there makes every test skip
# (it is never disturbed); a lock file keeps two runs (dbus-daemon's and jetbus's, under ctest -j) from
# starting brokers on that path at once; whatever a test changed in /run/dbus is put back after it.
import fcntl
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import harness
from harness import START_TIMEOUT, STOP_TIMEOUT, run

SYSTEM_CONF = '/usr/share/dbus-1/system.conf'
RUN_DIR = '/run/dbus'
SOCKET = RUN_DIR + '/system_bus_socket'
PIDFILE = RUN_DIR + '/pid'
SYSTEM_SERVICES = '/usr/share/dbus-1/system-services'
LOCK_FILE = '/run/lock/jetbus-system-bus-tests.lock'
LOCK_TIMEOUT = 300.0  # the other broker's whole system bus run, on a loaded machine
CAP_AUDIT_WRITE = 29  # linux/capability.h; dbus-daemon keeps it to write audit records as messagebus
NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
ACCESS_DENIED_OWN = re.compile(r'Error org\.freedesktop\.DBus\.Error\.AccessDenied: Connection ":1\.\d+" is '
                               r'not allowed to own the service "com\.example\.X" due to security policies '
                               r'in the configuration file')


def answers(path):
    """True when something accepts a connection on the unix socket at path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def pid_alive(pid):
    return os.path.exists('/proc/%d' % pid)


def status_fields(pid):
    """/proc/PID/status as a dict of field name to its whitespace-split values."""
    with open('/proc/%d/status' % pid) as f:
        return {k: v.split() for k, _, v in (line.partition(':') for line in f)}


def system_dbus_send(*args, prefix=()):
    return run(list(prefix) + ['dbus-send', '--system', '--print-reply', '--dest=org.freedesktop.DBus', '/',
                               'org.freedesktop.DBus.' + args[0]] + list(args[1:]))


class SystemBusTestCase(unittest.TestCase):
    """Takes the lock, makes sure /run/dbus is free, and puts it back as it was afterwards."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('the system bus tests need root (to start a bus that switches to messagebus)')
        if not os.path.exists(SYSTEM_CONF):
            self.skipTest('%s is not installed' % SYSTEM_CONF)
        self.messagebus = pwd.getpwnam('messagebus')
        self.proc = None
        self.lock = open(LOCK_FILE, 'w')
        self.addCleanup(self.lock.close)
        self._take_lock()
        self._check_run_dir_is_free()
        self._remember_run_dir()
        self.addCleanup(self._restore_run_dir)
        self.addCleanup(self._kill)

    def _take_lock(self):
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fail('%s stayed locked for %.0fs' % (LOCK_FILE, LOCK_TIMEOUT))
                time.sleep(0.1)

    def _check_run_dir_is_free(self):
        if os.path.exists(SOCKET) and answers(SOCKET):
            self.skipTest('a system bus already answers on %s; not disturbing it' % SOCKET)
        if os.path.exists(PIDFILE):
            with open(PIDFILE) as f:
                text = f.read().strip()
            if text.isdigit() and pid_alive(int(text)):
                self.skipTest('%s names pid %s, which is running; not disturbing it' % (PIDFILE, text))

    def _remember_run_dir(self):
        self.created_run_dir = not os.path.isdir(RUN_DIR)
        if self.created_run_dir:
            os.mkdir(RUN_DIR, 0o755)
            os.chmod(RUN_DIR, 0o755)
        st = os.stat(RUN_DIR)
        self.run_dir_state = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        # Leftovers of a crashed earlier run (nothing answers, nobody runs under the pid): start clean.
        for path in (SOCKET, PIDFILE):
            if os.path.lexists(path):
                os.unlink(path)

    def _restore_run_dir(self):
        for path in (SOCKET, PIDFILE):
            if os.path.lexists(path):
                os.unlink(path)
        uid, gid, mode = self.run_dir_state
        os.chown(RUN_DIR, uid, gid)
        os.chmod(RUN_DIR, mode)
        if self.created_run_dir and not os.listdir(RUN_DIR):
            os.rmdir(RUN_DIR)

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    # --- the broker ---------------------------------------------------------------------
    def start(self, *extra_args):
        """Starts BROKER --system --nofork and waits until the driver answers on the socket."""
        self.stderr_file = tempfile.NamedTemporaryFile(prefix='jetbus-system-bus-', suffix='.stderr')
        self.addCleanup(self.stderr_file.close)
        self.proc = subprocess.Popen([harness.DAEMON_PATH, '--system', '--nofork'] + list(extra_args),
                                     stdin=subprocess.DEVNULL, stdout=self.stderr_file, stderr=self.stderr_file)
        self.pid = self.proc.pid
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                self.fail('the broker exited with status %s at start-up: %s' % (self.proc.returncode, self.stderr()))
            if os.path.exists(SOCKET) and system_dbus_send('GetId').returncode == 0:
                return
            if time.monotonic() > deadline:
                self.fail('the broker did not answer on %s within %.0fs: %s' % (SOCKET, START_TIMEOUT, self.stderr()))
            time.sleep(0.05)

    def stderr(self):
        with open(self.stderr_file.name, errors='replace') as f:
            return f.read()

    def stop(self):
        """SIGTERM by pid; the broker must exit 0 promptly."""
        os.kill(self.pid, signal.SIGTERM)
        try:
            status = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail('the broker ignored SIGTERM for %.0fs' % STOP_TIMEOUT)
        self.assertEqual(status, 0, 'exit status after SIGTERM; stderr: ' + self.stderr())


class SystemBusStartup(SystemBusTestCase):

    def test_it_listens_on_the_standard_socket_and_writes_its_pid_to_the_pid_file(self):
        self.start()
        st = os.stat(SOCKET)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), '%s is not a socket' % SOCKET)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o777, 'every user must be able to connect')
        with open(PIDFILE) as f:
            self.assertEqual(f.read(), '%d\n' % self.pid)
        self.stop()

    def test_with_nopidfile_it_writes_no_pid_file(self):
        self.start('--nopidfile')
        self.assertFalse(os.path.lexists(PIDFILE), '%s written despite --nopidfile' % PIDFILE)
        self.stop()
        self.assertFalse(os.path.lexists(PIDFILE))

    def test_it_runs_as_messagebus_without_root_groups_or_capabilities_once_started(self):
        self.start()
        status = status_fields(self.pid)
        self.assertEqual(status['Uid'], [str(self.messagebus.pw_uid)] * 4, 'real, effective, saved, fs uid')
        self.assertEqual(status['Gid'], [str(self.messagebus.pw_gid)] * 4, 'real, effective, saved, fs gid')
        allowed = set(os.getgrouplist('messagebus', self.messagebus.pw_gid))
        self.assertLessEqual({int(g) for g in status['Groups']}, allowed, 'supplementary groups')
        # dbus-daemon keeps only CAP_AUDIT_WRITE (permitted and effective).
        for field in ('CapPrm', 'CapEff'):
            extra = int(status[field][0], 16) & ~(1 << CAP_AUDIT_WRITE)
            self.assertEqual(extra, 0, '%s %s keeps capabilities' % (field, status[field][0]))
        # The driver reports the bus's own user as messagebus too.
        result = system_dbus_send('GetConnectionUnixUser', 'string:org.freedesktop.DBus')
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('uint32 %d' % self.messagebus.pw_uid, result.stdout)
        self.stop()

    def test_a_stale_pid_file_stops_start_up_with_dbus_daemons_message(self):
        with open(PIDFILE, 'w') as f:
            f.write('999999\n')
        out = tempfile.TemporaryFile(mode='w+')
        self.addCleanup(out.close)
        self.proc = subprocess.Popen([harness.DAEMON_PATH, '--system', '--nofork'], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT
        while self.proc.poll() is None:
            if os.path.exists(SOCKET) and answers(SOCKET):
                with open(PIDFILE) as f:
                    self.fail('the broker started although %s existed; the file now holds %r (its pid is %d)'
                              % (PIDFILE, f.read(), self.proc.pid))
            self.assertLess(time.monotonic(), deadline, 'the broker neither started nor exited')
            time.sleep(0.05)
        out.seek(0)
        out = out.read()
        self.assertEqual(self.proc.returncode, 1, out)
        self.assertIn('Failed to start message bus: The pid file "%s" exists, if the message bus is not running, '
                      'remove this file' % PIDFILE, out)
        with open(PIDFILE) as f:
            self.assertEqual(f.read(), '999999\n', 'the pid file was changed')
        self.assertFalse(os.path.exists(SOCKET) and answers(SOCKET), 'it listens anyway')

    def test_a_stale_socket_of_a_crashed_bus_is_replaced(self):
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(SOCKET)
        stale.close()  # the file stays, nobody listens: what a killed bus leaves
        self.start()
        self.assertEqual(system_dbus_send('GetId').returncode, 0)
        self.stop()


class SystemBusClients(SystemBusTestCase):

    def setUp(self):
        super().setUp()
        self.start()

    def tearDown(self):
        self.stop()

    def test_dbus_send_as_root_lists_the_bus_and_itself(self):
        result = system_dbus_send('ListNames')
        self.assertEqual(result.returncode, 0, result.stderr)
        names = re.findall(r'string "([^"]+)"', result.stdout)
        self.assertIn('org.freedesktop.DBus', names)
        self.assertTrue(any(re.match(r'^:1\.\d+$', n) for n in names), result.stdout)

    def test_busctl_as_root_lists_the_bus_with_the_brokers_pid(self):
        result = run(['busctl', '--system', 'list', '--no-pager'])
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line.strip()}
        self.assertIn('org.freedesktop.DBus', rows, result.stdout)
        self.assertEqual(rows['org.freedesktop.DBus'][1], str(self.pid), result.stdout)

    def test_busctl_lists_the_installed_system_services_as_activatable(self):
        # <standard_system_servicedirs/> includes /usr/share/dbus-1/system-services.
        expected = set()
        for entry in os.listdir(SYSTEM_SERVICES) if os.path.isdir(SYSTEM_SERVICES) else ():
            if entry.endswith('.service'):
                with open(os.path.join(SYSTEM_SERVICES, entry)) as f:
                    expected.update(re.findall(r'^Name=(\S+)', f.read(), re.M))
        if not expected:
            self.skipTest('no system services installed in %s' % SYSTEM_SERVICES)
        result = run(['busctl', '--system', 'list', '--no-pager'])
        self.assertEqual(result.returncode, 0, result.stderr)
        activatable = {line.split()[0] for line in result.stdout.splitlines() if '(activatable)' in line}
        self.assertEqual(activatable, expected, result.stdout)

    def test_the_stock_policy_refuses_nobody_a_name_and_answers_GetId(self):
        result = system_dbus_send('RequestName', 'string:com.example.X', 'uint32:0', prefix=NOBODY)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertRegex(result.stderr, ACCESS_DENIED_OWN)
        result = system_dbus_send('GetId', prefix=NOBODY)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r'string "[0-9a-f]{32}"')


class SystemBusShutdown(SystemBusTestCase):
    """What SIGTERM leaves in /run/dbus: a broker running as messagebus can only unlink there what the
    directory lets messagebus unlink, and dbus-daemon tries both its socket and its pid file."""

    def test_in_a_root_owned_run_dir_the_socket_and_pid_file_stay_after_SIGTERM(self):
        # /run/dbus as systemd-tmpfiles or a packaging script makes it: root's, 0755.
        os.chown(RUN_DIR, 0, 0)
        os.chmod(RUN_DIR, 0o755)
        self.start()
        self.stop()
        # Left because messagebus may not unlink in root's directory; the broker must not have kept
        # the privileges it would need to remove them.
        self.assertTrue(os.path.exists(SOCKET), 'the socket is gone: did the broker keep root privileges?')
        self.assertTrue(os.path.exists(PIDFILE), 'the pid file is gone: did the broker keep root privileges?')
        self.assertFalse(answers(SOCKET), 'something still answers on the socket after exit')

    def test_in_a_messagebus_owned_run_dir_the_socket_and_pid_file_are_removed_after_SIGTERM(self):
        # /run/dbus as Debian's /etc/init.d/dbus creates it: owned by messagebus.
        os.chown(RUN_DIR, self.messagebus.pw_uid, self.messagebus.pw_gid)
        os.chmod(RUN_DIR, 0o755)
        self.start()
        self.stop()
        self.assertFalse(os.path.lexists(SOCKET), 'the broker left its socket behind')
        self.assertFalse(os.path.lexists(PIDFILE), 'the broker left its pid file behind')
