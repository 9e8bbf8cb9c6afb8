# Service activation, black-box: .service files in the config's <servicedir> name services
# (activatable_service.py) that the broker starts on StartServiceByName or on a call to their
# unowned name. Covers ListActivatableNames, the replies of StartServiceByName, auto-start and the
# order of queued calls, NO_AUTO_START, every failure path with dbus-daemon's error names and texts,
# the activation environment, service files appearing and disappearing, systemd activation through a
# stand-in org.freedesktop.systemd1 (ActivationRequest / ActivationFailure), and
# max_pending_service_starts. Every service the broker starts records its pid; tearDown stops them.
import glob
import os
import resource
import shlex
import shutil
import signal
import tempfile
import time

import dbus
import dbus.bus
import dbus.lowlevel

import harness
from harness import BusTestCase, pump_until, wait_until

SCRIPT = os.path.join(harness.HERE, 'activatable_service.py')
IFACE = 'org.jetbus.Activatable'
PATH = '/org/jetbus/Activatable'
DBUS = ('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus')
ERR = 'org.freedesktop.DBus.Error.'
SYSTEMD = 'org.freedesktop.systemd1'
ACTIVATOR = 'org.freedesktop.systemd1.Activator'
START_REPLY_SUCCESS, START_REPLY_ALREADY_RUNNING = 1, 2
WAIT = 10.0  # upper bound for anything that should happen promptly on a loaded machine


def unknown_text(name):
    return 'The name %s was not provided by any .service files' % name


def timed_out_text(name, ms):
    return "Failed to activate service '%s': timed out (service_start_timeout=%dms)" % (name, ms)


def limit_text(name, limit):
    return ('The maximum number of pending activations has been reached, activation of %s failed '
            '(max_pending_service_starts=%d)' % (name, limit))


def process_state(pid):
    """The /proc state letter of pid if it runs activatable_service.py, else None."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            if SCRIPT.encode() not in f.read():
                return None
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def running(pid):
    state = process_state(pid)
    return state is not None and state not in 'ZX'


class ActivationTestCase(BusTestCase):
    """A fresh broker per test whose servicedir holds the files services() writes before start."""

    limits = {}
    extra_args = ()

    def setUp(self):
        self.bus = harness.BusDaemon(self.daemon_path(), extra_args=self.extra_args)
        self._background = []
        self._connections = []
        try:
            harness.write_limits_config(self.bus, self.limits)
            self.services()
            self.bus.start()
        except Exception:
            self.bus.cleanup()
            raise
        self.address = self.bus.address

    def tearDown(self):
        self.stop_started_services()
        super().tearDown()

    def services(self):
        """Writes the test's .service files; called before the broker starts."""

    def daemon_path(self):
        return harness.DAEMON_PATH

    # --- service files and the processes they start --------------------------------------
    def write_file(self, file_name, text):
        with open(os.path.join(self.bus.servicedir, file_name), 'w') as f:
            f.write(text)

    def write_service(self, name, *args, file_name=None, extra=''):
        """A service file whose Exec runs activatable_service.py NAME with args."""
        exec_line = ' '.join(['/usr/bin/python3', SCRIPT, name, '--record-dir', self.bus.dir] + list(args))
        self.write_file(file_name or name + '.service',
                        '[D-BUS Service]\nName=%s\nExec=%s\n%s' % (name, exec_line, extra))

    def started(self, name=None):
        """Pids of the services started so far (of name only, if given), in start order."""
        try:
            with open(os.path.join(self.bus.dir, 'pids')) as f:
                rows = [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [int(pid) for pid, who in rows if name is None or who == name]

    def stop_started_services(self):
        pids = self.started()
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not any(running(p) for p in pids), harness.STOP_TIMEOUT):
            for pid in pids:
                if running(pid):
                    os.kill(pid, signal.SIGKILL)

    # --- calls -----------------------------------------------------------------------------
    def driver_call(self, conn, member, signature='', args=()):
        return conn.call_blocking(*DBUS, member, signature, args, timeout=WAIT)

    def service_call(self, conn, name, member, signature='', args=()):
        return conn.call_blocking(name, PATH, IFACE, member, signature, args, timeout=WAIT)

    def start_by_name(self, conn, name):
        return int(self.driver_call(conn, 'StartServiceByName', 'su', (name, 0)))

    def assert_dbus_error(self, error_name, text, func, *args):
        with self.assertRaises(dbus.exceptions.DBusException) as caught:
            func(*args)
        self.assertEqual(caught.exception.get_dbus_name(), error_name, caught.exception.get_dbus_message())
        if text is not None:
            self.assertEqual(caught.exception.get_dbus_message(), text)

    def call_async(self, conn, results, key, dest, path, iface, member, signature='', args=()):
        """Sends a call; its outcome lands in results[key] as ('ok', value) or ('error', name, text)."""
        conn.call_async(dest, path, iface, member, signature, args,
                        reply_handler=lambda *value: results.__setitem__(key, ('ok',) + value),
                        error_handler=lambda e: results.__setitem__(
                            key, ('error', e.get_dbus_name(), e.get_dbus_message())),
                        timeout=WAIT * 3)

    def echo_async(self, conn, results, key, name, text):
        self.call_async(conn, results, key, name, PATH, IFACE, 'Echo', 's', (text,))

    def owner(self, conn, name):
        return str(self.driver_call(conn, 'GetNameOwner', 's', (name,)))


class ListActivatableNames(ActivationTestCase):

    def services(self):
        self.write_service('org.jetbus.One')
        self.write_service('org.jetbus.Two', file_name='a-file-name-unlike-its-service.service')
        self.write_file('garbage.service', 'this is not a service file\n')
        self.write_file('no-name.service', '[D-BUS Service]\nExec=/bin/true\n')
        self.write_file('no-exec.service', '[D-BUS Service]\nName=org.jetbus.NoExec\n')
        self.write_file('wrong-group.service', '[Something Else]\nName=org.jetbus.WrongGroup\nExec=/bin/true\n')
        self.write_file('not-a-service-file.txt', '[D-BUS Service]\nName=org.jetbus.Txt\nExec=/bin/true\n')

    def test_the_bus_and_every_valid_service_file_are_listed_and_bad_files_are_skipped(self):
        conn = self.connect()
        names = sorted(str(n) for n in self.driver_call(conn, 'ListActivatableNames'))
        self.assertEqual(names, ['org.freedesktop.DBus', 'org.jetbus.One', 'org.jetbus.Two'])

    def test_listing_starts_nothing_and_ListNames_does_not_show_activatable_names(self):
        conn = self.connect()
        self.driver_call(conn, 'ListActivatableNames')
        self.assertNotIn('org.jetbus.One', [str(n) for n in self.driver_call(conn, 'ListNames')])
        self.assertEqual(self.started(), [])

    def test_a_skipped_file_is_not_activatable(self):
        conn = self.connect()
        for name in ('org.jetbus.NoExec', 'org.jetbus.WrongGroup', 'org.jetbus.Txt'):
            self.assert_dbus_error(ERR + 'ServiceUnknown', unknown_text(name), self.start_by_name, conn, name)


class StartServiceByName(ActivationTestCase):

    def services(self):
        self.write_service('org.jetbus.One')
        self.write_service('org.jetbus.Slow', '--delay', '1')
        # Without --systemd-activation a SystemdService= line changes nothing: Exec runs.
        self.write_service('org.jetbus.HasUnit', extra='SystemdService=has-unit.service\n')

    def test_returns_1_and_the_started_process_then_owns_the_name(self):
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.One'), START_REPLY_SUCCESS)
        owner = self.owner(conn, 'org.jetbus.One')
        self.assertEqual(int(self.driver_call(conn, 'GetConnectionUnixProcessID', 's', (owner,))),
                         self.started('org.jetbus.One')[0])
        self.assertEqual(str(self.service_call(conn, 'org.jetbus.One', 'Echo', 's', ('hi',))), 'hi')

    def test_returns_2_when_the_service_already_runs_and_starts_no_second_copy(self):
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.One'), START_REPLY_SUCCESS)
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.One'), START_REPLY_ALREADY_RUNNING)
        self.assertEqual(len(self.started('org.jetbus.One')), 1)

    def test_callers_that_ask_while_the_service_is_starting_all_get_1_from_one_process(self):
        conn = self.connect(mainloop=True)
        results = {}
        for i in range(3):
            self.call_async(conn, results, i, *DBUS, 'StartServiceByName', 'su', ('org.jetbus.Slow', 0))
        self.assertTrue(pump_until(lambda: len(results) == 3, WAIT), results)
        self.assertEqual(results, {i: ('ok', START_REPLY_SUCCESS) for i in range(3)})
        self.assertEqual(len(self.started('org.jetbus.Slow')), 1)

    def test_a_name_without_service_file_is_ServiceUnknown(self):
        conn = self.connect()
        for name in ('org.jetbus.Nope', 'org.freedesktop.DBus', ':1.1'):
            self.assert_dbus_error(ERR + 'ServiceUnknown', unknown_text(name), self.start_by_name, conn, name)

    def test_dbus_send_sees_the_reply_and_the_error_by_name(self):
        out = self.assert_ok(self.dbus_send('org.freedesktop.DBus.StartServiceByName', 'string:org.jetbus.One',
                                            'uint32:0', path='/org/freedesktop/DBus'))
        self.assertIn('uint32 1', out)
        self.assert_error(self.dbus_send('org.freedesktop.DBus.StartServiceByName', 'string:org.jetbus.Nope',
                                         'uint32:0', path='/org/freedesktop/DBus'),
                          ERR + 'ServiceUnknown', unknown_text('org.jetbus.Nope'))

    def test_a_SystemdService_line_without_systemd_activation_runs_Exec(self):
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.HasUnit'), START_REPLY_SUCCESS)
        self.assertEqual(len(self.started('org.jetbus.HasUnit')), 1)


class AutoStart(ActivationTestCase):

    def services(self):
        self.write_service('org.jetbus.One')
        self.write_service('org.jetbus.Slow', '--delay', '1')

    def test_a_call_to_the_unowned_name_starts_the_service_and_gets_its_reply(self):
        out = self.assert_ok(self.dbus_send(IFACE + '.Echo', 'string:woken', dest='org.jetbus.One', path=PATH))
        self.assertIn('string "woken"', out)
        self.assertEqual(len(self.started('org.jetbus.One')), 1)
        out = self.assert_ok(self.dbus_send(IFACE + '.Calls', dest='org.jetbus.One', path=PATH))
        self.assertIn('string "woken"', out)  # the same process answered both calls
        self.assertEqual(len(self.started('org.jetbus.One')), 1)

    def test_calls_sent_before_the_service_is_up_are_delivered_in_order(self):
        conn = self.connect(mainloop=True)
        results = {}
        sent = ['m%02d' % i for i in range(20)]
        for i, text in enumerate(sent):
            self.echo_async(conn, results, i, 'org.jetbus.Slow', text)
        # The service waits 1 s before taking its name, so every call above is queued by the bus.
        self.assert_dbus_error(ERR + 'NameHasNoOwner', None, self.owner, conn, 'org.jetbus.Slow')
        self.assertTrue(pump_until(lambda: len(results) == len(sent), WAIT), results)
        self.assertEqual([results[i] for i in range(len(sent))], [('ok', text) for text in sent])
        self.assertEqual([str(t) for t in self.service_call(conn, 'org.jetbus.Slow', 'Calls')], sent)
        self.assertEqual(len(self.started('org.jetbus.Slow')), 1)

    def test_calls_from_several_clients_during_the_start_all_get_replies_from_one_process(self):
        results = {}
        for i in range(3):
            self.echo_async(self.connect(mainloop=True), results, i, 'org.jetbus.Slow', 'c%d' % i)
        self.assertTrue(pump_until(lambda: len(results) == 3, WAIT), results)
        self.assertEqual(results, {i: ('ok', 'c%d' % i) for i in range(3)})
        self.assertEqual(len(self.started('org.jetbus.Slow')), 1)

    def test_NO_AUTO_START_to_the_unowned_name_is_NameHasNoOwner_and_starts_nothing(self):
        conn = self.connect()
        message = dbus.lowlevel.MethodCallMessage('org.jetbus.One', PATH, IFACE, 'Echo')
        message.append('x', signature='s')
        message.set_auto_start(False)
        self.assert_dbus_error(ERR + 'NameHasNoOwner', 'Name "org.jetbus.One" does not exist',
                               conn.send_message_with_reply_and_block, message, int(WAIT * 1000))
        self.assertEqual(self.started(), [])

    def test_a_call_to_a_name_without_service_file_is_ServiceUnknown(self):
        self.assert_error(self.dbus_send(IFACE + '.Echo', 'string:x', dest='org.jetbus.Nope', path=PATH),
                          ERR + 'ServiceUnknown', unknown_text('org.jetbus.Nope'))


class ActivationFailures(ActivationTestCase):
    """Each way a start can fail, with dbus-daemon's error names and texts, for StartServiceByName
    and for an auto-started call alike."""

    limits = {'service_start_timeout': 1500}

    def services(self):
        self.write_file('missing.service',
                        '[D-BUS Service]\nName=org.jetbus.Missing\nExec=/nonexistent/jetbus-program --flag\n')
        self.write_service('org.jetbus.Exit3', '--exit-status', '3')
        self.write_service('org.jetbus.Exit0', '--exit-status', '0')
        self.write_service('org.jetbus.Killed', '--kill-signal', '9')
        self.write_service('org.jetbus.Never', '--never-own')

    def assert_fails_both_ways(self, name, error_name, text):
        conn = self.connect()
        self.assert_dbus_error(ERR + error_name, text, self.start_by_name, conn, name)
        self.assert_error(self.dbus_send(IFACE + '.Echo', 'string:x', dest=name, path=PATH),
                          ERR + error_name, text)

    def test_a_program_that_does_not_exist_is_Spawn_ExecFailed(self):
        self.assert_fails_both_ways('org.jetbus.Missing', 'Spawn.ExecFailed',
                                    'Failed to execute program org.jetbus.Missing: No such file or directory')

    def test_a_service_that_exits_3_before_taking_its_name_is_Spawn_ChildExited(self):
        self.assert_fails_both_ways('org.jetbus.Exit3', 'Spawn.ChildExited',
                                    'Process org.jetbus.Exit3 exited with status 3')
        self.assertEqual(len(self.started('org.jetbus.Exit3')), 2, 'a failed start is tried afresh')

    def test_a_service_killed_by_a_signal_is_Spawn_ChildSignaled(self):
        self.assert_fails_both_ways('org.jetbus.Killed', 'Spawn.ChildSignaled',
                                    'Process org.jetbus.Killed received signal 9')

    def test_a_service_that_never_takes_its_name_is_TimedOut_after_service_start_timeout(self):
        conn = self.connect()
        start = time.monotonic()
        self.assert_dbus_error(ERR + 'TimedOut', timed_out_text('org.jetbus.Never', 1500),
                               self.start_by_name, conn, 'org.jetbus.Never')
        self.assertGreaterEqual(time.monotonic() - start, 1.4)

    def test_a_service_that_exits_0_without_taking_its_name_is_TimedOut_not_ChildExited(self):
        conn = self.connect()
        start = time.monotonic()
        self.assert_dbus_error(ERR + 'TimedOut', timed_out_text('org.jetbus.Exit0', 1500),
                               self.start_by_name, conn, 'org.jetbus.Exit0')
        self.assertGreaterEqual(time.monotonic() - start, 1.4)

    def test_every_call_waiting_on_a_failed_start_gets_the_error(self):
        conn = self.connect(mainloop=True)
        results = {}
        for i in range(3):
            self.echo_async(conn, results, i, 'org.jetbus.Exit3', 'x')
        self.call_async(conn, results, 'start', *DBUS, 'StartServiceByName', 'su', ('org.jetbus.Exit3', 0))
        self.assertTrue(pump_until(lambda: len(results) == 4, WAIT), results)
        failure = ('error', ERR + 'Spawn.ChildExited', 'Process org.jetbus.Exit3 exited with status 3')
        self.assertEqual(results, {0: failure, 1: failure, 2: failure, 'start': failure})
        self.assertEqual(len(self.started('org.jetbus.Exit3')), 1)


class ActivationEnvironment(ActivationTestCase):

    def services(self):
        self.write_service('org.jetbus.Before')
        self.write_service('org.jetbus.After')

    def env(self, conn, name, *variables):
        return {str(k): str(v) for k, v in self.service_call(conn, name, 'Env', 'as', (list(variables),)).items()}

    def test_the_service_sees_the_bus_address_and_type_as_its_starter(self):
        conn = self.connect()
        env = self.env(conn, 'org.jetbus.Before', 'DBUS_STARTER_ADDRESS', 'DBUS_STARTER_BUS_TYPE')
        self.assertEqual(env, {'DBUS_STARTER_ADDRESS': self.bus.printed_address, 'DBUS_STARTER_BUS_TYPE': 'session'})

    def test_UpdateActivationEnvironment_reaches_services_started_afterwards(self):
        conn = self.connect()
        self.assertEqual(self.env(conn, 'org.jetbus.Before', 'JETBUS_TEST_VAR'), {})
        self.driver_call(conn, 'UpdateActivationEnvironment', 'a{ss}', ({'JETBUS_TEST_VAR': 'x'},))
        self.assertEqual(self.env(conn, 'org.jetbus.After', 'JETBUS_TEST_VAR'), {'JETBUS_TEST_VAR': 'x'})
        # A service already running keeps the environment it was started with.
        self.assertEqual(self.env(conn, 'org.jetbus.Before', 'JETBUS_TEST_VAR'), {})

    def test_the_bus_sets_DBUS_STARTER_BUS_TYPE_itself_whatever_the_activation_environment_says(self):
        conn = self.connect()
        self.driver_call(conn, 'UpdateActivationEnvironment', 'a{ss}', ({'DBUS_STARTER_BUS_TYPE': 'forged'},))
        self.assertEqual(self.env(conn, 'org.jetbus.After', 'DBUS_STARTER_BUS_TYPE'),
                         {'DBUS_STARTER_BUS_TYPE': 'session'})


class ActivationFdLimit(ActivationTestCase):
    """The broker raises its own fd limit for thousands of peers; the services it starts get the limit
    it was started with, as dbus-daemon's do (programs that loop over every possible fd, or use
    select(), misbehave with a high one)."""

    SOFT = 1024

    def daemon_path(self):
        # The broker starts with a soft limit of 1024 under a higher hard one, which it raises to.
        self.hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if self.hard != resource.RLIM_INFINITY and self.hard <= self.SOFT:
            self.skipTest('the hard fd limit here (%d) leaves the broker nothing to raise' % self.hard)
        self.wrapper_dir = tempfile.mkdtemp(prefix='jetbus-fdlimit-')
        self.addCleanup(shutil.rmtree, self.wrapper_dir, True)
        wrapper = os.path.join(self.wrapper_dir, 'broker')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec prlimit --nofile=%d: -- %s "$@"\n' % (self.SOFT, shlex.quote(harness.DAEMON_PATH)))
        os.chmod(wrapper, 0o755)
        return wrapper

    def services(self):
        # The service records its own limits, then runs as any other.
        script = os.path.join(self.bus.dir, 'limits-then-service')
        with open(script, 'w') as f:
            f.write('#!/bin/sh\necho "$(ulimit -Sn) $(ulimit -Hn)" > %s\nexec /usr/bin/python3 %s "$@"\n'
                    % (shlex.quote(os.path.join(self.bus.dir, 'service-limits')), shlex.quote(SCRIPT)))
        os.chmod(script, 0o755)
        self.write_file('org.jetbus.Limits.service', '[D-BUS Service]\nName=org.jetbus.Limits\nExec=%s %s --record-dir %s\n'
                        % (script, 'org.jetbus.Limits', self.bus.dir))

    def test_a_started_service_gets_the_soft_fd_limit_the_broker_was_started_with(self):
        with open('/proc/%d/limits' % self.bus.pid) as f:
            row = next(line for line in f if line.startswith('Max open files'))
        broker_soft = int(row.split()[3])
        # dbus-daemon (as root) asks for 65,536 and keeps its limit when refused, as under a lower hard
        # limit without CAP_SYS_RESOURCE; jetbus then takes the hard limit.
        if not harness.testing_reference_daemon() or self.hard >= 65536:
            self.assertGreater(broker_soft, self.SOFT, 'the broker did not raise its limit: ' + row)
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.Limits'), START_REPLY_SUCCESS)
        with open(os.path.join(self.bus.dir, 'service-limits')) as f:
            soft, hard = f.read().split()
        self.assertEqual(int(soft), self.SOFT)


class ServiceDirectoryChanges(ActivationTestCase):
    """Service files written or removed while the bus runs: after ReloadConfig, and (as dbus-daemon
    watches its service directories) without it."""

    def services(self):
        self.write_service('org.jetbus.One')

    def listed(self, conn):
        return [str(n) for n in self.driver_call(conn, 'ListActivatableNames')]

    def test_a_service_file_written_after_start_is_activatable_after_ReloadConfig(self):
        conn = self.connect()
        self.write_service('org.jetbus.Late')
        self.driver_call(conn, 'ReloadConfig')
        self.assertIn('org.jetbus.Late', self.listed(conn))
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.Late'), START_REPLY_SUCCESS)

    def test_a_service_file_written_after_start_is_picked_up_without_reload(self):
        conn = self.connect()
        self.write_service('org.jetbus.Late')
        self.assertTrue(wait_until(lambda: 'org.jetbus.Late' in self.listed(conn), WAIT),
                        'a new service file was not noticed within %.0fs' % WAIT)
        self.assert_ok(self.dbus_send(IFACE + '.Echo', 'string:x', dest='org.jetbus.Late', path=PATH))

    def test_a_removed_service_file_is_forgotten_with_or_without_reload(self):
        conn = self.connect()
        os.remove(os.path.join(self.bus.servicedir, 'org.jetbus.One.service'))
        self.assertTrue(wait_until(lambda: 'org.jetbus.One' not in self.listed(conn), WAIT),
                        'a removed service file was still listed after %.0fs' % WAIT)
        self.driver_call(conn, 'ReloadConfig')
        self.assert_dbus_error(ERR + 'ServiceUnknown', unknown_text('org.jetbus.One'),
                               self.start_by_name, conn, 'org.jetbus.One')

    def test_a_running_service_keeps_its_name_when_its_file_is_removed(self):
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.One'), START_REPLY_SUCCESS)
        owner = self.owner(conn, 'org.jetbus.One')
        os.remove(os.path.join(self.bus.servicedir, 'org.jetbus.One.service'))
        self.driver_call(conn, 'ReloadConfig')
        self.assertEqual(self.owner(conn, 'org.jetbus.One'), owner)
        self.assertEqual(str(self.service_call(conn, 'org.jetbus.One', 'Echo', 's', ('still',))), 'still')


class SystemdStandIn:
    """Plays org.freedesktop.systemd1 on the bus: records each ActivationRequest and hands it to
    on_request(unit), which may start the service itself or answer with fail()."""

    def __init__(self, test, on_request):
        self.test = test
        self.on_request = on_request
        self.requests = []
        self.conn = test.connect(mainloop=True)
        self.conn.add_signal_receiver(self._received, 'ActivationRequest', ACTIVATOR,
                                      sender_keyword='sender', path_keyword='path',
                                      destination_keyword='destination')
        reply = self.conn.request_name(SYSTEMD, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        test.assertEqual(reply, dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER)

    def _received(self, unit, sender=None, path=None, destination=None):
        self.requests.append((str(unit), str(sender), str(path), str(destination)))
        self.on_request(str(unit))

    def fail(self, unit, error_name, text, conn=None):
        """Sends ActivationFailure(unit, error_name, text) to the bus, as systemd does."""
        message = dbus.lowlevel.SignalMessage('/org/freedesktop/DBus', ACTIVATOR, 'ActivationFailure')
        message.set_destination('org.freedesktop.DBus')
        message.append(unit, error_name, text, signature='sss')
        (conn or self.conn).send_message(message)


class SystemdActivation(ActivationTestCase):
    """--systemd-activation: a SystemdService= name is started by asking org.freedesktop.systemd1
    (an ActivationRequest signal from the bus); the unit's service then takes the name, or systemd1
    answers with ActivationFailure."""

    extra_args = ('--systemd-activation',)

    def services(self):
        self.write_file('unit.service', '[D-BUS Service]\nName=org.jetbus.ByUnit\nExec=/bin/false\n'
                                        'SystemdService=jetbus-unit.service\n')
        self.write_file('unit-only.service', '[D-BUS Service]\nName=org.jetbus.UnitOnly\n'
                                             'SystemdService=jetbus-unit-only.service\n')
        self.write_service('org.jetbus.Direct')

    def run_unit_service(self, unit):
        """What systemd would do for jetbus-unit.service: run the service, told the bus address."""
        self.assertEqual(unit, 'jetbus-unit.service')
        self.background([harness.PYTHON, SCRIPT, 'org.jetbus.ByUnit', '--record-dir', self.bus.dir,
                         '--address', self.address])

    def test_the_bus_asks_systemd1_for_the_unit_and_the_caller_gets_the_service_reply(self):
        standin = SystemdStandIn(self, self.run_unit_service)
        conn = self.connect(mainloop=True)
        results = {}
        self.echo_async(conn, results, 'call', 'org.jetbus.ByUnit', 'via systemd')
        self.assertTrue(pump_until(lambda: 'call' in results, WAIT), standin.requests)
        self.assertEqual(results['call'], ('ok', 'via systemd'))
        self.assertEqual(standin.requests,
                         [('jetbus-unit.service', 'org.freedesktop.DBus', '/org/freedesktop/DBus', SYSTEMD)])

    def test_StartServiceByName_of_a_unit_service_returns_1_once_systemd1_started_it(self):
        standin = SystemdStandIn(self, self.run_unit_service)
        conn = self.connect(mainloop=True)
        results = {}
        self.call_async(conn, results, 'start', *DBUS, 'StartServiceByName', 'su', ('org.jetbus.ByUnit', 0))
        self.assertTrue(pump_until(lambda: 'start' in results, WAIT), standin.requests)
        self.assertEqual(results['start'], ('ok', START_REPLY_SUCCESS))

    def test_ActivationFailure_from_systemd1_fails_the_waiting_callers_with_its_error(self):
        standin = SystemdStandIn(self, lambda unit: standin.fail(
            unit, 'org.freedesktop.systemd1.NoSuchUnit', 'Unit %s not found.' % unit))
        conn = self.connect(mainloop=True)
        results = {}
        self.echo_async(conn, results, 'call', 'org.jetbus.ByUnit', 'x')
        self.call_async(conn, results, 'start', *DBUS, 'StartServiceByName', 'su', ('org.jetbus.ByUnit', 0))
        self.assertTrue(pump_until(lambda: len(results) == 2, WAIT), standin.requests)
        failure = ('error', 'org.freedesktop.systemd1.NoSuchUnit', 'Unit jetbus-unit.service not found.')
        self.assertEqual(results, {'call': failure, 'start': failure})

    def test_ActivationFailure_from_a_peer_that_is_not_systemd1_is_ignored(self):
        standin = SystemdStandIn(self, lambda unit: None)  # systemd1 that takes its time
        conn = self.connect(mainloop=True)
        results = {}
        self.echo_async(conn, results, 'call', 'org.jetbus.ByUnit', 'real')
        self.assertTrue(pump_until(lambda: standin.requests, WAIT), 'no ActivationRequest reached systemd1')
        forger = self.connect()
        standin.fail('jetbus-unit.service', 'org.jetbus.Forged', 'forged failure', conn=forger)
        self.driver_call(forger, 'GetId')  # the forged signal has been dispatched by now
        self.assertFalse(pump_until(lambda: results, 0.5), results)
        self.run_unit_service('jetbus-unit.service')
        self.assertTrue(pump_until(lambda: results, WAIT))
        self.assertEqual(results['call'], ('ok', 'real'))

    def test_a_call_made_before_systemd1_connects_waits_and_succeeds_once_it_does(self):
        conn = self.connect(mainloop=True)
        results = {}
        self.echo_async(conn, results, 'call', 'org.jetbus.ByUnit', 'early')
        self.assertFalse(pump_until(lambda: results, 0.5), results)
        standin = SystemdStandIn(self, self.run_unit_service)
        self.assertTrue(pump_until(lambda: results, WAIT), standin.requests)
        self.assertEqual(results['call'], ('ok', 'early'))
        self.assertEqual([r[0] for r in standin.requests], ['jetbus-unit.service'])

    def test_a_service_file_without_Exec_is_skipped_even_with_a_SystemdService_line(self):
        conn = self.connect()
        self.assertNotIn('org.jetbus.UnitOnly', [str(n) for n in self.driver_call(conn, 'ListActivatableNames')])
        self.assert_dbus_error(ERR + 'ServiceUnknown', unknown_text('org.jetbus.UnitOnly'),
                               self.start_by_name, conn, 'org.jetbus.UnitOnly')

    def test_a_service_without_SystemdService_is_still_started_by_the_bus_itself(self):
        conn = self.connect()
        self.assertEqual(str(self.service_call(conn, 'org.jetbus.Direct', 'Echo', 's', ('direct',))), 'direct')
        self.assertEqual(len(self.started('org.jetbus.Direct')), 1)


class PendingStartLimit(ActivationTestCase):
    """max_pending_service_starts counts calls waiting for a service to start, not services: once
    that many wait, even one more call to a service already starting is refused."""

    limits = {'max_pending_service_starts': 2}

    def services(self):
        self.write_service('org.jetbus.Slow', '--delay', '1')
        self.write_service('org.jetbus.Other')

    def test_requests_beyond_the_limit_are_LimitsExceeded_and_the_others_succeed(self):
        conn = self.connect(mainloop=True)
        results = {}
        for i in range(4):
            self.echo_async(conn, results, i, 'org.jetbus.Slow', 'e%d' % i)
        self.call_async(conn, results, 'other', *DBUS, 'StartServiceByName', 'su', ('org.jetbus.Other', 0))
        self.assertTrue(pump_until(lambda: len(results) == 5, WAIT), results)
        refused = ('error', ERR + 'LimitsExceeded', limit_text('org.jetbus.Slow', 2))
        self.assertEqual(results, {0: ('ok', 'e0'), 1: ('ok', 'e1'), 2: refused, 3: refused,
                                   'other': ('error', ERR + 'LimitsExceeded', limit_text('org.jetbus.Other', 2))})
        self.assertEqual([str(t) for t in self.service_call(conn, 'org.jetbus.Slow', 'Calls')], ['e0', 'e1'])

    def test_once_the_waiting_calls_are_served_new_starts_are_accepted(self):
        conn = self.connect(mainloop=True)
        results = {}
        for i in range(3):
            self.echo_async(conn, results, i, 'org.jetbus.Slow', 'e%d' % i)
        self.assertTrue(pump_until(lambda: len(results) == 3, WAIT), results)
        self.assertEqual(results[2], ('error', ERR + 'LimitsExceeded', limit_text('org.jetbus.Slow', 2)))
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.Other'), START_REPLY_SUCCESS)


def process_stat_state(pid):
    """The /proc state letter of any process pid, or None once it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def children_of(pid):
    """pid's child processes: from /proc/PID/task/*/children where the kernel has it, else by
    the parent pid field of every /proc/*/stat."""
    listed = glob.glob('/proc/%d/task/*/children' % pid)
    if listed:
        kids = set()
        for path in listed:
            try:
                with open(path) as f:
                    kids.update(int(k) for k in f.read().split())
            except OSError:
                pass
        return sorted(kids)
    kids = []
    for path in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(path) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(path.split('/')[2]))
    return sorted(kids)


def zombie_children(pid):
    return [kid for kid in children_of(pid) if process_stat_state(kid) == 'Z']


class ServiceOutputAndExit(ActivationTestCase):
    """What an activated service writes reaches the bus's log (dbus-daemon's children inherit its
    stderr, jetbus logs each line), and a service that exits is reaped: the bus is left with no
    zombie child, whether the service failed its start or exited after taking its name."""

    def services(self):
        self.write_service('org.jetbus.Talker', '--say', 'the-talker-talks')
        self.write_service('org.jetbus.TalkThenExit3', '--say', 'last-words-before-status-3',
                           '--exit-status', '3')
        self.write_service('org.jetbus.Exit3', '--exit-status', '3')
        self.write_service('org.jetbus.Killed', '--kill-signal', '9')
        self.write_service('org.jetbus.Brief', '--lifetime', '0.5')

    def assert_logged(self, *texts):
        logged = wait_until(lambda: all(t in self.bus.stderr() for t in texts), WAIT)
        self.assertTrue(logged, 'not all of %r in the broker log within %.0fs:\n%s'
                        % (texts, WAIT, self.bus.stderr()))

    def assert_no_zombie_left(self, pids):
        """Each of pids has exited, and within WAIT the broker has no exited child left unreaped."""
        self.assertTrue(pids, 'no service was started')
        for pid in pids:
            self.assertTrue(wait_until(lambda: process_stat_state(pid) in (None, 'Z'), WAIT),
                            'service %d still runs' % pid)
        self.assertTrue(wait_until(lambda: not zombie_children(self.bus.pid), WAIT),
                        'zombie children of the broker after %.0fs: %s'
                        % (WAIT, zombie_children(self.bus.pid)))

    def test_a_running_service_s_stdout_and_stderr_lines_reach_the_broker_log(self):
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.Talker'), START_REPLY_SUCCESS)
        self.assert_logged('the-talker-talks (stdout)', 'the-talker-talks (stderr)')

    def test_what_a_failing_service_wrote_before_exiting_reaches_the_broker_log(self):
        conn = self.connect()
        self.assert_dbus_error(ERR + 'Spawn.ChildExited',
                               'Process org.jetbus.TalkThenExit3 exited with status 3',
                               self.start_by_name, conn, 'org.jetbus.TalkThenExit3')
        self.assert_logged('last-words-before-status-3 (stdout)', 'last-words-before-status-3 (stderr)')

    def test_services_that_fail_their_start_leave_no_zombie(self):
        conn = self.connect()
        self.assert_dbus_error(ERR + 'Spawn.ChildExited', None, self.start_by_name, conn, 'org.jetbus.Exit3')
        self.assert_error(self.dbus_send(IFACE + '.Echo', 'string:x', dest='org.jetbus.Exit3', path=PATH),
                          ERR + 'Spawn.ChildExited')
        self.assert_dbus_error(ERR + 'Spawn.ChildSignaled', None, self.start_by_name, conn, 'org.jetbus.Killed')
        self.assertEqual(len(self.started('org.jetbus.Exit3')), 2)
        self.assert_no_zombie_left(self.started())

    def test_a_service_that_exits_after_taking_its_name_leaves_no_zombie(self):
        conn = self.connect()
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.Brief'), START_REPLY_SUCCESS)
        owned = lambda: self.driver_call(conn, 'NameHasOwner', 's', ('org.jetbus.Brief',))
        self.assertTrue(wait_until(lambda: not owned(), WAIT), 'the service did not exit')
        self.assert_no_zombie_left(self.started('org.jetbus.Brief'))
        # and the bus still starts it afresh
        self.assertEqual(self.start_by_name(conn, 'org.jetbus.Brief'), START_REPLY_SUCCESS)
        self.assertEqual(len(self.started('org.jetbus.Brief')), 2)
