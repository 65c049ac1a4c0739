"""Run by torchrun in test_trainer: train, then save this rank's weights for comparison."""

import sys

from safetensors.torch import save_file

from mobilei2v.training.config import load_config
from mobilei2v.training.trainer import DenoiserTrainer

config_path, out_dir = sys.argv[1], sys.argv[2]
trainer = DenoiserTrainer(load_config(config_path), log=lambda message: None)
rank, world = trainer.accelerator.process_index, trainer.accelerator.num_processes
print(f"rank {rank} world size {world}", flush=True)
trainer.train()
weights = trainer.accelerator.unwrap_model(trainer.model).state_dict()
save_file({name: tensor.contiguous() for name, tensor in weights.items()}, f"{out_dir}/rank{rank}.safetensors")
