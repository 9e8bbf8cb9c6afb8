#!/usr/bin/python3
"""Installs jetbus into a scratch DESTDIR, as a packager would, and checks the tree it gets.

    test_install.py --cmake BUILD_DIR [--cmake-command CMAKE]   cmake --install BUILD_DIR --prefix /usr
    test_install.py --meson BUILD_DIR --prefix PREFIX [--meson-command MESON]   meson install

The installed tree must hold exactly the binaries, man pages, configs and systemd units, the
units must start the installed jetbus, the installed jetbus must run, and the man pages must
render without a warning (skipped when man is not installed).
"""

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

ARGS = None  # the command line, parsed in main()

# Relative to the prefix. Nothing else may be installed: no tests, libraries or headers.
EXPECTED_FILES = {
    'bin/jetbus': 0o755,
    'bin/jetbus-bench': 0o755,
    'share/man/man1/jetbus.1': 0o644,
    'share/man/man1/jetbus-bench.1': 0o644,
    'share/jetbus/session.conf': 0o644,
    'share/jetbus/system.conf': 0o644,
    'lib/systemd/system/jetbus.service': 0o644,
    'lib/systemd/system/jetbus.socket': 0o644,
    'lib/systemd/user/jetbus.service': 0o644,
    'lib/systemd/user/jetbus.socket': 0o644,
}

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMAND_TIMEOUT_S = 120


def install(destdir):
    """Runs the build system's install step into destdir; returns the prefix it installed under."""
    env = dict(os.environ, DESTDIR=destdir)
    if ARGS.cmake:
        prefix = '/usr'
        cmd = [ARGS.cmake_command, '--install', ARGS.cmake, '--prefix', prefix]
    else:
        prefix = ARGS.prefix
        cmd = [ARGS.meson_command, 'install', '-C', ARGS.meson, '--no-rebuild', '--quiet', '--destdir', destdir]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({done.returncode}):\n{done.stdout}')
    return prefix


def installed_files(root):
    """Every file under root (symlinks included), relative to root."""
    found = set()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def unit_lines(path, key):
    with open(path, encoding='utf-8') as f:
        return [line.strip()[len(key) + 1:] for line in f if line.startswith(key + '=')]


class InstalledTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.destdir = tempfile.mkdtemp(prefix='jetbus-install-')
        cls.prefix = install(cls.destdir)
        cls.root = os.path.join(cls.destdir, cls.prefix.lstrip('/'))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    def path(self, relative):
        return os.path.join(self.root, relative)

    def test_everything_lands_under_destdir_and_prefix(self):
        outside = installed_files(self.destdir) - {os.path.join(self.prefix.lstrip('/'), f)
                                                   for f in installed_files(self.root)}
        self.assertEqual(outside, set(), 'installed outside DESTDIR/prefix')

    def test_the_tree_holds_the_binaries_man_pages_configs_and_units_and_nothing_else(self):
        self.assertEqual(installed_files(self.root), set(EXPECTED_FILES))

    def test_binaries_are_executable_and_data_files_are_not(self):
        for relative, mode in EXPECTED_FILES.items():
            with self.subTest(file=relative):
                self.assertEqual(stat.S_IMODE(os.stat(self.path(relative)).st_mode), mode)

    def test_configs_and_sockets_are_installed_as_shipped(self):
        pairs = {'share/jetbus/session.conf': 'config/session.conf',
                 'share/jetbus/system.conf': 'config/system.conf',
                 'lib/systemd/system/jetbus.socket': 'config/systemd/jetbus.socket',
                 'lib/systemd/user/jetbus.socket': 'config/systemd/user/jetbus.socket',
                 'share/man/man1/jetbus.1': 'man/jetbus.1'}
        for installed, shipped in pairs.items():
            with self.subTest(file=installed):
                with open(self.path(installed), 'rb') as a, open(os.path.join(SOURCE_DIR, shipped), 'rb') as b:
                    self.assertEqual(a.read(), b.read())

    def test_the_units_start_the_installed_jetbus(self):
        jetbus = os.path.join(self.prefix, 'bin/jetbus')
        for unit, scope in (('lib/systemd/system/jetbus.service', '--system'),
                            ('lib/systemd/user/jetbus.service', '--session')):
            with self.subTest(unit=unit):
                exec_start = unit_lines(self.path(unit), 'ExecStart')
                self.assertEqual(len(exec_start), 1)
                self.assertEqual(exec_start[0].split()[:2], [jetbus, scope])
                self.assertIn('--address=systemd:', exec_start[0].split())
                self.assertEqual(unit_lines(self.path(unit), 'Alias'), ['dbus.service'])

    def test_the_installed_jetbus_prints_its_version(self):
        done = subprocess.run([self.path('bin/jetbus'), '--version'], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=30, check=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        first, revision, features = done.stdout.splitlines()[:3]
        self.assertRegex(first, r'^jetbus D-Bus Message Bus \d+\.\d+\.\d+$')
        self.assertRegex(revision, r'^Built from git \S+ \(.+ build.*\)$')
        self.assertTrue(features.startswith('Features: +systemd'), features)

    def test_the_installed_jetbus_bench_prints_its_options(self):
        done = subprocess.run([self.path('bin/jetbus-bench'), '--help'], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=30, check=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn('--workload', done.stdout)

    def test_the_man_pages_render_without_warnings(self):
        man = shutil.which('man')
        if not man:
            self.skipTest('man is not installed')
        for page, title in (('jetbus.1', 'JETBUS(1)'), ('jetbus-bench.1', 'JETBUS-BENCH(1)')):
            with self.subTest(page=page):
                done = subprocess.run([man, '--warnings', '-l', self.path('share/man/man1/' + page)],
                                      env=dict(os.environ, MANWIDTH='80', MANPAGER='cat', PAGER='cat'),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      timeout=60, check=False)
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(done.stderr, '', 'warnings while rendering')
                self.assertTrue(done.stdout.startswith(title), done.stdout[:200])
                self.assertIn('NAME', done.stdout)
                self.assertIn('SYNOPSIS', done.stdout)


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument('--cmake', metavar='BUILD_DIR', help='install a CMake build with --prefix /usr')
    which.add_argument('--meson', metavar='BUILD_DIR', help='install a meson build (its own prefix)')
    p.add_argument('--prefix', help='the meson build\'s prefix')
    p.add_argument('--cmake-command', default='cmake')
    p.add_argument('--meson-command', default='meson')
    ARGS, rest = p.parse_known_args()
    if ARGS.meson and not ARGS.prefix:
        p.error('--meson needs --prefix')
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
