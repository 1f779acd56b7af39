"""The device probe's kernels run (on Triton's CPU interpreter here), its copy is checked, and it reports in the
form Kiln reads; on the interpreter nothing is timed."""

import json
import os
import subprocess
import unittest

import support

PROBE = os.path.join(support.RESOURCES, "kiln_device_probe.py")


class DeviceProbeTests(unittest.TestCase):
    def test_the_probe_runs_its_kernels_and_reports_untimed_on_the_interpreter(self):
        done = subprocess.run([support.PYTHON, PROBE, "--device", "cpu", "--quick"], capture_output=True, text=True,
                              timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        line = done.stdout.strip().splitlines()[-1]
        self.assertTrue(line.startswith("kiln-device-probe "), line)
        report = json.loads(line[len("kiln-device-probe "):])
        self.assertEqual(report["timing"], "none")
        self.assertEqual(report["device"], "cpu-interpreter")
        for key in ("fp32_gflops", "tensor_gflops", "bandwidth_gbs"):
            self.assertIsNone(report[key], key)


if __name__ == "__main__":
    unittest.main()
