# Bad input from one raw-socket client hurts only that client: garbage during auth, a malformed
# header after BEGIN, an absurd length field, a client vanishing mid-message. After each, a
# well-behaved client still gets ListNames and a subscription made before still gets signals.
import os
import socket
import struct
import time

from harness import BusTestCase, CLIENT_TIMEOUT, pump_until

# Header field codes and types from the spec's "Message Format" section.
FIELD_PATH, FIELD_INTERFACE, FIELD_MEMBER, FIELD_DESTINATION = 1, 2, 3, 6


def pad(buf, alignment):
    return buf + b'\0' * (-len(buf) % alignment)


def header_field(buf, code, sig, value):
    buf = pad(buf, 8)
    raw = value.encode()
    return pad(buf + struct.pack('<B', code) + b'\x01' + sig.encode() + b'\0', 4) + \
        struct.pack('<I', len(raw)) + raw + b'\0'


def hello_message(serial=1):
    """A little-endian Hello method call, marshalled by hand so tests can break it on purpose."""
    fields = b''
    fields = header_field(fields, FIELD_PATH, 'o', '/org/freedesktop/DBus')
    fields = header_field(fields, FIELD_INTERFACE, 's', 'org.freedesktop.DBus')
    fields = header_field(fields, FIELD_MEMBER, 's', 'Hello')
    fields = header_field(fields, FIELD_DESTINATION, 's', 'org.freedesktop.DBus')
    fixed = struct.pack('<cBBBIII', b'l', 1, 0, 1, 0, serial, len(fields))
    return pad(fixed + fields, 8)


class RawClient:
    """A unix socket speaking the protocol byte by byte."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(CLIENT_TIMEOUT)
        self.sock.connect(path)

    def send(self, data):
        self.sock.sendall(data)

    def auth(self):
        uid_hex = str(os.getuid()).encode().hex().encode()
        self.send(b'\0AUTH EXTERNAL ' + uid_hex + b'\r\n')
        line = self.read_line()
        assert line.startswith(b'OK '), line
        self.send(b'BEGIN\r\n')

    def read_line(self):
        data = b''
        while not data.endswith(b'\r\n'):
            try:
                chunk = self.sock.recv(1)
            except (ConnectionResetError, BrokenPipeError):
                break  # the broker hung up: the caller sees what arrived before
            if not chunk:
                break
            data += chunk
        return data

    def is_disconnected(self, timeout=CLIENT_TIMEOUT):
        """True once the broker closes the connection (reads hit end-of-file) within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
        return False

    def close(self):
        self.sock.close()


class BadInput(BusTestCase):

    def setUp(self):
        super().setUp()
        # A subscriber made before the bad client shows up; it must keep receiving afterwards.
        self.listener = self.connect(mainloop=True)
        self.received = []
        self.listener.add_signal_receiver(lambda text: self.received.append(str(text)), 'Ping',
                                          'org.jetbus.Survivor')
        self.driver(self.listener).GetId()

    def raw(self):
        client = RawClient(self.bus.socket)
        self.addCleanup(client.close)
        return client

    def assert_bus_still_serves_others(self, tag):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.ListNames'))
        self.assertIn('org.freedesktop.DBus', out)
        self.assertIn(self.listener.get_unique_name(), out)
        self.assert_ok(self.dbus_send('org.jetbus.Survivor.Ping', 'string:' + tag, dest=None,
                                      path='/org/jetbus/Survivor', reply=False))
        pump_until(lambda: tag in self.received, timeout=10)
        self.assertIn(tag, self.received)

    def test_a_well_formed_raw_hello_gets_a_unique_name(self):
        # Guards the hand-made marshalling the other tests break on purpose.
        client = self.raw()
        client.auth()
        client.send(hello_message())
        client.sock.settimeout(CLIENT_TIMEOUT)
        reply = client.sock.recv(4096)
        self.assertEqual(reply[:2], b'l\x02', reply)  # little-endian method return
        self.assertIn(b':', reply)
        self.assert_bus_still_serves_others('after-good-raw')

    def test_a_garbage_auth_line_gets_an_error_and_others_are_unaffected(self):
        client = self.raw()
        client.send(b'\0THIS IS NOT SASL\r\n')
        line = client.read_line()
        # The broker either answers ERROR (the spec's reply to an unknown command) or hangs up.
        self.assertTrue(line.startswith(b'ERROR') or line == b'', line)
        self.assert_bus_still_serves_others('after-garbage-auth')

    def test_a_missing_nul_byte_before_auth_is_refused(self):
        client = self.raw()
        client.send(b'AUTH EXTERNAL 30\r\n')
        line = client.read_line()
        self.assertFalse(line.startswith(b'OK'), line)
        self.assert_bus_still_serves_others('after-missing-nul')

    def test_a_bad_endianness_byte_after_begin_disconnects_only_that_client(self):
        client = self.raw()
        client.auth()
        client.send(b'X' + hello_message()[1:])
        self.assertTrue(client.is_disconnected(), 'the broker kept a client that sent a bad header')
        self.assert_bus_still_serves_others('after-bad-endianness')

    def test_a_huge_body_length_disconnects_only_that_client(self):
        client = self.raw()
        client.auth()
        msg = bytearray(hello_message())
        struct.pack_into('<I', msg, 4, 0xFFFFFFF0)  # body length far over the 128 MiB message limit
        client.send(bytes(msg))
        self.assertTrue(client.is_disconnected(), 'the broker kept a client that sent a 4 GiB length')
        self.assert_bus_still_serves_others('after-huge-length')

    def test_a_huge_header_fields_length_disconnects_only_that_client(self):
        client = self.raw()
        client.auth()
        msg = bytearray(hello_message())
        struct.pack_into('<I', msg, 12, 0x7FFFFFFF)  # header fields array length
        client.send(bytes(msg))
        self.assertTrue(client.is_disconnected(), 'the broker kept a client with a 2 GiB header')
        self.assert_bus_still_serves_others('after-huge-header')

    def test_a_message_with_an_invalid_type_disconnects_only_that_client(self):
        client = self.raw()
        client.auth()
        msg = bytearray(hello_message())
        msg[1] = 0  # message type 0 is INVALID in the spec
        client.send(bytes(msg))
        self.assertTrue(client.is_disconnected(), 'the broker kept a client that sent type 0')
        self.assert_bus_still_serves_others('after-invalid-type')

    def test_a_client_that_disconnects_mid_message_leaves_the_bus_intact(self):
        client = self.raw()
        client.auth()
        client.send(hello_message()[:10])
        client.close()
        self.assert_bus_still_serves_others('after-mid-message')

    def test_a_client_that_disconnects_mid_auth_leaves_the_bus_intact(self):
        client = self.raw()
        client.send(b'\0AUTH EXTER')
        client.close()
        self.assert_bus_still_serves_others('after-mid-auth')
