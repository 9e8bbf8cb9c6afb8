# Method calls through the bus to a real service (bus_service.py), made with dbus-send:
# every basic type dbus-send can write survives the round trip, errors come back by name, and a
# service that dies with a call pending produces NoReply for the caller.
from harness import BusTestCase

SERVICE = 'org.jetbus.TestService'
PATH = '/org/jetbus/Test'


class ServiceCallsWithDbusSend(BusTestCase):

    def setUp(self):
        super().setUp()
        self.service = self.start_service(SERVICE)

    def call(self, member, *args):
        return self.dbus_send('org.jetbus.Test.' + member, *args, dest=SERVICE, path=PATH)

    def test_echo_returns_every_basic_and_container_type_unchanged(self):
        out = self.assert_ok(self.call(
            'Echo', 'byte:7', 'boolean:true', 'int16:-3', 'uint16:65535', 'int32:-70000',
            'uint32:4000000000', 'int64:-9000000000', 'uint64:18000000000000000000', 'double:2.5',
            'string:hello world', 'objpath:/a/b', 'array:string:x,y,z', 'dict:string:int32:one,1,two,2',
            'variant:int32:-8'))
        lines = [line.strip() for line in out.splitlines()[1:]]
        for expected in ('byte 7', 'boolean true', 'int16 -3', 'uint16 65535', 'int32 -70000',
                         'uint32 4000000000', 'int64 -9000000000', 'uint64 18000000000000000000',
                         'double 2.5', 'string "hello world"', 'object path "/a/b"',
                         'string "x"', 'string "y"', 'string "z"', 'string "one"', 'int32 1',
                         'string "two"', 'int32 2'):
            self.assertIn(expected, lines)
        self.assertRegex(out, r'variant\s+int32 -8')

    def test_the_reply_comes_from_the_service_unique_name(self):
        unique = self.service.output().split()[1]
        out = self.assert_ok(self.call('Hello', 'string:bus'))
        self.assertIn('sender=%s ' % unique, out)
        self.assertIn('string "Hello, bus"', out)

    def test_the_service_sees_the_caller_unique_name_as_sender(self):
        out = self.assert_ok(self.call('WhoAmI'))
        self.assertRegex(out, r'destination=(\S+)')
        import re
        destination = re.search(r'destination=(\S+)', out).group(1)
        self.assertIn('string "%s"' % destination, out)

    def test_an_error_reply_from_the_service_reaches_the_caller_by_name(self):
        self.assert_error(self.call('Fail'), 'org.jetbus.Test.Error.Deliberate', 'Deliberate failure')

    def test_a_call_with_wrong_argument_types_is_answered_by_the_service(self):
        err = self.assert_error(self.call('Add', 'string:x'), 'org.freedesktop.DBus.Python.TypeError')
        self.assertNotIn('NoReply', err)

    def test_a_call_to_the_service_by_unique_name_works(self):
        unique = self.service.output().split()[1]
        out = self.assert_ok(self.dbus_send('org.jetbus.Test.Add', 'int32:2', 'int32:40',
                                            dest=unique, path=PATH))
        self.assertIn('int32 42', out)

    def test_a_service_that_exits_without_replying_gives_no_reply(self):
        self.assert_error(self.call('HangThenExit'), 'org.freedesktop.DBus.Error.NoReply',
                          'Message recipient disconnected from message bus without replying')

    def test_a_signal_without_destination_does_not_disturb_the_service(self):
        self.assert_ok(self.dbus_send('org.jetbus.Test.Tick', 'string:a', 'string:b',
                                      dest=None, path=PATH, reply=False))
        out = self.assert_ok(self.call('Add', 'int32:1', 'int32:1'))
        self.assertIn('int32 2', out)
