# Peer credentials come from the kernel, never from what a client says. Clients run as other users
# through setpriv (credentials_client.py, which speaks SASL by hand so it can claim any identity):
# the driver reports the uid, pid and groups the socket has whatever the client sent with AUTH
# EXTERNAL; EXTERNAL with any spelling of another user's uid is REJECTED (and six refusals end the
# connection); and a user denied a name by the policy cannot get it by claiming to be root.
# Needs root (setpriv). The outcomes are dbus-daemon's: the suite runs against it too.
import grp
import json
import os
import pwd
import select
import time

import harness
from harness import BusDaemon, BusTestCase, CLIENT_TIMEOUT, PYTHON

CLIENT = os.path.join(harness.HERE, 'credentials_client.py')
DENIED_NAME = 'com.example.Denied'
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
REJECTED = 'REJECTED EXTERNAL'  # the config offers EXTERNAL only
PRIMARY_OWNER = 1               # RequestName's reply

# The harness's session config, open to every user (a session bus admits only its own uid by
# default), with one name nobody may not own.
CONFIG = harness.CONFIG_TEMPLATE.replace('''    <allow own="*"/>
  </policy>''', '''    <allow own="*"/>
    <allow user="*"/>
  </policy>
  <policy user="nobody">
    <deny own="%s"/>
  </policy>''' % DENIED_NAME)


def setpriv(user, groups=()):
    entry = pwd.getpwnam(user)
    group_arg = '--groups=' + ','.join(map(str, groups)) if groups else '--clear-groups'
    return ['setpriv', '--reuid=%d' % entry.pw_uid, '--regid=%d' % entry.pw_gid, group_arg]


class Client:
    """credentials_client.py running as a user; lines() reads the JSON lines it prints."""

    def __init__(self, test, prefix, claims, request_name=None):
        cmd = prefix + [PYTHON, CLIENT, test.bus.socket]
        for claim in claims:
            cmd += ['--claim', str(claim)]
        if request_name:
            cmd += ['--request-name', request_name]
        self.bg = test.background(cmd, env={'HOME': '/'})
        self.pid = self.bg.proc.pid  # setpriv execs the client: the same process
        self.seen = []

    def lines(self, count):
        """The first count lines, waiting up to CLIENT_TIMEOUT for them (fewer if it exits)."""
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while True:
            self.seen = [json.loads(line) for line in self.bg.output().splitlines()]
            if len(self.seen) >= count or self.bg.proc.poll() is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([self.bg.proc.stdout.fileno()], [], [], min(left, 0.05))
        return self.seen[:count]

    def sasl(self):
        """[(claim, the broker's reply)] and whether it got in."""
        first = self.lines(1)
        if not first:
            raise AssertionError('client printed nothing; stderr: %s' % self.bg.stop())
        return [tuple(step) for step in first[0]['sasl']], first[0]['ok']

    def joined(self):
        """The line after Hello: the unique name and the client's own pid and uid."""
        got = self.lines(2)
        if len(got) < 2 or 'unique' not in got[1]:
            raise AssertionError('client did not get through Hello: %r; stderr: %s' % (got, self.bg.stop()))
        return got[1]


class CredentialsTest(BusTestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('the credentials tests need root (to run clients as other users)')
        # BusTestCase's broker, with CONFIG and a socket directory other users can enter.
        self.bus = BusDaemon(harness.DAEMON_PATH, config_text=CONFIG, dir_owner='root')
        self._background = []
        self._connections = []
        try:
            self.bus.start()
        except Exception:
            self.bus.cleanup()
            raise
        self.address = self.bus.address
        self.nobody = pwd.getpwnam('nobody')
        self.daemon = pwd.getpwnam('daemon')

    def client(self, prefix, *claims, request_name=None):
        return Client(self, prefix, claims, request_name)

    def credentials(self, unique):
        """What the driver tells root about unique, by all three methods."""
        driver = self.driver(self.connect())
        creds = driver.GetConnectionCredentials(unique)
        return {
            'uid': int(driver.GetConnectionUnixUser(unique)),
            'pid': int(driver.GetConnectionUnixProcessID(unique)),
            'creds_uid': int(creds['UnixUserID']),
            'creds_pid': int(creds['ProcessID']),
            'groups': sorted(int(g) for g in creds['UnixGroupIDs']),
        }

    def assert_reported_as(self, client, uid, groups):
        joined = client.joined()
        self.assertEqual((joined['uid'], joined['pid']), (uid, client.pid), 'client ran as someone else')
        self.assertEqual(self.credentials(joined['unique']),
                         {'uid': uid, 'pid': client.pid, 'creds_uid': uid, 'creds_pid': client.pid,
                          'groups': sorted(groups)})

    # --- (a) the driver reports the kernel's credentials ---------------------------------------
    def test_a_client_sending_no_identity_is_reported_with_the_uid_and_pid_of_its_socket(self):
        client = self.client(setpriv('nobody'), 'none')
        steps, ok = client.sasl()
        self.assertTrue(ok and len(steps) == 1 and steps[0][1].startswith('OK '), steps)
        self.assert_reported_as(client, self.nobody.pw_uid, [self.nobody.pw_gid])

    def test_a_client_claiming_its_own_uid_is_reported_with_its_kernel_groups(self):
        adm = grp.getgrnam('adm').gr_gid
        client = self.client(setpriv('daemon', groups=[adm]), self.daemon.pw_uid)
        steps, ok = client.sasl()
        self.assertTrue(ok, steps)
        self.assert_reported_as(client, self.daemon.pw_uid, [self.daemon.pw_gid, adm])

    def test_a_client_refused_for_claiming_root_is_still_reported_as_itself_once_in(self):
        client = self.client(setpriv('nobody'), 0, 'none')
        steps, ok = client.sasl()
        self.assertEqual([reply for _, reply in steps][:1], [REJECTED])
        self.assertTrue(ok, steps)
        self.assert_reported_as(client, self.nobody.pw_uid, [self.nobody.pw_gid])

    # --- (b) EXTERNAL with a foreign uid is refused -----------------------------------------------
    def test_nobody_claiming_root_in_any_spelling_is_rejected(self):
        claims = ['0', '00', '0x0', '+0', ' 0']
        client = self.client(setpriv('nobody'), *claims)
        steps, ok = client.sasl()
        self.assertFalse(ok, steps)
        self.assertEqual(steps, [(claim, REJECTED) for claim in claims])

    def test_root_claiming_nobodys_or_daemons_uid_is_rejected(self):
        claims = [self.nobody.pw_uid, hex(self.nobody.pw_uid), self.daemon.pw_uid, 'nobody']
        client = self.client([], *claims)
        steps, ok = client.sasl()
        self.assertFalse(ok, steps)
        self.assertEqual(steps, [(str(claim), REJECTED) for claim in claims])

    def test_a_spelling_of_the_clients_own_uid_is_accepted(self):
        client = self.client(setpriv('nobody'), hex(self.nobody.pw_uid))
        steps, ok = client.sasl()
        self.assertTrue(ok and steps[0][1].startswith('OK '), steps)
        self.assert_reported_as(client, self.nobody.pw_uid, [self.nobody.pw_gid])

    def test_a_client_that_keeps_claiming_root_is_disconnected_after_six_rejections(self):
        client = self.client(setpriv('nobody'), *(['0'] * 8))
        steps, ok = client.sasl()
        self.assertFalse(ok, steps)
        self.assertEqual(steps, [('0', REJECTED)] * 6 + [('0', '')])

    # --- (c) a claimed identity does not lift a policy denial -------------------------------------
    def test_nobody_cannot_own_a_denied_name_by_claiming_to_be_root(self):
        client = self.client(setpriv('nobody'), 0, 'none', request_name=DENIED_NAME)
        steps, ok = client.sasl()
        self.assertEqual(steps[0], ('0', REJECTED))
        self.assertTrue(ok, steps)
        client.joined()
        self.assertEqual(client.lines(3)[2:], [{'error': ACCESS_DENIED}])
        self.assertFalse(self.driver(self.connect()).NameHasOwner(DENIED_NAME))

    def test_the_denied_name_is_nobodys_alone_to_be_refused(self):
        other = self.client(setpriv('nobody'), 'none', request_name='com.example.Allowed')
        other.joined()
        self.assertEqual(other.lines(3)[2:], [{'request_name': PRIMARY_OWNER}])
        root = self.client([], 0, request_name=DENIED_NAME)
        root.joined()
        self.assertEqual(root.lines(3)[2:], [{'request_name': PRIMARY_OWNER}])


if __name__ == '__main__':
    import unittest
    unittest.main()
