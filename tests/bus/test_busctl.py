# systemd's busctl (sd-bus) pointed at the bus with --address: list, call, introspect, status.
import os
import re

from harness import BusTestCase, run

SERVICE = 'org.jetbus.TestService'
PATH = '/org/jetbus/Test'


class Busctl(BusTestCase):

    def busctl(self, *args):
        return run(['busctl', '--address=' + self.address, '--no-pager'] + list(args))

    def test_busctl_list_shows_the_driver_with_the_broker_pid_and_the_service(self):
        service = self.start_service(SERVICE)
        out = self.assert_ok(self.busctl('list'))
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
        self.assertIn('org.freedesktop.DBus', rows)
        self.assertEqual(rows['org.freedesktop.DBus'][1], str(self.bus.pid))
        self.assertIn(SERVICE, rows)
        self.assertEqual(rows[SERVICE][1], str(service.proc.pid))
        unique = service.output().split()[1]
        self.assertIn(unique, rows)
        self.assertEqual(rows[SERVICE][4], unique)

    def test_busctl_call_to_the_service_prints_the_result(self):
        self.start_service(SERVICE)
        out = self.assert_ok(self.busctl('call', SERVICE, PATH, 'org.jetbus.Test', 'Add', 'ii', '2', '40'))
        self.assertEqual(out.strip(), 'i 42')

    def test_busctl_call_to_the_driver_prints_the_result(self):
        out = self.assert_ok(self.busctl('call', 'org.freedesktop.DBus', '/org/freedesktop/DBus',
                                         'org.freedesktop.DBus', 'NameHasOwner', 's', 'org.freedesktop.DBus'))
        self.assertEqual(out.strip(), 'b true')

    def test_busctl_call_reports_the_error_text(self):
        result = self.busctl('call', 'org.freedesktop.DBus', '/org/freedesktop/DBus',
                             'org.freedesktop.DBus', 'GetNameOwner', 's', 'org.example.Nobody')
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('Call failed:', result.stderr)
        self.assertIn('org.example.Nobody', result.stderr)

    def test_busctl_ping_via_peer_succeeds(self):
        self.assert_ok(self.busctl('call', 'org.freedesktop.DBus', '/org/freedesktop/DBus',
                                   'org.freedesktop.DBus.Peer', 'Ping'))

    def test_busctl_introspect_of_the_service_lists_methods_and_signals(self):
        self.start_service(SERVICE)
        out = self.assert_ok(self.busctl('introspect', SERVICE, PATH))
        self.assertRegex(out, r'(?m)^org\.jetbus\.Test\s+interface')
        self.assertRegex(out, r'(?m)^\.Add\s+method\s+ii\s+i\s')
        self.assertRegex(out, r'(?m)^\.Tick\s+signal\s+ss\s')

    def test_busctl_introspect_of_the_driver_lists_its_properties(self):
        out = self.assert_ok(self.busctl('introspect', 'org.freedesktop.DBus', '/org/freedesktop/DBus'))
        self.assertRegex(out, r'(?m)^\.Features\s+property\s+as\s+.*HeaderFiltering')
        self.assertRegex(out, r'(?m)^\.ListNames\s+method\s+-\s+as\s')

    def test_busctl_status_of_the_bus_shows_the_broker_pid_and_bus_id(self):
        out = self.assert_ok(self.busctl('status'))
        self.assertIn('PID=%d\n' % self.bus.pid, out)
        guid = re.search(r'guid=([0-9a-f]{32})', self.address).group(1)
        self.assertIn('BusID=%s\n' % guid, out)
        self.assertIn('UID=%d\n' % os.getuid(), out)

    def test_busctl_status_of_a_service_shows_its_pid_and_unique_name(self):
        service = self.start_service(SERVICE)
        out = self.assert_ok(self.busctl('status', SERVICE))
        self.assertIn('PID=%d\n' % service.proc.pid, out)
        self.assertIn('UniqueName=%s\n' % service.output().split()[1], out)

    def test_busctl_tree_of_the_service_shows_the_object_path(self):
        self.start_service(SERVICE)
        out = self.assert_ok(self.busctl('tree', SERVICE))
        self.assertIn('/org/jetbus/Test', out)
