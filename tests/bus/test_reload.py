# Reloading the configuration of a running bus, by the driver's ReloadConfig and by SIGHUP to the
# broker's pid: the rewritten file's policy replaces the old one for new requests, while everything
# that already exists survives (owned names and owner queues, match rules, messages queued for a
# reader, calls awaiting a reply). A broken file is refused: ReloadConfig answers dbus-daemon's error
# name and text, SIGHUP leaves the bus running, and the old policy keeps deciding in both cases.
# Raw-socket clients (from test_limits.py) are used so that nothing reads behind the test's back.
import os
import signal
import time

import harness
from harness import BusDaemon, BusTestCase
from test_limits import (ERROR, F_DESTINATION, F_MEMBER, F_REPLY_SERIAL, METHOD_CALL, METHOD_RETURN, SIGNAL,
                         WAIT, Raw, _strings_of_as, marshal, signal_to)

DRIVER = ('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus')
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
FAILED = 'org.freedesktop.DBus.Error.Failed'
FILE_NOT_FOUND = 'org.freedesktop.DBus.Error.FileNotFound'

# RequestName replies (spec, "org.freedesktop.DBus.RequestName").
PRIMARY_OWNER, IN_QUEUE = 1, 2

# The session-style config of harness.py with room for extra rules in the default policy; the
# rules come last, so they override the blanket <allow own="*"/>.
CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{servicedir}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
{rules}
  </policy>
</busconfig>
'''
DENY_A = '    <deny own="com.example.A"/>'
DENY_B = '    <deny own="com.example.B"/>'

# Malformed XML (an element cut off in its start tag), and what dbus-daemon 1.14 answers to it: expat's
# message with the file, line and column.
BROKEN = '<busconfig><policy'
BROKEN_TEXT = 'Error in file %s, line 1, column 11: unclosed token'

# How long a broken SIGHUP is given to do harm before the test concludes it did none.
SETTLE = 1.0


class ReloadTestCase(BusTestCase):
    """A broker started from CONFIG (no extra rules) whose file the test rewrites."""

    def setUp(self):
        self.bus = BusDaemon(harness.DAEMON_PATH, config_text=CONFIG.replace('{rules}', ''))
        self._background = []
        self._connections = []
        try:
            self.bus.start()
        except Exception:
            self.bus.cleanup()
            raise
        self.address = self.bus.address

    def write_config(self, text):
        """Replaces the config file in one rename, so the broker never reads half a file."""
        tmp = self.bus.config + '.new'
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, self.bus.config)

    def write_rules(self, *rules):
        self.write_config(CONFIG.format(socket=self.bus.socket, servicedir=self.bus.servicedir,
                                        rules='\n'.join(rules)))

    def raw(self):
        client = Raw(self.bus.socket)
        self.addCleanup(client.close)
        client.hello()
        return client

    def reload_config(self, client):
        return client.call(*DRIVER, 'ReloadConfig')

    def request_name(self, client, name, flags=0):
        return client.call(*DRIVER, 'RequestName', 'su', (name, flags))

    def assert_return(self, msg, what):
        self.assertIsNotNone(msg, '%s: no reply within %.0fs' % (what, WAIT))
        self.assertEqual(msg.type, METHOD_RETURN, '%s: %r' % (what, msg))
        return msg

    def assert_error(self, msg, name, text=None):
        self.assertIsNotNone(msg, 'no reply at all (expected %s)' % name)
        self.assertEqual((msg.type, msg.error_name), (ERROR, name), msg)
        if text is not None:
            self.assertEqual(msg.text.rstrip('\n'), text)
        return msg

    def assert_owner_reply(self, msg, code):
        self.assert_return(msg, 'RequestName')
        self.assertEqual(int.from_bytes(msg.body[:4], 'little'), code, msg)

    def assert_may_own(self, client, name):
        self.assert_owner_reply(self.request_name(client, name), PRIMARY_OWNER)
        self.assert_return(client.call(*DRIVER, 'ReleaseName', 's', (name,)), 'ReleaseName')

    def assert_may_not_own(self, client, name):
        self.assert_error(self.request_name(client, name), ACCESS_DENIED)

    def owner_of(self, client, name):
        return self.assert_return(client.call(*DRIVER, 'GetNameOwner', 's', (name,)), 'GetNameOwner').text

    def wait_denied(self, client, name):
        """Polls RequestName until the new policy refuses it (bounded by WAIT)."""
        deadline = time.monotonic() + WAIT
        while True:
            msg = self.request_name(client, name)
            if msg is not None and msg.type == ERROR:
                self.assert_error(msg, ACCESS_DENIED)
                return
            self.assert_owner_reply(msg, PRIMARY_OWNER)
            client.call(*DRIVER, 'ReleaseName', 's', (name,))
            self.assertLess(time.monotonic(), deadline, 'the reloaded policy never took effect')
            time.sleep(0.02)

    def assert_old_policy_holds(self, client, seconds):
        """For a while, the bus keeps answering and still lets client own com.example.A."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertIsNone(self.bus.proc.poll(), 'the broker exited: ' + self.bus.stderr())
            self.assert_may_own(client, 'com.example.A')
            time.sleep(0.05)

    def next_signal(self, client, member, timeout=WAIT):
        """The next signal named member that client receives, or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            msg = client.receive(max(0.0, deadline - time.monotonic()))
            if msg is None or (msg.type == SIGNAL and msg.fields.get(F_MEMBER) == member):
                return msg

    def sighup(self):
        os.kill(self.bus.pid, signal.SIGHUP)


class ReloadConfigMethod(ReloadTestCase):

    def test_ReloadConfig_applies_a_rewritten_policy_to_new_RequestName_calls(self):
        client = self.raw()
        self.assert_may_own(client, 'com.example.A')
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(client), 'ReloadConfig')
        self.assert_may_not_own(client, 'com.example.A')
        self.assert_may_own(client, 'com.example.B')
        # And back: a second reload lifts the denial again.
        self.write_rules()
        self.assert_return(self.reload_config(client), 'ReloadConfig')
        self.assert_may_own(client, 'com.example.A')

    def test_rewriting_the_file_without_a_reload_changes_nothing(self):
        client = self.raw()
        self.write_rules(DENY_A)
        self.assert_old_policy_holds(client, SETTLE)

    def test_names_and_owner_queues_survive_a_reload_that_denies_them(self):
        owner, queued, late = self.raw(), self.raw(), self.raw()
        self.assert_owner_reply(self.request_name(owner, 'com.example.A'), PRIMARY_OWNER)
        self.assert_owner_reply(self.request_name(queued, 'com.example.A'), IN_QUEUE)
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(late), 'ReloadConfig')
        self.assert_may_not_own(late, 'com.example.A')
        self.assertEqual(self.owner_of(late, 'com.example.A'), owner.unique_name)
        msg = self.assert_return(late.call(*DRIVER, 'ListQueuedOwners', 's', ('com.example.A',)),
                                 'ListQueuedOwners')
        self.assertEqual(_strings_of_as(msg), [owner.unique_name, queued.unique_name])
        # The queue moves on as before: the policy is checked when a name is asked for, not handed over.
        self.assert_return(owner.call(*DRIVER, 'ReleaseName', 's', ('com.example.A',)), 'ReleaseName')
        self.assertEqual(self.owner_of(late, 'com.example.A'), queued.unique_name)

    def test_a_match_rule_made_before_a_reload_still_receives_signals(self):
        listener, emitter = self.raw(), self.raw()
        rule = "type='signal',interface='org.jetbus.Limits',member='Tick'"
        self.assert_return(listener.call(*DRIVER, 'AddMatch', 's', (rule,)), 'AddMatch')
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(emitter), 'ReloadConfig')
        emitter.send(signal_to(emitter.next_serial(), None, member='Tick', payload=b'after'))
        msg = self.next_signal(listener, 'Tick')
        self.assertIsNotNone(msg, 'the subscriber got nothing after the reload')
        self.assertEqual(msg.body[4:9], b'after')

    def test_messages_queued_for_a_reader_before_a_reload_are_all_delivered_after_it(self):
        reader, sender = self.raw(), self.raw()
        # More than the kernel's socket buffers hold, so part of it waits in the broker's queue.
        count, size = 12, 200 * 1024
        for i in range(count):
            sender.send(signal_to(sender.next_serial(), reader.unique_name, member='Fill',
                                  payload=bytes([i]) * size))
        self.assert_return(sender.get_id(), 'GetId after the flood')  # all of it was routed
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(sender), 'ReloadConfig')
        got = []
        while len(got) < count:
            msg = self.next_signal(reader, 'Fill')
            self.assertIsNotNone(msg, 'only %d of %d queued signals arrived' % (len(got), count))
            got.append(msg.body[4])
        self.assertEqual(got, list(range(count)))

    def test_a_call_awaiting_its_reply_across_a_reload_gets_the_reply(self):
        caller, callee = self.raw(), self.raw()
        serial = caller.send_call(callee.unique_name, '/', 'org.jetbus.Reload', 'Slow')
        call = callee.receive(WAIT)
        while call is not None and call.type != METHOD_CALL:
            call = callee.receive(WAIT)
        self.assertIsNotNone(call, 'the call never reached the callee')
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(callee), 'ReloadConfig')
        callee.send(reply_to(callee.next_serial(), call, caller.unique_name))
        self.assert_return(caller.wait_reply(serial), 'the reply to a call made before the reload')

    def test_malformed_XML_is_refused_with_Failed_and_the_old_policy_stays(self):
        client = self.raw()
        self.write_config(BROKEN)
        self.assert_error(self.reload_config(client), FAILED, BROKEN_TEXT % self.bus.config)
        self.assert_old_policy_holds(client, 0.2)
        # The bus goes on reloading good files afterwards.
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(client), 'ReloadConfig')
        self.assert_may_not_own(client, 'com.example.A')

    def test_a_broken_file_after_a_good_reload_keeps_the_reloaded_policy(self):
        client = self.raw()
        self.write_rules(DENY_A)
        self.assert_return(self.reload_config(client), 'ReloadConfig')
        self.write_config(BROKEN)
        self.assert_error(self.reload_config(client), FAILED, BROKEN_TEXT % self.bus.config)
        self.assert_may_not_own(client, 'com.example.A')
        self.assert_may_own(client, 'com.example.B')

    def test_well_formed_XML_with_an_invalid_element_is_refused_with_Failed(self):
        client = self.raw()
        self.write_rules(DENY_A, '    <bogus/>')
        msg = self.assert_error(self.reload_config(client), FAILED)
        self.assertIn('Element <bogus> not allowed inside <policy> in configuration file', msg.text)
        self.assert_may_own(client, 'com.example.A')

    def test_a_missing_config_file_is_refused_with_FileNotFound(self):
        client = self.raw()
        os.unlink(self.bus.config)
        self.assert_error(self.reload_config(client), FILE_NOT_FOUND,
                          'Failed to open "%s": No such file or directory' % self.bus.config)
        self.assert_may_own(client, 'com.example.A')


def reply_to(serial, call, caller):
    """An empty method return for call, addressed to caller."""
    return marshal(METHOD_RETURN, serial, {str(F_REPLY_SERIAL): call.serial, str(F_DESTINATION): caller})


class ReloadBySighup(ReloadTestCase):

    def test_SIGHUP_applies_a_rewritten_policy(self):
        client = self.raw()
        self.assert_may_own(client, 'com.example.A')
        self.write_rules(DENY_A)
        self.sighup()
        self.wait_denied(client, 'com.example.A')
        self.assert_may_own(client, 'com.example.B')

    def test_SIGHUP_keeps_names_and_match_rules(self):
        owner, listener = self.raw(), self.raw()
        self.assert_owner_reply(self.request_name(owner, 'com.example.A'), PRIMARY_OWNER)
        rule = "type='signal',interface='org.jetbus.Limits',member='Tick'"
        self.assert_return(listener.call(*DRIVER, 'AddMatch', 's', (rule,)), 'AddMatch')
        self.write_rules(DENY_A, DENY_B)
        self.sighup()
        # com.example.B (free) tells when the reload is done; A is owned, asking for it would queue.
        self.wait_denied(listener, 'com.example.B')
        self.assert_may_not_own(listener, 'com.example.A')
        self.assertEqual(self.owner_of(listener, 'com.example.A'), owner.unique_name)
        owner.send(signal_to(owner.next_serial(), None, member='Tick', payload=b'after'))
        msg = self.next_signal(listener, 'Tick')
        self.assertIsNotNone(msg, 'the subscriber got nothing after SIGHUP')

    def test_SIGHUP_with_malformed_XML_keeps_the_bus_running_on_the_old_policy(self):
        client = self.raw()
        self.write_config(BROKEN)
        self.sighup()
        self.assert_old_policy_holds(client, SETTLE)
        # A new client is still welcome, and a later good file is still picked up by SIGHUP.
        late = self.raw()
        self.assert_return(late.get_id(), 'GetId from a new connection')
        self.write_rules(DENY_A)
        self.sighup()
        self.wait_denied(late, 'com.example.A')

    def test_SIGHUP_with_a_missing_file_keeps_the_bus_running_on_the_reloaded_policy(self):
        client = self.raw()
        self.write_rules(DENY_B)
        self.sighup()
        self.wait_denied(client, 'com.example.B')
        os.unlink(self.bus.config)
        self.sighup()
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            self.assertIsNone(self.bus.proc.poll(), 'the broker exited: ' + self.bus.stderr())
            self.assert_may_not_own(client, 'com.example.B')
            self.assert_may_own(client, 'com.example.A')
            time.sleep(0.05)
