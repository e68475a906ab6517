#!/usr/bin/python3
"""tests/python/test_iclab.py: the Python package (python/iclab) against the
CLI on the same files: predictions, baselines and prompts bit for bit, the
capture's shapes and the readout identity, training through the callback,
errors carrying the library's message, and a pip install of ./python.
Run by `make test` with /usr/bin/python3; skips (exit 0) without numpy.
ICLAB_BIN names the CLI (default build/iclab); the package is imported from
python/ and finds build/libiclab.so (or ICLAB_LIB)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
try:
    import numpy as np
except ImportError as e:
    print(f"python package tests: skipped ({e}); install python3-numpy (apt-get install python3-numpy) to run them")
    sys.exit(0)
sys.path.insert(0, os.path.join(ROOT, "python"))
import iclab  # noqa: E402

ICLAB = os.path.abspath(os.environ.get("ICLAB_BIN", os.path.join(ROOT, "build", "iclab")))


def cli(*args, ok=True):
    r = subprocess.run([ICLAB, *map(str, args)], capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise AssertionError(f"iclab {' '.join(map(str, args))}: {r.returncode}: {r.stderr}")
    return r


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="iclab_py.")
        cls.model_path = os.path.join(cls.tmp, "m.safetensors")
        cls.prompts_path = os.path.join(cls.tmp, "p.safetensors")
        cli("init", "--out", cls.model_path, "--n_dims", 3, "--n_embd", 16, "--n_layer", 3, "--n_head", 2,
            "--n_positions", 9, "--seed", 4)
        cli("make-prompts", "--out", cls.prompts_path, "--n_dims", 3, "--n_points", 9, "--prompts", 7, "--seed", 2)
        cls.model = iclab.Model.load(cls.model_path)
        cls.xs, cls.ys = iclab.load_prompts(cls.prompts_path)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()
        shutil.rmtree(cls.tmp)

    def cli_pred(self, *args):
        out = os.path.join(self.tmp, "pred.safetensors")
        cli("predict", "--prompts", self.prompts_path, "--out", out, *args)
        return iclab.read_safetensors(out)[0]["pred"]


class TestPredict(Base):
    def test_model_shape(self):
        m = self.model
        self.assertEqual((m.n_dims, m.n_positions, m.n_embd, m.n_layer, m.n_head, m.loops), (3, 9, 16, 3, 2, 1))
        self.assertEqual(m.schedule, "0,1,2")

    def test_predict_equals_cli_bit_for_bit(self):
        for sched in [None, "0,1,1,2", "dup(1)", "skip(1)", "[0,1]*2", "0,(1|2)", [2, 1, 0]]:
            with self.subTest(schedule=sched):
                args = ["--model", self.model_path]
                if sched is not None:
                    args += ["--schedule", sched if isinstance(sched, str) else ",".join(map(str, sched))]
                ref = self.cli_pred(*args)
                got = self.model.predict(self.xs, self.ys, schedule=sched)
                self.assertEqual(got.dtype, np.float32)
                self.assertEqual(got.shape, (7, 9))
                self.assertTrue(np.array_equal(got, ref), f"max diff {np.abs(got - ref).max()}")

    def test_bf16_checkpoint(self):
        """A BF16 model file (iclab import --dtype bf16): read_safetensors widens it to the F32 weights
        rounded to nearest even (computed here in numpy), and Model.load predicts what the CLI does."""
        m16 = os.path.join(self.tmp, "m16.safetensors")
        cli("import", self.model_path, "--out", m16, "--dtype", "bf16")
        t32, _ = iclab.read_safetensors(self.model_path)
        t16, meta16 = iclab.read_safetensors(m16)
        self.assertEqual(sorted(t16), sorted(t32))
        self.assertIn("iclab_config", meta16)
        for name, w in t32.items():
            u = w.view(np.uint32).astype(np.uint64)
            rne = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
            self.assertEqual(t16[name].dtype, np.float32)
            self.assertTrue(np.array_equal(t16[name].view(np.uint32), rne.view(np.uint32)), name)
        with iclab.Model.load(m16) as m:
            self.assertTrue(np.array_equal(m.predict(self.xs, self.ys), self.cli_pred("--model", m16)))

    def test_loops_equal_cli(self):
        ref = self.cli_pred("--model", self.model_path, "--loops", 3)
        self.assertTrue(np.array_equal(self.model.predict(self.xs, self.ys, loops=3), ref))

    def test_schedule_changes_predictions(self):
        # the comparisons above can fail: another schedule gives other numbers
        self.assertFalse(np.array_equal(self.model.predict(self.xs, self.ys),
                                        self.model.predict(self.xs, self.ys, schedule="dup(1)")))

    def test_inputs_without_copy_and_converted(self):
        # float64, Fortran order and a single prompt give the same numbers
        ref = self.model.predict(self.xs, self.ys)
        got = self.model.predict(np.asfortranarray(self.xs.astype(np.float64)), self.ys.astype(np.float64))
        self.assertTrue(np.array_equal(got, ref))
        one = self.model.predict(self.xs[2], self.ys[2])
        self.assertEqual(one.shape, (9,))
        self.assertTrue(np.array_equal(one, self.model.predict(self.xs[2:3], self.ys[2:3])[0]))
        # the conversion helper returns the caller's own buffer when no copy is needed
        self.assertTrue(np.shares_memory(iclab._f32(self.xs, "xs"), self.xs))
        self.assertFalse(np.shares_memory(iclab._f32(self.xs.astype(np.float64), "xs"), self.xs))

    def test_baselines_equal_cli(self):
        for name in ["least_squares", "ridge:0.5", "averaging", "knn:2", "gd:20:0.05", "newton:3", "tree:2", "zero"]:
            with self.subTest(baseline=name):
                ref = self.cli_pred("--baseline", name)
                self.assertTrue(np.array_equal(iclab.baseline(name, self.xs, self.ys), ref))

    def test_make_prompts_equals_cli(self):
        # linear_regression draws w then each x, as make-prompts does
        xs, ys, w = iclab.make_prompts("linear_regression", 7, 9, 3, seed=2)
        self.assertTrue(np.array_equal(xs, self.xs) and np.array_equal(ys, self.ys))
        self.assertTrue(np.allclose(np.einsum("bnd,bd->bn", xs, w), ys, atol=1e-5))
        xs2, ys2, w2 = iclab.make_prompts("decision_tree", 4, 5, 3, seed=1, depth=2)
        self.assertEqual((xs2.shape, ys2.shape, w2), ((4, 5, 3), (4, 5), None))
        _, _, ws = iclab.make_prompts("sparse_linear_regression", 50, 3, 6, seed=1, sparsity=2)
        self.assertTrue(((ws != 0).sum(axis=1) == 2).all())
        a = iclab.make_prompts("linear_regression", 3, 4, 2, seed=9)[1]
        self.assertFalse(np.array_equal(a, iclab.make_prompts("linear_regression", 3, 4, 2, seed=10)[1]))


class TestCapture(Base):
    def test_shapes_and_labels(self):
        c = self.model.capture(self.xs, self.ys)
        self.assertEqual(c.resid.shape, (4, 7, 18, 16))
        self.assertEqual(c.labels, ["in", "1:b0", "2:b1", "3:b2"])
        self.assertIsNone(c.attn)
        c2 = self.model.capture(self.xs, self.ys, schedule="dup(1)", loops=2, parts=True)
        self.assertEqual(c2.n_states, 2 * (4 + 1))
        self.assertEqual(c2.resid.shape, (10, 7, 18, 16))
        self.assertEqual(c2.attn.shape, (8, 7, 18, 16))
        self.assertEqual(c2.labels[5], "l2.in")  # loops count from 1 in labels

    def test_final_state_through_lnf_readout_is_prediction(self):
        m = self.model
        for sched in [None, "0,1,1,2"]:
            c = m.capture(self.xs, self.ys, schedule=sched)
            pred = m.predict(self.xs, self.ys, schedule=sched)
            self.assertTrue(np.array_equal(c.preds, pred))
            self.assertTrue(np.array_equal(c.lens[-1], pred))  # the library's lens, bit for bit
            # the same in numpy: ln_f (eps 1e-5) and read_out at the x tokens
            h = c.x_tokens(-1).astype(np.float64)
            f = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
            f = f * m.param("lnf_w") + m.param("lnf_b")
            y = f @ m.param("read_out_w")[0] + m.param("read_out_b")[0]
            np.testing.assert_allclose(y, pred, rtol=1e-4, atol=1e-5)
            # and it is not true of an earlier state
            self.assertFalse(np.allclose(c.lens[-2], pred, rtol=1e-4, atol=1e-5))

    def test_parts_add_up(self):
        c = self.model.capture(self.xs, self.ys, parts=True)
        np.testing.assert_allclose(c.resid[1] + c.attn[1] + c.mlp[1], c.resid[2], rtol=1e-5, atol=1e-5)


class TestErrors(Base):
    def assertError(self, fn, *needles):
        with self.assertRaises(iclab.Error) as cm:
            fn()
        msg = str(cm.exception)
        for s in needles:
            self.assertIn(s, msg)
        self.assertNotIn("\n", msg)
        return msg

    def test_missing_file(self):
        self.assertError(lambda: iclab.Model.load(os.path.join(self.tmp, "none.safetensors")),
                         "none.safetensors", "No such file")
        self.assertError(lambda: iclab.load_prompts(os.path.join(self.tmp, "none.safetensors")), "none.safetensors")

    def test_wrong_shapes(self):
        self.assertError(lambda: self.model.predict(self.xs[:, :, :2], self.ys), "d=2", "n_dims=3")
        self.assertError(lambda: self.model.predict(self.xs, self.ys[:, :5]), "ys must have shape")
        self.assertError(lambda: self.model.predict(self.xs[0, 0], self.ys[0, 0]), "xs must have shape")
        big = np.zeros((1, 10, 3), np.float32)
        self.assertError(lambda: self.model.predict(big, np.zeros((1, 10), np.float32)), "n_positions=9")

    def test_bad_schedule_has_library_message(self):
        self.assertError(lambda: self.model.predict(self.xs, self.ys, schedule="skip(7)"),
                         "schedule 'skip(7)'", "column")
        self.assertError(lambda: self.model.predict(self.xs, self.ys, schedule="0,5"), "0,5")
        self.assertError(lambda: self.model.capture(self.xs, self.ys, schedule="frob(1)"), "frob")

    def test_bad_values(self):
        xs = self.xs.copy()
        xs[1, 2, 0] = np.nan
        self.assertError(lambda: self.model.predict(xs, self.ys), "xs", "NaN")
        self.assertError(lambda: iclab.baseline("nosuch", self.xs, self.ys), "nosuch", "least_squares")
        self.assertError(lambda: iclab.make_prompts("cubic", 2, 3, 4), "cubic", "linear_regression")
        self.assertError(lambda: iclab.make_prompts("linear_regression", 2, 3, 4, n_embd=3), "n_embd")
        self.assertError(lambda: self.model.param("wte"), "wte", "lnf_w")

    def test_closed_model(self):
        m = iclab.Model.load(self.model_path)
        m.close()
        self.assertError(lambda: m.predict(self.xs, self.ys), "closed")


class TestTrain(unittest.TestCase):
    CFG = {"n_dims": 3, "n_embd": 16, "n_layer": 2, "n_head": 2, "n_positions": 9, "batch_size": 8,
           "train_steps": 6, "log_every": 2, "save_every": 3, "seed": 5, "threads": 1}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iclab_py_train.")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_train_writes_run_and_calls_back(self):
        out = os.path.join(self.tmp, "run")
        seen, lines = [], []
        res = iclab.train(self.CFG, out, progress=seen.append, message=lines.append)
        self.assertEqual(res, (6, res.final_loss, False))
        self.assertEqual([p.step for p in seen], [1, 2, 3, 4, 5, 6])
        self.assertTrue(all(p.total == 6 and np.isfinite(p.loss) for p in seen))
        self.assertEqual(res.final_loss, seen[-1].loss)
        for f in ["config.json", "metrics.csv", "state.safetensors", "model.safetensors"]:
            self.assertTrue(os.path.exists(os.path.join(out, f)), f)
        m = iclab.Model.load(os.path.join(out, "model.safetensors"))
        self.assertEqual((m.n_dims, m.n_layer), (3, 2))
        # the same run through the CLI writes the same model, bit for bit
        cli_out = os.path.join(self.tmp, "cli_run")
        args = [a for k, v in self.CFG.items() for a in ("--" + k, v)]
        cli("train", "--out", cli_out, *args)
        a = iclab.read_safetensors(os.path.join(out, "model.safetensors"))[0]
        b = iclab.read_safetensors(os.path.join(cli_out, "model.safetensors"))[0]
        self.assertEqual(sorted(a), sorted(b))
        self.assertTrue(all(np.array_equal(a[k], b[k]) for k in a))

    def test_callback_stops_and_resume_finishes(self):
        out = os.path.join(self.tmp, "run")
        res = iclab.train(self.CFG, out, progress=lambda p: p.step >= 2)
        self.assertEqual((res.step, res.stopped), (2, True))
        seen = []
        res = iclab.train(None, out, resume=True, progress=lambda p: seen.append(p.step))
        self.assertEqual((res.step, res.stopped, seen), (6, False, [3, 4, 5, 6]))

    def test_callback_exception_is_raised(self):
        def boom(p):
            raise KeyError("from the callback")
        with self.assertRaises(KeyError):
            iclab.train(self.CFG, os.path.join(self.tmp, "run"), progress=boom)

    def test_bad_config(self):
        with self.assertRaises(iclab.Error) as cm:
            iclab.train(dict(self.CFG, n_embd=15), os.path.join(self.tmp, "bad"))
        self.assertIn("n_head", str(cm.exception))
        with self.assertRaises(iclab.Error) as cm:
            iclab.train(dict(self.CFG, n_embdd=16), os.path.join(self.tmp, "bad"))
        self.assertIn("n_embdd", str(cm.exception))
        with self.assertRaises(iclab.Error) as cm:
            iclab.train({"n_layer": 3}, os.path.join(self.tmp, "run"), resume=True)
        self.assertIn("cannot resume", str(cm.exception))


class TestWalkthroughAndInstall(unittest.TestCase):
    def test_walkthrough_runs(self):
        # docs/python.md's script, end to end, in a temporary directory
        with tempfile.TemporaryDirectory(prefix="iclab_walk.") as d:
            env = dict(os.environ, ICLAB_BIN=ICLAB, PYTHONPATH=os.path.join(ROOT, "python"), ICLAB_WALK_STEPS="60")
            r = subprocess.run([sys.executable, os.path.join(ROOT, "python", "examples", "walkthrough.py"), d],
                               capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("probe R^2 for y_n", r.stdout)

    def test_pip_install(self):
        # pip install ./python into a target directory (no network), then import from there
        with tempfile.TemporaryDirectory(prefix="iclab_pip.") as d:
            src = os.path.join(d, "src")
            shutil.copytree(os.path.join(ROOT, "python"), src,
                            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                                "--no-index", "--target", os.path.join(d, "site"), src],
                               capture_output=True, text=True)
            if r.returncode != 0 and "No module named pip" in r.stderr:
                self.skipTest("pip is not installed for this python (apt-get install python3-pip)")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            lib = os.path.join(ROOT, os.path.dirname(os.path.relpath(ICLAB, ROOT)), "libiclab.so")
            env = dict(os.environ, PYTHONPATH=os.path.join(d, "site"), ICLAB_LIB=lib)
            code = "import iclab, sys; print(iclab.__file__, iclab.library_version())"
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(os.path.join(d, "site"), r.stdout)
            self.assertIn("0.1.0", r.stdout)
            env["ICLAB_LIB"] = os.path.join(d, "no_such_lib.so")
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=d)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("ICLAB_LIB", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
