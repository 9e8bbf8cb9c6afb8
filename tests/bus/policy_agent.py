#!/usr/bin/python3
# A scriptable D-Bus client for test_policy.py. It runs as whatever user the test started it as
# (setpriv), holds any number of bus connections, and answers one JSON command per stdin line with
# one JSON line on stdout: connect, call (waits for the reply), send (any message type, no wait),
# take (the messages that arrived since last time), close. GDBus (Gio) is used because it can build
# any message (unrequested replies, unicast signals) and its filters see every incoming message on
# its worker thread without a main loop. Method calls addressed to one of our own names get an
# empty method return, so callers see whether the call got through.
import json
import sys
import threading

from gi.repository import Gio, GLib

BUS = 'org.freedesktop.DBus'
KINDS = {
    Gio.DBusMessageType.METHOD_CALL: 'method_call',
    Gio.DBusMessageType.METHOD_RETURN: 'method_return',
    Gio.DBusMessageType.ERROR: 'error',
    Gio.DBusMessageType.SIGNAL: 'signal',
}


class Connection:
    """One bus connection; records what arrives except the replies to our own waited calls."""

    def __init__(self, address):
        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                 Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        self.lock = threading.Lock()
        self.received = []
        self.names = set()
        self.monitor = False
        self.conn = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        self.conn.set_exit_on_close(False)
        self.names.add(self.conn.get_unique_name())
        self.conn.add_filter(self._filter)

    def _filter(self, conn, message, incoming):
        if not incoming:
            return message
        call = message.get_message_type() == Gio.DBusMessageType.METHOD_CALL
        with self.lock:
            self.received.append(describe(message))
            answer = (call and not self.monitor and message.get_destination() in self.names and
                      not message.get_flags() & Gio.DBusMessageFlags.NO_REPLY_EXPECTED)
        if answer:
            conn.send_message(Gio.DBusMessage.new_method_reply(message), Gio.DBusSendMessageFlags.NONE)
        # A call is consumed (GDBus would answer calls to unexported paths itself); replies go on
        # to the waiting call, and do_call drops its own reply from the record.
        return None if call else message


def describe(message):
    body = message.get_body()
    return {
        'type': KINDS.get(message.get_message_type(), 'invalid'),
        'sender': message.get_sender(), 'destination': message.get_destination(),
        'path': message.get_path(), 'interface': message.get_interface(),
        'member': message.get_member(), 'error_name': message.get_error_name(),
        'body': body.unpack() if body is not None else None,
        'reply_serial': message.get_reply_serial(),
    }


def build(cmd):
    """A Gio.DBusMessage from a command's fields."""
    kind = cmd.get('type', 'method_call')
    if kind == 'method_call':
        msg = Gio.DBusMessage.new_method_call(cmd.get('dest'), cmd.get('path', '/'),
                                              cmd.get('iface'), cmd['member'])
    elif kind == 'signal':
        msg = Gio.DBusMessage.new_signal(cmd.get('path', '/'), cmd['iface'], cmd['member'])
        if cmd.get('dest'):
            msg.set_destination(cmd['dest'])
    else:
        msg = Gio.DBusMessage.new()
        msg.set_message_type(Gio.DBusMessageType.ERROR if kind == 'error'
                             else Gio.DBusMessageType.METHOD_RETURN)
        msg.set_reply_serial(cmd.get('reply_serial', 4242))
        if kind == 'error':
            msg.set_error_name(cmd.get('error_name', 'com.example.Error.Made'))
        msg.set_destination(cmd['dest'])
    if cmd.get('sig'):
        msg.set_body(GLib.Variant('(' + cmd['sig'] + ')', tuple(cmd.get('args', []))))
    if cmd.get('no_reply'):
        msg.set_flags(Gio.DBusMessageFlags.NO_REPLY_EXPECTED)
    return msg


def do_call(c, cmd):
    msg = build(cmd)
    try:
        reply, serial = c.conn.send_message_with_reply_sync(msg, Gio.DBusSendMessageFlags.NONE,
                                                            cmd.get('timeout', 5000), None)
    except GLib.Error as e:
        return {'error': 'client:%s.%d' % (e.domain, e.code),
                'message': e.message}
    finally:
        with c.lock:  # the reply passed the filter before the call returned
            c.received = [m for m in c.received if m['reply_serial'] != msg.get_serial()]
    if reply.get_message_type() == Gio.DBusMessageType.ERROR:
        body = reply.get_body()
        text = body.unpack()[0] if body is not None and body.n_children() else ''
        return {'error': reply.get_error_name(), 'message': text}
    body = reply.get_body()
    result = {'ok': True, 'body': body.unpack() if body is not None else []}
    if cmd.get('member') == 'RequestName' and cmd.get('dest') == BUS and result['body'][0] in (1, 4):
        c.names.add(cmd['args'][0])
    if cmd.get('member') == 'BecomeMonitor':
        c.monitor = True
    return result


def handle(conns, address, cmd):
    op = cmd['op']
    if op == 'connect':
        try:
            conns[cmd['conn']] = Connection(address)
        except GLib.Error as e:
            return {'error': 'connect', 'message': e.message}
        return {'ok': True, 'unique': conns[cmd['conn']].conn.get_unique_name()}
    c = conns[cmd['conn']]
    if op == 'call':
        return do_call(c, cmd)
    if op == 'send':
        ok, serial = c.conn.send_message(build(cmd), Gio.DBusSendMessageFlags.NONE)
        return {'ok': ok, 'serial': serial}
    if op == 'take':
        with c.lock:
            taken, c.received = c.received, []
        return {'ok': True, 'messages': taken, 'closed': c.conn.is_closed()}
    if op == 'close':
        c.conn.close_sync(None)
        del conns[cmd['conn']]
        return {'ok': True}
    return {'error': 'agent', 'message': 'unknown op ' + op}


def main():
    address = sys.argv[1]
    conns = {}
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        try:
            answer = handle(conns, address, json.loads(line))
        except Exception as e:  # report, keep serving: the test decides what a failure means
            answer = {'error': 'agent', 'message': '%s: %s' % (type(e).__name__, e)}
        print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    main()
