#!/usr/bin/python3
# Runs the black-box bus suite (test_*.py beside this file) against one broker binary:
#   /usr/bin/python3 run_bus_tests.py --daemon /usr/bin/dbus-daemon [--sdbus-client PATH] [-k PATTERN]
# Prints one line per test and ends with "bus: N passed, N failed[, N skipped]"; exits non-zero on
# any failure. The same tests run unchanged against jetbus and dbus-daemon.
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


class LineResult(unittest.TextTestResult):
    """Prints each test as one line with its outcome and time."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _line(self, test, outcome):
        took = time.monotonic() - self._started
        self.stream.write('%-4s %-80s %5.2fs\n' % (outcome, test.id().split('.', 1)[-1], took))
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line(test, 'ok')

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._line(test, 'FAIL')

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._line(test, 'FAIL')

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._line(test, 'skip')

    def addExpectedFailure(self, test, err):
        unittest.TestResult.addExpectedFailure(self, test, err)
        self._line(test, 'xfail')

    def addUnexpectedSuccess(self, test):
        unittest.TestResult.addUnexpectedSuccess(self, test)
        self._line(test, 'FAIL')


def select_tests(suite, pattern):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from select_tests(item, pattern)
        elif pattern is None or pattern in item.id():
            yield item


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--daemon', required=True, help='broker binary (jetbus or dbus-daemon)')
    parser.add_argument('--sdbus-client', help='the built sdbus_client test program')
    parser.add_argument('-k', dest='pattern', help='run only tests whose id contains this')
    args = parser.parse_args()

    harness.DAEMON_PATH = os.path.abspath(args.daemon)
    if args.sdbus_client:
        harness.SDBUS_CLIENT_PATH = os.path.abspath(args.sdbus_client)
    if not os.access(harness.DAEMON_PATH, os.X_OK):
        print('bus: broker %s is not an executable file' % harness.DAEMON_PATH)
        print('bus: 0 passed, 1 failed')
        return 1

    loaded = unittest.defaultTestLoader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
    suite = unittest.TestSuite(select_tests(loaded, args.pattern))
    print('bus: running %d tests against %s' % (suite.countTestCases(), harness.DAEMON_PATH))
    runner = unittest.TextTestRunner(stream=sys.stdout, resultclass=LineResult, verbosity=0)
    result = runner.run(suite)

    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    line = 'bus: %d passed, %d failed' % (passed, failed)
    if result.skipped:
        line += ', %d skipped' % len(result.skipped)
    print(line)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
