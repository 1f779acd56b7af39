"""The Triton driver through its real protocol: driver subprocesses on Triton's CPU interpreter (--device cpu).

Run with: python -m unittest discover Tests/Python   (the Python of a virtual environment with torch and triton)
"""

import math
import os
import re
import struct
import unittest

import support
from support import EXTEND, INPLACE, RMSNORM, evaluate, fixture, parallel, process_gone, run_shape, spec, start

HEX16 = re.compile(r"^[0-9a-f]{16}$")


class ProtocolTests(unittest.TestCase):
    def test_round_trip_through_setup_call_out(self):
        shape = support.shape(EXTEND, "tiny-prefill")
        driver = start("baseline", EXTEND, os.path.join(EXTEND, "baseline.py"), spec(EXTEND, "tiny-prefill"))
        try:
            self.assertRegex(str(driver.ready), r"^ready backend=triton device=cpu-interpreter timing=none "
                                                r"torch=\S+ triton=\S+$")
            self.assertEqual(driver.command("out").text, "out before a call")
            self.assertEqual(driver.command("call 1000").text, "call before setup")
            first = driver.command("setup 42")
            self.assertEqual(first.kind, "ok", str(first))
            self.assertRegex(first.fields["inputs"], HEX16)
            tokens = sum(shape["extend"])
            self.assertEqual(int(first.fields["outputs"]), tokens * shape["q_heads"] * shape["head_dim"] * 2)
            attended = sum(e * p + e * (e + 1) / 2 for p, e in zip(shape["prefix"], shape["extend"]))
            self.assertEqual(float(first.fields["flops"]), 4.0 * shape["head_dim"] * shape["q_heads"] * attended)
            call = driver.command("call 30000")
            self.assertEqual(call.kind, "ok", str(call))
            self.assertGreater(int(call.fields["ns"]), 0)
            self.assertEqual(call.fields["inputs"], first.fields["inputs"])
            data = driver.out()
            self.assertEqual(len(data), int(first.fields["outputs"]))
            values = struct.unpack(f"<{len(data) // 2}e", data)
            self.assertTrue(all(math.isfinite(v) for v in values))
            # the same seed gives the same inputs; another seed or a perturbation, others; perturbations are
            # deterministic in P
            self.assertEqual(driver.command("setup 42").fields["inputs"], first.fields["inputs"])
            self.assertNotEqual(driver.command("setup 43").fields["inputs"], first.fields["inputs"])
            perturbed = driver.command("setup 42 9").fields["inputs"]
            self.assertNotEqual(perturbed, first.fields["inputs"])
            self.assertEqual(driver.command("setup 42 9").fields["inputs"], perturbed)
            self.assertNotEqual(driver.command("setup 42 10").fields["inputs"], perturbed)
            self.assertEqual(driver.command("bogus").kind, "error")
            self.assertEqual(driver.command("setup x").kind, "error")
        finally:
            driver.close()
        self.assertEqual(driver.process.returncode, 0)

    def test_inputs_depend_only_on_shape_and_seed(self):
        # two roles in two processes build the same instance for a seed (Kiln compares their hashes)
        shape_spec = spec(RMSNORM, "tiny-odd-bf16")
        a, b = parallel(lambda role: start(role, RMSNORM, os.path.join(RMSNORM, "baseline.py"), shape_spec),
                        ["oracle", "candidate"])
        try:
            for line in ("setup 7", "setup 7 3", "setup 123456789012345"):
                self.assertEqual(a.command(line).fields["inputs"], b.command(line).fields["inputs"])
        finally:
            a.close()
            b.close()

    def test_check_names_the_worst_element_by_its_coordinates(self):
        shape = support.shape(EXTEND, "tiny-odd-dim")  # fp16 o_extend [8, 6, 20]
        driver = start("oracle", EXTEND, os.path.join(EXTEND, "oracle.py"), spec(EXTEND, "tiny-odd-dim"))
        try:
            self.assertEqual(driver.command("check 0").text, "check before a call")
            driver.command("setup 5")
            driver.command("call 30000")
            data = bytearray(driver.out())
            heads, dim = shape["q_heads"], shape["head_dim"]

            def index(i, j, k):
                return (i * heads + j) * dim + k

            same = driver.command(f"check {len(data)}", payload=bytes(data))
            self.assertEqual((same.fields["max_abs"], same.fields["rel_l2"], same.fields["nonfinite"]), ("0", "0", "0"))
            self.assertEqual(same.fields["dtype"], "float16")
            moved = bytearray(data)
            (value,) = struct.unpack_from("<e", moved, 2 * index(3, 4, 17))
            struct.pack_into("<e", moved, 2 * index(3, 4, 17), value + 2.0)
            check = driver.command(f"check {len(moved)}", payload=bytes(moved))
            self.assertEqual(check.fields["worst"], "o_extend[3,4,17]")
            self.assertAlmostEqual(float(check.fields["max_abs"]), 2.0, delta=0.01)
            self.assertAlmostEqual(float(check.fields["expected"]), value, delta=1e-6)
            self.assertEqual(check.fields["nonfinite"], "0")
            struct.pack_into("<e", moved, 2 * index(6, 1, 2), float("nan"))
            check = driver.command(f"check {len(moved)}", payload=bytes(moved))
            self.assertEqual((check.fields["nonfinite"], check.fields["rel_l2"]), ("1", "inf"))
            self.assertEqual(check.fields["worst"], "o_extend[6,1,2]")
            self.assertEqual(check.fields["got"], "nan")
            wrong_size = driver.command("check 6", payload=b"abcdef")
            self.assertEqual(wrong_size.kind, "error")
            self.assertEqual(driver.command(f"check {len(data)}", payload=bytes(data)).fields["max_abs"], "0")
        finally:
            driver.close()

    def test_prints_go_to_the_log_not_the_protocol(self):
        driver = start("candidate", EXTEND, fixture("honest", "prints.py"), spec(EXTEND, "tiny-decode"),
                       label="prints")
        try:
            self.assertEqual(driver.command("setup 3").kind, "ok")
            self.assertEqual(driver.command("call 30000").kind, "ok")
            self.assertEqual(driver.command("setup 4").kind, "ok")
        finally:
            driver.close()
        with open(support.log_path("prints")) as f:
            log = f.read()
        self.assertIn("kiln-fixture: imported", log)
        self.assertIn("kiln-fixture: called with 3 tokens", log)

    def test_tunables_are_module_names_set_before_the_body_runs(self):
        shape_spec = spec(EXTEND, "tiny-prefill")
        probe = fixture("honest", "tunable_probe.py")

        def raised(tunables):
            driver = start("candidate", EXTEND, probe, shape_spec, tunables=tunables)
            try:
                if driver.ready.kind != "ready":
                    return str(driver.ready), driver
                driver.command("setup 1")
                return str(driver.command("call 5000")), driver
            finally:
                driver.close()

        (default, _), (chosen, _), (unknown, driver) = parallel(raised, [None, "BLOCK=64;MODE=exact", "BLOCKS=8"])
        self.assertEqual(default, "raised ValueError: BLOCK=16 MODE=fast")
        self.assertEqual(chosen, "raised ValueError: BLOCK=64 MODE=exact")
        self.assertTrue(unknown.startswith("error usage: --tunables names BLOCKS"), unknown)
        self.assertEqual(driver.process.returncode, 2)


class TaskErrorTests(unittest.TestCase):
    def test_bad_task_input_is_a_task_error(self):
        good = support.shape(EXTEND, "tiny-prefill")

        def variant(changes):
            table = dict(good, **{k: v for k, v in changes.items() if v is not None})
            for k, v in changes.items():
                if v is None:
                    table.pop(k)
            return support.kiln_selftest.shape_spec(table)

        cases = [
            (variant({"q_heads": 3, "kv_heads": 2}), "q_heads = 3 is not a multiple of kv_heads = 2"),
            (variant({"head_dim": None}), "lacks the parameter 'head_dim'"),
            (variant({"dtype": "float8"}), "dtype = float8 must be one of"),
            (variant({"prefix": [1, 2]}), "prefix has 2 entries but 1 are needed"),
        ]

        def run(case):
            shape_spec, _ = case
            driver = start("candidate", EXTEND, os.path.join(EXTEND, "baseline.py"), shape_spec)
            try:
                return driver.command("setup 1"), process_gone(driver), driver.process.returncode
            finally:
                driver.kill()

        for (reply, gone, status), (_, message) in zip(parallel(run, cases), cases):
            self.assertEqual(reply.kind, "task-error", str(reply))
            self.assertIn(message, reply.text)
            self.assertTrue(gone)
            self.assertEqual(status, 3)

    def test_a_task_folder_without_task_toml_is_a_task_error(self):
        folder = support.tempfile.mkdtemp(dir=support._TEMP)
        driver = start("candidate", folder, os.path.join(EXTEND, "baseline.py"), spec(EXTEND, "tiny-prefill"))
        try:
            self.assertEqual(driver.ready.kind, "task-error")
            self.assertIn("task.toml does not exist", driver.ready.text)
            self.assertTrue(process_gone(driver))
            self.assertEqual(driver.process.returncode, 3)
        finally:
            driver.kill()


class CorrectnessTests(unittest.TestCase):
    def test_baseline_and_seed_pass_every_interpreter_shape_of_both_tasks(self):
        # the conductor's protocol per shape: the seed on a fresh set and on a perturbed one, the baseline on the
        # first set, each checked by the oracle's driver
        jobs = [(task_dir, name) for task_dir in (EXTEND, RMSNORM)
                for name in (s["name"] for s in support.task(task_dir)["interpreter_suite"])]
        self.assertGreaterEqual(len(jobs), 9)

        def run(job):
            task_dir, name = job
            table = support.task(task_dir)
            return run_shape(task_dir, os.path.join(task_dir, table["seeds"][0]), name)

        for (task_dir, name), result in zip(jobs, parallel(run, jobs, workers=2)):
            with self.subTest(task=os.path.basename(task_dir), shape=name):
                self.assertTrue(result.passed, result.reason)
                self.assertEqual(result.checks, 3)  # candidate, baseline, candidate perturbed

    def test_seeds_pass_with_other_tunables(self):
        jobs = [(EXTEND, "tiny-mixed", "BLOCK_R=16;BLOCK_N=32;NUM_STAGES=1"),
                (EXTEND, "tiny-odd-dim", "BLOCK_R=128;BLOCK_N=128"),
                (RMSNORM, "tiny-fp32", "ROWS=16;NUM_WARPS=4"),
                (RMSNORM, "tiny-odd-bf16", "ROWS=1")]

        def run(job):
            task_dir, name, tunables = job
            return evaluate(task_dir, name, os.path.join(task_dir, support.task(task_dir)["seeds"][0]),
                            tunables=tunables)

        for job, verdict in zip(jobs, parallel(run, jobs)):
            with self.subTest(job=job):
                self.assertEqual(verdict.kind, "correct", verdict.text)


class WrongVariantTests(unittest.TestCase):
    def test_each_wrong_variant_fails_the_check_by_far(self):
        jobs = [(EXTEND, "no_causal", "tiny-prefill"), (EXTEND, "no_logit_cap", "tiny-capped"),
                (EXTEND, "wrong_gqa", "tiny-prefill"), (EXTEND, "contiguous_prefix", "tiny-mixed"),
                (RMSNORM, "rmsnorm_no_eps", "tiny-fp16")]

        def run(job):
            task_dir, name, shape_name = job
            return evaluate(task_dir, shape_name, fixture("wrong", f"{name}.py"), steps=((21, 0),))

        for (task_dir, name, shape_name), verdict in zip(jobs, parallel(run, jobs)):
            with self.subTest(variant=name, shape=shape_name):
                self.assertEqual(verdict.kind, "wrong", verdict.text)
                limits = support.kiln_selftest.tolerance(support.task(task_dir), verdict.check["dtype"])
                self.assertGreater(float(verdict.check["max_abs"]), 10 * limits["max_abs"], verdict.text)
                self.assertTrue(verdict.exit_status == 0 and process_gone(verdict.candidate))


class HostileTests(unittest.TestCase):
    CASES = {
        # fixture: (expected verdict, text it contains)
        "torch_matmul": ("violation", "static: 'torch.matmul' is not allowed"),
        "sdpa": ("violation", "static: import of 'torch.nn.functional' is not allowed"),
        "imports_os": ("violation", "static: import of 'os' is not allowed"),
        "method_matmul": ("violation", "torch op aten._to_copy called at run time"),
        "swallows_violation": ("violation", "torch op aten.mm called at run time"),
        "raises": ("raised", "ValueError: this candidate gives up"),
        "writes_out_of_bounds": ("violation", "the call wrote outside o_extend (into the 65536 bytes after it)"),
        "returns_new_tensor": ("violation", "extend_attention() returned a Tensor"),
        "replaces_output": ("violation", "the call replaced or resized o_extend"),
        "modifies_inputs": ("modified-inputs", ""),
        "bad_grid": ("wrong", "nonfinite="),
        "hangs": ("timeout", "ns="),
    }

    def test_each_hostile_candidate_ends_as_its_failure_with_the_driver_gone(self):
        names = sorted(self.CASES, key=lambda n: n != "hangs")  # the slowest first

        def run(name):
            return evaluate(EXTEND, "tiny-odd-dim", fixture("hostile", f"{name}.py"), call_ms=4000)

        for name, verdict in zip(names, parallel(run, names)):
            kind, text = self.CASES[name]
            with self.subTest(fixture=name):
                self.assertEqual(verdict.kind, kind, verdict.text)
                self.assertIn(text, verdict.text)
                self.assertEqual(verdict.step, 0)
                self.assertTrue(process_gone(verdict.candidate), "the driver's process is still there")
                self.assertEqual(verdict.candidate.process.returncode, 5 if kind == "timeout" else 0)
            verdict.candidate.kill()

    def test_a_bad_grid_leaves_nan_where_it_did_not_write(self):
        shape = support.shape(EXTEND, "tiny-odd-dim")
        verdict = evaluate(EXTEND, "tiny-odd-dim", fixture("hostile", "bad_grid.py"), steps=((3, 0),))
        self.assertEqual(verdict.kind, "wrong")
        tokens, heads, dim = sum(shape["extend"]), shape["q_heads"], shape["head_dim"]
        self.assertEqual(int(verdict.check["nonfinite"]), tokens * (heads - heads // 2) * dim)
        i, j, k = (int(x) for x in re.fullmatch(r"o_extend\[(\d+),(\d+),(\d+)\]", verdict.check["worst"]).groups())
        self.assertGreaterEqual(j, heads // 2)
        self.assertEqual(verdict.check["got"], "nan")


class IntegrityTests(unittest.TestCase):
    def test_fresh_inputs_nan_fill_and_perturbation_are_real(self):
        jobs = [("caches_by_pointer", ((8, 0), (8, 31))),   # same buffers, a few inputs scaled
                ("caches_by_pointer", ((8, 0), (9, 0))),    # same buffers, a fresh seed
                ("skips_repeat", ((8, 0), (9, 0)))]         # outputs are NaN again before the second call

        def run(job):
            name, steps = job
            return evaluate(EXTEND, "tiny-mixed", fixture("hostile", f"{name}.py"), steps=steps)

        for (name, steps), verdict in zip(jobs, parallel(run, jobs)):
            with self.subTest(fixture=name, steps=steps):
                self.assertEqual(verdict.kind, "wrong", verdict.text)
                self.assertEqual(verdict.step, 1)  # the first call was right
        self.assertGreater(int(verdict.check["nonfinite"]), 0)

    def test_an_inplace_buffer_starts_every_call_from_the_setup_and_is_checked_after(self):
        shape_spec = spec(INPLACE, "tiny-odd")
        candidate = start("candidate", INPLACE, os.path.join(INPLACE, "seeds", "blocked.py"), shape_spec)
        oracle = start("oracle", INPLACE, os.path.join(INPLACE, "oracle.py"), shape_spec)
        try:
            setup = candidate.command("setup 5 3")
            self.assertEqual(setup.kind, "ok", str(setup))
            self.assertEqual(int(setup.fields["outputs"]), 1001 * 4)  # y is read back, x is not
            for _ in range(3):  # left as the last call made it, y would gain alpha * x once more each time
                call = candidate.command("call 30000")
                self.assertEqual(call.kind, "ok", str(call))
                self.assertEqual(call.fields["inputs"], setup.fields["inputs"])  # x only: y may change
            outputs = candidate.out()
            self.assertEqual(oracle.command("setup 5 3").fields["inputs"], setup.fields["inputs"])
            self.assertEqual(oracle.command("call 30000").kind, "ok")
            check = oracle.command(f"check {len(outputs)}", payload=outputs)
            self.assertEqual(check.kind, "ok", str(check))
            self.assertLessEqual(float(check.fields["max_abs"]), 1e-5, str(check))
        finally:
            candidate.close()
            oracle.close()
        wrong = evaluate(INPLACE, "tiny-odd", os.path.join(INPLACE, "overwrites.py"))
        self.assertEqual(wrong.kind, "wrong", wrong.text)
        self.assertEqual(wrong.step, 0)

    def test_the_interpreter_fixes_are_what_makes_bf16_dots_right(self):
        baseline = os.path.join(EXTEND, "baseline.py")
        off = dict(os.environ, KILN_INTERPRETER_FIXES="0")
        verdict = evaluate(EXTEND, "tiny-mixed", baseline, steps=((5, 0),), env=off)
        self.assertEqual(verdict.kind, "wrong")
        self.assertGreater(float(verdict.check["max_abs"]), 1.0)


if __name__ == "__main__":
    unittest.main()
