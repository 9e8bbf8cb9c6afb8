# Watching the bus: dbus-monitor (BecomeMonitor or eavesdropping, whichever it negotiates) and
# gdbus monitor must see signals that other clients send, and only those their rule matches.
import time

from harness import BusTestCase, CLIENT_TIMEOUT

SERVICE = 'org.jetbus.TestService'
PATH = '/org/jetbus/Test'


def retry_until_seen(action, watcher, needle, timeout=CLIENT_TIMEOUT):
    """Monitors subscribe asynchronously; repeat the action until the watcher shows needle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action()
        if watcher.wait_for(needle, timeout=0.3):
            return True
    return False


class DbusMonitor(BusTestCase):

    def test_dbus_monitor_sees_a_signal_sent_by_dbus_send_and_only_matching_ones(self):
        monitor = self.background(['dbus-monitor', '--address', self.address,
                                   "type='signal',interface='org.jetbus.Watched'"])
        self.assert_ok(self.dbus_send('org.jetbus.Unwatched.Ping', 'string:not-me',
                                      dest=None, path='/org/jetbus/S', reply=False))

        def emit():
            self.assert_ok(self.dbus_send('org.jetbus.Watched.Ping', 'string:payload-1',
                                          dest=None, path='/org/jetbus/S', reply=False))
        self.assertTrue(retry_until_seen(emit, monitor, 'string "payload-1"'),
                        'dbus-monitor never showed the signal: ' + monitor.output())
        out = monitor.output()
        self.assertRegex(out, r'signal .*path=/org/jetbus/S; interface=org\.jetbus\.Watched; member=Ping')
        self.assertNotIn('not-me', out)
        self.assertNotIn('Unwatched', out)

    def test_dbus_monitor_without_rules_sees_method_calls_and_replies(self):
        monitor = self.background(['dbus-monitor', '--address', self.address])

        def call():
            self.assert_ok(self.dbus_send('org.freedesktop.DBus.GetNameOwner',
                                          'string:org.freedesktop.DBus'))
        self.assertTrue(retry_until_seen(call, monitor, 'member=GetNameOwner'),
                        'dbus-monitor never showed the call: ' + monitor.output())
        self.assertTrue(monitor.wait_for('method return'), monitor.output())

    def test_dbus_monitor_keeps_the_bus_usable_for_others(self):
        monitor = self.background(['dbus-monitor', '--address', self.address])
        self.assertTrue(retry_until_seen(lambda: self.dbus_send('org.freedesktop.DBus.GetId'),
                                         monitor, 'member=GetId'))
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ListNames'))
        self.assertIn('org.freedesktop.DBus', out)


class GdbusMonitor(BusTestCase):

    def test_gdbus_monitor_sees_a_signal_from_the_service(self):
        self.start_service(SERVICE)
        monitor = self.background(['gdbus', 'monitor', '--address', self.address, '--dest', SERVICE])
        self.assertTrue(monitor.wait_for('is owned by'), monitor.output())

        def emit():
            self.assert_ok(self.dbus_send('org.jetbus.Test.Emit', 'string:first', 'string:hello',
                                          dest=SERVICE, path=PATH))
        self.assertTrue(retry_until_seen(emit, monitor, "org.jetbus.Test.Tick ('first', 'hello')"),
                        'gdbus monitor never showed the signal: ' + monitor.output())
        self.assertIn('/org/jetbus/Test: org.jetbus.Test.Tick', monitor.output())
