"""Data parallelism with 2 CPU processes on gloo (torchrun): same split, same result shape, same maths."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test_finetune_engine import tiny_gpt2
from test_token_cache import char_tokenizer

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

ENGINE_SCRIPT = """
import sys, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from safetensors.torch import save_file
from harness.train import distributed
from harness.train.engine import TrainPlan, train
from harness.train.precision import resolve_settings
from test_distributed import no_dropout_model, BLOCKS
device = distributed.init_from_env("cpu")
model = no_dropout_model()
train(model, BLOCKS(), TrainPlan(steps=3, batch_size=4, lr=1e-3, seed=5, warmup_steps=1), resolve_settings(device),
      progress=False)
if distributed.rank() == 0:
    save_file({{k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}}, {out!r})
distributed.shutdown()
"""


def no_dropout_model():
    model = tiny_gpt2()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def BLOCKS():  # noqa: N802 - a constant built on demand
    return torch.randint(0, 300, (32, 16), generator=torch.Generator().manual_seed(11))


def torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(TORCHRUN + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_accumulation(tmp_path):
    """DDP averages the two ranks' gradients; 1 process accumulating the same 2 micro-batches must agree."""
    from safetensors.torch import load_file

    from harness.train.engine import TrainPlan, train
    from harness.train.precision import resolve_settings

    script = tmp_path / "ddp_engine.py"
    out = tmp_path / "ddp.safetensors"
    script.write_text(ENGINE_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), out=str(out)), encoding="utf-8")
    torchrun([str(script)], tmp_path)
    single = no_dropout_model()
    train(
        single,
        BLOCKS(),
        TrainPlan(steps=3, batch_size=4, lr=1e-3, seed=5, warmup_steps=1),
        resolve_settings("cpu", grad_accum_steps=2),
        progress=False,
    )
    ddp = load_file(out)
    for name, value in single.state_dict().items():
        if name in ddp:
            assert torch.allclose(value, ddp[name], atol=1e-5), name


@pytest.mark.slow
def test_launcher_with_two_processes_splits_and_records_like_one(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = char_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=64,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=3,
        )
    )
    model.save_pretrained(tmp_path / "base", safe_serialization=True)
    tok.save_pretrained(tmp_path / "base")
    # synthetic lines (content note: generated filler)
    (tmp_path / "c.txt").write_text("".join(f"abc {i} xyz{i % 13}\n" for i in range(200)), encoding="utf-8")
    (tmp_path / "run.yaml").write_text(
        f"name: ddp\nseed: 2\nbase: {{model: {tmp_path / 'base'}}}\n"
        f"corpus: {{path: {tmp_path / 'c.txt'}, format: text}}\n"
        "finetune: {max_steps: 4, batch_size: 2, block_size: 16, warmup_steps: 1, val_fraction: 0.1}\n",
        encoding="utf-8",
    )
    torchrun(
        ["-m", "harness.train.launch", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "two"), "--quiet"], tmp_path
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.train.launch",
            str(tmp_path / "run.yaml"),
            "--out",
            str(tmp_path / "one"),
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two_rec = json.loads((tmp_path / "two" / "finetune.json").read_text())
    one_rec = json.loads((tmp_path / "one" / "finetune.json").read_text())
    assert (two_rec["world_size"], one_rec["world_size"]) == (2, 1)
    assert two_rec.keys() == one_rec.keys()
    for key in ("train_docs", "val_docs", "train_tokens", "steps", "eval_loss_before", "token_cache"):
        assert two_rec[key] == one_rec[key], key  # the same split and cache, whatever the process count
    assert (tmp_path / "two" / "model" / "model.safetensors").is_file()
    assert [p["step"] for p in two_rec["loss_curve"]] == [1, 2, 3, 4]


def test_shutdown_ends_the_process_group_and_is_a_no_op_alone(tmp_path):
    """``distributed.shutdown`` destroys a started group (gloo's threads end before the interpreter does)."""
    import torch.distributed as dist

    from harness.train import distributed

    distributed.shutdown()  # no group: nothing to do
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    assert dist.is_initialized()
    distributed.shutdown()
    assert not dist.is_initialized()
