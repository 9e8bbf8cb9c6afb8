# A client that authenticates by hand, for test_credentials.py, which runs it as other users through
# setpriv. It speaks SASL on a raw socket, making each claim of --claim in turn (a uid to send with
# AUTH EXTERNAL, or "none" to send no identity and answer the DATA challenge with an empty one) until
# the broker says OK or it runs out of claims. Once in, it says Hello and makes its driver calls with
# messages marshalled by hand (no library would let it choose its own SASL lines).
# Every step prints one JSON line on stdout:
#   {"sasl": [[claim, reply], ...], "ok": bool}     the exchange, the broker's reply line to each claim
#   {"unique": NAME, "pid": PID, "uid": UID}      after Hello; PID and UID are the process's own
#   {"request_name": RESULT} / {"error": NAME}      for --request-name NAME
# then it stays connected until stdin closes, so the test can ask the broker about it meanwhile.
import argparse
import json
import os
import socket
import struct
import sys

TIMEOUT = 10.0  # seconds for any one reply from the broker


def say(**fields):
    print(json.dumps(fields), flush=True)


def read_line(sock):
    data = b''
    while not data.endswith(b'\r\n'):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors='replace').rstrip('\r\n')


def authenticate(sock, claims):
    """Makes each claim until one is accepted; returns (exchange, accepted)."""
    sock.sendall(b'\0')
    exchange = []
    for claim in claims:
        try:
            reply = make_claim(sock, claim)
        except OSError:
            reply = ''  # the broker hung up
        exchange.append([claim, reply])
        if reply.startswith('OK '):
            sock.sendall(b'BEGIN\r\n')
            return exchange, True
        if not reply:
            break
    return exchange, False


def make_claim(sock, claim):
    """One AUTH EXTERNAL; returns the broker's final reply line to it."""
    if claim != 'none':
        sock.sendall(b'AUTH EXTERNAL ' + claim.encode().hex().encode() + b'\r\n')
        return read_line(sock)
    sock.sendall(b'AUTH EXTERNAL\r\n')
    reply = read_line(sock)
    if reply == 'DATA':
        sock.sendall(b'DATA\r\n')
        reply = read_line(sock)
    return reply


def pad(buf, alignment):
    return buf + b'\0' * (-len(buf) % alignment)


def string_field(buf, code, sig, value):
    raw = value.encode()
    return pad(pad(buf, 8) + struct.pack('<BB', code, 1) + sig.encode() + b'\0', 4) + \
        struct.pack('<I', len(raw)) + raw + b'\0'


def driver_call(serial, member, sig='', body=b''):
    """A little-endian method call to the bus driver, marshalled by hand (strings and uint32 only)."""
    fields = string_field(b'', 1, 'o', '/org/freedesktop/DBus')
    fields = string_field(fields, 2, 's', 'org.freedesktop.DBus')
    fields = string_field(fields, 3, 's', member)
    fields = string_field(fields, 6, 's', 'org.freedesktop.DBus')
    if sig:
        fields = pad(fields, 8) + struct.pack('<BBBB', 8, 1, ord('g'), 0) + \
            struct.pack('<B', len(sig)) + sig.encode() + b'\0'
    fixed = struct.pack('<cBBBIII', b'l', 1, 0, 1, len(body), serial, len(fields))
    return pad(fixed + fields, 8) + body


def marshal_string(value):
    raw = value.encode()
    return struct.pack('<I', len(raw)) + raw + b'\0'


def read_exact(sock, size):
    data = b''
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError('the broker hung up')
        data += chunk
    return data


def read_message(sock):
    """The next message: (type, reply serial, error name, body); little-endian replies only."""
    fixed = read_exact(sock, 16)
    if fixed[0:1] != b'l':
        raise ValueError('expected a little-endian message, got %r' % fixed)
    kind = fixed[1]
    body_len, _, fields_len = struct.unpack_from('<III', fixed, 4)
    fields = read_exact(sock, fields_len + (-(16 + fields_len) % 8))[:fields_len]
    body = read_exact(sock, body_len)
    reply_serial, error_name, pos = None, None, 0
    while pos < len(fields):
        pos += -pos % 8
        code, sig_len = fields[pos], fields[pos + 1]
        sig = fields[pos + 2:pos + 2 + sig_len].decode()
        pos += 3 + sig_len
        if sig in ('s', 'o'):
            pos += -pos % 4
            length = struct.unpack_from('<I', fields, pos)[0]
            if code == 4:
                error_name = fields[pos + 4:pos + 4 + length].decode()
            pos += 5 + length
        elif sig == 'g':
            pos += 2 + fields[pos]
        elif sig == 'u':
            pos += -pos % 4
            if code == 5:
                reply_serial = struct.unpack_from('<I', fields, pos)[0]
            pos += 4
        else:
            raise ValueError('unexpected header field type %r' % sig)
    return kind, reply_serial, error_name, body


def call(sock, serial, member, sig='', body=b''):
    """Sends one driver call and returns its reply, skipping signals (NameAcquired) on the way."""
    sock.sendall(driver_call(serial, member, sig, body))
    while True:
        kind, reply_serial, error_name, reply_body = read_message(sock)
        if reply_serial == serial:
            return error_name, reply_body


def first_string(body):
    length = struct.unpack_from('<I', body, 0)[0]
    return body[4:4 + length].decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('socket')
    parser.add_argument('--claim', action='append', required=True)
    parser.add_argument('--request-name')
    args = parser.parse_args()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(args.socket)
    exchange, accepted = authenticate(sock, args.claim)
    say(sasl=exchange, ok=accepted)
    if not accepted:
        return
    error, body = call(sock, 1, 'Hello')
    if error:
        say(error=error)
        return
    say(unique=first_string(body), pid=os.getpid(), uid=os.getuid())
    if args.request_name:
        # flags 4: DO_NOT_QUEUE, so the answer is final
        error, body = call(sock, 2, 'RequestName', 'su', pad(marshal_string(args.request_name), 4) +
                           struct.pack('<I', 4))
        if error:
            say(error=error)
        else:
            say(request_name=struct.unpack_from('<I', body)[0])
    sys.stdin.read()  # stay connected until the test is done with us


if __name__ == '__main__':
    main()
