# systemd's sd-bus as an independent client: the C++ program sdbus_client (built beside this
# suite) does Hello, ListNames, RequestName, Peer.Ping, a call between two of its connections and a
# matched signal, and exits 0 only if every step worked.
import os

import harness
from harness import BusTestCase, run


class SdBus(BusTestCase):

    def test_the_sd_bus_client_passes_every_step(self):
        client = harness.SDBUS_CLIENT_PATH
        # Not a skip: the builds always build it; a missing path is a broken test setup.
        self.assertTrue(client and os.access(client, os.X_OK),
                        'sdbus_client not given (--sdbus-client PATH) or not executable: %r' % client)
        result = run([client, self.address])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        for step in ('ok hello', 'ok ListNames contains our unique name', 'ok RequestName',
                     'ok Peer.Ping to the driver', 'ok method call to an exported object',
                     'ok signal received through a match', 'sdbus_client: all passed'):
            self.assertIn(step, result.stdout)
