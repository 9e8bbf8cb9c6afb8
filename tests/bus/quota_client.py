# A raw-socket D-Bus client for test_quotas.py, which runs it as other users through setpriv. It needs
# no D-Bus library (messages are marshalled by hand), so any user's python can run it, and it is quick
# enough to flood a bus. One mode per run; every result is one JSON line on stdout:
#   sink NAME                  own NAME, print {"unique": ...}, answer every call with an empty return;
#                              print {"received": N} whenever stdin gets a line, exit when it closes
#   flood DEST SIZE SECONDS    no-reply calls with a SIZE-byte body to DEST for SECONDS (or until the bus
#                              stops taking them); {"sent", "limits_exceeded", "errors", "disconnected"}
#   flood-deaf DEST SIZE SECONDS   the same, never reading what the bus sends back
#   fds DEST COUNT PER_MSG     COUNT fds in no-reply calls (16 KiB) of PER_MSG fds each to DEST;
#                              {"sent_fds", "limits_exceeded", "errors", "disconnected"}
#   pingpong DEST SECONDS      calls to DEST one at a time for SECONDS; {"calls": N, "errors": N}
import json
import os
import select
import socket
import struct
import sys
import time

TIMEOUT = 10.0

TYPE_CALL, TYPE_RETURN, TYPE_ERROR, TYPE_SIGNAL = 1, 2, 3, 4
NO_REPLY = 1
F_PATH, F_INTERFACE, F_MEMBER, F_ERROR, F_REPLY_SERIAL, F_DEST, F_SENDER, F_SIG, F_FDS = 1, 2, 3, 4, 5, 6, 7, 8, 9


def say(**fields):
    print(json.dumps(fields), flush=True)


def pad(buf, n):
    return buf + b'\0' * (-len(buf) % n)


def field(buf, code, sig, value):
    buf = pad(buf, 8) + struct.pack('<BB', code, 1) + sig.encode() + b'\0'
    if sig in ('s', 'o'):
        raw = value.encode()
        return pad(buf, 4) + struct.pack('<I', len(raw)) + raw + b'\0'
    if sig == 'g':
        raw = value.encode()
        return buf + struct.pack('<B', len(raw)) + raw + b'\0'
    return pad(buf, 4) + struct.pack('<I', value)  # 'u'


def message(mtype, serial, dest=None, path=None, interface=None, member=None, sig='', body=b'',
            flags=0, reply_serial=None, nfds=0):
    f = b''
    if path:
        f = field(f, F_PATH, 'o', path)
    if interface:
        f = field(f, F_INTERFACE, 's', interface)
    if member:
        f = field(f, F_MEMBER, 's', member)
    if reply_serial is not None:
        f = field(f, F_REPLY_SERIAL, 'u', reply_serial)
    if dest:
        f = field(f, F_DEST, 's', dest)
    if sig:
        f = field(f, F_SIG, 'g', sig)
    if nfds:
        f = field(f, F_FDS, 'u', nfds)
    fixed = struct.pack('<cBBBIII', b'l', mtype, flags, 1, len(body), serial, len(f))
    return pad(fixed + f, 8) + body


def string_body(s):
    raw = s.encode()
    return struct.pack('<I', len(raw)) + raw + b'\0'


class Bus:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.sock.sendall(b'\0AUTH EXTERNAL ' + str(os.getuid()).encode().hex().encode() + b'\r\n')
        line = b''
        while not line.endswith(b'\r\n'):
            line += self.sock.recv(1)
        assert line.startswith(b'OK '), line
        self.sock.sendall(b'NEGOTIATE_UNIX_FD\r\n')
        line = b''
        while not line.endswith(b'\r\n'):
            line += self.sock.recv(1)
        self.sock.sendall(b'BEGIN\r\n')
        self.buf = b''
        self.serial = 0
        self.closed = False
        self.unique = self.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'Hello')

    def next_serial(self):
        self.serial += 1
        return self.serial

    def send(self, data, fds=()):
        if fds:
            sent = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('%di' % len(fds), *fds))])
            if sent < len(data):
                self.sock.sendall(data[sent:])
        else:
            self.sock.sendall(data)

    def buffered_message(self):
        """The next whole message already read, parsed, or None."""
        if len(self.buf) < 16:
            return None
        body_len, serial, fields_len = struct.unpack_from('<III', self.buf, 4)
        total = 16 + fields_len + (-fields_len % 8) + body_len
        if len(self.buf) < total:
            return None
        raw, self.buf = self.buf[:total], self.buf[total:]
        return parse(raw)

    def read_message(self, timeout):
        """The next message (a dict, see parse), waiting up to timeout; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.buffered_message()
            if m is not None:
                return m
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.sock], [], [], max(left, 0))
            if not r:
                return None
            try:
                chunk = self.sock.recv(1 << 16)
            except BlockingIOError:
                return None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk

    def call(self, dest, path, interface, member, sig='', body=b''):
        serial = self.next_serial()
        self.send(message(TYPE_CALL, serial, dest, path, interface, member, sig, body))
        while True:
            m = self.read_message(TIMEOUT)
            if m is None:
                raise RuntimeError('no reply to %s' % member)
            if m['reply_serial'] == serial:
                if m['type'] == TYPE_ERROR:
                    raise RuntimeError(m['error'])
                return m['string']


def parse(raw):
    mtype, flags = raw[1], raw[2]
    body_len, serial, fields_len = struct.unpack_from('<III', raw, 4)
    out = {'type': mtype, 'flags': flags, 'serial': serial, 'reply_serial': None, 'error': None,
           'sender': None, 'string': None}
    i, end = 16, 16 + fields_len
    sig = ''
    while i < end:
        i += -i % 8
        code = raw[i]
        siglen = raw[i + 1]
        fsig = raw[i + 2:i + 2 + siglen].decode()
        i += 3 + siglen
        if fsig in ('s', 'o'):
            i += -i % 4
            n = struct.unpack_from('<I', raw, i)[0]
            value = raw[i + 4:i + 4 + n].decode()
            i += 5 + n
        elif fsig == 'g':
            n = raw[i]
            value = raw[i + 1:i + 1 + n].decode()
            i += 2 + n
        else:
            i += -i % 4
            value = struct.unpack_from('<I', raw, i)[0]
            i += 4
        if code == F_REPLY_SERIAL:
            out['reply_serial'] = value
        elif code == F_ERROR:
            out['error'] = value
        elif code == F_SENDER:
            out['sender'] = value
        elif code == F_SIG:
            sig = value
    body = raw[end + (-end % 8):]
    if sig.startswith('s') and len(body) >= 4:
        n = struct.unpack_from('<I', body, 0)[0]
        out['string'] = body[4:4 + n].decode(errors='replace')
    return out


def sink(bus, name):
    bus.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'RequestName', 'su',
             pad(string_body(name), 4) + struct.pack('<I', 4))
    say(unique=bus.unique)
    received = 0
    while True:
        r, _, _ = select.select([bus.sock, sys.stdin], [], [], TIMEOUT)
        if sys.stdin in r:
            if not sys.stdin.readline():
                return
            say(received=received)
        if bus.sock in r:
            m = bus.read_message(0)
            while m is not None:
                if m['type'] == TYPE_CALL:
                    received += 1
                    if not m['flags'] & NO_REPLY:
                        bus.send(message(TYPE_RETURN, bus.next_serial(), m['sender'], reply_serial=m['serial'],
                                         flags=NO_REPLY))
                m = bus.buffered_message()
            if bus.closed:
                return


def drain_errors(bus, counts, timeout=0.0):
    """Counts the errors read so far (timeout 0), or until none came for timeout seconds."""
    while True:
        m = bus.read_message(timeout) if timeout else bus.buffered_message()
        if m is None:
            return
        if m['type'] == TYPE_ERROR:
            key = 'limits_exceeded' if m['error'] == 'org.freedesktop.DBus.Error.LimitsExceeded' else 'errors'
            counts[key] += 1


def flood(bus, dest, size, seconds, fds_total=0, per_msg=0, deaf=False, until_stdin=False):
    """Sends for seconds; with until_stdin, until a line (or the end) on stdin instead, at most TIMEOUT,
    saying refused=N once the first LimitsExceeded is read."""
    counts = {'sent': 0, 'sent_fds': 0, 'limits_exceeded': 0, 'errors': 0}
    watch = [sys.stdin] if until_stdin else []
    if until_stdin:
        seconds = TIMEOUT
    body = string_body('x' * max(size - 5, 0))
    bus.sock.setblocking(False)
    pending = b''
    deadline = time.monotonic() + seconds
    null = os.open('/dev/null', os.O_RDONLY) if per_msg else -1
    while time.monotonic() < deadline and not bus.closed:
        if fds_total and counts['sent_fds'] >= fds_total and not pending:
            break
        r, w, _ = select.select(([] if deaf else [bus.sock]) + watch, [bus.sock], [],
                                max(0.0, min(0.2, deadline - time.monotonic())))
        if sys.stdin in r:
            break
        if r:
            try:
                chunk = bus.sock.recv(1 << 16)
            except BlockingIOError:
                chunk = None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if chunk == b'':
                bus.closed = True
                break
            if chunk:
                bus.buf += chunk
                bus.sock.setblocking(True)
                refused = counts['limits_exceeded']
                drain_errors(bus, counts)
                bus.sock.setblocking(False)
                if until_stdin and not refused and counts['limits_exceeded']:
                    say(refused=counts['sent'])
        if not w:
            continue
        try:
            if pending:
                n = bus.sock.send(pending)
                pending = pending[n:]
                continue
            if per_msg:
                data = message(TYPE_CALL, bus.next_serial(), dest, '/', 'org.jetbus.Quota', 'Fds', 's', body,
                               flags=NO_REPLY, nfds=per_msg)
                n = bus.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                               struct.pack('%di' % per_msg, *([null] * per_msg)))])
                counts['sent_fds'] += per_msg
            else:
                data = message(TYPE_CALL, bus.next_serial(), dest, '/', 'org.jetbus.Quota', 'Flood', 's', body,
                               flags=NO_REPLY)
                n = bus.sock.send(data)
            counts['sent'] += 1
            pending = data[n:]
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            bus.closed = True
    if not bus.closed:
        bus.sock.setblocking(True)
        try:
            bus.sock.sendall(pending)  # a message counted as sent goes out whole
        except (ConnectionResetError, BrokenPipeError):
            bus.closed = True
    if not bus.closed:
        drain_errors(bus, counts, 0.5)
    say(disconnected=bus.closed, **counts)


def pingpong(bus, dest, seconds):
    calls = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            bus.call(dest, '/', 'org.jetbus.Quota', 'Ping')
            calls += 1
        except RuntimeError:
            errors += 1
    say(calls=calls, errors=errors)


def main():
    path, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    bus = Bus(path)
    if mode == 'sink':
        sink(bus, args[0])
    elif mode == 'flood':
        say(unique=bus.unique)
        flood(bus, args[0], int(args[1]), float(args[2]))
    elif mode == 'flood-until-told':  # until a line on stdin; says refused=N at the first LimitsExceeded
        say(unique=bus.unique)
        flood(bus, args[0], int(args[1]), 0, until_stdin=True)
    elif mode == 'flood-deaf':  # never reads what the bus sends back
        say(unique=bus.unique)
        flood(bus, args[0], int(args[1]), float(args[2]), deaf=True)
    elif mode == 'fds':
        # 16 KiB bodies: the stopped receiver's socket buffer fills after a few, then the bus holds them.
        flood(bus, args[0], 16384, TIMEOUT, fds_total=int(args[1]), per_msg=int(args[2]))
    elif mode == 'pingpong':
        say(unique=bus.unique)
        pingpong(bus, args[0], float(args[1]))
    else:
        raise SystemExit('unknown mode ' + mode)


if __name__ == '__main__':
    main()
