# GLib's client, gdbus: calls to the driver and to a service, introspection, and errors as GLib
# reports them.
from harness import BusTestCase, run

SERVICE = 'org.jetbus.TestService'
PATH = '/org/jetbus/Test'


class Gdbus(BusTestCase):

    def gdbus(self, *args):
        return run(['gdbus'] + [args[0], '--address', self.address] + list(args[1:]))

    def test_gdbus_call_to_the_driver_lists_names(self):
        out = self.assert_ok(self.gdbus('call', '--dest', 'org.freedesktop.DBus', '--object-path',
                                        '/org/freedesktop/DBus', '--method',
                                        'org.freedesktop.DBus.ListNames'))
        self.assertTrue(out.startswith("(['org.freedesktop.DBus'"), out)

    def test_gdbus_call_to_the_driver_reports_name_has_no_owner(self):
        result = self.gdbus('call', '--dest', 'org.freedesktop.DBus', '--object-path',
                            '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.GetNameOwner',
                            'org.example.Nobody')
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('GDBus.Error:org.freedesktop.DBus.Error.NameHasNoOwner', result.stderr)

    def test_gdbus_call_to_the_service_returns_its_results(self):
        self.start_service(SERVICE)
        out = self.assert_ok(self.gdbus('call', '--dest', SERVICE, '--object-path', PATH,
                                        '--method', 'org.jetbus.Test.Add', '2', '40'))
        self.assertEqual(out.strip(), '(42,)')
        out = self.assert_ok(self.gdbus('call', '--dest', SERVICE, '--object-path', PATH,
                                        '--method', 'org.jetbus.Test.Hello', 'gdbus'))
        self.assertEqual(out.strip(), "('Hello, gdbus',)")

    def test_gdbus_introspect_of_the_service_shows_its_interface(self):
        self.start_service(SERVICE)
        out = self.assert_ok(self.gdbus('introspect', '--dest', SERVICE, '--object-path', PATH))
        self.assertIn('node /org/jetbus/Test {', out)
        self.assertIn('interface org.jetbus.Test {', out)
        self.assertIn('Add(in  i a,', out)
        self.assertIn('Tick(s arg0,', out)

    def test_gdbus_introspect_of_the_driver_shows_the_bus_interfaces(self):
        out = self.assert_ok(self.gdbus('introspect', '--dest', 'org.freedesktop.DBus',
                                        '--object-path', '/org/freedesktop/DBus'))
        self.assertIn('interface org.freedesktop.DBus {', out)
        self.assertIn('RequestName(in  s arg_0,', out)
        self.assertIn('NameOwnerChanged(s arg_0,', out)
        self.assertIn('readonly as Features', out)
