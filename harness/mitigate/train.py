"""Train the mitigated arm through TRL (``DPOTrainer`` / ``KTOTrainer``), LoRA through peft when asked.

The arm starts from the ``from`` arm's weights (a LoRA adapter folder is
merged first); TRL's reference policy is a frozen copy of that start (with
LoRA: the model with its adapter disabled).  The result is always written as
a full model folder (safetensors, adapters merged), so it is probed like any
given arm.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.config import MitigateConfig
from harness.errors import MissingDependency

TRL_PIP = "trl"  # what `pip install` needs: the project's `mitigate` extra


def check_trl() -> None:
    """Raise ``MissingDependency`` (one line naming the pip command) when TRL is not installed."""
    if importlib.util.find_spec("trl") is None:
        raise MissingDependency(TRL_PIP, "mitigate (DPO / KTO training)")


@contextmanager
def quiet_training():
    """No dataset progress bars and no deprecation chatter from transformers while TRL trains."""
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        if shown:
            datasets.enable_progress_bars()


@dataclass
class TrainResult:
    """What the training did."""

    steps: int
    seconds: float
    train_loss: float | None
    trl_version: str


def trl_args(settings: MitigateConfig, out: str, seed: int, device: str):
    """TRL's ``DPOConfig`` / ``KTOConfig`` for ``settings`` (no checkpoints, no logging integrations)."""
    import trl

    common = dict(
        output_dir=out,
        learning_rate=settings.lr,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        per_device_train_batch_size=settings.batch_size,
        beta=settings.beta,
        max_length=settings.max_length,
        seed=seed,
        data_seed=seed,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        use_cpu=device == "cpu",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    config = trl.DPOConfig if settings.method == "dpo" else trl.KTOConfig
    return config(**common)


def train_arm(start: str, rows: list[dict], settings: MitigateConfig, out: Path, seed: int) -> TrainResult:
    """Train from the model folder ``start`` on TRL-column ``rows``; write the merged model folder ``out``."""
    check_trl()
    import trl
    from datasets import Dataset
    from transformers import PrinterCallback

    from harness.models.loading import load_model
    from harness.train.lora import attach_lora, merge
    from harness.train.model_folder import save_model

    loaded = load_model(start, device=settings.device, adapter="merged")
    tokenizer = loaded.tokenizer
    if tokenizer.pad_token is None:  # TRL pads batches; the model never attends to padding
        tokenizer.pad_token = tokenizer.eos_token
    model = loaded.model
    model.train()
    if settings.lora is not None:
        model = attach_lora(model, settings.lora)
    trainer_class = trl.DPOTrainer if settings.method == "dpo" else trl.KTOTrainer
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-mitigate-") as scratch, quiet_training():
        trainer = trainer_class(
            model=model,
            args=trl_args(settings, scratch, seed, loaded.device),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)  # the run's own log says what was trained
        output = trainer.train()
    seconds = round(time.perf_counter() - started, 2)
    model = trainer.model
    if settings.lora is not None:
        model = merge(model)
    model.eval()
    save_model(model, tokenizer, out)
    loss = None if output.training_loss is None else round(float(output.training_loss), 5)
    return TrainResult(int(output.global_step), seconds, loss, trl.__version__)
