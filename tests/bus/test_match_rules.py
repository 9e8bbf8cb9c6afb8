# The match-rule language end to end: a dbus-python subscriber adds one raw rule through the bus
# object (AddMatch) and records what arrives through a message filter, so nothing on the client
# side filters for it; emitters send signals with exactly typed arguments. Each test checks that a
# key delivers what it should and nothing else, then AddMatch/RemoveMatch errors by name and text.
import dbus
import dbus.bus
import dbus.lowlevel

from harness import BusTestCase, pump_until

DRIVER = ('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus')
PATH = '/org/jetbus/Match'
IFACE = 'org.jetbus.Match'
# Every emitter ends with a sentinel signal on this interface; the subscriber always matches it, and
# the broker keeps one sender's messages in order, so once a sender's sentinel has arrived everything
# it sent before has either arrived or was not delivered.
SENTINEL_IFACE = 'org.jetbus.Sentinel'
SENTINEL_RULE = "type='signal',interface='%s'" % SENTINEL_IFACE
WAIT = 10.0  # seconds: an upper bound for the sentinels, never a sleep


def call_driver(conn, method, signature='', args=()):
    return conn.call_blocking(*DRIVER, method, signature, args, timeout=WAIT)


class Subscriber:
    """A main-loop connection that records every message a message filter sees."""

    def __init__(self, conn):
        self.conn = conn
        self.unique = conn.get_unique_name()
        self.messages = []
        conn.add_message_filter(self._on_message)

    def _on_message(self, conn, msg):
        self.messages.append(msg)

    def add_match(self, rule):
        call_driver(self.conn, 'AddMatch', 's', (rule,))

    def sentinels_from(self, sender):
        return [m for m in self.messages
                if m.get_interface() == SENTINEL_IFACE and m.get_sender() == sender]


class MatchRuleTestCase(BusTestCase):
    """Emitters label each message they send; delivered() turns arrivals back into labels."""

    def setUp(self):
        super().setUp()
        self.labels = {}  # (sender unique name, serial) -> label

    def subscriber(self, *rules):
        sub = Subscriber(self.connect(mainloop=True))
        for rule in rules:
            sub.add_match(rule)  # blocking: the rule is in place when this returns
        sub.add_match(SENTINEL_RULE)
        return sub

    def emit(self, conn, label, member='Sig', args=(), path=PATH, interface=IFACE,
             destination=None):
        msg = dbus.lowlevel.SignalMessage(path, interface, member)
        self._send(conn, label, msg, args, destination)

    def call(self, conn, label, destination, member='Do', args=(), path=PATH, interface=IFACE):
        """A method call that wants no reply (the callee never answers)."""
        msg = dbus.lowlevel.MethodCallMessage(destination, path, interface, member)
        msg.set_no_reply(True)
        self._send(conn, label, msg, args, destination)

    def _send(self, conn, label, msg, args, destination):
        if destination is not None:
            msg.set_destination(destination)
        if args:
            msg.append(*args)
        serial = conn.send_message(msg)
        self.labels[(conn.get_unique_name(), serial)] = label

    def delivered(self, sub, *emitters):
        """Labels, in arrival order, of what sub received from emitters (their sentinels excluded)."""
        for conn in emitters:
            conn.send_message(dbus.lowlevel.SignalMessage('/', SENTINEL_IFACE, 'Done'))
        senders = [conn.get_unique_name() for conn in emitters]
        arrived = pump_until(lambda: all(sub.sentinels_from(s) for s in senders), timeout=WAIT)
        self.assertTrue(arrived, 'sentinel signals never arrived at the subscriber')
        return [self.labels[(m.get_sender(), m.get_serial())] for m in sub.messages
                if (m.get_sender(), m.get_serial()) in self.labels]

    def assert_delivers(self, rule, emissions, expected):
        """One subscriber with rule; emissions is a list of (label, emit kwargs) from one emitter."""
        sub = self.subscriber(rule)
        emitter = self.connect()
        for label, kwargs in emissions:
            self.emit(emitter, label, **kwargs)
        self.assertEqual(self.delivered(sub, emitter), expected, 'rule ' + rule)


def strs(*values):
    return tuple(dbus.String(v) for v in values)


class MatchKeys(MatchRuleTestCase):

    def test_type_tells_method_calls_from_signals(self):
        # Eavesdropping, so both kinds travel between the same two peers and only type differs.
        calls = self.subscriber("eavesdrop='true',type='method_call',interface='org.jetbus.Match'")
        signals = self.subscriber("eavesdrop='true',type='signal',interface='org.jetbus.Match'")
        caller, callee = self.connect(), self.connect()
        self.call(caller, 'call', destination=callee.get_unique_name())
        self.emit(caller, 'unicast signal', destination=callee.get_unique_name())
        self.emit(caller, 'broadcast signal')
        self.assertEqual(self.delivered(calls, caller), ['call'])
        self.assertEqual(self.delivered(signals, caller), ['unicast signal', 'broadcast signal'])

    def test_an_empty_rule_matches_every_broadcast(self):
        self.assert_delivers('', [('a', {}), ('b', {'interface': 'org.jetbus.Other', 'member': 'X'})],
                             ['a', 'b'])

    def test_interface_matches_only_that_interface(self):
        self.assert_delivers("interface='org.jetbus.Match'",
                             [('yes', {}), ('other', {'interface': 'org.jetbus.Matcher'}),
                              ('prefix', {'interface': 'org.jetbus'})],
                             ['yes'])

    def test_member_matches_only_that_member_and_keys_combine_with_and(self):
        self.assert_delivers("member='Changed',interface='org.jetbus.Match'",
                             [('yes', {'member': 'Changed'}), ('other member', {'member': 'Changes'}),
                              ('other interface', {'member': 'Changed', 'interface': 'org.jetbus.X'})],
                             ['yes'])

    def test_path_matches_only_that_exact_path(self):
        self.assert_delivers("path='/org/jetbus/Match'",
                             [('yes', {}), ('child', {'path': '/org/jetbus/Match/a'}),
                              ('parent', {'path': '/org/jetbus'}), ('longer', {'path': '/org/jetbus/Matches'})],
                             ['yes'])

    def test_path_namespace_matches_the_path_and_its_children_but_not_siblings(self):
        self.assert_delivers("path_namespace='/org/jetbus'",
                             [('self', {'path': '/org/jetbus'}), ('child', {'path': '/org/jetbus/a'}),
                              ('grandchild', {'path': '/org/jetbus/a/b'}),
                              ('sibling', {'path': '/org/jetbusx'}), ('parent', {'path': '/org'}),
                              ('root', {'path': '/'})],
                             ['self', 'child', 'grandchild'])

    def test_path_namespace_root_matches_every_path(self):
        self.assert_delivers("path_namespace='/'",
                             [('root', {'path': '/'}), ('deep', {'path': '/a/b/c'}), ('one', {'path': '/x'})],
                             ['root', 'deep', 'one'])

    def test_sender_unique_name_matches_only_that_connection(self):
        first, second = self.connect(), self.connect()
        sub = self.subscriber("sender='%s'" % first.get_unique_name())
        self.emit(first, 'from first')
        self.emit(second, 'from second')
        self.assertEqual(self.delivered(sub, first, second), ['from first'])

    def test_sender_well_known_name_follows_the_current_owner(self):
        name = 'com.example.Owner'
        old, new, bystander = self.connect(), self.connect(), self.connect()
        self.assertEqual(old.request_name(name), dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        sub = self.subscriber("sender='%s'" % name)
        self.emit(old, 'old while owner')
        self.emit(new, 'new before owning')
        self.emit(bystander, 'bystander')
        self.assertEqual(self.delivered(sub, old, new, bystander), ['old while owner'])
        # new queues for the name, old lets go: new is now the primary owner.
        self.assertEqual(new.request_name(name), dbus.bus.REQUEST_NAME_REPLY_IN_QUEUE)
        self.assertEqual(old.release_name(name), dbus.bus.RELEASE_NAME_REPLY_RELEASED)
        self.assertEqual(call_driver(bystander, 'GetNameOwner', 's', (name,)), new.get_unique_name())
        sub.messages.clear()
        self.emit(old, 'old after release')
        self.emit(new, 'new while owner')
        self.assertEqual(self.delivered(sub, old, new), ['new while owner'])

    def test_sender_org_freedesktop_dbus_matches_the_drivers_signals(self):
        sub = self.subscriber("sender='org.freedesktop.DBus',member='NameOwnerChanged'")
        other = self.connect()
        other.request_name('com.example.Seen')
        self.emit(other, 'peer signal', member='NameOwnerChanged')
        self.assertEqual(self.delivered(sub, other), [])
        changed = [m.get_args_list() for m in sub.messages if m.get_member() == 'NameOwnerChanged']
        self.assertIn(['com.example.Seen', '', other.get_unique_name()], changed)

    def test_destination_matches_signals_sent_to_the_subscriber_but_not_broadcasts(self):
        own = self.subscriber()
        own.add_match("destination='%s'" % own.unique)
        broadcasts = self.subscriber("interface='org.jetbus.Match'")
        emitter, other = self.connect(), self.connect()
        self.emit(emitter, 'to own', destination=own.unique)
        self.emit(emitter, 'to other', destination=other.get_unique_name())
        self.emit(emitter, 'broadcast')
        self.assertEqual(self.delivered(own, emitter), ['to own'])
        # Without eavesdrop a rule never sees what is addressed to someone else.
        self.assertEqual(self.delivered(broadcasts, emitter), ['broadcast'])

    def test_destination_with_eavesdrop_sees_signals_to_that_peer_only(self):
        target, elsewhere = self.connect(), self.connect()
        sub = self.subscriber("eavesdrop='true',destination='%s'" % target.get_unique_name())
        emitter = self.connect()
        self.emit(emitter, 'to target', destination=target.get_unique_name())
        self.emit(emitter, 'to elsewhere', destination=elsewhere.get_unique_name())
        self.emit(emitter, 'broadcast')
        self.assertEqual(self.delivered(sub, emitter), ['to target'])


class ArgMatches(MatchRuleTestCase):

    def test_arg0_matches_the_exact_string_only(self):
        self.assert_delivers("arg0='alpha'",
                             [('exact', {'args': strs('alpha', 'x')}), ('longer', {'args': strs('alphabet')}),
                              ('shorter', {'args': strs('alph')}), ('case', {'args': strs('Alpha')}),
                              ('second arg', {'args': strs('beta', 'alpha')}), ('no args', {})],
                             ['exact'])

    def test_arg0_does_not_match_an_object_path_or_other_types(self):
        self.assert_delivers("arg0='/alpha'",
                             [('object path', {'args': (dbus.ObjectPath('/alpha'),)}),
                              ('signature', {'args': (dbus.Signature('s'),)}),
                              ('variant', {'args': (dbus.String('/alpha', variant_level=1),)}),
                              ('string', {'args': strs('/alpha')})],
                             ['string'])

    def test_arg1_and_arg3_must_both_match(self):
        self.assert_delivers("arg1='b',arg3='d'",
                             [('all', {'args': strs('a', 'b', 'c', 'd')}),
                              ('wrong arg3', {'args': strs('a', 'b', 'c', 'x')}),
                              ('wrong arg1', {'args': strs('a', 'x', 'c', 'd')}),
                              ('too short', {'args': strs('a', 'b', 'c')}),
                              ('arg1 not a string', {'args': (dbus.String('a'), dbus.Int32(1),
                                                              dbus.String('c'), dbus.String('d'))})],
                             ['all'])

    def test_arg2_skips_non_string_arguments_before_it(self):
        self.assert_delivers("arg2='z'",
                             [('after int and array', {'args': (dbus.Int32(7), dbus.Array(['q'], signature='s'),
                                                                dbus.String('z'))}),
                              ('z earlier', {'args': strs('z', 'z', 'y')})],
                             ['after int and array'])

    def test_an_empty_arg0_matches_only_an_empty_string(self):
        self.assert_delivers("arg0=''",
                             [('empty', {'args': strs('')}), ('nonempty', {'args': strs('x')}), ('none', {})],
                             ['empty'])

    def test_arg0path_with_a_trailing_slash_follows_the_spec_examples(self):
        # The specification's own list for arg0path='/aa/bb/'.
        cases = [('/', True), ('/aa/', True), ('/aa/bb/', True), ('/aa/bb/cc/', True), ('/aa/bb/cc', True),
                 ('/aa/b', False), ('/aa', False), ('/aa/bb', False)]
        self.assert_delivers("arg0path='/aa/bb/'",
                             [(value, {'args': strs(value)}) for value, _ in cases],
                             [value for value, match in cases if match])

    def test_arg0path_without_a_trailing_slash_matches_itself_and_directory_prefixes(self):
        cases = [('/aa/bb', True), ('/aa/', True), ('/', True), ('/aa/bb/', False),
                 ('/aa/bb/cc', False), ('/aa', False), ('/aa/bbb', False)]
        self.assert_delivers("arg0path='/aa/bb'",
                             [(value, {'args': strs(value)}) for value, _ in cases],
                             [value for value, match in cases if match])

    def test_arg0path_matches_object_path_arguments_too(self):
        self.assert_delivers("arg0path='/aa/bb/'",
                             [('child', {'args': (dbus.ObjectPath('/aa/bb/cc'),)}),
                              ('root', {'args': (dbus.ObjectPath('/'),)}),
                              ('parent', {'args': (dbus.ObjectPath('/aa'),)}),
                              ('int', {'args': (dbus.Int32(1),)})],
                             ['child', 'root'])

    def test_arg1path_looks_at_the_second_argument(self):
        self.assert_delivers("arg1path='/ca/example/foo/'",
                             [('property', {'args': strs('/x/', '/ca/example/foo/bar')}),
                              ('directory', {'args': strs('/x/', '/ca/example/')}),
                              ('arg0 only', {'args': strs('/ca/example/foo/bar', '/elsewhere/')})],
                             ['property', 'directory'])

    def test_arg0namespace_matches_the_name_and_names_below_it(self):
        cases = [('com.example.backend1', True), ('com.example.backend1.foo', True),
                 ('com.example.backend1.foo.bar', True), ('com.example.backend2', False),
                 ('com.example.backend1foo', False), ('com.example', False)]
        self.assert_delivers("arg0namespace='com.example.backend1'",
                             [(value, {'args': strs(value)}) for value, _ in cases] +
                             [('object path', {'args': (dbus.ObjectPath('/com/example/backend1'),)})],
                             [value for value, match in cases if match])

    def test_arg0namespace_on_name_owner_changed_watches_a_family_of_names(self):
        sub = self.subscriber("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                              "arg0namespace='com.example.backend1'")
        owner = self.connect()
        for name in ('com.example.backend1', 'com.example.backend1.foo', 'com.example.backend2',
                     'com.example.backend10'):
            owner.request_name(name)
        self.delivered(sub, owner)
        changed = [str(m.get_args_list()[0]) for m in sub.messages if m.get_member() == 'NameOwnerChanged']
        self.assertEqual(changed, ['com.example.backend1', 'com.example.backend1.foo'])


class Eavesdropping(MatchRuleTestCase):

    def test_an_eavesdrop_rule_sees_method_calls_between_two_other_peers(self):
        rule = "type='method_call',interface='org.jetbus.Match'"
        eavesdropper = self.subscriber("eavesdrop='true'," + rule)
        plain = self.subscriber(rule)
        explicit_false = self.subscriber("eavesdrop='false'," + rule)
        caller, callee = self.connect(), self.connect()
        self.call(caller, 'call', destination=callee.get_unique_name(), args=strs('x'))
        self.emit(caller, 'unicast signal', destination=callee.get_unique_name())
        self.assertEqual(self.delivered(eavesdropper, caller), ['call'])
        self.assertEqual(self.delivered(plain, caller), [])
        self.assertEqual(self.delivered(explicit_false, caller), [])

    def test_an_eavesdrop_rule_still_sees_broadcast_signals(self):
        self.assert_delivers("eavesdrop='true',interface='org.jetbus.Match'",
                             [('broadcast', {}), ('other', {'interface': 'org.jetbus.Other'})],
                             ['broadcast'])

    def test_an_eavesdrop_rule_sees_other_peers_calls_to_the_driver(self):
        eavesdropper = self.subscriber("eavesdrop='true',interface='org.freedesktop.DBus',member='GetId'")
        caller = self.connect()
        serial = caller.send_message(dbus.lowlevel.MethodCallMessage(*DRIVER, 'GetId'))
        self.delivered(eavesdropper, caller)
        seen = [m for m in eavesdropper.messages
                if m.get_sender() == caller.get_unique_name() and m.get_serial() == serial]
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0].get_destination(), 'org.freedesktop.DBus')

    def test_an_eavesdrop_rule_does_not_see_the_drivers_unicast_replies_and_signals(self):
        # dbus-daemon shows what the driver sends to one peer (replies, NameAcquired) only to
        # monitors (BecomeMonitor), never through eavesdrop match rules.
        eavesdropper = self.subscriber("eavesdrop='true',sender='org.freedesktop.DBus'")
        caller = self.connect()
        serial = caller.send_message(dbus.lowlevel.MethodCallMessage(*DRIVER, 'GetId'))
        caller.request_name('com.example.Acquired')
        self.delivered(eavesdropper, caller)
        to_caller = [(m.get_member(), m.get_reply_serial()) for m in eavesdropper.messages
                     if m.get_destination() == caller.get_unique_name()]
        self.assertEqual(to_caller, [])
        # The broadcast NameOwnerChanged for the same request does arrive.
        changed = [m.get_args_list()[0] for m in eavesdropper.messages if m.get_member() == 'NameOwnerChanged']
        self.assertIn('com.example.Acquired', changed)


class AddMatchErrors(MatchRuleTestCase):

    def assert_add_match_error(self, rule, name, text=None):
        conn = self.connect()
        with self.assertRaises(dbus.exceptions.DBusException, msg=rule) as cm:
            call_driver(conn, 'AddMatch', 's', (rule,))
        self.assertEqual(cm.exception.get_dbus_name(), name, rule)
        if text is not None:
            self.assertEqual(cm.exception.get_dbus_message().rstrip('\n'), text, rule)

    def test_malformed_rules_are_match_rule_invalid_with_dbus_daemons_texts(self):
        invalid = 'org.freedesktop.DBus.Error.MatchRuleInvalid'
        for rule, text in (
                ("foo='bar'", 'Unknown key "foo" in match rule'),
                ("type='bogus'", 'Invalid message type (bogus) in match rule'),
                ("path='/a',path_namespace='/a'", 'path or path_namespace specified twice in match rule'),
                ("path='a'", "Path 'a' is invalid"),
                ("path_namespace='/a/'", "Path '/a/' is invalid"),
                ("member='1x'", "Member name '1x' is invalid"),
                ("interface='noperiod'", "Interface name 'noperiod' is invalid"),
                ("sender='bad..name'", "Sender name 'bad..name' is invalid"),
                ("destination='x'", "Destination name 'x' is invalid"),
                ("arg64='x'", "Key 'arg64' in match rule has arg number 64 but the maximum is 63."),
                ("arg1namespace='a.b'", "Key 'arg1namespace' in match rule contains junk after argument "
                                        "number (1). Only 'arg1path' (for example) or 'arg0namespace' are valid"),
                ("arg0namespace='a.'", "arg0namespace='a.' is not a valid prefix of a bus name"),
                ("arg0namespace=''", "arg0namespace='' is not a valid prefix of a bus name"),
                ("eavesdrop='yes'", "eavesdrop='yes' is invalid, it should be 'true' or 'false'"),
                ("type='signal',type='signal'", 'Key type specified twice in match rule'),
                ("type='signal", 'Unbalanced quotation marks in match rule'),
                ("argxpath='a'", "Key 'argxpath' in match rule starts with 'arg' but could not parse arg "
                                 "number. Should be 'arg0' or 'arg7' for example.")):
            self.assert_add_match_error(rule, invalid, text)

    def test_edge_cases_that_dbus_daemon_accepts(self):
        conn = self.connect()
        for rule in ("", "arg63='x'", "type=signal", "member='a',", "arg0namespace='a'",
                     "arg0path=''", "sender=':1.999'", "type='error'", "arg0='don''t'"):
            call_driver(conn, 'AddMatch', 's', (rule,))

    def test_remove_match_of_a_rule_never_added_is_match_rule_not_found(self):
        conn = self.connect()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            call_driver(conn, 'RemoveMatch', 's', ("member='Never'",))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.MatchRuleNotFound')
        self.assertEqual(cm.exception.get_dbus_message(),
                         "The given match rule wasn't found and can't be removed")

    def test_remove_match_of_a_malformed_rule_is_match_rule_invalid(self):
        conn = self.connect()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            call_driver(conn, 'RemoveMatch', 's', ("foo='x'",))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.MatchRuleInvalid')

    def test_a_rule_added_twice_needs_two_removals(self):
        sub = self.subscriber()
        rule = "interface='org.jetbus.Match'"
        sub.add_match(rule)
        sub.add_match(rule)
        emitter = self.connect()
        self.emit(emitter, 'twice added')
        self.assertEqual(self.delivered(sub, emitter), ['twice added'])  # delivered once, not twice
        call_driver(sub.conn, 'RemoveMatch', 's', (rule,))
        sub.messages.clear()
        self.emit(emitter, 'one left')
        self.assertEqual(self.delivered(sub, emitter), ['one left'])
        call_driver(sub.conn, 'RemoveMatch', 's', (rule,))
        sub.messages.clear()
        self.emit(emitter, 'none left')
        self.assertEqual(self.delivered(sub, emitter), [])
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            call_driver(sub.conn, 'RemoveMatch', 's', (rule,))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.MatchRuleNotFound')

    def test_remove_match_finds_a_rule_written_with_its_keys_in_another_order(self):
        sub = self.subscriber()
        sub.add_match("member='Sig',interface='org.jetbus.Match'")
        call_driver(sub.conn, 'RemoveMatch', 's', ("interface='org.jetbus.Match',member='Sig'",))
        emitter = self.connect()
        self.emit(emitter, 'after removal')
        self.assertEqual(self.delivered(sub, emitter), [])
