"""A training worker: one rank of a job's data-parallel training, under any torch.distributed launcher."""
