# org.freedesktop.DBus.Debug.Stats as dbus-python, busctl and a raw socket see it: GetStats,
# GetConnectionStats and GetAllMatchRules answer the same keys and types on both daemons, and the
# values that do not depend on a daemon's internals (connection, name and rule counts, queue levels
# of a peer that stops reading, the size of the call being answered) agree too.
import re
import struct
import time

import dbus
import dbus.lowlevel

from harness import BusTestCase, CLIENT_TIMEOUT, run
from test_bad_input import RawClient, header_field, hello_message, pad

DBUS = 'org.freedesktop.DBus'
DBUS_PATH = '/org/freedesktop/DBus'
STATS = 'org.freedesktop.DBus.Debug.Stats'

GET_STATS_KEYS = [
    'Serial', 'ListMemPoolUsedBytes', 'ListMemPoolCachedBytes', 'ListMemPoolAllocatedBytes',
    'ActiveConnections', 'IncompleteConnections', 'MatchRules', 'PeakMatchRules',
    'PeakMatchRulesPerConnection', 'BusNames', 'PeakBusNames', 'PeakBusNamesPerConnection']
CONNECTION_STATS_KEYS = [
    'Serial', 'MatchRules', 'PeakMatchRules', 'BusNames', 'PeakBusNames', 'UniqueName',
    'IncomingMessages', 'IncomingBytes', 'IncomingFDs', 'PeakIncomingBytes', 'PeakIncomingFDs',
    'OutgoingMessages', 'OutgoingBytes', 'OutgoingFDs', 'PeakOutgoingBytes', 'PeakOutgoingFDs']

FIELD_SIGNATURE = 8


def stats_call_message(name, serial):
    """GetConnectionStats(name) marshalled by hand, so its size on the wire is known exactly."""
    fields = b''
    fields = header_field(fields, 1, 'o', DBUS_PATH)
    fields = header_field(fields, 2, 's', STATS)
    fields = header_field(fields, 3, 's', 'GetConnectionStats')
    fields = header_field(fields, 6, 's', DBUS)
    fields = pad(fields, 8) + struct.pack('<BBcB', FIELD_SIGNATURE, 1, b'g', 0) + b'\x01s\0'
    raw = name.encode()
    body = struct.pack('<I', len(raw)) + raw + b'\0'
    fixed = struct.pack('<cBBBIII', b'l', 1, 0, 1, len(body), serial, len(fields))
    return pad(fixed + fields, 8) + body


class Reader:
    """Cuts whole little-endian messages from a RawClient's socket."""

    def __init__(self, client):
        self.sock = client.sock
        self.data = b''

    def _fill(self, n, deadline):
        while len(self.data) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError('bus closed the connection')
            self.data += chunk

    def next(self, timeout=CLIENT_TIMEOUT):
        """(type, reply_serial, member, body) of the next message."""
        deadline = time.monotonic() + timeout
        self._fill(16, deadline)
        body_len, _, fields_len = struct.unpack_from('<III', self.data, 4)
        body_at = 16 + fields_len + (-(16 + fields_len) % 8)
        self._fill(body_at + body_len, deadline)
        msg, self.data = self.data[:body_at + body_len], self.data[body_at + body_len:]
        reply_serial, member = 0, ''
        at = 16
        while at < 16 + fields_len:
            at += -at % 8
            code, sig_len = msg[at], msg[at + 1]
            sig = msg[at + 2:at + 2 + sig_len].decode()
            at += 3 + sig_len
            if sig == 'u':
                at += -at % 4
                if code == 5:
                    reply_serial = struct.unpack_from('<I', msg, at)[0]
                at += 4
            elif sig in ('s', 'o'):
                at += -at % 4
                n = struct.unpack_from('<I', msg, at)[0]
                if code == 3:
                    member = msg[at + 4:at + 4 + n].decode()
                at += 4 + n + 1
            else:  # g
                at += 1 + msg[at] + 1
        return msg[1], reply_serial, member, msg[body_at:]

    def reply_to(self, serial, timeout=CLIENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            kind, reply_serial, _, body = self.next(max(0.01, deadline - time.monotonic()))
            if reply_serial == serial:
                return kind, body


def parse_asv(body):
    """An a{sv} body whose values are u or s, as an ordered dict."""
    out = {}
    length = struct.unpack_from('<I', body, 0)[0]
    at, end = 8, 8 + length
    while at < end:
        at += -at % 8
        n = struct.unpack_from('<I', body, at)[0]
        key = body[at + 4:at + 4 + n].decode()
        at += 4 + n + 1
        sig = body[at + 1:at + 1 + body[at]].decode()
        at += 2 + body[at]
        at += -at % 4
        if sig == 'u':
            out[key] = struct.unpack_from('<I', body, at)[0]
            at += 4
        else:
            n = struct.unpack_from('<I', body, at)[0]
            out[key] = body[at + 4:at + 4 + n].decode()
            at += 4 + n + 1
    return out


def string_body(s):
    raw = s.encode()
    return struct.pack('<I', len(raw)) + raw + b'\0'


class DebugStats(BusTestCase):

    def stats(self, conn, member, *args, signature=''):
        return conn.call_blocking(DBUS, DBUS_PATH, STATS, member, signature, args, timeout=CLIENT_TIMEOUT)

    def get_stats(self, conn):
        return self.stats(conn, 'GetStats')

    def connection_stats(self, conn, name):
        return self.stats(conn, 'GetConnectionStats', name, signature='s')

    def assert_dbus_error(self, name, text, call):
        with self.assertRaises(dbus.exceptions.DBusException) as caught:
            call()
        self.assertEqual(caught.exception.get_dbus_name(), name)
        self.assertEqual(caught.exception.get_dbus_message(), text)

    def raw_hello(self):
        """A raw client past Hello, and its unique name."""
        client = RawClient(self.bus.socket)
        self.addCleanup(client.close)
        client.auth()
        client.send(hello_message(serial=1))
        reader = Reader(client)
        kind, body = reader.reply_to(1)
        self.assertEqual(kind, 2)
        n = struct.unpack_from('<I', body, 0)[0]
        return client, reader, body[4:4 + n].decode()

    def test_get_stats_answers_dbus_daemons_keys_in_its_order_all_uint32(self):
        conn = self.connect()
        stats = self.get_stats(conn)
        self.assertEqual(list(stats.keys()), GET_STATS_KEYS)
        for key, value in stats.items():
            self.assertIsInstance(value, dbus.UInt32, key)
        self.assertEqual(self.get_stats(conn)['Serial'], stats['Serial'] + 1)

    def test_get_stats_counts_connections_names_and_rules_as_they_come_and_go(self):
        observer = self.connect()
        before = self.get_stats(observer)
        owner, waiter = self.connect(), self.connect()
        owner.request_name('org.jetbus.Stats')
        waiter.request_name('org.jetbus.Stats')  # queued behind owner: counted as well
        owner.add_match_string("type='signal',member='One'")
        owner.add_match_string("type='signal',member='Two'")
        after = self.get_stats(observer)
        self.assertEqual(after['ActiveConnections'], before['ActiveConnections'] + 2)
        self.assertEqual(after['BusNames'], before['BusNames'] + 4)
        self.assertEqual(after['MatchRules'], before['MatchRules'] + 2)
        self.assertGreaterEqual(after['PeakBusNames'], after['BusNames'])
        self.assertGreaterEqual(after['PeakBusNamesPerConnection'], 2)
        self.assertGreaterEqual(after['PeakMatchRulesPerConnection'], 2)
        self.assertEqual(after['IncompleteConnections'], 0)
        owner.remove_match_string("type='signal',member='Two'")
        self.assertEqual(self.get_stats(observer)['MatchRules'], before['MatchRules'] + 1)

    def test_get_connection_stats_answers_dbus_daemons_keys_and_types_by_either_name(self):
        observer, owner, waiter = self.connect(), self.connect(), self.connect()
        owner.request_name('org.jetbus.Stats')
        waiter.request_name('org.jetbus.Stats')
        owner.add_match_string("type='signal',member='One'")
        owner.remove_match_string("type='signal',member='One'")
        stats = self.connection_stats(observer, 'org.jetbus.Stats')
        self.assertEqual(list(stats.keys()), CONNECTION_STATS_KEYS)
        for key, value in stats.items():
            self.assertIsInstance(value, dbus.String if key == 'UniqueName' else dbus.UInt32, key)
        self.assertEqual(stats['UniqueName'], owner.get_unique_name())
        self.assertEqual(stats['BusNames'], 2)
        self.assertEqual(stats['PeakBusNames'], 2)
        self.assertEqual(stats['MatchRules'], 0)
        self.assertEqual(stats['PeakMatchRules'], 1)
        self.assertGreater(stats['PeakIncomingBytes'], 0)
        self.assertGreater(stats['PeakOutgoingBytes'], 0)
        self.assertEqual(self.connection_stats(observer, waiter.get_unique_name())['BusNames'], 2)
        again = self.connection_stats(observer, owner.get_unique_name())
        self.assertEqual(again['Serial'], stats['Serial'] + 2)

    def test_get_connection_stats_refuses_the_bus_and_unowned_names_with_dbus_daemons_texts(self):
        conn = self.connect()
        self.assert_dbus_error('org.freedesktop.DBus.Error.InvalidArgs',
                               'GetConnectionStats is not meaningful for the message bus '
                               '"org.freedesktop.DBus" itself',
                               lambda: self.connection_stats(conn, DBUS))
        for name in (':1.9999', 'org.jetbus.Nobody', 'not a name'):
            with self.subTest(name=name):
                self.assert_dbus_error('org.freedesktop.DBus.Error.NameHasNoOwner',
                                       "Could not get statistics of name '%s': no such name" % name,
                                       lambda: self.connection_stats(conn, name))

    def test_calls_with_the_wrong_arguments_fail_with_invalid_args(self):
        conn = self.connect()
        self.assert_dbus_error('org.freedesktop.DBus.Error.InvalidArgs',
                               'Call to GetStats has wrong args (s, expected )\n',
                               lambda: self.stats(conn, 'GetStats', 'x', signature='s'))
        self.assert_dbus_error('org.freedesktop.DBus.Error.InvalidArgs',
                               'Call to GetConnectionStats has wrong args (, expected s)\n',
                               lambda: self.stats(conn, 'GetConnectionStats'))

    def test_the_call_being_answered_is_the_callers_incoming_bytes_at_its_size_on_the_wire(self):
        client, reader, name = self.raw_hello()
        call = stats_call_message(name, serial=2)
        client.send(call)
        kind, body = reader.reply_to(2)
        self.assertEqual(kind, 2)
        stats = parse_asv(body)
        self.assertEqual(list(stats.keys()), CONNECTION_STATS_KEYS)
        self.assertEqual(stats['UniqueName'], name)
        self.assertEqual(stats['IncomingBytes'], len(call))
        self.assertGreaterEqual(stats['PeakIncomingBytes'], len(call))

    def test_calls_sent_in_one_write_count_as_incoming_until_each_is_answered(self):
        client, reader, name = self.raw_hello()
        calls = [stats_call_message(name, serial) for serial in (2, 3, 4)]
        client.send(b''.join(calls))
        size = len(calls[0])
        for serial, waiting in ((2, 2), (3, 1), (4, 0)):
            stats = parse_asv(reader.reply_to(serial)[1])
            self.assertEqual(stats['IncomingMessages'], waiting)
            self.assertEqual(stats['IncomingBytes'], (waiting + 1) * size)

    def test_messages_waiting_for_a_peer_that_stops_reading_are_its_outgoing_queue(self):
        client, reader, name = self.raw_hello()
        rule = "type='signal',interface='org.jetbus.Big'"
        add_match = b''
        for code, sig, value in ((1, 'o', DBUS_PATH), (2, 's', DBUS), (3, 's', 'AddMatch'), (6, 's', DBUS)):
            add_match = header_field(add_match, code, sig, value)
        add_match = pad(add_match, 8) + struct.pack('<BBcB', FIELD_SIGNATURE, 1, b'g', 0) + b'\x01s\0'
        body = string_body(rule)
        client.send(pad(struct.pack('<cBBBIII', b'l', 1, 0, 1, len(body), 2, len(add_match)) + add_match, 8)
                    + body)
        self.assertEqual(reader.reply_to(2)[0], 2)
        # From here the raw client reads nothing until the counts are taken.
        emitter, observer = self.connect(), self.connect()
        blob = 'x' * 60000
        count = 12  # about 720 kB, more than the socket takes
        for _ in range(count):
            msg = dbus.lowlevel.SignalMessage('/org/jetbus/Big', 'org.jetbus.Big', 'Blob')
            msg.append(blob, signature='s')
            emitter.send_message(msg)
        # A round trip on the emitter's connection: the bus has routed every signal before it answers.
        self.get_stats(emitter)
        queued = self.connection_stats(observer, name)
        self.assertGreater(queued['OutgoingMessages'], 0)
        self.assertLessEqual(queued['OutgoingMessages'], count)
        self.assertGreater(queued['OutgoingBytes'], queued['OutgoingMessages'] * 60000)
        self.assertGreaterEqual(queued['PeakOutgoingBytes'], queued['OutgoingBytes'])
        self.assertEqual(queued['OutgoingFDs'], 0)
        # The emitter's signals still in the bus are charged to it as incoming.
        sender = self.connection_stats(observer, emitter.get_unique_name())
        self.assertGreaterEqual(sender['IncomingBytes'], queued['OutgoingMessages'] * 60000)

        blobs = 0
        while blobs < count:
            blobs += reader.next()[2] == 'Blob'
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while True:
            after = self.connection_stats(observer, name)
            if after['OutgoingMessages'] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(after['OutgoingMessages'], 0)
        self.assertEqual(after['OutgoingBytes'], 0)
        self.assertGreaterEqual(after['PeakOutgoingBytes'], queued['PeakOutgoingBytes'])
        self.assertEqual(self.connection_stats(observer, emitter.get_unique_name())['IncomingBytes'], 0)

    def test_get_all_match_rules_lists_each_connection_with_its_rules_in_canonical_form(self):
        observer, subscriber = self.connect(), self.connect()
        subscriber.add_match_string("member='M',type='signal',arg0='x',interface='org.jetbus.I'")
        subscriber.add_match_string("eavesdrop=true,path_namespace='/org',arg1path='/p/'")
        rules = self.stats(observer, 'GetAllMatchRules')
        self.assertIsInstance(rules, dbus.Dictionary)
        self.assertEqual(rules.signature, 'sas')
        self.assertEqual(list(rules[observer.get_unique_name()]), [])
        self.assertEqual(sorted(rules[subscriber.get_unique_name()]),
                         ["path_namespace='/org',eavesdrop='true',arg1path='/p/'",
                          "type='signal',interface='org.jetbus.I',member='M',arg0='x'"])
        self.assertNotIn(DBUS, rules)
        for name in rules:
            self.assertTrue(name.startswith(':'), name)

    def test_the_interface_is_only_on_the_bus_path(self):
        conn = self.connect()
        with self.assertRaises(dbus.exceptions.DBusException) as caught:
            conn.call_blocking(DBUS, '/', STATS, 'GetStats', '', (), timeout=CLIENT_TIMEOUT)
        self.assertEqual(caught.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.UnknownInterface')

    def test_interfaces_property_and_introspection_list_it(self):
        conn = self.connect()
        interfaces = conn.call_blocking(DBUS, DBUS_PATH, 'org.freedesktop.DBus.Properties', 'Get', 'ss',
                                        (DBUS, 'Interfaces'), timeout=CLIENT_TIMEOUT)
        self.assertEqual(list(interfaces), ['org.freedesktop.DBus.Monitoring', STATS])
        xml = conn.call_blocking(DBUS, DBUS_PATH, 'org.freedesktop.DBus.Introspectable', 'Introspect', '', (),
                                 timeout=CLIENT_TIMEOUT)
        block = re.search(r'<interface name="org.freedesktop.DBus.Debug.Stats">.*?</interface>', xml, re.S)
        self.assertIsNotNone(block, xml)
        self.assertEqual(re.findall(r'<method name="(\w+)">', block.group(0)),
                         ['GetStats', 'GetConnectionStats', 'GetAllMatchRules'])
        self.assertIn('<arg direction="out" type="a{sas}"/>', block.group(0))

    def test_busctl_calls_get_stats_and_sees_twelve_entries(self):
        result = run(['busctl', '--address=' + self.address, '--no-pager', 'call', DBUS, DBUS_PATH, STATS,
                      'GetStats'])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith('a{sv} 12 "Serial" u '), result.stdout)
        for key in GET_STATS_KEYS:
            self.assertIn('"%s" u ' % key, result.stdout)

    def test_dbus_send_prints_get_all_match_rules(self):
        out = self.assert_ok(self.dbus_send(STATS + '.GetAllMatchRules', path=DBUS_PATH))
        self.assertRegex(out, r'array \[\s*dict entry\(\s*string ":')
