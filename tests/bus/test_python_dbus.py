# dbus-python as both service and client: method calls, signals matched on arg0 (checked below
# dbus-python's own filtering, so the broker must do it), and unix fds passed both ways.
import os

from harness import BusTestCase, pump_until

SERVICE = 'org.jetbus.TestService'
PATH = '/org/jetbus/Test'
IFACE = 'org.jetbus.Test'


class PythonDbus(BusTestCase):

    def setUp(self):
        super().setUp()
        self.service = self.start_service(SERVICE)

    def proxy(self, conn):
        import dbus
        return dbus.Interface(conn.get_object(SERVICE, PATH), IFACE)

    def test_methods_return_typed_results(self):
        import dbus
        test = self.proxy(self.connect())
        self.assertEqual(test.Add(2, 40), 42)
        self.assertEqual(test.Hello('python'), 'Hello, python')
        echoed = test.Echo(1, True, -2, 3, -4, 5, -6, 7, 0.5, 's', '/o', ['a'], {'k': 1}, 9)
        self.assertEqual([int(v) for v in echoed[:8]], [1, 1, -2, 3, -4, 5, -6, 7])
        self.assertEqual(echoed[9], 's')
        self.assertEqual(echoed[10], '/o')
        self.assertIsInstance(echoed[10], dbus.ObjectPath)
        self.assertEqual(dict(echoed[12]), {'k': 1})

    def test_a_large_message_round_trips(self):
        test = self.proxy(self.connect())
        big = 'x' * (1 << 20)
        self.assertEqual(test.Hello(big), 'Hello, ' + big)

    def test_an_error_from_the_service_is_raised_with_its_name(self):
        import dbus
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.proxy(self.connect()).Fail()
        self.assertEqual(cm.exception.get_dbus_name(), 'org.jetbus.Test.Error.Deliberate')

    def test_a_signal_match_on_arg0_delivers_only_the_matching_signals(self):
        listener = self.connect(mainloop=True)
        received = []

        def on_message(conn, msg):
            if msg.get_member() == 'Tick' and msg.get_interface() == IFACE:
                received.append(tuple(str(a) for a in msg.get_args_list()))
        # A raw match plus a message filter: dbus-python's own arg0 filtering is not involved.
        listener.add_match_string("type='signal',interface='org.jetbus.Test',member='Tick',arg0='wanted'")
        listener.add_message_filter(on_message)
        test = self.proxy(self.connect())
        self.driver(listener).GetId()  # AddMatch has been processed once this returns
        for arg0, text in (('other', 'one'), ('wanted', 'two'), ('wantedx', 'three'),
                           ('wanted', 'done')):
            test.Emit(arg0, text)
        pump_until(lambda: ('wanted', 'done') in received, timeout=10)
        self.assertEqual(received, [('wanted', 'two'), ('wanted', 'done')])

    def test_a_signal_matched_on_sender_and_path_reaches_a_dbus_python_handler(self):
        listener = self.connect(mainloop=True)
        received = []
        listener.add_signal_receiver(lambda a, t: received.append((str(a), str(t))), 'Tick', IFACE,
                                     SERVICE, PATH)
        self.driver(listener).GetId()
        self.proxy(self.connect()).Emit('x', 'y')
        pump_until(lambda: received, timeout=10)
        self.assertEqual(received, [('x', 'y')])

    def test_a_unix_fd_sent_by_the_client_is_readable_by_the_service(self):
        import dbus
        r, w = os.pipe()
        os.write(w, b'through the bus')
        os.close(w)
        try:
            result = self.proxy(self.connect()).ReadFd(dbus.types.UnixFd(r))
        finally:
            os.close(r)
        self.assertEqual(result, 'through the bus')

    def test_a_unix_fd_returned_by_the_service_is_readable_by_the_client(self):
        fd = self.proxy(self.connect()).MakeFd('from the service').take()
        try:
            self.assertEqual(os.read(fd, 100), b'from the service')
        finally:
            os.close(fd)
