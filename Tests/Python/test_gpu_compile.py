"""The bundled Triton implementations compile for sm_90 (H100/H200) on every suite and held-out shape, and each
launch fits the GPU's limits, without a GPU: see triton_aot.py. Skipped where Triton has no NVIDIA backend."""

import importlib.util
import json
import os
import subprocess
import unittest

import support

HAS_NVIDIA_BACKEND = importlib.util.find_spec("triton") is not None and \
    importlib.util.find_spec("triton.backends.nvidia") is not None


@unittest.skipUnless(HAS_NVIDIA_BACKEND, "Triton's NVIDIA backend (ptxas) is not installed")
class GPUCompileTests(unittest.TestCase):
    def compile(self, job):
        task_dir, implementation, tunables = job
        command = [support.PYTHON, os.path.join(support.HERE, "triton_aot.py"), "--task", task_dir,
                   "--implementation", os.path.join(task_dir, implementation), "--shapes", "suite+heldout"]
        if tunables:
            command += ["--tunables", tunables]
        environment = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
        return done

    def test_baselines_and_seeds_compile_for_sm90_within_its_limits(self):
        jobs = []
        for task_dir in (support.EXTEND, support.RMSNORM):
            table = support.task(task_dir)
            jobs += [(task_dir, name, None) for name in [table["baseline"], *table["seeds"]]]
        jobs.append((support.EXTEND, "seeds/gqa_packed.py", "BLOCK_R=16;BLOCK_N=32;NUM_WARPS=8;NUM_STAGES=3"))
        for job, done in zip(jobs, support.parallel(self.compile, jobs, workers=2)):
            task_dir, implementation, tunables = job
            with self.subTest(task=os.path.basename(task_dir), implementation=implementation, tunables=tunables):
                self.assertEqual(done.returncode, 0, done.stderr[-3000:])
                report = json.loads(done.stdout.strip().splitlines()[-1])
                self.assertEqual(report["errors"], [])
                table = support.task(task_dir)
                shapes = {s["name"] for s in table["suite"] + table["heldout"]}
                self.assertEqual({launch["shape"] for launch in report["launches"]}, shapes)


if __name__ == "__main__":
    unittest.main()
