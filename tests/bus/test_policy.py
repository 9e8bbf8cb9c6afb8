# The security policy, differentially: each test runs one script of steps (connect, own a name,
# call, send replies and signals, eavesdrop, monitor) as several users (root, nobody, daemon with
# and without a supplementary group, a uid with no account) against the broker under test AND
# against /usr/bin/dbus-daemon with the same config, and asserts the two transcripts are equal:
# every allow/deny, every error name and AccessDenied text (pids, comm and unique names masked),
# every message each peer received. Each step also carries its expected outcome as captured from
# dbus-daemon, checked against the reference run, so the script can't drift into testing nothing.
#
# Clients are policy_agent.py processes started through setpriv as the user; sockets are 0777 in
# a 0755 directory (the brokers chmod the socket; BusDaemon's dir_owner sets the directory).
import fcntl
import grp
import json
import os
import pwd
import re
import select
import subprocess
import time
import unittest

import harness
from harness import BusDaemon

REFERENCE = '/usr/bin/dbus-daemon'
AGENT = os.path.join(harness.HERE, 'policy_agent.py')
BUS = 'org.freedesktop.DBus'
BUS_PATH = '/org/freedesktop/DBus'
MONITORING = 'org.freedesktop.DBus.Monitoring'
MARKER = 'com.example.Marker'  # NameHasOwner(MARKER) is the round trip that orders the steps
DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
REPLY_TIMEOUT_MS = 5000  # every answered call comes back in milliseconds; this bounds a broken one
AGENT_TIMEOUT = 10.0     # seconds for one agent command, above REPLY_TIMEOUT_MS
NO_ACCOUNT_UID = 4242    # a uid with no passwd entry: dbus-daemon refuses it at connect time


def user_setpriv(uid, gid, groups=None):
    group_arg = '--clear-groups' if not groups else '--groups=' + ','.join(map(str, groups))
    return ['setpriv', '--reuid=%d' % uid, '--regid=%d' % gid, group_arg]


def users():
    """How each test user's agent is started; the supplementary group is given to the process
    (the brokers read it with SO_PEERGROUPS), so nothing in the user database is changed."""
    nobody = pwd.getpwnam('nobody')
    daemon = pwd.getpwnam('daemon')
    adm = grp.getgrnam('adm').gr_gid
    return {
        'root': [],
        'nobody': user_setpriv(nobody.pw_uid, nobody.pw_gid),
        'daemon': user_setpriv(daemon.pw_uid, daemon.pw_gid),
        'daemon+adm': user_setpriv(daemon.pw_uid, daemon.pw_gid, [adm]),
        'noaccount': user_setpriv(NO_ACCOUNT_UID, NO_ACCOUNT_UID),
    }


class Agent:
    """One policy_agent.py process running as one user; commands and answers are JSON lines."""

    def __init__(self, prefix, address):
        self.proc = subprocess.Popen(prefix + [harness.PYTHON, AGENT, address],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={'PATH': os.environ['PATH'],
                                                                  'HOME': '/'})
        self.buffer = b''

    def wait_ready(self):
        ready = self._read()
        if not ready.get('ready'):
            raise RuntimeError('agent did not start: %r' % ready)

    def request(self, **cmd):
        self.proc.stdin.write((json.dumps(cmd) + '\n').encode())
        self.proc.stdin.flush()
        return self._read()

    def _read(self):
        deadline = time.monotonic() + AGENT_TIMEOUT
        while b'\n' not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not select.select(
                    [self.proc.stdout], [], [], 0)[0]:
                raise RuntimeError('agent gave no answer (status %s): %s'
                                   % (self.proc.poll(), self.buffer))
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError('agent exited: %s' % self.proc.stderr.read().decode())
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        return json.loads(line)

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(harness.STOP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(harness.STOP_TIMEOUT)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


class Session:
    """The script's view of one broker: named connections, each owned by a user's agent. Every
    step appends one normalized line to the transcript and returns the outcome's short form."""

    def __init__(self, bus, agents):
        self.bus = bus
        self.agents = agents
        self.conns = {}      # label -> user
        self.uniques = {}    # unique name -> label
        self.transcript = []
        self.expectations = []  # (step line, expected, actual)

    # --- the script's verbs -------------------------------------------------------------------
    def connect(self, label, user, expect='ok'):
        answer = self.agents[user].request(op='connect', conn=label)
        if 'unique' in answer:
            self.conns[label] = user
            self.uniques[answer['unique']] = label
            outcome = 'ok'
        else:
            outcome = 'connect failed: ' + answer.get('message', '')
        return self._record('%s (%s) connects' % (label, user), outcome, expect)

    def call(self, label, dest, member, sig='', args=(), iface=None, path='/', expect=None,
             show_body=True, timeout=REPLY_TIMEOUT_MS):
        answer = self._request(label, op='call', dest=self._name(dest), path=path, iface=iface,
                               member=member, sig=sig, args=list(args), timeout=timeout)
        if answer.get('ok'):
            outcome = 'ok' + (' %s' % (answer['body'],) if show_body else '')
        else:
            outcome = '%s: %s' % (answer['error'], answer['message'])
        what = '%s calls %s %s %s.%s%s' % (label, dest, path, iface, member, tuple(args))
        return self._record(what, outcome, expect)

    def driver(self, label, member, sig='', args=(), iface=BUS, **kw):
        return self.call(label, BUS, member, sig, args, iface=iface, path=BUS_PATH, **kw)

    def send(self, label, kind, dest=None, iface=None, member=None, path='/', sig='', args=(),
             no_reply=False):
        """Sends without waiting, then orders it: the NameHasOwner round trip that follows is
        answered only after the broker has routed (or refused) this message."""
        self._request(label, op='send', type=kind, dest=self._name(dest), path=path, iface=iface,
                      member=member, sig=sig, args=list(args), no_reply=no_reply)
        self.mark(label)
        self._record('%s sends %s%s to %s %s %s.%s%s' % (
            label, kind, ' (no reply expected)' if no_reply else '', dest, path, iface, member,
            tuple(args)), 'sent', None)

    def mark(self, label):
        self._request(label, op='call', dest=BUS, path=BUS_PATH, iface=BUS, member='NameHasOwner',
                      sig='s', args=[MARKER], timeout=REPLY_TIMEOUT_MS)

    def take(self, label, expect=None):
        """What label received since the last take (its own round trip first: anything routed to
        it before is then in its socket ahead of that reply)."""
        self.mark(label)
        return self._took(label, self._request(label, op='take'), expect)

    def take_monitor(self, label, after, expect=None):
        """A monitor may not send; `after` sends the marker and the monitor is polled until the
        marker's copy arrives (its match rules must include arg0='com.example.Marker')."""
        self.mark(after)
        deadline = time.monotonic() + AGENT_TIMEOUT
        messages = []
        while True:
            answer = self._request(label, op='take')
            messages += answer['messages']
            if any(m['body'] == [MARKER] for m in messages) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        answer['messages'] = messages
        return self._took(label, answer, expect)

    # --- bookkeeping -----------------------------------------------------------------------------
    def _took(self, label, answer, expect):
        got = [self._describe(m) for m in answer['messages']
               if m['body'] != [MARKER] and not self._own_unique_acquired(label, m)]
        if answer.get('closed'):
            got.append('(disconnected)')
        self._record('%s received' % label, ' | '.join(got) or 'nothing', None)
        kinds = [m['type'] + ' ' + (m['member'] or m['error_name'].rsplit('.', 1)[-1])
                 for m in answer['messages']
                 if m['body'] != [MARKER] and not self._own_unique_acquired(label, m)]
        if expect is not None:
            self.expectations.append(('%s received' % label, expect, kinds))
        return kinds

    def _own_unique_acquired(self, label, m):
        # NameAcquired for the unique name races GDBus's filter set-up; leave it out.
        return m['member'] == 'NameAcquired' and self.uniques.get(m['body'][0]) == label

    def _describe(self, m):
        body = m['body'] if m['type'] != 'method_return' else '...'
        name = m['member'] or m['error_name'] or '-'
        return self._normalize('%s %s->%s %s %s %s %s' % (
            m['type'], m['sender'], m['destination'], name, m['path'], m['interface'], body))

    def _request(self, label, **cmd):
        return self.agents[self.conns[label]].request(conn=label, **cmd)

    def _name(self, dest):
        """'<label>' stands for that connection's unique name."""
        if dest and dest.startswith('<'):
            label = dest[1:-1]
            return next(u for u, lbl in self.uniques.items() if lbl == label)
        return dest

    def _record(self, what, outcome, expect):
        line = self._normalize('%s -> %s' % (what, outcome))
        self.transcript.append(line)
        short = outcome.split(':')[0].split(' ')[0] if outcome != 'ok' else 'ok'
        if short.startswith('org.freedesktop.DBus.Error.'):
            short = short[len('org.freedesktop.DBus.Error.'):]
        if outcome.startswith('connect failed'):
            short = 'connect failed'
        if expect is not None:
            self.expectations.append((line, expect, short))
        return short

    def _normalize(self, text):
        for unique, label in self.uniques.items():
            text = re.sub(re.escape(unique) + r'(?![0-9])', '<%s>' % label, text)
        text = re.sub(r':1\.[0-9]+', ':1.?', text)
        text = re.sub(r'pid=[0-9]+', 'pid=N', text)
        return re.sub(r'comm="[^"]*"', 'comm="..."', text)


class PolicyDifferentialTest(unittest.TestCase):
    """Each test runs its script against dbus-daemon and against harness.DAEMON_PATH."""

    def run_both(self, script, config_text=None, config_file=None, extra_args=(),
                 dir_owner='root', users_needed=None):
        transcripts = {}
        for name, path in (('dbus-daemon', REFERENCE), ('broker under test', harness.DAEMON_PATH)):
            session = self.run_one(path, script, config_text, config_file, extra_args, dir_owner,
                                   users_needed)
            transcripts[name] = session
        reference = transcripts['dbus-daemon']
        wrong = ['%s\n    expected %s, got %s' % (line, expect, got)
                 for line, expect, got in reference.expectations if got != expect]
        self.assertEqual(wrong, [], 'dbus-daemon itself no longer gives the captured outcomes')
        self.maxDiff = None
        self.assertEqual(transcripts['broker under test'].transcript, reference.transcript)
        return transcripts

    def run_one(self, path, script, config_text, config_file, extra_args, dir_owner, users_needed):
        kw = {'config_file': config_file} if config_file else {'config_text': config_text}
        bus = BusDaemon(path, extra_args=extra_args, dir_owner=dir_owner, **kw)
        agents = {}
        session = None
        try:
            bus.start()
            for user, prefix in users().items():
                if users_needed is None or user in users_needed:
                    agents[user] = Agent(prefix, bus.address)
            for agent in agents.values():
                agent.wait_ready()
            session = Session(bus, agents)
            script(session)
        finally:
            if os.environ.get('POLICY_TRANSCRIPT'):  # for writing scripts: show what happened
                print('--- %s\n%s' % (path, '\n'.join(session.transcript if session else [])))
            for agent in agents.values():
                agent.stop()
            problems = bus.stop()
            stderr = bus.stderr()
            bus.cleanup()
        self.assertEqual(problems, [], '%s: %s' % (path, stderr))
        return session


def system_conf_script(s):
    """Debian's system.conf with its system.d files, as installed."""
    s.connect('r1', 'root')
    s.connect('r2', 'root')
    s.connect('n1', 'nobody')
    s.connect('n2', 'nobody')
    s.connect('d1', 'daemon+adm')
    s.connect('x1', 'noaccount', expect='connect failed')
    # The driver: open to all but the members and interfaces system.conf denies.
    s.driver('n1', 'GetId', expect='ok', show_body=False)
    s.driver('n1', 'ListNames', expect='ok', show_body=False)
    s.driver('n1', 'UpdateActivationEnvironment', 'a{ss}', [{'A': 'b'}], expect='AccessDenied')
    s.driver('r1', 'UpdateActivationEnvironment', 'a{ss}', [{'A': 'b'}], expect='AccessDenied')
    s.driver('n1', 'BecomeMonitor', 'asu', [[], 0], iface=MONITORING, expect='AccessDenied')
    s.driver('n1', 'GetStats', iface='org.freedesktop.DBus.Debug.Stats', expect='AccessDenied')
    s.driver('n1', 'ActivationFailure', 'sss', ['a.b', 'c.d', 'e'],
             iface='org.freedesktop.systemd1.Activator', expect='AccessDenied')
    s.driver('n1', 'Introspect', iface='org.freedesktop.DBus.Introspectable', expect='ok',
             show_body=False)
    # Owning names: nobody may own anything not granted, root only what system.d grants it.
    s.driver('n1', 'RequestName', 'su', ['com.example.Unknown', 0], expect='AccessDenied')
    s.driver('r1', 'RequestName', 'su', ['com.example.Unknown', 0], expect='AccessDenied')
    s.driver('n1', 'RequestName', 'su', ['org.freedesktop.hostname1', 0], expect='AccessDenied')
    s.driver('d1', 'RequestName', 'su', ['org.freedesktop.hostname1', 4], expect='AccessDenied')
    s.driver('r1', 'RequestName', 'su', ['org.freedesktop.hostname1', 0], expect='ok')
    s.driver('n1', 'ReleaseName', 's', ['org.freedesktop.hostname1'], expect='ok')
    s.take('r1', expect=['signal NameAcquired'])
    # Method calls: default denies them unless a send_destination hole matches; the hole for
    # hostname1 also covers its owner's unique name.
    s.call('n1', 'org.freedesktop.hostname1', 'SetHostname', 'sb', ['x', False],
           iface='org.freedesktop.hostname1', path='/org/freedesktop/hostname1', expect='ok')
    s.call('n1', '<r1>', 'Anything', iface='com.example.Foo', expect='ok')
    s.call('n1', '<r2>', 'Anything', iface='com.example.Foo', expect='AccessDenied')
    s.call('r2', '<n2>', 'Anything', iface='com.example.Foo', expect='AccessDenied')
    s.call('n1', '<d1>', 'Ping', iface='org.freedesktop.DBus.Peer', expect='AccessDenied')
    s.call('r1', 'org.freedesktop.hostname1', 'Self', iface='com.example.Foo', expect='ok')
    s.take('r1', expect=['method_call SetHostname', 'method_call Anything', 'method_call Self'])
    s.take('r2', expect=[])
    s.take('n2', expect=[])
    s.take('d1', expect=[])
    # Replies nobody asked for are refused; the sender hears why.
    s.send('n1', 'method_return', dest='<r1>')
    s.send('n1', 'error', dest='<r1>')
    s.take('n1', expect=['error AccessDenied', 'error AccessDenied'])
    s.take('r1', expect=[])
    # Signals: allowed both ways, broadcast and unicast.
    s.driver('n2', 'AddMatch', 's', ["type='signal',interface='org.freedesktop.hostname1'"],
             expect='ok')
    s.driver('d1', 'AddMatch', 's', ["type='signal',interface='org.freedesktop.hostname1'"],
             expect='ok')
    s.send('r1', 'signal', path='/org/freedesktop/hostname1', iface='org.freedesktop.hostname1',
           member='Changed', sig='s', args=['x'])
    s.take('n2', expect=['signal Changed'])
    s.take('d1', expect=['signal Changed'])
    s.send('r1', 'signal', dest='<n2>', iface='com.example.Direct', member='Hello')
    s.send('n1', 'signal', dest='<r2>', iface='com.example.Direct', member='Hello')
    s.take('n2', expect=['signal Hello'])
    s.take('r2', expect=['signal Hello'])
    # Eavesdropping: nobody may not even ask; root may ask but no rule lets it see anything.
    s.driver('n2', 'AddMatch', 's', ["eavesdrop=true,interface='com.example.Spy'"],
             expect='AccessDenied')
    s.driver('r2', 'AddMatch', 's', ["eavesdrop=true,interface='com.example.Spy'"], expect='ok')
    s.send('d1', 'signal', dest='<r1>', iface='com.example.Spy', member='Psst')
    s.take('n2', expect=[])
    s.take('r2', expect=[])
    s.take('r1', expect=['signal Psst'])
    # Monitoring is root's: the monitor sees messages the policy then refuses, and the refusal.
    s.driver('r2', 'BecomeMonitor', 'asu',
             [["interface='com.example.Spy'", "arg0='%s'" % MARKER], 0], iface=MONITORING,
             expect='ok')
    s.take_monitor('r2', after='n1', expect=['signal NameLost'])
    s.call('n1', '<d1>', 'Peek', iface='com.example.Spy', expect='AccessDenied')
    s.send('d1', 'signal', dest='<n1>', iface='com.example.Spy', member='Psst')
    s.take_monitor('r2', after='d1', expect=['method_call Peek', 'signal Psst'])



RULES_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{servicedir}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
    <deny own="com.example.Denied"/>
    <deny own_prefix="com.example.Private"/>
    <allow own="com.example.Private.Open"/>
    <allow send_destination="*"/>
    <deny send_destination="com.example.Service" send_interface="com.example.Secret"/>
    <deny send_destination="com.example.Service" send_interface="com.example.Public"
          send_member="Forbidden"/>
    <deny send_destination="com.example.Service" send_path="/com/example/locked"/>
    <deny send_destination="com.example.Service" send_type="signal"/>
    <deny send_type="signal" send_interface="com.example.Noisy"/>
    <deny receive_sender="com.example.Service" receive_interface="com.example.Hidden"/>
    <deny send_destination_prefix="com.example.Vault"/>
    <allow send_destination="com.example.Sink" send_type="error" send_requested_reply="false"/>
    <allow receive_type="error" receive_requested_reply="false"/>
  </policy>
  <policy group="adm">
    <allow send_destination="com.example.Service" send_interface="com.example.Secret"/>
    <allow own="com.example.Denied"/>
    <allow send_destination="*" eavesdrop="true"/>
  </policy>
  <policy user="daemon">
    <deny send_destination="com.example.Service" send_interface="com.example.Secret"
          send_member="Nuke"/>
  </policy>
  <policy user="root">
    <allow receive_sender="com.example.Service" receive_interface="com.example.Hidden"/>
    <allow eavesdrop="true"/>
  </policy>
  <policy context="mandatory">
    <deny send_destination="com.example.Service" send_interface="com.example.Public"
          send_member="Shutdown"/>
    <deny own="com.example.Forbidden"/>
    <deny receive_interface="com.example.Blocked"/>
  </policy>
</busconfig>
'''


def rules_script(s):
    """RULES_CONFIG: contexts in order default < group < user < mandatory, last match wins."""
    for label, user in (('svc', 'root'), ('r1', 'root'), ('n1', 'nobody'), ('n2', 'nobody'),
                        ('d1', 'daemon'), ('a1', 'daemon+adm')):
        s.connect(label, user, expect='ok')
    # own, own_prefix, and the contexts that override them
    for label, name, expect in (
            ('svc', 'com.example.Service', 'ok'),
            ('n1', 'com.example.Denied', 'AccessDenied'),
            ('a1', 'com.example.Denied', 'ok'),
            ('d1', 'com.example.Private', 'AccessDenied'),
            ('d1', 'com.example.Private.Sub', 'AccessDenied'),
            ('d1', 'com.example.PrivateX', 'ok'),
            ('d1', 'com.example.Private.Open', 'ok'),
            ('d1', 'com.example.Private.Open.Deeper', 'AccessDenied'),
            ('r1', 'com.example.Forbidden', 'AccessDenied'),
            ('a1', 'com.example.Forbidden', 'AccessDenied'),
            ('n2', 'com.example.Sink', 'ok')):
        s.driver(label, 'RequestName', 'su', [name, 0], expect=expect)
    # send_interface, send_member, send_path, per context; send_destination covers the owner's
    # unique name too
    svc = 'com.example.Service'
    s.call('n1', svc, 'Hello', iface='com.example.Public', expect='ok')
    s.call('n1', svc, 'Read', iface='com.example.Secret', expect='AccessDenied')
    s.call('d1', svc, 'Read', iface='com.example.Secret', expect='AccessDenied')
    s.call('a1', svc, 'Read', iface='com.example.Secret', expect='ok')
    s.call('a1', svc, 'Nuke', iface='com.example.Secret', expect='AccessDenied')
    s.call('r1', svc, 'Read', iface='com.example.Secret', expect='AccessDenied')
    s.call('n1', '<svc>', 'Read', iface='com.example.Secret', expect='AccessDenied')
    s.call('n1', svc, 'Forbidden', iface='com.example.Public', expect='AccessDenied')
    s.call('n1', svc, 'Forbidden', expect='AccessDenied')
    s.call('n1', svc, 'Hello', iface='com.example.Public', path='/com/example/locked',
           expect='AccessDenied')
    s.call('n1', svc, 'Hello', iface='com.example.Public', path='/com/example/locked/sub',
           expect='ok')
    s.call('r1', svc, 'Shutdown', iface='com.example.Public', expect='AccessDenied')
    s.driver('d1', 'RequestName', 'su', ['com.example.Vault.Inner', 0], expect='ok')
    s.call('n1', 'com.example.Vault.Inner', 'Open', iface='com.example.Public',
           expect='AccessDenied')
    s.call('n1', '<d1>', 'Open', iface='com.example.Public', expect='AccessDenied')
    # send_destination_prefix matches any name the destination owns, so d1's other names too
    s.call('n1', 'com.example.PrivateX', 'Open', iface='com.example.Public',
           expect='AccessDenied')
    s.take('d1', expect=['signal NameAcquired'] * 3)
    s.take('svc', expect=['signal NameAcquired', 'method_call Hello', 'method_call Read',
                          'method_call Hello'])
    # send_requested_reply: unrequested replies only where a rule says requested_reply="false"
    s.send('n1', 'method_return', dest='<svc>')
    s.send('n1', 'error', dest='com.example.Sink')
    s.send('n1', 'error', dest='<n2>')
    s.send('n1', 'method_return', dest='com.example.Sink')
    s.take('n1', expect=['error AccessDenied'] * 4)
    s.take('n2', expect=['signal NameAcquired'])
    s.take('svc', expect=[])
    # signals: send_type, receive_sender + receive_interface, a mandatory receive_interface
    for label in ('n1', 'r1'):
        s.driver(label, 'AddMatch', 's', ["type='signal',sender='com.example.Service'"],
                 expect='ok')
    for iface in ('com.example.Hidden', 'com.example.Visible', 'com.example.Blocked',
                  'com.example.Noisy'):
        s.send('svc', 'signal', iface=iface, member='Changed', path='/com/example')
    s.take('n1', expect=['signal Changed'])
    s.take('r1', expect=['signal Changed', 'signal Changed'])
    s.send('n1', 'signal', dest=svc, iface='com.example.Public', member='Poke')
    s.send('n1', 'signal', dest='<r1>', iface='com.example.Noisy', member='Poke')
    s.send('n1', 'signal', dest='<r1>', iface='com.example.Blocked', member='Poke')
    s.send('n1', 'signal', dest='<r1>', iface='com.example.Public', member='Poke')
    # dbus-daemon reports refusals to the sender even of messages flagged NO_REPLY_EXPECTED
    s.send('n1', 'signal', dest='<r1>', iface='com.example.Noisy', member='Quiet', no_reply=True)
    s.send('n1', 'method_call', dest=svc, iface='com.example.Secret', member='Quiet',
           no_reply=True)
    s.take('n1', expect=['error AccessDenied'] * 5)
    s.take('svc', expect=[])
    s.take('r1', expect=['signal Poke'])
    # eavesdropping: only root may ask (dbus-daemon's privilege check) and its receive rules allow
    # it; what it then sees depends on the sender's send rules (group adm: eavesdrop="true")
    spy = "eavesdrop=true,interface='com.example.Spy'"
    s.driver('a1', 'AddMatch', 's', [spy], expect='AccessDenied')
    s.driver('n2', 'AddMatch', 's', [spy], expect='AccessDenied')
    s.driver('r1', 'AddMatch', 's', [spy], expect='ok')
    s.send('a1', 'signal', dest='<svc>', iface='com.example.Spy', member='FromAdm')
    s.send('n1', 'signal', dest='<svc>', iface='com.example.Spy', member='FromNobody')
    s.call('n1', svc, 'Call', iface='com.example.Spy', expect='ok')
    s.call('a1', svc, 'Call', iface='com.example.Spy', expect='ok')
    s.take('r1', expect=['signal FromAdm', 'method_call Call', 'method_call Call'])
    s.take('svc', expect=['signal FromAdm', 'method_call Call', 'method_call Call'])


CONNECT_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={{socket}}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{{servicedir}}</servicedir>
  <policy context="default">
{rules}
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
'''

# user= and group= connect rules, last match wins; the outcome for each test user. dbus-daemon
# decides the connect check on the user database's groups, not the peer's (daemon+adm's adm comes
# from setpriv only), while the group contexts of the message policy use the peer's groups.
CONNECT_CASES = [
    ('<allow user="*"/> <deny user="nobody"/> <deny group="adm"/>',
     {'root': 'ok', 'nobody': 'connect failed', 'daemon': 'ok', 'daemon+adm': 'ok',
      'noaccount': 'connect failed'}),
    ('<deny user="*"/> <allow user="root"/> <allow group="nogroup"/> <allow group="adm"/>',
     {'root': 'ok', 'nobody': 'ok', 'daemon': 'connect failed', 'daemon+adm': 'connect failed',
      'noaccount': 'connect failed'}),
    ('<allow user="*"/> <deny user="daemon"/> <allow user="1"/>',
     {'root': 'ok', 'nobody': 'ok', 'daemon': 'ok', 'daemon+adm': 'ok',
      'noaccount': 'connect failed'}),
    ('<allow group="*"/> <deny group="nogroup"/>',
     {'root': 'ok', 'nobody': 'connect failed', 'daemon': 'ok', 'daemon+adm': 'ok',
      'noaccount': 'connect failed'}),
]


def connect_script(outcomes):
    def script(s):
        for user, expect in outcomes.items():
            if s.connect(user, user, expect=expect) == 'ok':
                s.driver(user, 'GetId', expect='ok', show_body=False)
    return script


class PolicySystemConfTest(PolicyDifferentialTest):

    def test_debians_system_conf_gives_the_same_answers_to_root_nobody_and_a_grouped_user(self):
        self.run_both(system_conf_script, config_file='/usr/share/dbus-1/system.conf',
                      extra_args=['--nopidfile'], dir_owner='messagebus')


class PolicyRulesTest(PolicyDifferentialTest):

    def test_default_group_user_and_mandatory_rules_give_the_same_answers(self):
        self.run_both(rules_script, config_text=RULES_CONFIG,
                      users_needed=('root', 'nobody', 'daemon', 'daemon+adm'))

    def test_user_and_group_connect_rules_admit_and_refuse_the_same_users(self):
        for rules, outcomes in CONNECT_CASES:
            with self.subTest(rules=rules):
                self.run_both(connect_script(outcomes),
                              config_text=CONNECT_CONFIG.format(rules='    ' + rules))


CONSOLE_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{servicedir}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <deny own_prefix="com.example.Console"/>
    <deny send_destination="com.example.Service" send_interface="com.example.Seat"/>
  </policy>
  <policy user="nobody">
    <allow send_destination="com.example.Service" send_interface="com.example.Local"/>
  </policy>
  <policy at_console="true">
    <allow own_prefix="com.example.Console"/>
    <allow send_destination="com.example.Service" send_interface="com.example.Seat"/>
  </policy>
  <policy at_console="false">
    <deny send_destination="com.example.Service" send_interface="com.example.Local"/>
    <deny receive_sender="com.example.Service" receive_interface="com.example.Seat"/>
  </policy>
  <policy context="mandatory">
    <deny own="com.example.Console.Never"/>
  </policy>
</busconfig>
'''


def console_script(nobody_at_console):
    """CONSOLE_CONFIG as root, nobody and daemon, when nobody is (or is not) at the console; root
    and daemon never are. at_console policies come after user policies and before mandatory."""
    def script(s):
        at = nobody_at_console
        console_only = 'ok' if at else 'AccessDenied'
        for label, user in (('svc', 'root'), ('r1', 'root'), ('n1', 'nobody'), ('d1', 'daemon')):
            s.connect(label, user, expect='ok')
        # own: at_console="true" opens what the default context closes, mandatory still wins
        for label, name, expect in (
                ('svc', 'com.example.Service', 'ok'),
                ('n1', 'com.example.Console', console_only),
                ('n1', 'com.example.Console.Sub', console_only),
                ('n1', 'com.example.Console.Never', 'AccessDenied'),
                ('d1', 'com.example.Console.Other', 'AccessDenied'),
                ('r1', 'com.example.Console.Other', 'AccessDenied')):
            s.driver(label, 'RequestName', 'su', [name, 0], expect=expect)
        s.take('n1', expect=['signal NameAcquired'] * 2 if at else [])
        # send: at_console="true" opens Seat; at_console="false" closes Local, which nobody's user
        # policy opened (so the console policies are applied after the user's)
        svc = 'com.example.Service'
        for label, iface, expect in (
                ('n1', 'com.example.Seat', console_only),
                ('d1', 'com.example.Seat', 'AccessDenied'),
                ('n1', 'com.example.Local', console_only),
                ('d1', 'com.example.Local', 'AccessDenied'),
                ('r1', 'com.example.Local', 'AccessDenied')):
            s.call(label, svc, 'Hello', iface=iface, expect=expect)
        s.take('svc', expect=['signal NameAcquired'] + ['method_call Hello'] * (2 if at else 0))
        # receive: at_console="false" hides the service's Seat signals
        for label in ('n1', 'd1'):
            s.driver(label, 'AddMatch', 's', ["type='signal',sender='%s'" % svc], expect='ok')
        for iface in ('com.example.Seat', 'com.example.Other'):
            s.send('svc', 'signal', iface=iface, member='Changed', path='/com/example')
        s.take('n1', expect=['signal Changed'] * (2 if at else 1))
        s.take('d1', expect=['signal Changed'])
    return script


# Where a broker may learn that a user sits at the console. dbus-daemon (1.14, as Debian builds it)
# asks logind whenever /run/systemd/seats/ exists: sd_uid_get_seats() reads the user's state file,
# in which logind lists the seats the user is online at. Debian's build has no console auth dir, so
# /var/run/console/USER (pam_console) is not looked at.
LOGIND_SEATS_DIR = '/run/systemd/seats'
LOGIND_USERS_DIR = '/run/systemd/users'
CONSOLE_AUTH_DIR = '/var/run/console'


class PolicyAtConsoleTest(PolicyDifferentialTest):
    """at_console policies with nobody at the console and not: the files that say so are created
    before the brokers start (a connection's console state is taken when it connects) and removed
    by the test's cleanup, pass or fail. The suites against both daemons run at once under ctest -j
    and both make these files: a lock keeps one test at a time."""

    LOCK_FILE = '/run/lock/jetbus-console-tests.lock'
    LOCK_TIMEOUT = 120.0

    def setUp(self):
        super().setUp()
        lock = open(self.LOCK_FILE, 'w')
        self.addCleanup(lock.close)  # closing releases the lock, after the files are gone
        deadline = time.monotonic() + self.LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fail('%s stayed locked for %.0fs' % (self.LOCK_FILE, self.LOCK_TIMEOUT))
                time.sleep(0.1)

    def put_file(self, path, text=''):
        """Creates path (and its directory, if missing) until the test ends; a path that exists
        already is someone else's, and the test is skipped rather than touch it."""
        if os.path.lexists(path):
            self.skipTest('%s exists already; not touching it' % path)
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.mkdir(directory, 0o755)
            self.addCleanup(os.rmdir, directory)
        with open(path, 'w') as f:
            f.write(text)
        self.addCleanup(os.remove, path)

    def run_console(self, nobody_at_console):
        return self.run_both(console_script(nobody_at_console), config_text=CONSOLE_CONFIG,
                             users_needed=('root', 'nobody', 'daemon'))

    def test_a_logind_seat_puts_nobody_at_the_console_for_both_brokers(self):
        if not os.path.isdir(LOGIND_SEATS_DIR):
            self.skipTest('no %s: dbus-daemon has no way to see a console user here'
                          % LOGIND_SEATS_DIR)
        if os.path.isdir('/run/systemd/system'):
            self.skipTest('booted with systemd: logind owns its state files, none is forged')
        away = self.run_console(False)
        self.put_file(os.path.join(LOGIND_USERS_DIR, str(pwd.getpwnam('nobody').pw_uid)),
                      'ONLINE_SEATS=seat0\n')
        seated = self.run_console(True)
        self.assertNotEqual(seated['dbus-daemon'].transcript, away['dbus-daemon'].transcript,
                            'at_console made no difference: the test proves nothing')

    def test_a_var_run_console_file_gives_the_same_answers_as_dbus_daemon(self):
        away = self.run_console(False)
        self.put_file(os.path.join(CONSOLE_AUTH_DIR, 'nobody'))
        with_file = self.run_console(False)  # as captured from dbus-daemon: the file is not read
        self.assertEqual(with_file['dbus-daemon'].transcript, away['dbus-daemon'].transcript)
