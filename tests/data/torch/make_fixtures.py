#!/usr/bin/python3
"""Writes the fixtures of `iclab import` (tests/test_torchimport.c,
tests/import_cli_test.sh): small Garg et al. models saved with torch.save,
the torch model's predictions on fixed prompts (golden), and hand-made
malicious or malformed archives, one per refused class.

Needs Debian's python3-torch and python3-numpy (call /usr/bin/python3, not
the pyenv python3). The outputs are committed; the tests never need torch.
Run from the repository root:  /usr/bin/python3 tests/data/torch/make_fixtures.py
(--only-yang writes only yang_run/, leaving the other fixtures' bytes alone)."""
import collections
import io
import os
import struct
import sys
import zipfile

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "..", "bench"))
from torch_garg import GargModel, st_save  # noqa: E402

def yang_fixtures():
    """yang_run/: a Yang et al. looped transformer (model.family gpt2_loop,
    loop_func 'z=f(x+z)'), written here from the paper's description rather
    than their code: E = read_in(z) with Garg's z tokens; Y_0 = 0; each loop
    Y <- backbone(Y + E), where the nanoGPT backbone adds wpe (2*n_positions+1
    rows), runs pre-LN blocks (nn.Linear [out,in] weights, LayerNorm eps 1e-5,
    tanh GELU) and ln_f; the loop's prediction is read_out(Y) at the x tokens.
    Saved the way their train.py saves: state.pt = {model_state_dict,
    optimizer_state_dict, train_step} and model_<step>.pt = {'model': sd},
    with the run's config.yaml (keys sorted, as yaml.dump writes it).
    golden.safetensors: pred (the last loop) and pred_loop<t> for t = 1..loops."""
    YD, YNP, YE, YL, YH, LOOPS, WIN, YB, STEP = 3, 6, 16, 1, 2, 5, 3, 4, 700
    bs = 2 * YNP + 1
    g = torch.Generator().manual_seed(7001)

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    sd = collections.OrderedDict()
    sd["_read_in.weight"], sd["_read_in.bias"] = rnd(YE, YD), rnd(YE)
    sd["_backbone.transformer.wpe.weight"] = rnd(bs, YE)
    for i in range(YL):
        p = f"_backbone.transformer.h.{i}."
        sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = 1 + rnd(YE), rnd(YE)
        sd[p + "attn.bias"] = torch.ones(bs, bs).tril().view(1, 1, bs, bs)  # the causal mask buffer
        sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"] = rnd(3 * YE, YE), rnd(3 * YE)
        sd[p + "attn.c_proj.weight"], sd[p + "attn.c_proj.bias"] = rnd(YE, YE), rnd(YE)
        sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = 1 + rnd(YE), rnd(YE)
        sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"] = rnd(4 * YE, YE), rnd(4 * YE)
        sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"] = rnd(YE, 4 * YE), rnd(YE)
    sd["_backbone.transformer.ln_f.weight"], sd["_backbone.transformer.ln_f.bias"] = 1 + rnd(YE), rnd(YE)
    sd["_read_out.weight"], sd["_read_out.bias"] = rnd(1, YE), rnd(1)

    xs = torch.randn(YB, YNP, YD, generator=g)
    ys = torch.randn(YB, YNP, generator=g)

    def ln(x, w, b):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * w + b

    def lin(x, name):
        return x @ P[name + ".weight"].t() + P[name + ".bias"]

    P = {k: v.double() for k, v in sd.items()}
    Bn, n, d = xs.shape
    T = 2 * n
    z = torch.zeros(Bn, T, d, dtype=torch.float64)
    z[:, 0::2, :] = xs.double()
    z[:, 1::2, 0] = ys.double()
    emb = lin(z, "_read_in")
    pos = P["_backbone.transformer.wpe.weight"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    hs = YE // YH
    Y = torch.zeros_like(emb)
    preds = []
    for _ in range(LOOPS):
        x = Y + emb + pos
        for i in range(YL):
            p = f"_backbone.transformer.h.{i}."
            q, k, v = lin(ln(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"]), p + "attn.c_attn").split(YE, dim=-1)
            q, k, v = (t.reshape(Bn, T, YH, hs).transpose(1, 2) for t in (q, k, v))
            a = (q @ k.transpose(-1, -2)) / hs ** 0.5
            a = torch.softmax(a.masked_fill(~causal, float("-inf")), dim=-1)
            x = x + lin((a @ v).transpose(1, 2).reshape(Bn, T, YE), p + "attn.c_proj")
            u = lin(ln(x, P[p + "ln_2.weight"], P[p + "ln_2.bias"]), p + "mlp.c_fc")
            u = 0.5 * u * (1 + torch.tanh((2 / np.pi) ** 0.5 * (u + 0.044715 * u ** 3)))
            x = x + lin(u, p + "mlp.c_proj")
        Y = ln(x, P["_backbone.transformer.ln_f.weight"], P["_backbone.transformer.ln_f.bias"])
        preds.append(lin(Y, "_read_out")[:, 0::2, 0])

    os.makedirs("yang_run", exist_ok=True)
    st_save("yang_run/prompts.safetensors", {"xs": xs.numpy(), "ys": ys.numpy()})
    gold = {"pred": preds[-1].numpy().astype(np.float32)}
    for t, pr in enumerate(preds):
        gold[f"pred_loop{t + 1}"] = pr.numpy().astype(np.float32)
    st_save("yang_run/golden.safetensors", gold)
    params = [v.clone().requires_grad_() for k, v in sd.items() if not k.endswith("attn.bias")]
    opt = torch.optim.Adam(params, lr=1e-4)
    sum(q.sum() for q in params).backward()
    opt.step()
    torch.save({"model_state_dict": sd, "optimizer_state_dict": opt.state_dict(), "train_step": STEP}, "yang_run/state.pt")
    torch.save({"model": sd}, f"yang_run/model_{STEP}.pt")
    with open("yang_run/config.yaml", "w") as f:
        f.write(f"""debug_mode: false
gpu:
  cuda: true
  n_gpu: 0
model:
  family: gpt2_loop
  loop_func: z=f(x+z)
  n_dims: {YD}
  n_embd: {YE}
  n_head: {YH}
  n_layer: {YL}
  n_positions: {YNP}
  pred_type: regression
  pretrained_path: null
out_dir: ./results2/linear_regression_loop/toy
training:
  add_inputs_embeds: false
  batch_size: 64
  curriculum:
    dims:
      end: {YD}
      inc: 1
      interval: 5000
      start: 2
    loops:
      end: {LOOPS}
      inc: 2
      interval: 500
      start: 1
    points:
      end: {YNP}
      inc: 2
      interval: 5000
      start: 2
  keep_every_steps: 100000
  learning_rate: 0.0001
  n_loop_window: {WIN}
  save_every_steps: 1000
  seed: 42
  sparsity: 100
  task_name: linear_regression
  test_idx: -1
  test_size: 0
  train_size: 0
  train_steps: {STEP + 1}
  use_ctx: false
  use_fixed_dataset: false
  weight_decay: 0.0
wandb:
  log_every_steps: 100
  name: null
  notes: ''
  project: Lets_Loop2
  timestamp: null
""")


if "--only-yang" in sys.argv[1:]:
    os.chdir(here)
    yang_fixtures()
    print("yang_run fixtures written to", here)
    sys.exit(0)


D, NPOS, E, L, H = 3, 4, 8, 2, 2   # tiny: a few KB per file
B = 4                              # prompts
os.chdir(here)
torch.manual_seed(16)


def model():
    m = GargModel(D, NPOS, E, L, H)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return m


def golden(sd, name):
    """predictions of the torch model with state sd (any float dtype), in float64"""
    m = GargModel(D, NPOS, E, L, H).double()
    m.load_state_dict({k: v.double() for k, v in sd.items() if k in m.state_dict()}, strict=True)
    with torch.no_grad():
        pred = m(XS.double(), YS.double())[-1]
    st_save(f"{name}.golden.safetensors", {"pred": pred.numpy().astype(np.float32)})


def save(obj, name):
    torch.save(obj, name)


XS = torch.randn(B, NPOS, D)
YS = torch.randn(B, NPOS)
st_save("prompts.safetensors", {"xs": XS.numpy(), "ys": YS.numpy()})

m = model()
sd = m.state_dict()  # an OrderedDict with _metadata, as torch saves it

# 1. a bare state_dict, F32, with GPT-2's unused buffers as HF's GPT2Model has them
bare = collections.OrderedDict(sd)
bare["_backbone.wte.weight"] = torch.zeros(7, E)
for i in range(L):
    bare[f"_backbone.h.{i}.attn.bias"] = torch.ones(1, 1, 2 * NPOS, 2 * NPOS, dtype=torch.bool).tril()
    bare[f"_backbone.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
save(bare, "bare_f32.pt")
golden(sd, "bare_f32")

# 2. Garg et al.'s training state, in a run directory with its config.yaml
opt = torch.optim.Adam(m.parameters(), lr=1e-4)
loss = m(XS, YS)[-1].pow(2).mean()
loss.backward()
opt.step()
sd2 = m.state_dict()
os.makedirs("garg_run", exist_ok=True)
save({"model_state_dict": sd2, "optimizer_state_dict": opt.state_dict(), "train_step": 1234}, "garg_run/state.pt")
golden(sd2, "garg_run/state")
with open("garg_run/config.yaml", "w") as f:
    f.write(f"""config: conf/toy.yaml
inherit:
- base.yaml
model:
  family: gpt2
  n_dims: {D}
  n_embd: {E}
  n_head: {H}
  n_layer: {L}
  n_positions: {NPOS}
out_dir: ../models/toy
test_run: false
training:
  batch_size: 64
  curriculum:
    dims:
      end: {D}
      inc: 1
      interval: 2000
      start: 2
    points:
      end: 3
      inc: 1
      interval: 2000
      start: 2
  data: gaussian
  keep_every_steps: 100000
  learning_rate: 0.0001
  num_tasks: null
  resume_id: null
  save_every_steps: 1000
  task: sparse_linear_regression
  task_kwargs: {{}}
  train_steps: 5001
wandb:
  entity: in-context
  log_every_steps: 100
  name: toy
""")

# 3. half, bfloat16 and double storages (golden from the rounded weights)
for dt, name in ((torch.float16, "f16"), (torch.bfloat16, "bf16"), (torch.float64, "f64")):
    s = collections.OrderedDict((k, v.to(dt)) for k, v in sd.items())
    save(s, f"{name}.pt")
    golden(s, name)

# 4. non-contiguous tensors: a transposed view, a slice at an offset of a larger
#    storage, a strided column view
s = collections.OrderedDict(sd)
w = sd["_backbone.h.0.attn.c_attn.weight"]               # [E, 3E]
s["_backbone.h.0.attn.c_attn.weight"] = w.t().contiguous().t()   # stride (1, E)
big = torch.randn(100)
big[7:7 + 3 * E] = sd["_backbone.h.1.attn.c_attn.bias"]
s["_backbone.h.1.attn.c_attn.bias"] = big[7:7 + 3 * E]   # storage offset 7
wide = torch.randn(E, 2 * D)
wide[:, ::2] = sd["_read_in.weight"]
s["_read_in.weight"] = wide[:, ::2]                      # stride (2D, 2)
assert not s["_backbone.h.0.attn.c_attn.weight"].is_contiguous() and s["_read_in.weight"].stride() == (2 * D, 2)
save(s, "strided.pt")
golden(s, "strided")
st_save("strided.expected.safetensors", {k: v.contiguous().numpy() for k, v in s.items()})

# 5. shared storages: both layer norms of block 0 and ln_f's weight view one storage
s = collections.OrderedDict(sd)
pool = torch.randn(3 * E)
s["_backbone.h.0.ln_1.weight"] = pool[0:E]
s["_backbone.h.0.ln_2.weight"] = pool[E:2 * E]
s["_backbone.ln_f.weight"] = pool[0:E]                   # the same view twice
save(s, "shared.pt")
golden(s, "shared")
st_save("shared.expected.safetensors", {k: v.contiguous().numpy() for k, v in s.items()})

# ---- refused archives -------------------------------------------------------


def zip_with(pkl, name, extra=(), prefix="archive"):
    with zipfile.ZipFile(name, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", pkl)
        for n, b in extra:
            z.writestr(n, b)
        z.writestr(f"{prefix}/version", b"3\n")


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def evil(module, name, arg):
    # {'x': module.name(arg)} written opcode by opcode: PROTO 2, EMPTY_DICT,
    # 'x', GLOBAL (at byte 10), the argument, TUPLE1, REDUCE, SETITEM, STOP
    return (b"\x80\x02}" + binunicode("x") + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + binunicode(arg) + b"\x85Rs.")


# each payload would create a file named iclab_pwned_* in the working directory
zip_with(evil("os", "system", "touch iclab_pwned_os"), "evil_os_system.pt")
zip_with(evil("posix", "system", "touch iclab_pwned_posix"), "evil_posix_system.pt")
zip_with(evil("builtins", "eval", "open('iclab_pwned_eval','w')"), "evil_builtins_eval.pt")
zip_with(evil("subprocess", "Popen", "touch iclab_pwned_popen"), "evil_subprocess_popen.pt")
zip_with(evil("mymodule", "Thing", "x"), "evil_unknown_global.pt")
# STACK_GLOBAL (protocol 4): module and name as strings on the stack, global at byte 20
zip_with(b"\x80\x04}" + binunicode("os") + binunicode("system") + b"\x93" + binunicode("touch iclab_pwned_sg")
         + b"\x85R.", "evil_stack_global.pt")
# REDUCE on an allowed storage type (storages may only come from persistent ids)
zip_with(b"\x80\x02ctorch\nFloatStorage\n" + b"K\x04\x85R.", "evil_reduce_storage.pt")
# a storage key that is a path: ('storage', FloatStorage, '../../x', 'cpu', 1)
zip_with(b"\x80\x02(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + binunicode("../../x") + binunicode("cpu")
         + b"K\x01tQ.", "evil_storage_key.pt")

good = open("bare_f32.pt", "rb").read()
zg = zipfile.ZipFile(io.BytesIO(good))
entries = [(i.filename, zg.read(i.filename)) for i in zg.infolist()]
pfx = entries[0][0].split("/")[0]


def rezip(name, items, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(name, "w", compress) as z:
        for n, b in items:
            z.writestr(zipfile.ZipInfo(n), b)


rezip("evil_traversal.pt", entries + [(f"{pfx}/../../iclab_pwned_traversal", b"x")])
rezip("evil_absolute.pt", entries + [("/tmp/iclab_pwned_abs", b"x")])
import warnings  # noqa: E402
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # zipfile warns about the duplicate: that is the point
    rezip("evil_duplicate.pt", entries + [entries[1]])
# storage 0 one element short of what data.pkl declares
rezip("evil_size_mismatch.pt", [(n, b[:-4] if n == f"{pfx}/data/0" else b) for n, b in entries])
# a 3 MiB deflated entry of zeros: ratio ~1000:1
with zipfile.ZipFile("evil_bomb_ratio.pt", "w", zipfile.ZIP_DEFLATED) as z:
    for n, b in entries:
        z.writestr(n, b)
    z.writestr(f"{pfx}/data/99", b"\0" * (3 << 20))
# an entry whose headers declare ~4 GiB uncompressed (over the 2 GiB per-entry cap)
with zipfile.ZipFile("evil_bomb_declared.pt", "w", zipfile.ZIP_DEFLATED) as z:
    for n, b in entries:
        z.writestr(n, b)
    z.writestr(f"{pfx}/data/98", b"\0" * 1000)
raw = bytearray(open("evil_bomb_declared.pt", "rb").read())
lh = raw.rfind(b"PK\x03\x04")
struct.pack_into("<I", raw, lh + 22, 0xFFFFFFF0)
ch = raw.rfind(b"PK\x01\x02")
struct.pack_into("<I", raw, ch + 24, 0xFFFFFFF0)
open("evil_bomb_declared.pt", "wb").write(raw)
# a legacy (pre-1.6) torch.save file: a bare pickle stream
torch.save(collections.OrderedDict(sd), "legacy.pt", _use_new_zipfile_serialization=False)
yang_fixtures()
print("fixtures written to", here)
