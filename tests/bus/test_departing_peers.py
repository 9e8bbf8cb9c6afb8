# Peers that leave while the broker is busy: their last bytes and their hang-up reach the broker in
# one go. The broker is stopped (SIGSTOP) while the raw-socket client writes and leaves, then
# continued, so it meets everything at once, as a loaded broker does (the soak run, bench/soak, found
# both cases). It must still drop the peer and close every fd it sent.
import array
import os
import re
import signal
import socket
import struct
import tempfile

from harness import BusTestCase, CLIENT_TIMEOUT, wait_until

# Message types and header field codes from the spec's "Message Format" section.
METHOD_CALL, SIGNAL = 1, 4
PATH, INTERFACE, MEMBER, DESTINATION, UNIX_FDS = 1, 2, 3, 6, 9


def pad(buf, alignment):
    return buf + b'\0' * (-len(buf) % alignment)


def header_field(buf, code, sig, value):
    buf = pad(buf, 8) + struct.pack('<B', code) + b'\x01' + sig.encode() + b'\0'
    if sig == 'u':
        return pad(buf, 4) + struct.pack('<I', value)
    raw = value.encode()
    return pad(buf, 4) + struct.pack('<I', len(raw)) + raw + b'\0'


def message(kind, serial, fields):
    """A little-endian message without a body, marshalled by hand (fields: (code, sig, value))."""
    packed = b''
    for code, sig, value in fields:
        packed = header_field(packed, code, sig, value)
    fixed = struct.pack('<cBBBIII', b'l', kind, 0, 1, 0, serial, len(packed))
    return pad(fixed + packed, 8)


def driver_call(member, serial, fds=0):
    fields = [(PATH, 'o', '/org/freedesktop/DBus'), (INTERFACE, 's', 'org.freedesktop.DBus'),
              (MEMBER, 's', member), (DESTINATION, 's', 'org.freedesktop.DBus')]
    return message(METHOD_CALL, serial, fields + ([(UNIX_FDS, 'u', fds)] if fds else []))


class RawPeer:
    """A unix socket client that authenticates (with fd passing), says Hello and knows its name."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(CLIENT_TIMEOUT)
        self.sock.connect(path)
        uid_hex = str(os.getuid()).encode().hex().encode()
        self.sock.sendall(b'\0AUTH EXTERNAL ' + uid_hex + b'\r\n')
        assert self._line().startswith(b'OK '), 'AUTH EXTERNAL refused'
        self.sock.sendall(b'NEGOTIATE_UNIX_FD\r\n')
        assert self._line() == b'AGREE_UNIX_FD\r\n', 'fd passing refused'
        self.sock.sendall(b'BEGIN\r\n' + driver_call('Hello', 1))
        reply = b''
        while not re.search(rb':1\.[0-9]+\0', reply):
            chunk = self.sock.recv(4096)
            assert chunk, 'the broker hung up before answering Hello'
            reply += chunk
        self.unique_name = re.search(rb'(:1\.[0-9]+)\0', reply).group(1).decode()

    def _line(self):
        data = b''
        while not data.endswith(b'\r\n'):
            chunk = self.sock.recv(1)
            assert chunk, 'the broker hung up during authentication'
            data += chunk
        return data

    def send_with_fd(self, data, fd):
        self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])


class DepartingPeers(BusTestCase):

    def setUp(self):
        super().setUp()
        self.observer = self.driver(self.connect())

    def while_the_broker_is_stopped(self, action):
        os.kill(self.bus.pid, signal.SIGSTOP)
        try:
            action()
        finally:
            os.kill(self.bus.pid, signal.SIGCONT)

    def assert_dropped(self, peer):
        self.assertTrue(wait_until(lambda: not self.observer.NameHasOwner(peer.unique_name), CLIENT_TIMEOUT),
                        '%s is still connected after it left' % peer.unique_name)

    def broker_fds_on(self, path):
        held = []
        fd_dir = '/proc/%d/fd' % self.bus.pid
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == path:
                    held.append(fd)
            except OSError:
                pass  # closed while we looked
        return held

    def test_a_peer_that_sends_its_last_message_and_hangs_up_at_once_is_dropped(self):
        # As dbus-send --type=signal leaves: one signal, then close, both in the broker's next read.
        peer = RawPeer(self.bus.socket)
        self.assertTrue(self.observer.NameHasOwner(peer.unique_name))
        last = message(SIGNAL, 2, [(PATH, 'o', '/org/jetbus/Test'), (INTERFACE, 's', 'org.jetbus.Test'),
                                   (MEMBER, 's', 'Bye')])

        def send_and_leave():
            peer.sock.sendall(last)
            peer.sock.close()
        self.while_the_broker_is_stopped(send_and_leave)
        self.assert_dropped(peer)

    def test_fds_a_departed_peer_sent_are_closed_when_the_answer_to_it_fails(self):
        # Two calls carrying an fd each, then the peer leaves: writing the answer to the first fails
        # and ends the connection while the second call, with its fd, may already be read.
        with tempfile.NamedTemporaryFile(dir=self.bus.dir, prefix='passed-') as f:
            peer = RawPeer(self.bus.socket)

            def send_and_leave():
                peer.send_with_fd(driver_call('GetId', 2, fds=1), f.fileno())
                peer.send_with_fd(driver_call('GetId', 3, fds=1), f.fileno())
                peer.sock.close()
            self.while_the_broker_is_stopped(send_and_leave)
            self.assert_dropped(peer)
            self.assertTrue(wait_until(lambda: not self.broker_fds_on(f.name), CLIENT_TIMEOUT),
                            'the broker still holds fds %s on the file the peer sent'
                            % self.broker_fds_on(f.name))
