#!/usr/bin/python3
# A python3-dbus service for the activation tests (test_activation.py): the broker starts it from a
# .service file. It connects to DBUS_STARTER_ADDRESS (or --address), takes its well-known name and
# exports /org/jetbus/Activatable (interface org.jetbus.Activatable): Echo records each argument in
# arrival order, Calls returns that record, Env reports environment variables. By argv it may wait
# before taking its name, exit with a status or die by a signal instead, or never take it; --say
# first writes a line to stdout and one to stderr, for the tests of where a service's output goes.
# Its pid goes to RECORD_DIR/pids first thing, so the test can stop it whatever the broker does; it
# also exits on SIGTERM, when the bus disconnects it, and after --lifetime seconds at the latest.
import argparse
import os
import signal
import sys
import time

IFACE = 'org.jetbus.Activatable'
PATH = '/org/jetbus/Activatable'


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('name', help='the well-known name to take')
    parser.add_argument('--record-dir', required=True, help='where to append "PID NAME" to pids')
    parser.add_argument('--address', help='bus address (default: DBUS_STARTER_ADDRESS)')
    parser.add_argument('--delay', type=float, default=0.0, help='seconds to wait before RequestName')
    parser.add_argument('--exit-status', type=int, help='exit with this status instead of serving')
    parser.add_argument('--kill-signal', type=int, help='die by this signal instead of serving')
    parser.add_argument('--never-own', action='store_true', help='connect but never take the name')
    parser.add_argument('--say', help='write "SAY (stdout)" to stdout and "SAY (stderr)" to stderr first')
    parser.add_argument('--lifetime', type=float, default=60.0, help='exit after this many seconds')
    return parser.parse_args()


def record_pid(record_dir, name):
    with open(os.path.join(record_dir, 'pids'), 'a') as f:
        f.write('%d %s\n' % (os.getpid(), name))


def main():
    args = parse_args()
    record_pid(args.record_dir, args.name)
    if args.say is not None:
        print('%s (stdout)' % args.say, flush=True)
        print('%s (stderr)' % args.say, file=sys.stderr, flush=True)
    if args.exit_status is not None:
        sys.exit(args.exit_status)
    if args.kill_signal is not None:
        os.kill(os.getpid(), args.kill_signal)

    import dbus
    import dbus.bus
    import dbus.service
    from dbus.mainloop.glib import DBusGMainLoop
    from gi.repository import GLib

    class Activatable(dbus.service.Object):
        def __init__(self, conn):
            super().__init__(conn, PATH)
            self.calls = []

        @dbus.service.method(IFACE, in_signature='s', out_signature='s')
        def Echo(self, text):
            self.calls.append(str(text))
            return text

        @dbus.service.method(IFACE, in_signature='', out_signature='as')
        def Calls(self):
            return dbus.Array(self.calls, signature='s')

        @dbus.service.method(IFACE, in_signature='as', out_signature='a{ss}')
        def Env(self, names):
            """The values of those of names that are set in this process's environment."""
            return dbus.Dictionary({n: os.environ[n] for n in names if n in os.environ}, signature='ss')

    loop = GLib.MainLoop()
    address = args.address or os.environ['DBUS_STARTER_ADDRESS']
    conn = dbus.bus.BusConnection(address, mainloop=DBusGMainLoop())
    conn.call_on_disconnection(lambda _conn: loop.quit())
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.timeout_add(int(args.lifetime * 1000), loop.quit)
    service = Activatable(conn)

    if not args.never_own:
        if args.delay:
            time.sleep(args.delay)
        conn.request_name(args.name, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    loop.run()
    del service


if __name__ == '__main__':
    main()
