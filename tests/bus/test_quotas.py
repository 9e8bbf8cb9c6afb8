# Per-user accounting (jetbus's max_*_per_user limits and the shares other users get): a user that
# floods, never reads or hoards fds meets its own limit, with LimitsExceeded or a disconnect and a log
# line, while other users' traffic keeps flowing and the broker's memory and fds stay bounded.
# Clients run as other users through setpriv (quota_client.py, raw sockets). Needs root.
# dbus-daemon has no per-user shares (it refuses these limit names): the suite skips there.
import json
import os
import signal
import socket
import statistics
import time

import harness
from harness import BusDaemon, BusTestCase, CLIENT_TIMEOUT, PYTHON, wait_until
from test_credentials import setpriv
from test_faults import broker_is_sanitized

CLIENT = os.path.join(harness.HERE, 'quota_client.py')
SINK = 'org.jetbus.QuotaSink'
LIMITS_EXCEEDED = 'org.freedesktop.DBus.Error.LimitsExceeded'

# Open to every user; queues per connection large, so what stops a flood is the per-user share.
CONFIG = harness.CONFIG_TEMPLATE.replace('''    <allow own="*"/>
  </policy>''', '''    <allow own="*"/>
    <allow user="*"/>
  </policy>''').replace('</busconfig>', '''  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_incoming_unix_fds">100000</limit>
  <limit name="max_outgoing_unix_fds">100000</limit>
  <limit name="max_message_unix_fds">64</limit>
  <limit name="max_bytes_per_user">{bytes_per_user}</limit>
  <limit name="max_fds_per_user">{fds_per_user}</limit>
  <limit name="max_match_rules_per_user">{rules_per_user}</limit>
  <limit name="max_names_per_user">{names_per_user}</limit>
  <limit name="max_replies_per_user">{replies_per_user}</limit>
</busconfig>''')

DEFAULTS = dict(bytes_per_user=4 * 1024 * 1024, fds_per_user=256, rules_per_user=20, names_per_user=10,
                replies_per_user=5)


def broker_fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def broker_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class QuotaClient:
    """quota_client.py as a user; result() is its last JSON line."""

    def __init__(self, test, user, *args):
        prefix = setpriv(user) if user != 'root' else []
        self.bg = test.background(prefix + [PYTHON, CLIENT, test.bus.socket] + [str(a) for a in args],
                                  env={'HOME': '/'})
        self.pid = self.bg.proc.pid

    def lines(self):
        return [json.loads(line) for line in self.bg.output().splitlines() if line.startswith('{')]

    def wait_line(self, key, count=1, timeout=CLIENT_TIMEOUT):
        ok = wait_until(lambda: sum(1 for l in self.lines() if key in l) >= count, timeout)
        if not ok:
            raise AssertionError('no "%s" line from %s; output %r; stderr %s' % (
                key, self.bg.cmd, self.bg.output(), self.bg.stop()))
        return [l for l in self.lines() if key in l][count - 1]

    def received(self, count):
        """Asks a sink how many messages it got (its count-th answer)."""
        self.bg.proc.stdin.write(b'\n')
        self.bg.proc.stdin.flush()
        return self.wait_line('received', count)['received']


class QuotaCase(BusTestCase):
    """A broker with CONFIG and LIMITS; the helpers the tests share."""
    LIMITS = DEFAULTS

    def setUp(self):
        if harness.testing_reference_daemon():
            self.skipTest('per-user shares are jetbus\'s own (dbus-daemon refuses max_*_per_user limits)')
        self._background = []
        self._connections = []
        config = CONFIG
        for key, value in self.LIMITS.items():
            config = config.replace('{%s}' % key, str(value))
        self.bus = BusDaemon(harness.DAEMON_PATH, config_text=config, dir_owner='root')
        try:
            self.bus.start()
        except Exception:
            self.bus.cleanup()
            raise
        self.address = self.bus.address
        self.start_fds = broker_fds(self.bus.pid)
        self.start_rss = broker_rss_kib(self.bus.pid)

    def client(self, user, *args):
        return QuotaClient(self, user, *args)

    def sink(self, user, name=SINK):
        s = self.client(user, 'sink', name)
        s.wait_line('unique')
        return s

    def assert_fds_back(self):
        ok = wait_until(lambda: broker_fds(self.bus.pid) <= self.start_fds, CLIENT_TIMEOUT)
        self.assertTrue(ok, 'broker holds %d fds, %d at the start' % (broker_fds(self.bus.pid), self.start_fds))

    def stop_clients(self):
        for bg in self._background:
            if bg.proc.poll() is None:
                try:
                    os.kill(bg.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            bg.stop()
        self._background = []

    def log(self):
        return self.bus.stderr()

    def tearDown(self):
        self.stop_clients()
        super().tearDown()


class QuotaTest(QuotaCase):
    # --- queued bytes -------------------------------------------------------------------------
    def test_a_flood_to_a_stopped_receiver_stops_at_the_senders_share_and_others_still_get_through(self):
        receiver = self.sink('daemon')
        os.kill(receiver.pid, signal.SIGSTOP)
        flood = self.client('nobody', 'flood', SINK, 4096, 5)
        result = flood.wait_line('sent', timeout=CLIENT_TIMEOUT + 10)
        self.assertGreater(result['limits_exceeded'], 0, result)
        self.assertFalse(result['disconnected'], result)
        # The flooder got about half of the receiver's user's bytes; the rest is still there for others.
        rss_growth = broker_rss_kib(self.bus.pid) - self.start_rss
        bound = 3 * 4096 + (512 * 1024 if broker_is_sanitized() else 0)  # ASan's quarantine keeps freed memory
        self.assertLess(rss_growth, bound, 'RSS grew by %d KiB with 4 MiB per user' % rss_growth)
        accepted = result['sent'] - result['limits_exceeded']
        self.assertLess(accepted * 4096, 4 * 1024 * 1024 * 0.55, result)
        self.assertGreater(accepted * 4096, 4 * 1024 * 1024 * 0.4, result)
        self.assertIn("uid %d reached its share of uid %d's bytes" % (65534, 1), self.log())
        # A third user's calls still fit in the receiver's queue, and are answered once it runs again.
        other = self.client('root', 'pingpong', SINK, 1)
        other.wait_line('unique')
        os.kill(receiver.pid, signal.SIGCONT)
        answer = other.wait_line('calls', timeout=CLIENT_TIMEOUT)
        self.assertGreater(answer['calls'], 0, answer)
        self.assertEqual(answer['errors'], 0, answer)
        # Nothing the bus accepted was lost: the receiver gets every queued message and every call.
        expected = accepted + answer['calls']
        got = []
        wait_until(lambda: got.append(receiver.received(len(got) + 1)) or got[-1] >= expected, CLIENT_TIMEOUT,
                   interval=0.2)
        self.assertEqual(got[-1], expected)

    def test_a_receivers_own_user_keeps_the_room_another_user_cannot_take(self):
        receiver = self.sink('daemon')
        os.kill(receiver.pid, signal.SIGSTOP)
        flood = self.client('nobody', 'flood', SINK, 4096, 3)
        self.assertGreater(flood.wait_line('sent', timeout=CLIENT_TIMEOUT + 10)['limits_exceeded'], 0)
        own = self.client('daemon', 'flood', SINK, 4096, 3)
        mine = own.wait_line('sent', timeout=CLIENT_TIMEOUT + 10)
        # The receiver's own user may use what the other user could not: close to the other half.
        self.assertGreater((mine['sent'] - mine['limits_exceeded']) * 4096, 4 * 1024 * 1024 * 0.4, mine)

    def test_a_flood_from_one_user_leaves_another_users_ping_pong_most_of_its_rate(self):
        self.sink('daemon', 'org.jetbus.Echo')
        receiver = self.sink('nobody')
        os.kill(receiver.pid, signal.SIGSTOP)

        def rate():
            ping = self.client('daemon', 'pingpong', 'org.jetbus.Echo', 1)
            result = ping.wait_line('calls', timeout=CLIENT_TIMEOUT)
            self.assertEqual(result['errors'], 0, result)
            return result['calls']

        # Each flooded second is measured once the flood meets its limit (LimitsExceeded came back), and
        # beside a second alone just before it, so a machine that gets busier or quieter meanwhile weighs on
        # both of a pair alike; the first pair warms up. A bus that serves a flood first left about a tenth
        # of the rate; the flooding client's own CPU takes some of it on a small machine.
        ratios, alone, flooded, refused = [], [], [], 0
        for i in range(5):
            quiet = rate()
            flood = self.client('nobody', 'flood-until-told', SINK, 1024)
            flood.wait_line('refused', timeout=CLIENT_TIMEOUT)
            loud = rate()
            flood.bg.proc.stdin.write(b'\n')
            flood.bg.proc.stdin.flush()
            result = flood.wait_line('sent', timeout=CLIENT_TIMEOUT + 10)
            # It reads its errors: its user's full account (its own stopped receiver) does not end it.
            self.assertFalse(result['disconnected'], result)
            refused += result['limits_exceeded']
            if i:
                alone.append(quiet)
                flooded.append(loud)
                ratios.append(loud / max(quiet, 1))
        self.assertGreater(refused, 0)
        ratio = statistics.median(ratios)
        print('ping-pong calls/s alone %s, during a flood %s (median ratio %.2f)' % (alone, flooded, ratio))
        self.assertGreater(ratio, 0.3, 'alone %s, flooded %s' % (alone, flooded))

    # --- fds ----------------------------------------------------------------------------------
    def test_a_peer_sending_thousands_of_fds_meets_its_share_and_the_bus_keeps_none(self):
        receiver = self.sink('daemon')
        os.kill(receiver.pid, signal.SIGSTOP)
        sender = self.client('nobody', 'fds', SINK, 3000, 10)
        result = sender.wait_line('sent_fds', timeout=CLIENT_TIMEOUT + 10)
        self.assertGreater(result['limits_exceeded'], 0, result)
        # The broker never held more than the receiver's user's fds, and gives them all back.
        self.assertLessEqual(broker_fds(self.bus.pid), self.start_fds + 256 + 64)
        self.stop_clients()
        self.assert_fds_back()

    def test_fds_sent_ahead_of_a_message_still_arriving_end_only_that_connection(self):
        import quota_client
        other = self.sink('daemon', 'org.jetbus.Other')
        bus = quota_client.Bus(self.bus.socket)
        body = b'\0' * 100000
        whole = quota_client.message(quota_client.TYPE_CALL, bus.next_serial(), 'org.jetbus.Other', '/',
                                     'org.jetbus.Quota', 'Big', 'ay', len(body).to_bytes(4, 'little') + body[4:])
        bus.send(whole[:len(whole) - len(body)])  # the header: the bus now waits for 100,000 bytes
        null = os.open('/dev/null', os.O_RDONLY)
        closed = False
        try:
            for i in range(100):  # 16 fds with each byte of the body: 1,600 fds, far over 256 per user
                bus.send(b'\0', fds=[null] * 16)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        finally:
            os.close(null)
        if not closed:
            closed = bus.read_message(CLIENT_TIMEOUT) is None and bus.closed
        bus.sock.close()
        self.assertTrue(closed, 'the bus kept a connection that sent 1,600 fds with one message of none')
        self.assertIn('its unix fds would take uid 0 over its limit of 256', self.log())
        self.assertEqual(other.received(1), 0)  # the others are still served
        self.stop_clients()
        self.assert_fds_back()

    # --- rules, names, replies ----------------------------------------------------------------
    def test_match_rules_are_counted_over_all_of_a_users_connections(self):
        import dbus
        conns = [dbus.bus.BusConnection(self.bus.address) for _ in range(2)]
        for i in range(20):
            conns[i % 2].call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                       'AddMatch', 's', ["member='M%d'" % i])
        with self.assertRaises(dbus.exceptions.DBusException) as ctx:
            conns[0].call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                   'AddMatch', 's', ["member='One'"])
        self.assertEqual(ctx.exception.get_dbus_name(), LIMITS_EXCEEDED)
        self.assertIn('max_match_rules_per_user=20', ctx.exception.get_dbus_message())
        # Another user is not affected; and a removed rule makes room again.
        nobody = self.client('nobody', 'sink', 'org.jetbus.NobodyRules')
        nobody.wait_line('unique')
        conns[1].call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                               'RemoveMatch', 's', ["member='M1'"])
        conns[0].call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                               'AddMatch', 's', ["member='One'"])
        conns[1].close()
        conns[0].call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                               'AddMatch', 's', ["member='Two'"])
        conns[0].close()

    def test_names_are_counted_over_all_of_a_users_connections_and_freed_when_they_go(self):
        import dbus
        conns = [dbus.bus.BusConnection(self.bus.address) for _ in range(2)]
        for i in range(10):
            self.assertEqual(conns[i % 2].request_name('org.jetbus.N%d' % i), 1)
        with self.assertRaises(dbus.exceptions.DBusException) as ctx:
            conns[0].request_name('org.jetbus.Eleventh')
        self.assertEqual(ctx.exception.get_dbus_name(), LIMITS_EXCEEDED)
        self.assertIn('max_names_per_user=10', ctx.exception.get_dbus_message())
        # Asking again for a name it owns is no new claim.
        self.assertEqual(conns[0].request_name('org.jetbus.N0'), 4)  # ALREADY_OWNER
        conns[1].release_name('org.jetbus.N1')
        self.assertEqual(conns[0].request_name('org.jetbus.Eleventh'), 1)
        conns[1].close()  # its four remaining names go with it
        for i in range(4):
            self.assertEqual(conns[0].request_name('org.jetbus.After%d' % i), 1)
        conns[0].close()

    def test_pending_replies_are_counted_over_all_of_a_users_connections(self):
        receiver = self.sink('daemon')
        os.kill(receiver.pid, signal.SIGSTOP)  # it will not answer for now
        conns = [self.connect(mainloop=True) for _ in range(2)]
        errors, replies = [], []
        for i in range(6):
            conns[i % 2].call_async(SINK, '/', 'org.jetbus.Quota', 'Wait', '', [],
                                    reply_handler=lambda *a: replies.append(a),
                                    error_handler=lambda e: errors.append(e.get_dbus_name()))
        harness.pump_until(lambda: len(errors) >= 1, CLIENT_TIMEOUT)
        self.assertEqual(errors, [LIMITS_EXCEEDED])
        os.kill(receiver.pid, signal.SIGCONT)
        harness.pump_until(lambda: len(replies) >= 5, CLIENT_TIMEOUT)
        self.assertEqual(len(replies), 5)
        # Answered calls free their slots.
        conns[0].call_blocking(SINK, '/', 'org.jetbus.Quota', 'Again', '', [])

    # --- incomplete connections -------------------------------------------------------------
    def test_a_user_holding_unauthenticated_sockets_cannot_keep_others_out(self):
        socks = []
        try:
            for _ in range(80):  # max_incomplete_connections is 64 (dbus-daemon's default)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                socks.append(s)
            pid = os.fork()
            if pid == 0:  # as nobody: open sockets and never authenticate
                os.setgid(65534)
                os.setuid(65534)
                held = []
                for _ in range(80):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.bus.socket)
                    held.append(s)
                time.sleep(CLIENT_TIMEOUT)
                os._exit(0)
            try:
                wait_until(lambda: 'share of the 64 incomplete connections' in self.log(), CLIENT_TIMEOUT)
                self.assertIn('refusing a connection from uid 65534', self.log())
                # Root still connects and is served.
                import dbus
                root = dbus.bus.BusConnection(self.bus.address)
                self.assertIn('org.freedesktop.DBus', root.list_names())
                root.close()
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        finally:
            for s in socks:
                s.close()
        self.assert_fds_back()

class DeafPeerTest(QuotaCase):
    """A peer that never reads what the bus sends it (its errors) meets its user's byte limit there."""
    LIMITS = dict(DEFAULTS, bytes_per_user=256 * 1024)

    def test_a_flooder_that_never_reads_its_errors_is_disconnected_at_its_users_limit(self):
        receiver = self.sink('daemon')
        os.kill(receiver.pid, signal.SIGSTOP)
        flood = self.client('nobody', 'flood-deaf', SINK, 1024, CLIENT_TIMEOUT)
        result = flood.wait_line('sent', timeout=CLIENT_TIMEOUT + 10)
        self.assertTrue(result['disconnected'], result)
        self.assertIn('uid 65534 has over 262144 bytes queued', self.log())
        rss_growth = broker_rss_kib(self.bus.pid) - self.start_rss
        bound = 4096 + (512 * 1024 if broker_is_sanitized() else 0)
        self.assertLess(rss_growth, bound, 'RSS grew by %d KiB' % rss_growth)
        # The receiver's queue (the part the flooder could fill) still reaches it.
        os.kill(receiver.pid, signal.SIGCONT)
        got = []
        self.assertTrue(wait_until(lambda: got.append(receiver.received(len(got) + 1)) or got[-1] > 0,
                                   CLIENT_TIMEOUT, interval=0.2))
        self.stop_clients()
        self.assert_fds_back()
