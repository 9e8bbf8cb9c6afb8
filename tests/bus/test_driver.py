# The bus driver (org.freedesktop.DBus) as dbus-send and dbus-python see it: names, ownership,
# queueing, credentials, introspection, properties, Peer, and the errors clients match on.
import os
import re

from harness import BusTestCase, UNIQUE_NAME_RE, pump_until, testing_reference_daemon

DBUS = 'org.freedesktop.DBus'
DBUS_PATH = '/org/freedesktop/DBus'


def strings_in(output):
    return re.findall(r'string "([^"]*)"', output)


class DriverWithDbusSend(BusTestCase):

    def test_dbus_send_gets_a_reply_so_hello_happened_implicitly(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.GetId'))
        self.assertRegex(out, r'method return .*sender=org\.freedesktop\.DBus -> destination=:')

    def test_a_second_hello_is_refused_with_failed(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.Hello'),
                          'org.freedesktop.DBus.Error.Failed')

    def test_list_names_contains_the_driver_and_our_unique_name(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ListNames'))
        names = strings_in(out)
        self.assertIn(DBUS, names)
        destination = re.search(r'destination=(\S+)', out).group(1)
        self.assertRegex(destination, UNIQUE_NAME_RE)
        self.assertIn(destination, names)

    def test_get_id_is_32_hex_digits_and_stable(self):
        first = strings_in(self.assert_ok(self.dbus_send('org.freedesktop.DBus.GetId')))
        second = strings_in(self.assert_ok(self.dbus_send('org.freedesktop.DBus.GetId')))
        self.assertEqual(len(first), 1)
        self.assertRegex(first[0], r'^[0-9a-f]{32}$')
        self.assertEqual(first, second)

    def test_get_name_owner_of_an_unknown_name_fails_with_name_has_no_owner(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.GetNameOwner', 'string:org.example.Nobody'),
                          'org.freedesktop.DBus.Error.NameHasNoOwner')

    def test_get_name_owner_of_the_driver_is_the_driver(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.GetNameOwner', 'string:' + DBUS))
        self.assertEqual(strings_in(out), [DBUS])

    def test_an_unknown_driver_method_fails_with_unknown_method(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.NoSuchMethod'),
                          'org.freedesktop.DBus.Error.UnknownMethod')

    def test_name_has_owner_is_true_for_the_driver_and_false_for_nobody(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.NameHasOwner', 'string:' + DBUS))
        self.assertIn('boolean true', out)
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.NameHasOwner', 'string:org.example.Nobody'))
        self.assertIn('boolean false', out)

    def test_request_name_returns_primary_owner_then_release_name_returns_released(self):
        # Each dbus-send is a new connection, so the name is free again for the second call.
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.RequestName',
                                            'string:org.jetbus.Once', 'uint32:0'))
        self.assertIn('uint32 1', out)
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ReleaseName', 'string:org.jetbus.Once'))
        self.assertIn('uint32 2', out)  # NON_EXISTENT: the first owner disconnected

    def test_list_queued_owners_of_the_driver_is_the_driver(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ListQueuedOwners', 'string:' + DBUS))
        self.assertEqual(strings_in(out), [DBUS])

    def test_list_queued_owners_of_an_unknown_name_fails_with_name_has_no_owner(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.ListQueuedOwners', 'string:org.example.Nobody'),
                          'org.freedesktop.DBus.Error.NameHasNoOwner')

    def test_request_name_with_an_invalid_name_fails_with_invalid_args(self):
        for bad in ('a..b', 'nodots', '1abc.def', 'a.b/c'):
            with self.subTest(name=bad):
                self.assert_error(self.dbus_send('org.freedesktop.DBus.RequestName',
                                                 'string:' + bad, 'uint32:0'),
                                  'org.freedesktop.DBus.Error.InvalidArgs')

    def test_request_name_of_a_unique_name_fails_with_invalid_args(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.RequestName', 'string::1.999', 'uint32:0'),
                          'org.freedesktop.DBus.Error.InvalidArgs')

    def test_request_name_of_the_driver_name_fails_with_invalid_args(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.RequestName', 'string:' + DBUS, 'uint32:0'),
                          'org.freedesktop.DBus.Error.InvalidArgs')

    def test_release_name_of_the_driver_name_fails_with_invalid_args(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.ReleaseName', 'string:' + DBUS),
                          'org.freedesktop.DBus.Error.InvalidArgs')

    def test_release_name_with_an_invalid_name_fails_with_invalid_args(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.ReleaseName', 'string:a..b'),
                          'org.freedesktop.DBus.Error.InvalidArgs')

    def test_a_call_to_a_name_nobody_owns_fails_with_service_unknown(self):
        self.assert_error(self.dbus_send('org.example.Iface.Method', dest='org.example.Nobody'),
                          'org.freedesktop.DBus.Error.ServiceUnknown')

    def test_a_call_to_a_unique_name_that_is_not_connected_fails_with_service_unknown(self):
        self.assert_error(self.dbus_send('org.example.Iface.Method', dest=':1.9999'),
                          'org.freedesktop.DBus.Error.ServiceUnknown')

    def test_the_driver_interface_answers_on_any_object_path(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ListNames', path='/some/other/path'))
        self.assertIn(DBUS, strings_in(out))

    def test_introspect_of_the_driver_path_is_xml_with_the_bus_interfaces(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Introspectable.Introspect',
                                            path=DBUS_PATH, literal=True))
        self.assertIn('<node', out)
        for iface in (DBUS, 'org.freedesktop.DBus.Introspectable', 'org.freedesktop.DBus.Peer',
                      'org.freedesktop.DBus.Properties'):
            self.assertIn('<interface name="%s">' % iface, out)
        for method in ('Hello', 'RequestName', 'ReleaseName', 'ListNames', 'GetNameOwner',
                       'AddMatch', 'RemoveMatch', 'GetConnectionCredentials', 'GetId'):
            self.assertIn('<method name="%s">' % method, out)
        self.assertIn('<signal name="NameOwnerChanged">', out)
        self.assertIn('<property name="Features" type="as" access="read">', out)

    def test_introspect_of_the_root_path_is_xml_with_the_bus_interface(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Introspectable.Introspect',
                                            path='/', literal=True))
        self.assertIn('<node', out)
        self.assertIn('<interface name="org.freedesktop.DBus">', out)
        self.assertIn('</node>', out)

    def test_properties_get_features_lists_header_filtering(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Properties.Get',
                                            'string:' + DBUS, 'string:Features', path=DBUS_PATH))
        self.assertIn('variant', out)
        self.assertIn('HeaderFiltering', strings_in(out))

    def test_properties_get_interfaces_lists_monitoring(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Properties.Get',
                                            'string:' + DBUS, 'string:Interfaces', path=DBUS_PATH))
        self.assertIn('org.freedesktop.DBus.Monitoring', strings_in(out))

    def test_properties_get_all_has_features_and_interfaces(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Properties.GetAll',
                                            'string:' + DBUS, path=DBUS_PATH))
        names = strings_in(out)
        self.assertIn('Features', names)
        self.assertIn('Interfaces', names)
        self.assertIn('org.freedesktop.DBus.Monitoring', names)

    def test_properties_set_is_refused_as_read_only(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.Properties.Set', 'string:' + DBUS,
                                         'string:Features', 'variant:int32:1', path=DBUS_PATH),
                          'org.freedesktop.DBus.Error.PropertyReadOnly')

    def test_properties_get_of_an_unknown_property_fails_with_unknown_property(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.Properties.Get', 'string:' + DBUS,
                                         'string:NoSuchProperty', path=DBUS_PATH),
                          'org.freedesktop.DBus.Error.UnknownProperty')

    def test_properties_get_on_an_unknown_interface_fails_with_unknown_interface(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.Properties.Get', 'string:org.example.Nope',
                                         'string:Features', path=DBUS_PATH),
                          'org.freedesktop.DBus.Error.UnknownInterface')

    def test_properties_get_with_wrong_arguments_fails_with_invalid_args(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.Properties.Get', 'string:' + DBUS,
                                         path=DBUS_PATH),
                          'org.freedesktop.DBus.Error.InvalidArgs')

    def test_peer_ping_gets_an_empty_reply(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Peer.Ping', path=DBUS_PATH))
        self.assertIn('method return', out)
        self.assertEqual(out.strip().count('\n'), 0, 'Ping reply has arguments: ' + out)

    def test_peer_get_machine_id_is_32_hex_digits(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.Peer.GetMachineId', path=DBUS_PATH))
        ids = strings_in(out)
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids[0], r'^[0-9a-f]{32}$')
        for path in ('/etc/machine-id', '/var/lib/dbus/machine-id'):
            if os.path.exists(path):
                with open(path) as f:
                    self.assertEqual(ids[0], f.read().strip())
                break

    def test_get_connection_unix_process_id_of_the_driver_is_the_broker_pid(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.GetConnectionUnixProcessID',
                                            'string:' + DBUS))
        self.assertIn('uint32 %d' % self.bus.pid, out)

    def test_get_connection_unix_user_of_an_unknown_name_fails_with_name_has_no_owner(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.GetConnectionUnixUser',
                                         'string:org.example.Nobody'),
                          'org.freedesktop.DBus.Error.NameHasNoOwner')

    def test_start_service_by_name_without_a_service_file_fails_with_service_unknown(self):
        self.assert_error(self.dbus_send('org.freedesktop.DBus.StartServiceByName',
                                         'string:org.example.Nobody', 'uint32:0'),
                          'org.freedesktop.DBus.Error.ServiceUnknown')

    def test_list_activatable_names_contains_the_driver(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ListActivatableNames'))
        self.assertIn(DBUS, strings_in(out))


class DriverWithPythonClients(BusTestCase):
    """Ownership and queueing need connections that stay up: dbus-python clients."""

    NAME = 'org.jetbus.Queue'

    def test_request_name_queues_a_second_client_and_release_passes_ownership(self):
        import dbus.bus as B
        first, second = self.connect(), self.connect()
        d1, d2 = self.driver(first), self.driver(second)
        self.assertEqual(d1.RequestName(self.NAME, 0), B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(d1.RequestName(self.NAME, 0), B.REQUEST_NAME_REPLY_ALREADY_OWNER)
        self.assertEqual(d2.RequestName(self.NAME, 0), B.REQUEST_NAME_REPLY_IN_QUEUE)
        self.assertEqual(list(d1.ListQueuedOwners(self.NAME)),
                         [first.get_unique_name(), second.get_unique_name()])
        self.assertEqual(d1.GetNameOwner(self.NAME), first.get_unique_name())
        self.assertEqual(d1.ReleaseName(self.NAME), B.RELEASE_NAME_REPLY_RELEASED)
        self.assertEqual(d1.GetNameOwner(self.NAME), second.get_unique_name())
        self.assertEqual(list(d1.ListQueuedOwners(self.NAME)), [second.get_unique_name()])
        self.assertEqual(d1.ReleaseName(self.NAME), B.RELEASE_NAME_REPLY_NOT_OWNER)
        self.assertEqual(d1.ReleaseName('org.jetbus.NeverOwned'), B.RELEASE_NAME_REPLY_NON_EXISTENT)

    def test_request_name_with_do_not_queue_fails_with_exists_when_owned(self):
        import dbus.bus as B
        first, second = self.connect(), self.connect()
        self.assertEqual(self.driver(first).RequestName(self.NAME, 0), B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(self.driver(second).RequestName(self.NAME, B.NAME_FLAG_DO_NOT_QUEUE),
                         B.REQUEST_NAME_REPLY_EXISTS)
        self.assertEqual(list(self.driver(second).ListQueuedOwners(self.NAME)), [first.get_unique_name()])

    def test_replace_existing_without_allow_replacement_only_queues(self):
        import dbus.bus as B
        first, second = self.connect(), self.connect()
        self.assertEqual(self.driver(first).RequestName(self.NAME, 0), B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(self.driver(second).RequestName(self.NAME, B.NAME_FLAG_REPLACE_EXISTING),
                         B.REQUEST_NAME_REPLY_IN_QUEUE)
        self.assertEqual(self.driver(second).GetNameOwner(self.NAME), first.get_unique_name())

    def test_replace_existing_with_allow_replacement_moves_the_name_with_name_lost_and_acquired(self):
        import dbus.bus as B
        first, second = self.connect(mainloop=True), self.connect(mainloop=True)
        watcher = self.connect(mainloop=True)
        seen = []
        first.add_signal_receiver(lambda n: seen.append(('first lost', str(n))), 'NameLost', DBUS)
        second.add_signal_receiver(lambda n: seen.append(('second acquired', str(n))), 'NameAcquired', DBUS)
        watcher.add_signal_receiver(lambda *a: seen.append(('changed',) + tuple(map(str, a))),
                                    'NameOwnerChanged', DBUS, arg0=self.NAME)
        self.driver(watcher).GetId()  # the watcher's AddMatch is processed before anything below

        self.assertEqual(self.driver(first).RequestName(self.NAME, B.NAME_FLAG_ALLOW_REPLACEMENT),
                         B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(self.driver(second).RequestName(self.NAME, B.NAME_FLAG_REPLACE_EXISTING),
                         B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        u1, u2 = first.get_unique_name(), second.get_unique_name()
        expected = [('first lost', self.NAME), ('second acquired', self.NAME),
                    ('changed', self.NAME, '', u1), ('changed', self.NAME, u1, u2)]
        pump_until(lambda: all(e in seen for e in expected), timeout=10)
        for e in expected:
            self.assertIn(e, seen)
        self.assertEqual(self.driver(second).GetNameOwner(self.NAME), u2)
        # The replaced owner did not say DO_NOT_QUEUE, so it waits in the queue behind the new one.
        self.assertEqual(list(self.driver(second).ListQueuedOwners(self.NAME)), [u2, u1])

    def test_a_replaced_owner_that_said_do_not_queue_leaves_the_queue(self):
        import dbus.bus as B
        first, second = self.connect(), self.connect()
        flags = B.NAME_FLAG_ALLOW_REPLACEMENT | B.NAME_FLAG_DO_NOT_QUEUE
        self.assertEqual(self.driver(first).RequestName(self.NAME, flags), B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(self.driver(second).RequestName(self.NAME, B.NAME_FLAG_REPLACE_EXISTING),
                         B.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(list(self.driver(second).ListQueuedOwners(self.NAME)), [second.get_unique_name()])
        self.assertEqual(self.driver(first).ReleaseName(self.NAME), B.RELEASE_NAME_REPLY_NOT_OWNER)

    def test_a_queued_owner_gets_the_name_when_the_owner_disconnects(self):
        import dbus.bus as B
        first, second = self.connect(), self.connect()
        self.driver(first).RequestName(self.NAME, 0)
        self.assertEqual(self.driver(second).RequestName(self.NAME, 0), B.REQUEST_NAME_REPLY_IN_QUEUE)
        first.close()
        d2 = self.driver(second)
        pump_until(lambda: d2.GetNameOwner(self.NAME) == second.get_unique_name(), timeout=10)
        self.assertEqual(d2.GetNameOwner(self.NAME), second.get_unique_name())

    def test_request_name_with_unknown_flag_bits_still_succeeds(self):
        import dbus.bus as B
        conn = self.connect()
        self.assertEqual(self.driver(conn).RequestName(self.NAME, 0xf0), B.REQUEST_NAME_REPLY_PRIMARY_OWNER)

    def test_list_names_contains_our_unique_name_and_owned_names(self):
        conn = self.connect()
        d = self.driver(conn)
        d.RequestName(self.NAME, 0)
        names = list(d.ListNames())
        self.assertIn(DBUS, names)
        self.assertIn(conn.get_unique_name(), names)
        self.assertIn(self.NAME, names)
        self.assertRegex(conn.get_unique_name(), UNIQUE_NAME_RE)

    def test_get_connection_unix_user_is_our_uid(self):
        conn = self.connect()
        self.assertEqual(self.driver(conn).GetConnectionUnixUser(conn.get_unique_name()), os.getuid())

    def test_get_connection_unix_process_id_is_our_pid(self):
        conn = self.connect()
        self.assertEqual(self.driver(conn).GetConnectionUnixProcessID(conn.get_unique_name()), os.getpid())

    def test_credentials_are_found_by_well_known_name_too(self):
        conn = self.connect()
        d = self.driver(conn)
        d.RequestName(self.NAME, 0)
        self.assertEqual(d.GetConnectionUnixProcessID(self.NAME), os.getpid())

    def test_get_connection_credentials_has_user_and_process_id(self):
        conn = self.connect()
        creds = self.driver(conn).GetConnectionCredentials(conn.get_unique_name())
        self.assertEqual(int(creds['UnixUserID']), os.getuid())
        self.assertEqual(int(creds['ProcessID']), os.getpid())
        for key in creds:
            self.assertIn(key, ('UnixUserID', 'ProcessID', 'UnixGroupIDs', 'LinuxSecurityLabel',
                                'ProcessFD', 'WindowsSID', 'AdtAuditSessionData'))
        if 'UnixGroupIDs' in creds:
            self.assertIn(os.getgid(), [int(g) for g in creds['UnixGroupIDs']])

    def test_process_fd_in_credentials_is_a_pidfd_of_the_peers_process(self):
        conn = self.connect()
        creds = self.driver(conn).GetConnectionCredentials(conn.get_unique_name())
        if 'ProcessFD' not in creds:
            if testing_reference_daemon():
                self.skipTest('dbus-daemon 1.14 has no ProcessFD')
            self.fail('no ProcessFD in %r' % sorted(creds))
        fd = creds['ProcessFD'].take()
        try:
            with open('/proc/self/fdinfo/%d' % fd) as f:
                pid_lines = [line.split()[1] for line in f if line.startswith('Pid:')]
            self.assertEqual(pid_lines, [str(os.getpid())])
        finally:
            os.close(fd)

    def test_get_connection_credentials_of_an_unknown_name_fails_with_name_has_no_owner(self):
        import dbus
        conn = self.connect()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.driver(conn).GetConnectionCredentials('org.example.Nobody')
        self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.NameHasNoOwner')

    def test_name_owner_changed_announces_a_new_connection_and_its_departure(self):
        watcher = self.connect(mainloop=True)
        seen = []
        watcher.add_signal_receiver(lambda *a: seen.append(tuple(map(str, a))), 'NameOwnerChanged', DBUS)
        self.driver(watcher).GetId()
        other = self.connect()
        name = other.get_unique_name()
        pump_until(lambda: (name, '', name) in seen, timeout=10)
        self.assertIn((name, '', name), seen)
        other.close()
        pump_until(lambda: (name, name, '') in seen, timeout=10)
        self.assertIn((name, name, ''), seen)
