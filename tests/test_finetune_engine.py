"""The fine-tuning engine: chunked loss, device settings, data order, exact resume, LoRA, token cache."""

import json

import pytest
import torch

from harness.errors import ConfigError
from harness.train.engine import CheckpointPolicy, TrainPlan, batch_indices, evaluate_loss, prepare_model, train
from harness.train.loss import chunked_cross_entropy
from harness.train.precision import resolve_settings


def tiny_gpt2(seed=0, vocab=300):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=1, eos_token_id=2, pad_token_id=3
    )
    return GPT2LMHeadModel(config)


def test_chunked_cross_entropy_equals_the_full_loss_and_its_gradients():
    torch.manual_seed(0)
    hidden = torch.randn(300, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 50, (300,))
    labels[::7] = -100
    full = torch.nn.functional.cross_entropy(hidden @ weight.t(), labels, ignore_index=-100)
    full.backward()
    gh, gw = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    chunked = chunked_cross_entropy(hidden, weight, labels, chunk=64)
    (3 * chunked).backward()  # backward scales by the upstream gradient
    assert abs(chunked.item() - full.item()) < 1e-5
    assert torch.allclose(hidden.grad, 3 * gh, atol=1e-6) and torch.allclose(weight.grad, 3 * gw, atol=1e-6)


def test_model_loss_paths_agree_and_gelu_fusion_keeps_the_function():
    model = tiny_gpt2()
    ids = torch.randint(0, 300, (4, 32))
    model.eval()  # no dropout: both paths must see the same network
    with torch.no_grad():
        reference = model(input_ids=ids, labels=ids).loss.item()
    settings = resolve_settings("cpu", loss_chunk_tokens=16)
    prepare_model(model, settings)
    assert not any(type(m).__name__ == "NewGELUActivation" for m in model.modules())
    assert evaluate_loss(model, ids, 2, settings) == pytest.approx(reference, abs=1e-5)


def test_cpu_settings_stay_fp32_and_bad_precision_is_refused():
    settings = resolve_settings("cpu")
    assert settings.precision == "fp32" and not settings.grad_scaler and not settings.fused_adamw
    assert settings.attn_implementation == "sdpa" and settings.loss == "chunked"
    assert resolve_settings("cpu", precision="bf16").precision == "bf16"  # explicit choice is honoured
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve_settings("cpu", precision="fp16")


def test_data_order_is_a_function_of_seed_and_position():
    whole = batch_indices(10, seed=3, start=0, count=25)  # crosses two epoch boundaries
    assert sorted(whole[:10]) == list(range(10)) and sorted(whole[10:20]) == list(range(10))
    assert batch_indices(10, seed=3, start=12, count=5) == whole[12:17]  # a resume sees the same blocks
    assert batch_indices(10, seed=4, start=0, count=10) != whole[:10]


def test_gradient_accumulation_matches_one_big_batch():
    blocks = torch.randint(0, 300, (16, 16))
    a, b = tiny_gpt2(), tiny_gpt2()
    for m in (a, b):
        m.config.resid_pdrop = m.config.embd_pdrop = m.config.attn_pdrop = 0.0
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
    plan = dict(steps=3, lr=1e-3, seed=1, warmup_steps=1)
    train(a, blocks, TrainPlan(batch_size=8, **plan), resolve_settings("cpu"), progress=False)
    train(b, blocks, TrainPlan(batch_size=4, **plan), resolve_settings("cpu", grad_accum_steps=2), progress=False)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-5), name


def test_resume_from_a_checkpoint_reaches_the_same_weights(tmp_path):
    """Tolerance: max |Δweight| ≤ 1e-6 (CPU fp32, same thread count; observed: bit-identical)."""
    import shutil

    blocks = torch.randint(0, 300, (40, 16))
    plan = TrainPlan(steps=6, batch_size=4, lr=1e-3, seed=7, warmup_steps=2)
    settings = resolve_settings("cpu")
    whole = tiny_gpt2()
    train(
        whole,
        blocks,
        plan,
        settings,
        checkpoints=CheckpointPolicy(str(tmp_path / "a"), every=2, keep=5),
        progress=False,
    )
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["step-000002", "step-000004", "step-000006"]
    # a crash after step 4: only checkpoints up to step 4 exist
    for name in ("step-000002", "step-000004"):
        shutil.copytree(tmp_path / "a" / name, tmp_path / "b" / name)
    resumed = tiny_gpt2(seed=99)  # different init: everything must come from the checkpoint
    result = train(
        resumed,
        blocks,
        plan,
        settings,
        checkpoints=CheckpointPolicy(str(tmp_path / "b"), every=2, keep=2),
        progress=False,
    )
    assert result.resumed_from == 4 and [p["step"] for p in result.loss_curve] == list(range(1, 7))
    for (name, pa), pb in zip(whole.named_parameters(), resumed.parameters()):
        assert (pa - pb).abs().max().item() <= 1e-6, name
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["step-000004", "step-000006"]  # keep=2
    state = json.loads((tmp_path / "b" / "step-000006" / "state.json").read_text())
    assert state["samples"] == 24


def test_a_checkpoint_for_another_model_is_refused(tmp_path):
    from harness.errors import ModelError

    blocks = torch.randint(0, 300, (20, 16))
    plan = TrainPlan(steps=2, batch_size=4, lr=1e-3, seed=0)
    train(
        tiny_gpt2(), blocks, plan, resolve_settings("cpu"), checkpoints=CheckpointPolicy(str(tmp_path)), progress=False
    )
    bigger = tiny_gpt2(vocab=400)
    with pytest.raises(ModelError, match="cannot resume"):
        train(
            bigger,
            blocks,
            TrainPlan(steps=4, batch_size=4, lr=1e-3, seed=0),
            resolve_settings("cpu"),
            checkpoints=CheckpointPolicy(str(tmp_path)),
            progress=False,
        )


class LiveBytes:
    """A dispatch mode that tracks the bytes of tensor storages created under it and their peak while alive."""

    def __new__(cls):
        import weakref

        from torch.utils._python_dispatch import TorchDispatchMode

        class Mode(TorchDispatchMode):
            live = peak = 0
            seen: set = set()

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in out if isinstance(out, (tuple, list)) else [out]:
                    if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes():
                        storage = t.untyped_storage()
                        if storage.data_ptr() not in self.seen:
                            self.seen.add(storage.data_ptr())
                            self.live += storage.nbytes()
                            self.peak = max(self.peak, self.live)
                            weakref.finalize(storage, self.free, storage.data_ptr(), storage.nbytes())
                return out

            def free(self, key, nbytes):
                self.live -= nbytes
                self.seen.discard(key)

        return Mode()


def test_chunked_loss_holds_at_most_three_chunk_logits_at_once():
    # the [chunk, vocab] logits are freed once their log-softmax exists (main kept them: 4.57 chunk-logits at peak)
    torch.manual_seed(0)
    hidden = torch.randn(512, 32, requires_grad=True)
    weight = torch.randn(4000, 32, requires_grad=True)
    labels = torch.randint(0, 4000, (512,))
    with LiveBytes() as mode:
        chunked_cross_entropy(hidden, weight, labels, chunk=128).backward()
    chunk_logits = 128 * 4000 * 4
    assert mode.peak < 4 * chunk_logits, mode.peak / chunk_logits
