"""The training loop on accelerate, and the denoiser's rectified-flow trainer (docs/architecture.md §4, §8).

One code path for a CPU laptop and a GPU cluster: `mobilei2v train` runs single-process, and the same
command under `accelerate launch` or `torchrun` runs DDP with accelerate doing all the distributed work,
or with `distributed: fsdp` shards the models across the processes (sharding.py). Progressive resolution
is a list of stages, each with its own data. The decoder trainer (`decoder.py`) runs on the same loop.
"""

from __future__ import annotations

import copy
import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs, DistributedType, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from ..data.camera import clip_moves, guide_videos
from ..diffusion.loss import flow_matching_loss
from ..io.files import atomic_output
from ..io.video import write_video
from ..models.vae import encode_video
from ..pipeline import MobileI2VPipeline
from .checkpoints import latest_checkpoint, resume_latest, save_checkpoint
from .config import LoopConfig, Stage, TrainConfig, check_geometry
from .datasets import stage_dataset
from .sharding import full_model_state, gathered_ema, shard, sharded_optimizer


class TrainingError(RuntimeError):
    """Training stopped (e.g. a non-finite loss); the message says what and where the last good state is."""


class EpochShuffler(Sampler[int]):
    """An endless stream of indices: epoch e is a permutation seeded by (seed, e).

    The order depends only on the seed, so skipping the first n batches on resume reproduces exactly
    the data an uninterrupted run would have seen.
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed = size, seed

    def __iter__(self) -> Iterator[int]:
        epoch = 0
        while True:
            yield from torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
            epoch += 1


def make_optimizer(kind: str, params, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """CAME with the authors' betas (0.9, 0.999, 0.9999) and eps (1e-30, 1e-16) for kind "came", else AdamW."""
    if kind == "came":
        from came_pytorch import CAME

        return CAME(params, lr=learning_rate, weight_decay=weight_decay, betas=(0.9, 0.999, 0.9999),
                    eps=(1e-30, 1e-16))
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)


class TrainingLoop:
    """The loop every trainer shares: accelerate, stages, EMA, checkpoints, resume, progress, logging.

    A subclass gives the trainable `model` (one module: wrap several in a ModuleDict) and defines
    `dataset(stage)`, `loss(model, batch)`, `export()` and optionally `validate(step)`.

    `critics` are modules trained beside the model against their own losses (a distilled student's
    fake-score model and discriminator, docs/distillation.md): each has its own optimizer at a constant
    learning rate (`critic_learning_rates[name]`; default: the model's), no EMA, and is checkpointed with
    the model. The subclass's `update_critics(batch)` runs before each batch's `loss` and steps them with `critic_step`.
    A critic steps once per micro-batch, so a loop with critics needs `gradient_accumulation_steps` 1
    (the configuration refuses more). `record(name, value)` adds a named value (a part of a loss) to the
    progress bar and the logs.
    """

    def __init__(self, config: LoopConfig, model: torch.nn.Module, log=print,
                 critics: dict[str, torch.nn.Module] | None = None,
                 critic_learning_rates: dict[str, float] | None = None):
        self.config = config
        self.log = log
        self.output_dir = Path(config.output_dir)
        kwargs = {}
        if importlib.util.find_spec("tensorboard") is not None:  # the `train` extra
            kwargs.update(log_with="tensorboard", project_dir=str(self.output_dir / "logs"))
        # accelerate sets up multi-process CPU training (gloo) only when told the run is on the CPU.
        # Autocast's weight cache is off: a step may run a trainable model without gradients first (a
        # distilled student's sample for its critics) or again after its optimizer stepped (the fake-score
        # model's several updates), and a cached bf16 copy would then be stale or cut off from its weight.
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available(),
                                       gradient_accumulation_steps=config.gradient_accumulation_steps,
                                       kwargs_handlers=[AutocastKwargs(cache_enabled=False)], **kwargs)
        if self.accelerator.distributed_type == DistributedType.FSDP:
            raise ValueError("accelerate's own FSDP is on (`accelerate launch --use_fsdp` or its config): launch "
                             "without it, and set `distributed: fsdp` in the training configuration instead")
        set_seed(config.seed, device_specific=True)  # different noise on every process
        # FSDP (sharding.py) with more than one process; one process has nothing to shard.
        self.sharded = config.distributed == "fsdp" and self.accelerator.num_processes > 1
        model.train()
        if self.sharded:
            # The model's unsharded structure, without memory: the EMA model is built from it (`ema_copy`).
            self._blueprint = copy.deepcopy(model).to("meta")
            shard(model.to(self.accelerator.device))
        self.ema = EMAModel(model.parameters(), decay=config.ema_decay)  # sharded like the model it follows
        optimizer = make_optimizer(config.optimizer, model.parameters(), config.learning_rate, config.weight_decay)
        # accelerate steps a prepared schedule once per process each optimizer step: count in those steps.
        processes = self.accelerator.num_processes
        schedule = get_scheduler("cosine" if config.lr_schedule == "cosine" else "constant_with_warmup", optimizer,
                                 num_warmup_steps=config.warmup_steps * processes,
                                 num_training_steps=config.total_steps * processes)
        if self.sharded:
            self.model, self.optimizer = model, sharded_optimizer(optimizer)
            self.schedule = self.accelerator.prepare(schedule)
        else:
            self.model, self.optimizer, self.schedule = self.accelerator.prepare(model, optimizer, schedule)
        # accelerate checkpoints every prepared module and optimizer, restoring them in this order.
        self.critics: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]] = {}
        for name, critic in (critics or {}).items():
            critic.train()
            if self.sharded:
                shard(critic.to(self.accelerator.device))
            learning_rate = (critic_learning_rates or {}).get(name, config.learning_rate)
            critic_optimizer = make_optimizer(config.optimizer, critic.parameters(), learning_rate, config.weight_decay)
            self.critics[name] = ((critic, sharded_optimizer(critic_optimizer)) if self.sharded
                                  else self.accelerator.prepare(critic, critic_optimizer))
        self._gathered: dict[str, torch.Tensor] | None = None  # the EMA model's whole weights, under FSDP
        if self.sharded and self.accelerator.is_main_process:
            log(f"fsdp: {processes} processes, each holding 1/{processes} of {', '.join(['the model', *self.critics])}")
        self._records: dict[str, list[torch.Tensor]] = {}
        self.ema.to(self.accelerator.device)  # checkpointed by `save_checkpoint` in safetensors, not pickled
        if self.accelerator.is_main_process and "log_with" in kwargs:
            self.accelerator.init_trackers("mobilei2v")

    def dataset(self, stage) -> Dataset:
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def update_critics(self, batch: dict) -> None:
        """Train the critics on `batch` (with `critic_step`) before the model's own step on it."""

    def critic_step(self, name: str, loss: torch.Tensor) -> None:
        """One optimizer step of critic `name` on `loss`."""
        critic, optimizer = self.critics[name]
        self._check_finite(loss, f"{name} loss")
        self.accelerator.backward(loss)
        if self.config.grad_clip > 0:
            self.accelerator.clip_grad_norm_(critic.parameters(), self.config.grad_clip)
        optimizer.step()
        optimizer.zero_grad()

    def record(self, name: str, value: torch.Tensor) -> None:
        """Show `value` (a 0-d tensor of this micro-batch) as `name` in the progress bar and the logs: its mean
        over the step's micro-batches and the processes."""
        self._records.setdefault(name, []).append(value.detach().float())

    @property
    def final_dir(self) -> Path:
        """Where `export` writes the finished model."""
        return self.output_dir / "final"

    def export(self) -> None:
        """Write the finished model (EMA weights) to `final_dir`."""
        raise NotImplementedError

    def validate(self, step: int) -> None:
        """Called every `validation.every` steps where the config has one."""

    def ema_copy(self) -> torch.nn.Module:
        """A copy of the model holding the EMA weights (the training weights stay put). Under FSDP it is made
        from the whole weights `_on_main` gathers first, so only `validate` and `export` may call it there."""
        if self.sharded:
            if self._gathered is None:
                raise RuntimeError("under FSDP the EMA weights are whole only inside `_on_main`")
            model = copy.deepcopy(self._blueprint).to_empty(device="cpu")
            model.load_state_dict(self._gathered)
            return model.eval()
        model = copy.deepcopy(self.accelerator.unwrap_model(self.model)).eval()
        self.ema.copy_to(model.parameters())
        return model

    def _on_main(self, action) -> None:
        """Call `action` (validation, export) on the main process. Every process calls this: under FSDP the
        EMA weights are first gathered whole, which takes them all."""
        if self.sharded:
            whole = full_model_state(self.model)  # the buffers; the parameters are replaced by their EMA
            ema = gathered_ema(self.ema)
            names = [name for name, _ in self.model.named_parameters()]  # the EMA's order
            self._gathered = {**whole, **dict(zip(names, ema))}
        try:
            if self.accelerator.is_main_process:
                action()
        finally:
            self._gathered = None
        self.accelerator.wait_for_everyone()

    def _sharded_parts(self) -> dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]:
        """Under FSDP, what checkpoints save themselves: the model and each critic, with their optimizers."""
        return {"model": (self.model, self.optimizer), **self.critics} if self.sharded else {}

    def _batches(self, stage_index: int, stage, skip: int) -> Iterator[dict]:
        dataset = self.dataset(stage)
        # The loader gets its own generator: starting an iterator draws a seed from it, and drawing from
        # the global one would shift the noise of a resumed run away from the uninterrupted run's.
        loader = DataLoader(dataset, batch_size=stage.batch_size, num_workers=self.config.num_workers,
                            sampler=EpochShuffler(len(dataset), self.config.seed + 1000 * stage_index),
                            generator=torch.Generator().manual_seed(self.config.seed))
        loader = self.accelerator.prepare(loader)
        if skip:
            loader = self.accelerator.skip_first_batches(loader, skip)
        return iter(loader)

    def train(self, resume: bool = False) -> Path:
        """Run every stage to the end; returns what `export` wrote."""
        config, accelerator = self.config, self.accelerator
        step = 0
        if resume:
            step = resume_latest(accelerator, self.ema, self.output_dir, self.log, self._sharded_parts())
            self.ema.to(accelerator.device)
        elif latest_checkpoint(self.output_dir) is not None:
            raise FileExistsError(f"{self.output_dir} already holds checkpoints: pass --resume to continue "
                                  "the run, or choose another output_dir")
        validate_every = getattr(getattr(config, "validation", None), "every", 0)

        progress = tqdm(total=config.total_steps, initial=step, desc="training",
                        disable=not accelerator.is_local_main_process)
        stage_start = 0
        for index, stage in enumerate(config.stages):
            stage_end = stage_start + stage.steps
            if step < stage_end:
                batches = self._batches(index, stage, (step - stage_start) * config.gradient_accumulation_steps)
                while step < stage_end:
                    losses, seconds = self._optimizer_step(batches)
                    step += 1
                    samples = stage.batch_size * config.gradient_accumulation_steps * accelerator.num_processes
                    progress.update()
                    progress.set_postfix(stage=index, **{name: f"{value:.4f}" for name, value in losses.items()},
                                         samples_per_s=f"{samples / seconds:.2f}")
                    if step % config.log_every == 0:
                        accelerator.log({**losses, "lr": self.schedule.get_last_lr()[0],
                                         "samples_per_s": samples / seconds}, step=step)
                    if step % config.checkpoint_every == 0 or step == config.total_steps:
                        save_checkpoint(accelerator, self.ema, self.output_dir, step, config.keep_checkpoints,
                                        self._sharded_parts())
                    if validate_every and step % validate_every == 0:
                        self._on_main(lambda: self.validate(step))
            stage_start = stage_end
        progress.close()

        def finish():
            self.export()
            self.log(f"wrote {self.final_dir}")

        self._on_main(finish)
        accelerator.end_training()  # last: it also takes the process group down
        return self.final_dir

    def _check_finite(self, loss: torch.Tensor, what: str) -> None:
        if not torch.isfinite(loss):
            last = latest_checkpoint(self.output_dir)
            raise TrainingError(f"the {what} is {loss.item()}: training stopped; the last good checkpoint is "
                                f"{last if last else 'none (no checkpoint was written yet)'}. Lower the learning "
                                "rate or check the data, then --resume")

    def _optimizer_step(self, batches: Iterator[dict]) -> tuple[dict[str, float], float]:
        """One optimizer step over `gradient_accumulation_steps` micro-batches; ({"loss": mean loss, and each
        recorded value}, seconds)."""
        start, losses = time.perf_counter(), []
        for _ in range(self.config.gradient_accumulation_steps):
            batch = next(batches)
            with self.accelerator.accumulate(self.model), self.accelerator.autocast():
                self.update_critics(batch)
                loss = self.loss(self.model, batch)
                self._check_finite(loss, "loss")
                self.accelerator.backward(loss)
                if self.accelerator.sync_gradients and self.config.grad_clip > 0:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
                self.optimizer.step()
                self.schedule.step()
                self.optimizer.zero_grad()
            losses.append(loss.detach())
        self.ema.step(self.accelerator.unwrap_model(self.model).parameters())
        means = torch.stack([torch.stack(losses).mean()] + [torch.stack(v).mean() for v in self._records.values()])
        means = self.accelerator.gather(means[None]).mean(0).tolist()  # one collective for every value
        names = ["loss", *self._records]
        self._records.clear()
        return dict(zip(names, means)), time.perf_counter() - start


class DenoiserTrainer(TrainingLoop):
    """`mobilei2v train`: the denoiser with the flow-matching loss (docs/architecture.md §4)."""

    def __init__(self, config: TrainConfig, log=print):
        self.pipe = MobileI2VPipeline.from_pretrained(config.pipeline, dtype="fp32")  # mixed precision is autocast's
        self.pipe.vae.requires_grad_(False).eval()
        check_geometry(config, self.pipe.geometry)
        if config.gradient_checkpointing:
            self.pipe.denoiser.enable_gradient_checkpointing()
        super().__init__(config, self.pipe.denoiser, log)
        self.pipe.vae.to(self.accelerator.device)  # encodes clips when a stage has no latent cache

    def dataset(self, stage: Stage) -> Dataset:
        return stage_dataset(stage, self.pipe)

    def loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor:
        guide = batch.get("guide")
        if "latents" in batch:
            latents, reference = batch["latents"], batch["reference_latent"]
        else:
            video = batch["video"]  # (B, 3, T, H, W) in [−1, 1]
            # The reference latent is frame 0 encoded alone, exactly as at sampling time (docs/architecture.md §4).
            latents, reference = encode_video(self.pipe.vae, video), encode_video(self.pipe.vae, video[:, :, :1])
            if self.pipe.denoiser.config.camera_guide:  # filmed as the pipeline films it
                H, W = video.shape[-2:]
                moves = clip_moves(batch["camera"], batch["motion_score"], H, W)
                guide = encode_video(self.pipe.vae, guide_videos(video[:, :, 0], moves, video.shape[2]))
        camera = None
        if self.pipe.denoiser.config.camera_condition:
            keep = torch.rand(len(batch["camera"]), 1, device=batch["camera"].device) >= self.config.camera_dropout
            camera = batch["camera"] * keep
        return flow_matching_loss(model, latents, reference, batch["motion_score"],
                                  mask_reference=self.config.mask_reference,
                                  residual=self.pipe.denoiser.config.reference_residual, camera=camera,
                                  guide=guide)

    def _ema_pipeline(self) -> MobileI2VPipeline:
        return self.pipe.with_denoiser(self.ema_copy())

    def validate(self, step: int) -> None:
        """Write one video per (image, motion score) with the EMA weights."""
        v = self.config.validation
        pipe = self._ema_pipeline()
        folder = self.output_dir / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        for image in v.images:
            for motion in v.motion_scores:
                out = pipe(image, motion_score=motion, num_frames=v.num_frames, height=v.height, width=v.width,
                           num_inference_steps=v.num_inference_steps,
                           generator=torch.Generator().manual_seed(self.config.seed), progress=False)
                name = f"step-{step:08d}-{Path(image).stem}-motion{motion:g}.mp4"
                write_video(folder / name, out.frames[0], pipe.config.frame_rate, overwrite=True)

    def export(self) -> None:
        """The EMA pipeline to `output_dir/final` (what `mobilei2v generate --model` takes)."""
        with atomic_output(self.final_dir, overwrite=True, directory=True) as tmp:
            self._ema_pipeline().save_pretrained(tmp)
