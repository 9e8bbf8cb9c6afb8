#!/usr/bin/python3
# A python3-dbus service the black-box tests talk to through real clients (dbus-send, gdbus,
# busctl, dbus-python). It owns one well-known name, exports /org/jetbus/Test with interface
# org.jetbus.Test, prints READY once the name is owned, and exits on SIGTERM or stdin EOF.
import argparse
import os
import signal
import sys

import dbus
import dbus.bus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = 'org.jetbus.Test'
PATH = '/org/jetbus/Test'


class TestObject(dbus.service.Object):
    def __init__(self, conn, loop):
        super().__init__(conn, PATH)
        self.loop = loop
        self.pending = []  # calls deliberately left without a reply

    @dbus.service.method(IFACE, in_signature='ybnqiuxtdsoasa{si}v',
                         out_signature='ybnqiuxtdsoasa{si}v')
    def Echo(self, y, b, n, q, i, u, x, t, d, s, o, a_s, a_si, v):
        return (y, b, n, q, i, u, x, t, d, s, o, a_s, a_si, v)

    @dbus.service.method(IFACE, in_signature='s', out_signature='s')
    def Hello(self, who):
        return 'Hello, ' + who

    @dbus.service.method(IFACE, in_signature='ii', out_signature='i')
    def Add(self, a, b):
        return a + b

    @dbus.service.method(IFACE, in_signature='', out_signature='s', sender_keyword='sender')
    def WhoAmI(self, sender=None):
        return sender

    @dbus.service.method(IFACE, in_signature='ss', out_signature='')
    def Emit(self, member_arg0, text):
        """Emits signal Tick(arg0, text) so tests can match on arg0."""
        self.Tick(member_arg0, text)

    @dbus.service.signal(IFACE, signature='ss')
    def Tick(self, arg0, text):
        pass

    @dbus.service.method(IFACE, in_signature='h', out_signature='s')
    def ReadFd(self, fd):
        """Reads everything from the passed fd and returns it as text."""
        raw = fd.take()
        chunks = []
        while True:
            data = os.read(raw, 4096)
            if not data:
                break
            chunks.append(data)
        os.close(raw)
        return b''.join(chunks).decode()

    @dbus.service.method(IFACE, in_signature='s', out_signature='h')
    def MakeFd(self, text):
        """Returns the read end of a pipe holding text."""
        r, w = os.pipe()
        os.write(w, text.encode())
        os.close(w)
        result = dbus.types.UnixFd(r)
        os.close(r)
        return result

    @dbus.service.method(IFACE, in_signature='', out_signature='s',
                         async_callbacks=('reply', 'error'))
    def HangThenExit(self, reply, error):
        """Never replies; the process exits shortly after so the caller sees NoReply."""
        self.pending.append((reply, error))
        GLib.timeout_add(200, lambda: os._exit(0))

    @dbus.service.method(IFACE, in_signature='', out_signature='')
    def Fail(self):
        raise dbus.exceptions.DBusException('Deliberate failure',
                                            name='org.jetbus.Test.Error.Deliberate')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--address', required=True)
    parser.add_argument('--name', required=True)
    args = parser.parse_args()

    loop = GLib.MainLoop()
    conn = dbus.bus.BusConnection(args.address, mainloop=DBusGMainLoop())
    obj = TestObject(conn, loop)
    reply = conn.request_name(args.name, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    if reply != dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER:
        print('could not own %s: %d' % (args.name, reply), file=sys.stderr)
        return 1
    # A Python-level handler would not run while GLib sleeps in C; let GLib watch the signal.
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda *_: loop.quit() or False)
    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_HUP | GLib.IO_IN, lambda *_: loop.quit())
    print('READY %s' % conn.get_unique_name(), flush=True)
    loop.run()
    del obj
    return 0


if __name__ == '__main__':
    sys.exit(main())
