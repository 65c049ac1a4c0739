"""Run by torchrun in test_trainer: train (`--die-at N`: raise at the Nth optimizer step, as if killed;
`--resume`), then under DDP save this rank's weights for comparison."""

import argparse

from safetensors.torch import save_file

from mobilei2v.training.config import load_config
from mobilei2v.training.trainer import DenoiserTrainer

parser = argparse.ArgumentParser()
parser.add_argument("config")
parser.add_argument("out_dir")
parser.add_argument("--die-at", type=int)
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()
trainer = DenoiserTrainer(load_config(args.config), log=lambda message: None)
rank, world = trainer.accelerator.process_index, trainer.accelerator.num_processes
print(f"rank {rank} world size {world} sharded {trainer.sharded}", flush=True)
if args.die_at:
    step, calls = trainer._optimizer_step, [0]

    def dies(batches):
        calls[0] += 1
        if calls[0] == args.die_at:
            raise KeyboardInterrupt
        return step(batches)

    trainer._optimizer_step = dies
try:
    trainer.train(resume=args.resume)
except KeyboardInterrupt:
    print(f"rank {rank} killed", flush=True)
    raise SystemExit(0)
if not trainer.sharded:
    weights = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    save_file({name: tensor.contiguous() for name, tensor in weights.items()}, f"{args.out_dir}/rank{rank}.safetensors")
