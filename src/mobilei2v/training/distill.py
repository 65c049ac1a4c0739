"""`mobilei2v distill`: a student that samples in 1–2 steps, distilled from a frozen teacher
(docs/distillation.md).

The student starts as a copy of the teacher's denoiser. Each step it denoises, in one step, x_σ on the
straight line from a cached pair's noise to the teacher's ODE result, at a σ of its own list; that x̂0
feeds every loss that is on. The fake-score model (distribution matching) and the discriminator heads
(adversarial) are the loop's critics: they update on the same batch before the student does. Every denoiser
call gets the pair's conditions the teacher takes (its camera move, its guide: `pair_conditions`), and with a
guide the flow space is each frame's difference from it.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.data import Dataset

from ..diffusion.flow import logit_normal_sigmas, noise_latents
from ..diffusion.loss import flow_matching_loss
from ..distill.losses import (
    denoise,
    discriminator_loss,
    distribution_matching_loss,
    flow_latents,
    generated,
    generator_loss,
    regression_loss,
    teacher_features,
)
from ..distill.pairs import CONDITIONS, TeacherPairs, pair_settings, prepare_pairs
from ..io.files import atomic_output
from ..models.discriminator import DiscriminatorHeads
from ..models.registry import with_options
from ..pipeline import MobileI2VPipeline
from .config import ConfigError, DistillConfig, DistillStage
from .trainer import TrainingLoop


def load_teacher(config: DistillConfig) -> MobileI2VPipeline:
    """The teacher's pipeline in fp32 (mixed precision is autocast's), its denoiser frozen."""
    pipe = MobileI2VPipeline.from_pretrained(config.teacher, dtype="fp32")
    pipe.denoiser.requires_grad_(False).eval()
    return pipe


def stage_settings(config: DistillConfig, pipe: MobileI2VPipeline, stage: DistillStage) -> dict:
    """The pair settings (`distill.pairs.pair_settings`) this configuration needs for `stage`."""
    return pair_settings(config.teacher, pipe.scheduler, stage.latent_cache, config.teacher_steps,
                         config.pairs_per_clip, config.seed, config.mixed_precision, stage.clips)


def prepare(config: DistillConfig, log=print, progress: bool = True) -> None:
    """`mobilei2v distill prepare`: the teacher's pairs for every stage (resumable: only missing shards are
    made), on the GPU when there is one."""
    pipe = load_teacher(config)
    pipe.denoiser.to("cuda" if torch.cuda.is_available() else "cpu")
    for i, stage in enumerate(config.stages):
        result = prepare_pairs(pipe.denoiser, pipe.scheduler, stage.pairs, stage_settings(config, pipe, stage),
                               batch_size=stage.batch_size, progress=progress)
        log(f"stages[{i}]: {result.made} teacher pairs made in {result.seconds:.1f} s, {result.already} already "
            f"there: {stage.pairs}")


def pair_conditions(batch: dict) -> dict[str, torch.Tensor]:
    """The denoiser's keyword inputs a batch of pairs holds: "camera" and/or "guide", as the teacher takes them."""
    return {name: batch[name] for name in CONDITIONS if name in batch}


@contextmanager
def frozen(module: nn.Module):
    """`module` with its parameters out of the autograd graph: gradients pass through it to its inputs."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


class DistillTrainer(TrainingLoop):
    """`mobilei2v distill`: the student (the loop's model), and as critics the fake-score model and the
    discriminator heads when their losses are on."""

    def __init__(self, config: DistillConfig, log=print):
        self.pipe = load_teacher(config)
        self.teacher = self.pipe.denoiser
        student = copy.deepcopy(self.teacher)
        if config.student_qk_norm:
            student = with_options("denoiser", student, {"softmax_qk_norm": True}, config.teacher)
        student.requires_grad_(True)
        critics = {}
        if config.distribution_matching is not None:
            critics["fake_score"] = copy.deepcopy(self.teacher).requires_grad_(True)
        if config.adversarial is not None:
            depth = len(self.teacher.blocks)
            blocks = config.adversarial.blocks or [max(0, depth * q // 4 - 1) for q in range(1, 5)]
            self.feature_blocks = sorted(set(blocks))  # the order forward_with_features returns them in
            if max(self.feature_blocks) >= depth:
                raise ConfigError(f"adversarial.blocks: the teacher has {depth} blocks (0 to {depth - 1}), got "
                                  f"{self.feature_blocks}")
            with torch.random.fork_rng(devices=[]):  # the same start in every run of this configuration
                torch.manual_seed(config.seed)
                critics["discriminator"] = DiscriminatorHeads(
                    self.teacher.config.hidden_size, len(self.feature_blocks), config.adversarial.head_channels,
                    config.adversarial.head_kernel)
        if config.gradient_checkpointing:
            for model in (student, self.teacher, critics.get("fake_score")):
                if model is not None:
                    model.enable_gradient_checkpointing()
        self.residual = self.teacher.config.reference_residual
        # a critic without a rate here learns at the student's (the loop's default)
        rates = {} if config.critic_learning_rate is None else dict.fromkeys(critics, config.critic_learning_rate)
        if config.adversarial is not None and config.adversarial.learning_rate is not None:
            rates["discriminator"] = config.adversarial.learning_rate
        super().__init__(config, student, log, critics=critics, critic_learning_rates=rates)
        self.teacher.to(self.accelerator.device)

    def dataset(self, stage: DistillStage) -> Dataset:
        pairs = TeacherPairs(stage.pairs)
        if pairs.settings != (expected := stage_settings(self.config, self.pipe, stage)):
            different = ", ".join(k for k in expected if pairs.settings.get(k) != expected[k])
            raise ValueError(f"the teacher pairs in {stage.pairs} were made with other settings ({different} "
                             "differ): run `mobilei2v distill prepare` into a new pairs folder")
        return pairs

    def _critic(self, name: str) -> nn.Module:
        """Critic `name` without its distributed wrapper: for passes whose gradients it must not see."""
        return self.accelerator.unwrap_model(self.critics[name][0])

    def _student_sample(self, student: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(the student's one-step x̂0, the teacher's result), flow space, from x_σ with σ drawn from the
        student's own list per sample. At σ = 1, x_σ is the pair's noise. At a later σ it is, by default, the
        point on the straight line from the noise to the teacher's result: where a perfect earlier step would
        have left the sample; with `backward_simulation`, where the student's own earlier steps leave it."""
        reference = batch["reference_latent"]
        target = flow_latents(batch["teacher_latents"], reference, self.residual, batch.get("guide"))
        sigmas = torch.tensor(self.config.student_sigmas, device=target.device)
        index = torch.randint(len(sigmas), (target.shape[0],), device=target.device)
        sigma = sigmas[index]
        if self.config.backward_simulation:
            noisy = self._own_states(student, batch, sigmas)[index, torch.arange(len(index), device=index.device)]
        else:
            noisy = noise_latents(target, batch["noise"], sigma)
        x0, _ = denoise(student, noisy, sigma, reference, batch["motion_score"], conditions=pair_conditions(batch))
        return x0, target

    @torch.no_grad()
    def _own_states(self, student: nn.Module, batch: dict, sigmas: torch.Tensor) -> torch.Tensor:
        """(len(sigmas), B, C, T, H, W): the student's own sampling from the pair's noise, its Euler state at
        each σ of its list (DMD2's backward simulation), without gradients."""
        model = self.accelerator.unwrap_model(student)
        x = batch["noise"]
        states = [x]
        for now, later in zip(sigmas[:-1], sigmas[1:]):
            x0, _ = denoise(model, x, now.expand(len(x)), batch["reference_latent"], batch["motion_score"],
                            conditions=pair_conditions(batch))
            x = x + (later - now) * (x - x0) / now  # Euler: the velocity is (x_σ − x̂0)/σ
            states.append(x)
        return torch.stack(states)

    def _real(self, batch: dict) -> torch.Tensor:
        """The pair's real clip, flow space."""
        return flow_latents(batch["latents"], batch["reference_latent"], self.residual, batch.get("guide"))

    def update_critics(self, batch: dict) -> None:
        if not self.critics:
            return
        c = self.config
        reference, motion, conditions = batch["reference_latent"], batch["motion_score"], pair_conditions(batch)
        with torch.no_grad():
            x0 = self._student_sample(self.model, batch)[0]
        if c.distribution_matching is not None:
            for _ in range(c.distribution_matching.fake_updates):
                # The ordinary flow loss on the student's samples (already in flow space, hence no `residual`):
                # the fake score learns their distribution.
                loss = flow_matching_loss(self.critics["fake_score"][0], x0, reference, motion, **conditions)
                self.critic_step("fake_score", loss)
                self.record("fake_score", loss)
        if c.adversarial is not None:
            clip = self._real(batch)
            # Each real clip and the generated sample beside it are re-noised to the same σ': drawn apart, much
            # of what tells a pair apart is how noisy each is, which says nothing about real or generated.
            sigma = logit_normal_sigmas(x0.shape[0], device=x0.device)
            with torch.no_grad():
                real, fake = (teacher_features(self.teacher, x, reference, motion, self.feature_blocks, sigma=sigma,
                                               conditions=conditions) for x in (clip, x0))
            # Real and generated in one pass of the heads: one forward per backward, as DDP expects.
            logits = self.critics["discriminator"][0]([torch.cat(both) for both in zip(real, fake)], x0.shape[-2:])
            B = x0.shape[0]
            loss = discriminator_loss([x[:B] for x in logits], [x[B:] for x in logits])
            self.critic_step("discriminator", loss)
            self.record("discriminator", loss)

    def loss(self, student: nn.Module, batch: dict) -> torch.Tensor:
        c = self.config
        reference, motion, conditions = batch["reference_latent"], batch["motion_score"], pair_conditions(batch)
        x0, target = self._student_sample(student, batch)
        # Over-saturation, DMD's known failure, shows as the student's spread drifting above the teacher's.
        self.record("std_ratio", generated(x0).std() / generated(target).std())
        total = torch.zeros((), device=x0.device)
        if c.regression is not None:
            loss = regression_loss(x0, target)
            self.record("regression", loss)
            total = total + c.regression.weight * loss
        if c.real_regression is not None:
            loss = regression_loss(x0, self._real(batch))
            self.record("real_regression", loss)
            total = total + c.real_regression.weight * loss
        if c.adversarial is not None:
            with frozen(self._critic("discriminator")) as heads:
                features = teacher_features(self.teacher, x0, reference, motion, self.feature_blocks,
                                            conditions=conditions)
                loss = generator_loss(heads(features, x0.shape[-2:]))
            self.record("adversarial", loss)
            total = total + c.adversarial.weight * loss
        if c.distribution_matching is not None:
            loss = distribution_matching_loss(x0, self.teacher, self._critic("fake_score"), reference, motion,
                                              conditions=conditions)
            self.record("distribution_matching", loss)
            total = total + c.distribution_matching.weight * loss
        return total

    def export(self) -> None:
        """The EMA student in the teacher's pipeline, with its σ list as the model's default (and the teacher,
        `keep_teacher`), to `final_dir`."""
        student = self.pipe.with_denoiser(self.ema_copy(), teacher=self.teacher if self.config.keep_teacher else None,
                                          default_sigmas=self.config.student_sigmas)
        with atomic_output(self.final_dir, overwrite=True, directory=True) as tmp:
            student.save_pretrained(tmp)
