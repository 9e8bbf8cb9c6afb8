# Starting and stopping the broker the way callers do: the printed address and pid, the same fd
# for both, dbus-run-session, and SIGTERM (exit 0, socket removed).
import os
import re
import signal
import subprocess
import time

import harness
from harness import BusTestCase, run, read_line, START_TIMEOUT, STOP_TIMEOUT


class Lifecycle(BusTestCase):

    def test_the_printed_address_is_our_socket_with_a_guid(self):
        self.assertRegex(self.bus.printed_address,
                         r'^unix:path=%s,guid=[0-9a-f]{32}$' % re.escape(self.bus.socket))

    def test_the_printed_pid_is_the_started_process(self):
        self.assertEqual(self.bus.pid, self.bus.proc.pid)

    def test_sigterm_makes_the_broker_exit_0_and_remove_its_socket(self):
        self.assertTrue(os.path.exists(self.bus.socket))
        self.assertEqual(self.bus.stop(), [])

    def test_sigterm_with_clients_connected_still_exits_promptly(self):
        conn = self.connect()
        self.driver(conn).RequestName('org.jetbus.Busy', 0)
        self.assertEqual(self.bus.stop(), [])

    def test_address_and_pid_both_on_stdout_come_as_two_lines(self):
        # The common caller's form: --print-address=1 --print-pid=1, read from a pipe on stdout.
        bus = harness.BusDaemon(harness.DAEMON_PATH)
        cmd = [bus.daemon_path, '--config-file', bus.config, '--address=unix:path=' + bus.socket,
               '--nofork', '--print-address', '1', '--print-pid', '1']
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            address, pid = read_line(proc.stdout.fileno(), START_TIMEOUT, lines=2).splitlines()
            self.assertTrue(address.startswith('unix:path=' + bus.socket + ',guid='), address)
            self.assertEqual(int(pid), proc.pid)
        finally:
            # Exit status is not checked here: SIGTERM this early may beat the handler.
            proc.terminate()
            proc.wait(STOP_TIMEOUT)
            proc.stdout.close()
            bus.cleanup()

    def test_a_bad_config_file_makes_the_broker_exit_with_an_error(self):
        bad = os.path.join(self.bus.dir, 'bad.conf')
        with open(bad, 'w') as f:
            f.write('<busconfig><this is not xml')
        result = run([harness.DAEMON_PATH, '--config-file=' + bad, '--nofork', '--print-address=1'],
                     timeout=START_TIMEOUT)
        self.assertNotEqual(result.returncode, 0)
        self.assertNotEqual(result.stderr.strip(), '')


class RunSession(BusTestCase):

    def session_config(self):
        path = os.path.join(self.bus.dir, 'run-session.conf')
        with open(self.bus.config) as f:
            text = f.read()
        text = text.replace('<listen>unix:path=%s</listen>' % self.bus.socket,
                            '<listen>unix:tmpdir=%s</listen>' % self.bus.dir)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_dbus_run_session_starts_the_broker_and_the_child_can_call_get_id(self):
        result = run(['dbus-run-session', '--dbus-daemon=' + harness.DAEMON_PATH,
                      '--config-file=' + self.session_config(), '--', 'sh', '-c',
                      'dbus-send --session --print-reply --dest=org.freedesktop.DBus / '
                      'org.freedesktop.DBus.GetId && echo "ADDRESS=$DBUS_SESSION_BUS_ADDRESS"'])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r'string "[0-9a-f]{32}"')
        self.assertRegex(result.stdout, r'ADDRESS=unix:(path|abstract)=.*guid=[0-9a-f]{32}')

    def test_dbus_run_session_passes_on_the_child_exit_status(self):
        result = run(['dbus-run-session', '--dbus-daemon=' + harness.DAEMON_PATH,
                      '--config-file=' + self.session_config(), '--', 'sh', '-c',
                      'dbus-send --session --print-reply --dest=org.freedesktop.DBus / '
                      'org.freedesktop.DBus.GetId >/dev/null && exit 7'])
        self.assertEqual(result.returncode, 7, result.stderr)
