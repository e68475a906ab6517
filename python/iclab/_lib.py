"""Loading libiclab.so and declaring the flat C API of src/capi.h."""
import ctypes
import ctypes.util
import os

_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("ICLAB_LIB")
    if env:
        yield env
        return  # an explicit choice is not second-guessed
    for name in ("libiclab.so", "libiclab.so.0"):
        yield os.path.join(_here, name)  # copied next to the package
    # the repository's build directory (python/iclab/ -> build/)
    yield os.path.join(_here, "..", "..", "build", "libiclab.so")
    found = ctypes.util.find_library("iclab")  # an installed library (make install)
    if found:
        yield found
    yield "libiclab.so.0"


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("iclab: cannot load libiclab.so; set ICLAB_LIB to its path or build it with make. Tried: "
                      + "; ".join(tried))


lib = _load()

c_int, c_long, c_double, c_char_p, c_void_p, c_size_t = (
    ctypes.c_int, ctypes.c_long, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
P_float = ctypes.POINTER(ctypes.c_float)
P_int = ctypes.POINTER(c_int)

PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_long, c_long, c_double, c_double, c_double, c_double)
MESSAGE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)

_sigs = {
    "iclab_version": (c_char_p, []),
    "iclab_api_version": (c_int, []),
    "iclab_set_threads": (None, [c_int]),
    "iclab_model_load": (c_void_p, [c_char_p, c_int, c_char_p, c_size_t]),
    "iclab_model_free": (None, [c_void_p]),
    "iclab_model_shape": (None, [c_void_p, P_int, P_int, P_int, P_int, P_int]),
    "iclab_model_schedule": (c_int, [c_void_p, c_char_p, c_size_t, P_int]),
    "iclab_model_notice": (c_char_p, [c_void_p]),
    "iclab_model_param": (P_float, [c_void_p, c_char_p, ctypes.POINTER(c_size_t), c_char_p, c_size_t]),
    "iclab_model_predict": (c_int, [c_void_p, P_float, P_float, c_int, c_int, c_int, c_char_p, c_int, c_int,
                                    P_float, c_char_p, c_size_t]),
    "iclab_model_capture": (c_void_p, [c_void_p, P_float, P_float, c_int, c_int, c_int, c_char_p, c_int, c_int,
                                       c_int, c_char_p, c_size_t]),
    "iclab_capture_free": (None, [c_void_p]),
    "iclab_capture_shape": (None, [c_void_p, P_int, P_int, P_int, P_int, P_int, P_int, P_int]),
    "iclab_capture_resid": (P_float, [c_void_p]),
    "iclab_capture_preds": (P_float, [c_void_p]),
    "iclab_capture_attn": (P_float, [c_void_p]),
    "iclab_capture_mlp": (P_float, [c_void_p]),
    "iclab_capture_label": (c_int, [c_void_p, c_int, c_char_p, c_size_t]),
    "iclab_capture_lens": (c_int, [c_void_p, c_void_p, P_float, c_char_p, c_size_t]),
    "iclab_baseline_predict": (c_int, [c_char_p, P_float, P_float, c_int, c_int, c_int, P_float, c_char_p,
                                       c_size_t]),
    "iclab_prompts_load": (c_int, [c_char_p, P_int, P_int, P_int, P_float, P_float, c_char_p, c_size_t]),
    "iclab_make_prompts": (c_int, [c_char_p, c_int, c_int, c_int, ctypes.c_uint64, c_char_p, P_float, P_float,
                                   P_float, P_int, c_char_p, c_size_t]),
    "iclab_train": (c_int, [c_char_p, c_char_p, c_int, PROGRESS_FN, MESSAGE_FN, c_void_p,
                            ctypes.POINTER(c_long), ctypes.POINTER(c_double), c_char_p, c_size_t]),
}
for _name, (_res, _args) in _sigs.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
