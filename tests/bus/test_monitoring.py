# Watching other peers' traffic: dbus-monitor (BecomeMonitor) with and without match expressions,
# the legacy eavesdrop='true' match rules dbus-monitor falls back to, busctl monitor (text and JSON),
# gdbus monitor --dest, and what BecomeMonitor does to the connection that calls it (its names are
# released, it is told so, and it is disconnected if it sends anything).
import json
import re
import time

import dbus
import dbus.bus
import dbus.lowlevel

from harness import BusTestCase, pump_until

SERVICE = 'org.jetbus.TestService'
PATH = '/org/jetbus/Test'
IFACE = 'org.jetbus.Test'
DRIVER = ('org.freedesktop.DBus', '/org/freedesktop/DBus')
MONITORING = 'org.freedesktop.DBus.Monitoring'
WAIT = 5.0  # seconds: an upper bound on every wait below (all arrive within ms), never a sleep

# One dbus-monitor message: a header line at column 0, then indented argument lines.
HEADER_RE = re.compile(r'^(?P<kind>method call|method return|error|signal) time=\S+ '
                       r'sender=(?P<sender>\S+) -> destination=(?P<destination>\(null destination\)|\S+)'
                       r'(?P<rest>.*)$')
FIELD_RE = re.compile(r'(\w+)=([^ ;]+)')


def parse_dbus_monitor(text):
    """dbus-monitor's default output as dicts: kind, sender, destination, header fields, body."""
    messages = []
    for line in text.splitlines():
        match = HEADER_RE.match(line)
        if match:
            msg = dict(FIELD_RE.findall(match.group('rest')))
            msg.update(kind=match.group('kind'), sender=match.group('sender'),
                       destination=match.group('destination'), body=[])
            messages.append(msg)
        elif messages and line.startswith(' '):
            messages[-1]['body'].append(line.strip())
    return messages


def retry_until_seen(action, watcher, needle, timeout=WAIT):
    """Monitors subscribe asynchronously; repeat the action until the watcher shows needle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action()
        if watcher.wait_for(needle, timeout=0.3):
            return True
    return False


class MonitoringTestCase(BusTestCase):

    def start_service_unique(self):
        svc = self.start_service(SERVICE)
        return svc.output().split()[1]

    def sync_ping(self, conn, member='Ping'):
        """A broadcast signal every monitor here can wait for to know it is subscribed."""
        conn.send_message(dbus.lowlevel.SignalMessage('/org/jetbus/Sync', 'org.jetbus.Sync', member))
        conn.flush()

    def monitor(self, cmd, ready_needle, conn):
        watcher = self.background(cmd)
        self.assertTrue(retry_until_seen(lambda: self.sync_ping(conn), watcher, ready_needle),
                        '%s never showed the sync signal: %s' % (cmd[0], watcher.output()))
        return watcher

    def dbus_monitor(self, *rules):
        conn = self.connect()
        cmd = ['dbus-monitor', '--address', self.address]
        if rules:
            cmd += list(rules) + ["interface='org.jetbus.Sync'"]
        return self.monitor(cmd, 'interface=org.jetbus.Sync; member=Ping', conn), conn

    def call(self, conn, method, signature='', args=(), dest=SERVICE, path=PATH, iface=IFACE):
        return conn.call_blocking(dest, path, iface, method, signature, args, timeout=WAIT)

    def find(self, messages, **fields):
        return [m for m in messages if all(m.get(k) == v for k, v in fields.items())]

    def wait_for_messages(self, watcher, parse, **fields):
        """Parsed messages having fields, once at least one has shown up (or the timeout passed)."""
        found = []

        def seen():
            found[:] = self.find(parse(watcher.output()), **fields)
            return found
        deadline = time.monotonic() + WAIT
        while not seen() and time.monotonic() < deadline and watcher.proc.poll() is None:
            watcher.wait_for('\n', timeout=0.1)
        return found


class DbusMonitorDefault(MonitoringTestCase):

    def test_dbus_monitor_shows_a_call_its_reply_and_a_signal_between_other_peers(self):
        service = self.start_service_unique()
        watcher, _ = self.dbus_monitor()
        client = self.connect()
        me = client.get_unique_name()
        self.assertEqual(self.call(client, 'Add', 'ii', (2, 40)), 42)
        self.call(client, 'Emit', 'ss', ('first', 'hello'))
        msgs = self.wait_for_messages(watcher, parse_dbus_monitor, kind='signal', member='Tick')
        self.assertTrue(msgs, watcher.output())
        msgs = parse_dbus_monitor(watcher.output())
        calls = self.find(msgs, kind='method call', member='Add', sender=me)
        self.assertEqual(len(calls), 1, watcher.output())
        self.assertEqual(calls[0]['destination'], SERVICE)
        self.assertEqual(calls[0]['path'], PATH)
        self.assertEqual(calls[0]['interface'], IFACE)
        self.assertEqual(calls[0]['body'], ['int32 2', 'int32 40'])
        replies = self.find(msgs, kind='method return', reply_serial=calls[0]['serial'], destination=me)
        self.assertEqual(len(replies), 1, watcher.output())
        self.assertEqual(replies[0]['sender'], service)
        self.assertEqual(replies[0]['body'], ['int32 42'])
        ticks = self.find(msgs, kind='signal', member='Tick')
        self.assertEqual(len(ticks), 1, watcher.output())
        self.assertEqual((ticks[0]['sender'], ticks[0]['destination'], ticks[0]['path']),
                         (service, '(null destination)', PATH))
        self.assertEqual(ticks[0]['body'], ['string "first"', 'string "hello"'])

    def test_dbus_monitor_shows_the_drivers_replies_and_errors(self):
        watcher, _ = self.dbus_monitor()
        client = self.connect()
        me = client.get_unique_name()
        with self.assertRaises(dbus.exceptions.DBusException):
            self.call(client, 'GetNameOwner', 's', ('org.example.Nobody',), *DRIVER, 'org.freedesktop.DBus')
        self.call(client, 'GetNameOwner', 's', ('org.freedesktop.DBus',), *DRIVER, 'org.freedesktop.DBus')
        self.assertTrue(self.wait_for_messages(watcher, parse_dbus_monitor, kind='method return',
                                               destination=me, body=['string "org.freedesktop.DBus"']),
                        watcher.output())
        msgs = parse_dbus_monitor(watcher.output())
        errors = self.find(msgs, kind='error', destination=me)
        self.assertEqual(len(errors), 1, watcher.output())
        self.assertEqual(errors[0]['sender'], 'org.freedesktop.DBus')
        self.assertEqual(errors[0]['error_name'], 'org.freedesktop.DBus.Error.NameHasNoOwner')
        self.assertEqual(errors[0]['body'], ['string "Could not get owner of name \'org.example.Nobody\': '
                                             'no such name"'])
        failed_call = self.find(msgs, kind='method call', sender=me, serial=errors[0]['reply_serial'])
        self.assertEqual(len(failed_call), 1, watcher.output())
        self.assertEqual(failed_call[0]['member'], 'GetNameOwner')

    def test_dbus_monitor_shows_hello_with_the_unique_name_it_was_given_as_sender(self):
        watcher, _ = self.dbus_monitor()
        client = self.connect()
        me = client.get_unique_name()
        self.assertTrue(self.wait_for_messages(watcher, parse_dbus_monitor, kind='signal',
                                               member='NameAcquired', destination=me), watcher.output())
        msgs = parse_dbus_monitor(watcher.output())
        hello = self.find(msgs, kind='method call', member='Hello', serial='1',
                          destination='org.freedesktop.DBus')
        # dbus-daemon shows the Hello call as sent by the name Hello assigned.
        self.assertIn(me, [m['sender'] for m in hello], watcher.output())
        reply = self.find(msgs, kind='method return', destination=me, reply_serial='1')
        self.assertEqual(reply[0]['body'], ['string "%s"' % me])

    def test_dbus_monitor_is_told_that_it_lost_its_own_unique_name(self):
        watcher, _ = self.dbus_monitor()
        msgs = parse_dbus_monitor(watcher.output())
        acquired = self.find(msgs, kind='signal', member='NameAcquired', sender='org.freedesktop.DBus')
        self.assertTrue(acquired, watcher.output())
        own = acquired[0]['destination']
        lost = self.find(msgs, kind='signal', member='NameLost', destination=own)
        self.assertEqual([m['body'] for m in lost], [['string "%s"' % own]], watcher.output())


class DbusMonitorWithRules(MonitoringTestCase):

    def test_dbus_monitor_with_an_expression_shows_only_matching_messages(self):
        self.start_service_unique()
        watcher, _ = self.dbus_monitor("type='method_call',member='Add'")
        client = self.connect()
        self.call(client, 'Emit', 'ss', ('first', 'hello'))
        self.call(client, 'Add', 'ii', (2, 40))
        self.assertTrue(self.wait_for_messages(watcher, parse_dbus_monitor, member='Add'), watcher.output())
        self.sync_ping(client, 'Done')  # everything client caused before this is shown or dropped
        self.assertTrue(watcher.wait_for('member=Done', timeout=WAIT))
        shown = [(m['kind'], m.get('member')) for m in parse_dbus_monitor(watcher.output())
                 if m['sender'] != 'org.freedesktop.DBus' and m.get('interface') != 'org.jetbus.Sync']
        self.assertEqual(shown, [('method call', 'Add')], watcher.output())

    def test_dbus_monitor_with_two_expressions_shows_either(self):
        service = self.start_service_unique()
        watcher, _ = self.dbus_monitor("type='method_call',member='Add'", "type='signal',interface='org.jetbus.Test'")
        client = self.connect()
        self.call(client, 'Emit', 'ss', ('first', 'hello'))
        self.call(client, 'Add', 'ii', (2, 40))
        self.sync_ping(client, 'Done')
        self.assertTrue(watcher.wait_for('member=Done', timeout=WAIT))
        shown = [(m['kind'], m['sender'], m.get('member')) for m in parse_dbus_monitor(watcher.output())
                 if m['sender'] != 'org.freedesktop.DBus' and m.get('interface') != 'org.jetbus.Sync']
        self.assertEqual(shown, [('signal', service, 'Tick'), ('method call', client.get_unique_name(), 'Add')],
                         watcher.output())


class LegacyEavesdropping(MonitoringTestCase):

    def test_eavesdrop_rules_like_dbus_monitors_fallback_see_calls_replies_errors_and_signals(self):
        service = self.start_service_unique()
        eavesdropper = self.connect(mainloop=True)
        seen = []
        eavesdropper.add_message_filter(lambda conn, msg: seen.append(msg))
        for kind in ('signal', 'method_call', 'method_return', 'error'):
            # dbus-monitor's own fallback rules when BecomeMonitor is refused.
            eavesdropper.call_blocking(*DRIVER, 'org.freedesktop.DBus', 'AddMatch', 's',
                                       ("type='%s',eavesdrop=true" % kind,), timeout=WAIT)
        client = self.connect()
        me = client.get_unique_name()
        self.call(client, 'Add', 'ii', (2, 40))
        with self.assertRaises(dbus.exceptions.DBusException):
            self.call(client, 'Fail')
        self.call(client, 'Emit', 'ss', ('first', 'hello'))

        def from_to(sender, destination, cls):
            return [m for m in seen if isinstance(m, cls) and m.get_sender() == sender
                    and m.get_destination() == destination]

        def complete():
            return len(from_to(service, None, dbus.lowlevel.SignalMessage)) >= 1 \
                and len(from_to(service, me, dbus.lowlevel.MethodReturnMessage)) >= 2
        self.assertTrue(pump_until(complete, timeout=WAIT), [m.get_member() for m in seen])
        calls = {m.get_member(): m for m in from_to(me, SERVICE, dbus.lowlevel.MethodCallMessage)}
        self.assertEqual(sorted(calls), ['Add', 'Emit', 'Fail'])
        returns = from_to(service, me, dbus.lowlevel.MethodReturnMessage)
        self.assertEqual([r.get_reply_serial() for r in returns],
                         [calls['Add'].get_serial(), calls['Emit'].get_serial()])
        self.assertEqual(returns[0].get_args_list(), [42])
        errors = from_to(service, me, dbus.lowlevel.ErrorMessage)
        self.assertEqual([(e.get_error_name(), e.get_reply_serial()) for e in errors],
                         [('org.jetbus.Test.Error.Deliberate', calls['Fail'].get_serial())])
        ticks = from_to(service, None, dbus.lowlevel.SignalMessage)
        self.assertEqual([(t.get_member(), t.get_args_list()) for t in ticks], [('Tick', ['first', 'hello'])])


class BusctlMonitor(MonitoringTestCase):

    def busctl_monitor(self, *args):
        conn = self.connect()
        cmd = ['busctl', '--address=' + self.address, '--no-pager', 'monitor'] + list(args)
        return self.monitor(cmd, '"member":"Ping"' if '--json=short' in args else 'Member=Ping', conn), conn

    def test_busctl_monitor_json_shows_a_call_its_reply_and_a_signal(self):
        service = self.start_service_unique()
        watcher, _ = self.busctl_monitor('--json=short')
        client = self.connect()
        me = client.get_unique_name()
        self.call(client, 'Add', 'ii', (2, 40))
        self.call(client, 'Emit', 'ss', ('first', 'hello'))

        def parse(text):
            return [json.loads(line) for line in text.splitlines() if line.startswith('{')]
        self.assertTrue(self.wait_for_messages(watcher, parse, type='signal', member='Tick'), watcher.output())
        msgs = parse(watcher.output())
        calls = self.find(msgs, type='method_call', sender=me, member='Add')
        self.assertEqual(len(calls), 1, watcher.output())
        self.assertEqual((calls[0]['destination'], calls[0]['path'], calls[0]['interface']), (SERVICE, PATH, IFACE))
        self.assertEqual(calls[0]['payload'], {'type': 'ii', 'data': [2, 40]})
        replies = self.find(msgs, type='method_return', reply_cookie=calls[0]['cookie'], destination=me)
        self.assertEqual(len(replies), 1, watcher.output())
        self.assertEqual(replies[0]['sender'], service)
        self.assertEqual(replies[0]['payload'], {'type': 'i', 'data': [42]})
        ticks = self.find(msgs, type='signal', member='Tick')
        self.assertEqual(len(ticks), 1)
        self.assertEqual(ticks[0]['sender'], service)
        self.assertNotIn('destination', ticks[0])
        self.assertEqual(ticks[0]['payload'], {'type': 'ss', 'data': ['first', 'hello']})

    def test_busctl_monitor_text_shows_a_signal_with_its_header_and_body(self):
        service = self.start_service_unique()
        watcher, _ = self.busctl_monitor()
        self.call(self.connect(), 'Emit', 'ss', ('first', 'hello'))
        self.assertTrue(watcher.wait_for('Member=Tick', timeout=WAIT), watcher.output())
        self.assertTrue(watcher.wait_for(re.compile(
            r'Type=signal .*\n\s+Sender=%s\s+Path=%s\s+Interface=%s\s+Member=Tick\n'
            r'(\s+UniqueName=\S+\n)?\s+MESSAGE "ss" \{\n\s+STRING "first";\n\s+STRING "hello";\n\s+\};'
            % (re.escape(service), re.escape(PATH), re.escape(IFACE))), timeout=WAIT), watcher.output())

    def test_busctl_monitor_of_a_service_shows_only_its_traffic(self):
        service = self.start_service_unique()
        conn = self.connect()
        cmd = ['busctl', '--address=' + self.address, '--no-pager', 'monitor', '--json=short', SERVICE]
        watcher = self.background(cmd)
        self.assertTrue(retry_until_seen(lambda: self.call(conn, 'Emit', 'ss', ('sync', 'x')),
                                         watcher, '"member":"Tick"'), watcher.output())
        client = self.connect()
        self.sync_ping(client)  # from a bystander: not shown
        self.call(client, 'Add', 'ii', (2, 40))
        self.call(client, 'Emit', 'ss', ('last', 'x'))
        self.assertTrue(watcher.wait_for('"data":["last","x"]', timeout=WAIT), watcher.output())
        out = watcher.output()
        self.assertIn('"member":"Add"', out)
        self.assertNotIn('"member":"Ping"', out)
        self.assertIn('"sender":"%s"' % service, out)


class GdbusMonitor(MonitoringTestCase):

    def test_gdbus_monitor_dest_shows_signals_from_that_name_only(self):
        self.start_service_unique()
        watcher = self.background(['gdbus', 'monitor', '--address', self.address, '--dest', SERVICE])
        self.assertTrue(watcher.wait_for('is owned by', timeout=WAIT), watcher.output())
        client = self.connect()
        self.assertTrue(retry_until_seen(lambda: self.call(client, 'Emit', 'ss', ('sync', 'x')),
                                         watcher, "Tick ('sync', 'x')"), watcher.output())
        # The same signal from another peer is not the service's.
        imposter = dbus.lowlevel.SignalMessage(PATH, IFACE, 'Tick')
        imposter.append('imposter', 'x', signature='ss')
        client.send_message(imposter)
        self.call(client, 'Emit', 'ss', ('last', 'x'))
        self.assertTrue(watcher.wait_for("Tick ('last', 'x')", timeout=WAIT), watcher.output())
        self.assertIn("/org/jetbus/Test: org.jetbus.Test.Tick ('last', 'x')", watcher.output())
        self.assertNotIn('imposter', watcher.output())


class BecomeMonitor(MonitoringTestCase):

    def become_monitor(self, conn, rules=()):
        conn.call_blocking(*DRIVER, MONITORING, 'BecomeMonitor', 'asu', (dbus.Array(rules, signature='s'), 0),
                           timeout=WAIT)

    def watcher(self):
        conn = self.connect(mainloop=True)
        seen = []
        conn.add_message_filter(lambda c, msg: seen.append(msg))
        conn.add_match_string("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'")
        return conn, seen

    def test_become_monitor_releases_the_callers_names_and_others_are_told(self):
        watcher, seen = self.watcher()
        mon = self.connect(mainloop=True)
        mon_seen = []
        mon.add_message_filter(lambda c, msg: mon_seen.append(msg))
        unique = mon.get_unique_name()
        self.assertEqual(mon.request_name('com.example.Monitor'), dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.become_monitor(mon)
        expected = {('com.example.Monitor', unique, ''), (unique, unique, '')}

        def released():
            return expected <= {tuple(str(a) for a in m.get_args_list()) for m in seen
                                if m.get_member() == 'NameOwnerChanged'}
        self.assertTrue(pump_until(released, timeout=WAIT))
        for name in (unique, 'com.example.Monitor'):
            with self.assertRaises(dbus.exceptions.DBusException) as cm:
                watcher.call_blocking(*DRIVER, 'org.freedesktop.DBus', 'GetNameOwner', 's', (name,),
                                      timeout=WAIT)
            self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.NameHasNoOwner')
            self.assertEqual(cm.exception.get_dbus_message(),
                             "Could not get owner of name '%s': no such name" % name)
        names = watcher.call_blocking(*DRIVER, 'org.freedesktop.DBus', 'ListNames', '', (), timeout=WAIT)
        self.assertNotIn(unique, names)
        self.assertNotIn('com.example.Monitor', names)

    def test_become_monitor_tells_the_monitor_it_lost_each_of_its_names(self):
        mon = self.connect(mainloop=True)
        seen = []
        mon.add_message_filter(lambda c, msg: seen.append(msg))
        unique = mon.get_unique_name()
        mon.request_name('com.example.Monitor')
        self.become_monitor(mon)

        def lost():
            return {str(m.get_args_list()[0]) for m in seen
                    if m.get_member() == 'NameLost' and m.get_destination() == unique}
        pump_until(lambda: lost() == {unique, 'com.example.Monitor'}, timeout=WAIT)
        self.assertEqual(lost(), {unique, 'com.example.Monitor'})

    def test_a_monitor_that_sends_a_message_is_disconnected_and_the_message_dropped(self):
        watcher, seen = self.watcher()
        watcher.add_match_string("type='signal',interface='org.jetbus.FromMonitor'")
        mon = self.connect(mainloop=True)
        self.become_monitor(mon)
        mon.send_message(dbus.lowlevel.SignalMessage('/', 'org.jetbus.FromMonitor', 'Hi'))
        self.assertTrue(pump_until(lambda: not mon.get_is_connected(), timeout=WAIT),
                        'the broker kept a monitor that sent a message')
        # The broker handled the monitor's message before closing it; a round trip from the
        # watcher afterwards shows nothing of it was delivered.
        watcher.call_blocking(*DRIVER, 'org.freedesktop.DBus', 'GetId', '', (), timeout=WAIT)
        pump_until(lambda: False, timeout=0.1)
        self.assertEqual([m for m in seen if m.get_interface() == 'org.jetbus.FromMonitor'], [])

    def test_a_monitor_that_calls_the_driver_is_disconnected_without_a_reply(self):
        mon = self.connect(mainloop=True)
        self.become_monitor(mon)
        seen = []
        mon.add_message_filter(lambda c, msg: seen.append(msg))
        call = dbus.lowlevel.MethodCallMessage(*DRIVER, 'org.freedesktop.DBus', 'GetId')
        serial = mon.send_message(call)
        self.assertTrue(pump_until(lambda: not mon.get_is_connected(), timeout=WAIT))
        self.assertEqual([m for m in seen if isinstance(m, dbus.lowlevel.MethodReturnMessage)
                          and m.get_reply_serial() == serial and m.get_destination() == mon.get_unique_name()],
                         [])

    def test_become_monitor_rules_see_unicast_traffic_without_eavesdrop(self):
        mon = self.connect(mainloop=True)
        seen = []
        mon.add_message_filter(lambda c, msg: seen.append(msg))
        self.become_monitor(mon, ["type='method_call',member='Add'", "type='signal',member='S'"])
        a, b = self.connect(), self.connect()
        target = b.get_unique_name()
        call = dbus.lowlevel.MethodCallMessage(target, '/p', 'org.jetbus.X', 'Add')
        call.set_no_reply(True)
        a.send_message(call)
        other = dbus.lowlevel.MethodCallMessage(target, '/p', 'org.jetbus.X', 'Sub')
        other.set_no_reply(True)
        a.send_message(other)
        to_b = dbus.lowlevel.SignalMessage('/p', 'org.jetbus.X', 'S')
        to_b.set_destination(target)
        a.send_message(to_b)
        a.send_message(dbus.lowlevel.SignalMessage('/p', 'org.jetbus.X', 'S'))

        def from_a():
            return [(m.get_member(), m.get_destination()) for m in seen if m.get_sender() == a.get_unique_name()]
        pump_until(lambda: len(from_a()) >= 3, timeout=WAIT)
        self.assertEqual(from_a(), [('Add', target), ('S', target), ('S', None)])

    def test_become_monitor_errors_leave_the_connection_usable(self):
        conn = self.connect()
        for rules, flags, name, text in (
                (["foo='bar'"], 0, 'org.freedesktop.DBus.Error.MatchRuleInvalid', 'Unknown key "foo" in match rule'),
                ([], 1, 'org.freedesktop.DBus.Error.InvalidArgs', 'BecomeMonitor does not support any flags yet')):
            with self.assertRaises(dbus.exceptions.DBusException) as cm:
                conn.call_blocking(*DRIVER, MONITORING, 'BecomeMonitor', 'asu',
                                   (dbus.Array(rules, signature='s'), flags), timeout=WAIT)
            self.assertEqual(cm.exception.get_dbus_name(), name)
            self.assertEqual(cm.exception.get_dbus_message().rstrip('\n'), text)
        self.assertTrue(conn.call_blocking(*DRIVER, 'org.freedesktop.DBus', 'GetId', '', (), timeout=WAIT))
