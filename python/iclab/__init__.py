"""iclab: Python bindings of the iclab C library (ctypes + numpy).

    import iclab
    m = iclab.Model.load("runs/tiny/model.safetensors")
    xs, ys, w = iclab.make_prompts("linear_regression", 64, 11, m.n_dims, seed=1)
    pred = m.predict(xs, ys)                      # [B, n]
    pred = m.predict(xs, ys, schedule="dup(1)")   # layer surgery (docs/schedules.md)
    cap = m.capture(xs, ys)                       # residual stream at every state
    ls = iclab.baseline("least_squares", xs, ys)
    iclab.train({"n_dims": 5, ...}, "runs/x", progress=lambda p: print(p.step, p.loss))

Arrays: xs [B,n,d] and ys [B,n] (one prompt may be given as [n,d] and [n]).
C-contiguous float32 arrays are passed to the library without a copy; any
other array is converted (copied) first. Every library error raises
iclab.Error carrying the library's one-line message. The library is found
through ICLAB_LIB, next to this package, the repository's build/ directory,
or the system's library path (docs/python.md).
"""
import collections
import ctypes
import json
import struct

import numpy as np

from ._lib import MESSAGE_FN, PROGRESS_FN, lib

__version__ = "0.1.0"
__all__ = ["Error", "Model", "Capture", "Progress", "baseline", "train", "make_prompts", "load_prompts",
           "read_safetensors", "set_threads", "library_version"]

_ERRLEN = 1024


class Error(Exception):
    """A library error; str(e) is the library's one-line message."""


def library_version():
    return lib.iclab_version().decode()


def set_threads(n):
    """OpenMP and OpenBLAS thread counts (n <= 0 leaves them)."""
    lib.iclab_set_threads(int(n))


def _eb():
    return ctypes.create_string_buffer(_ERRLEN)


def _raise(eb):
    raise Error(eb.value.decode(errors="replace"))


def _fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _f32(a, name):
    """a as a C-contiguous float32 array: the same memory when it already is one."""
    try:
        return np.ascontiguousarray(a, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise Error(f"{name}: not convertible to a float32 array ({e})") from None


def _prompts(xs, ys):
    """(xs [B,n,d], ys [B,n], single) from [B,n,d]/[B,n] or one prompt [n,d]/[n]."""
    xs, ys = _f32(xs, "xs"), _f32(ys, "ys")
    single = xs.ndim == 2
    if single:
        xs, ys = xs[None], ys[None] if ys.ndim == 1 else ys
    if xs.ndim != 3:
        raise Error(f"xs must have shape [B,n,d] (or [n,d] for one prompt), got {list(xs.shape)}")
    if ys.shape != xs.shape[:2]:
        raise Error(f"ys must have shape [B,n] = {list(xs.shape[:2])} to match xs {list(xs.shape)}, "
                    f"got {list(ys.shape)}")
    return xs, ys, single


def _sched(schedule):
    if schedule is None:
        return None
    if not isinstance(schedule, str):  # a list of block indices
        schedule = ",".join(str(int(b)) for b in schedule)
    return schedule.encode()


_PARAM_SHAPES = {
    "read_in_w": "e,d", "read_in_b": "e", "wpe": "2N,e", "ln1_w": "P,e", "ln1_b": "P,e", "qkv_w": "P,e,3e",
    "qkv_b": "P,3e", "attproj_w": "P,e,e", "attproj_b": "P,e", "ln2_w": "P,e", "ln2_b": "P,e", "fc_w": "P,e,4e",
    "fc_b": "P,4e", "fcproj_w": "P,4e,e", "fcproj_b": "P,e", "lnf_w": "e", "lnf_b": "e", "read_out_w": "1,e",
    "read_out_b": "1"}


class Model:
    """A model checkpoint loaded into the library (Model.load). Not for use
    by two threads at once (it holds its activation buffers)."""

    def __init__(self, handle):
        self._h = handle
        v = [ctypes.c_int() for _ in range(5)]
        lib.iclab_model_shape(handle, *[ctypes.byref(x) for x in v])
        self.n_dims, self.n_positions, self.n_embd, self.n_layer, self.n_head = (x.value for x in v)
        loops = ctypes.c_int()
        need = lib.iclab_model_schedule(handle, None, 0, ctypes.byref(loops))
        buf = ctypes.create_string_buffer(need + 1)
        lib.iclab_model_schedule(handle, buf, need + 1, None)
        self.schedule, self.loops = buf.value.decode(), loops.value
        self.notice = lib.iclab_model_notice(handle).decode()

    @classmethod
    def load(cls, path, n_head=0):
        """Loads a .safetensors checkpoint (n_head: for files without iclab metadata)."""
        eb = _eb()
        h = lib.iclab_model_load(str(path).encode(), int(n_head), eb, _ERRLEN)
        if not h:
            _raise(eb)
        return cls(h)

    def close(self):
        if self._h:
            lib.iclab_model_free(self._h)
            self._h = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"iclab.Model(n_dims={self.n_dims}, n_positions={self.n_positions}, n_embd={self.n_embd}, "
                f"n_layer={self.n_layer}, n_head={self.n_head}, schedule='{self.schedule}', loops={self.loops})")

    def _handle(self):
        if not self._h:
            raise Error("the model is closed")
        return self._h

    def param(self, name):
        """A copy of parameter tensor `name` (src/model.h layouts, e.g. 'lnf_w' [e], 'read_out_w' [1,e],
        'qkv_w' [n_layer,e,3e])."""
        eb, count = _eb(), ctypes.c_size_t()
        p = lib.iclab_model_param(self._handle(), str(name).encode(), ctypes.byref(count), eb, _ERRLEN)
        if not p:
            _raise(eb)
        dims = {"e": self.n_embd, "d": self.n_dims, "P": self.n_layer, "2N": 2 * self.n_positions,
                "3e": 3 * self.n_embd, "4e": 4 * self.n_embd, "1": 1}
        shape = [dims[k] for k in _PARAM_SHAPES[name].split(",")]
        return np.ctypeslib.as_array(p, shape=(count.value,)).copy().reshape(shape)

    def predict(self, xs, ys, schedule=None, loops=None, batch_size=256):
        """Predictions [B,n] of the last loop, exactly as `iclab predict`: schedule in the schedule language
        ('0,1,1,2', 'dup(1)', 'skip(2)', or a list of block indices) relative to the model's own body, loops
        overriding the stored loop count."""
        xs, ys, single = _prompts(xs, ys)
        B, n, d = xs.shape
        pred = np.empty((B, n), dtype=np.float32)
        eb = _eb()
        if lib.iclab_model_predict(self._handle(), _fptr(xs), _fptr(ys), B, n, d, _sched(schedule),
                                   int(loops or 0), int(batch_size), _fptr(pred), eb, _ERRLEN):
            _raise(eb)
        return pred[0] if single else pred

    def capture(self, xs, ys, schedule=None, loops=None, parts=False, batch_size=256):
        """The residual stream at every state of the forward (src/probe.h): a Capture with resid
        [n_states,B,2n,n_embd], labels, preds, and with parts=True attn and mlp [loops*n_steps,B,2n,n_embd]."""
        xs, ys, single = _prompts(xs, ys)
        B, n, d = xs.shape
        eb = _eb()
        h = lib.iclab_model_capture(self._handle(), _fptr(xs), _fptr(ys), B, n, d, _sched(schedule),
                                    int(loops or 0), int(batch_size), int(bool(parts)), eb, _ERRLEN)
        if not h:
            _raise(eb)
        try:
            return Capture(self, h)
        finally:
            lib.iclab_capture_free(h)


class Capture:
    """A copy of the library's capture: resid [n_states,B,T,C] (T = 2n tokens: x_1, y_1, x_2, ...; state
    l*(n_steps+1) is loop l's input, the next n_steps the residual after each step), labels [n_states]
    ('in', '1:b0', ...), preds [B,n] (the model's own), attn/mlp (or None), and lens [n_states,B,n]:
    ln_f + read_out applied to every state (the last equals preds bit for bit)."""

    def __init__(self, model, h):
        v = [ctypes.c_int() for _ in range(7)]
        lib.iclab_capture_shape(h, *[ctypes.byref(x) for x in v])
        S, B, n, T, C, L, steps = (x.value for x in v)
        self.n_states, self.B, self.n, self.T, self.C, self.loops, self.n_steps = S, B, n, T, C, L, steps

        def copy(p, shape):
            return np.ctypeslib.as_array(p, shape=shape).copy() if p else None

        self.resid = copy(lib.iclab_capture_resid(h), (S, B, T, C))
        self.preds = copy(lib.iclab_capture_preds(h), (B, n))
        self.attn = copy(lib.iclab_capture_attn(h), (L * steps, B, T, C))
        self.mlp = copy(lib.iclab_capture_mlp(h), (L * steps, B, T, C))
        buf = ctypes.create_string_buffer(256)
        self.labels = []
        for k in range(S):
            lib.iclab_capture_label(h, k, buf, 256)
            self.labels.append(buf.value.decode())
        self.lens = np.empty((S, B, n), dtype=np.float32)
        eb = _eb()
        if lib.iclab_capture_lens(model._handle(), h, _fptr(self.lens), eb, _ERRLEN):
            _raise(eb)

    def state(self, k):
        """Residual of state k [B,T,C] (k an index or a label)."""
        return self.resid[self.labels.index(k) if isinstance(k, str) else k]

    def x_tokens(self, k):
        """Residual of state k at the x tokens [B,n,C] (what predicts y)."""
        return self.state(k)[:, 0::2, :]

    def __repr__(self):
        return f"iclab.Capture({self.n_states} states {self.labels}, resid {list(self.resid.shape)})"


def baseline(name, xs, ys):
    """A classical in-context solver's predictions [B,n], by the name `iclab predict --baseline` takes
    ('least_squares', 'ridge:0.1', 'knn:3', 'gd:100:0.01', ...; docs/baselines.md)."""
    xs, ys, single = _prompts(xs, ys)
    B, n, d = xs.shape
    pred = np.empty((B, n), dtype=np.float32)
    eb = _eb()
    if lib.iclab_baseline_predict(str(name).encode(), _fptr(xs), _fptr(ys), B, n, d, _fptr(pred), eb, _ERRLEN):
        _raise(eb)
    return pred[0] if single else pred


def load_prompts(path):
    """(xs [B,n,d], ys [B,n]) of a prompt file (as `iclab predict --prompts` reads it)."""
    eb = _eb()
    B, n, d = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    if lib.iclab_prompts_load(str(path).encode(), ctypes.byref(B), ctypes.byref(n), ctypes.byref(d), None, None,
                              eb, _ERRLEN):
        _raise(eb)
    xs = np.empty((B.value, n.value, d.value), dtype=np.float32)
    ys = np.empty((B.value, n.value), dtype=np.float32)
    if lib.iclab_prompts_load(str(path).encode(), ctypes.byref(B), ctypes.byref(n), ctypes.byref(d), _fptr(xs),
                              _fptr(ys), eb, _ERRLEN):
        _raise(eb)
    return xs, ys


def make_prompts(task, n_prompts, n_points, n_dims, seed=0, **task_params):
    """(xs [B,n,d], ys [B,n], w [B,d] or None) of a task (docs/tasks.md: 'linear_regression',
    'sparse_linear_regression', 'noisy_linear_regression', 'linear_classification', 'quadratic_regression',
    'relu_2nn_regression', 'decision_tree'), from a generator seeded with seed; task_params: sparsity,
    noise_std, hidden, depth, x_scale. The same sampler the trainer uses."""
    B, n, d = int(n_prompts), int(n_points), int(n_dims)
    if B < 1 or n < 1 or d < 1:
        raise Error(f"need n_prompts, n_points, n_dims >= 1, got {B}, {n}, {d}")
    xs = np.empty((B, n, d), dtype=np.float32)
    ys = np.empty((B, n), dtype=np.float32)
    w = np.empty((B, d), dtype=np.float32)
    has_w, eb = ctypes.c_int(), _eb()
    if lib.iclab_make_prompts(str(task).encode(), B, n, d, int(seed), json.dumps(task_params).encode(), _fptr(xs),
                              _fptr(ys), _fptr(w), ctypes.byref(has_w), eb, _ERRLEN):
        _raise(eb)
    return xs, ys, (w if has_w.value else None)


Progress = collections.namedtuple("Progress", "step total loss excess_loss lr elapsed_s")
TrainResult = collections.namedtuple("TrainResult", "step final_loss stopped")


def train(config, out, progress=None, message=None, resume=False):
    """Trains into the run directory `out` (what `iclab train` does): config a dict of run-config keys over
    the defaults (docs/config.md; with resume=True only train_steps, threads, log_every, save_every, or None).
    progress(Progress) is called after every step; a true return value stops the run (a checkpoint is saved,
    TrainResult.stopped is True). message(line) gets checkpoint notices. An exception raised in a callback
    stops the run and is re-raised here."""
    raised = []

    def on_progress(_ctx, step, total, loss, excess, lr, elapsed):
        if raised:
            return 1
        try:
            return 1 if progress(Progress(step, total, loss, excess, lr, elapsed)) else 0
        except BaseException as e:  # noqa: B902 - handed back to the caller below
            raised.append(e)
            return 1

    def on_message(_ctx, line):
        if raised:
            return
        try:
            message(line.decode(errors="replace"))
        except BaseException as e:  # noqa: B902
            raised.append(e)

    # keep the ctypes callbacks alive for the whole call
    pf = PROGRESS_FN(on_progress) if progress else PROGRESS_FN()
    mf = MESSAGE_FN(on_message) if message else MESSAGE_FN()
    cfg = None if config is None else json.dumps(config).encode()
    steps, loss, eb = ctypes.c_long(), ctypes.c_double(), _eb()
    rc = lib.iclab_train(cfg, str(out).encode(), int(bool(resume)), pf, mf, None, ctypes.byref(steps),
                         ctypes.byref(loss), eb, _ERRLEN)
    if raised:
        raise raised[0]
    if rc < 0:
        _raise(eb)
    return TrainResult(steps.value, loss.value, rc == 1)


_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """(tensors {name: array}, metadata {key: str}) of a safetensors file (e.g. `iclab predict`'s output),
    in plain numpy; BF16 tensors (a model written with checkpoint_dtype bf16) come back as float32."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    head = json.loads(data[8:8 + hlen])
    meta = head.pop("__metadata__", {}) or {}
    out = {}
    for name, t in head.items():
        a, b = t["data_offsets"]
        raw = data[8 + hlen + a:8 + hlen + b]
        if t["dtype"] == "BF16":  # numpy has no bfloat16: the upper halves of float32s, widened exactly
            out[name] = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).reshape(t["shape"])
        else:
            out[name] = np.frombuffer(raw, dtype=_ST_DTYPES[t["dtype"]]).reshape(t["shape"])
    return out, meta
