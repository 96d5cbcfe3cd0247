"""``torchrun -m fedspan.distributed --config run.toml``: one simulation sharded over torchrun's ranks.

The entry point only; the backend (``TorchDistributedBackend``, sharding, the process group) lives in
``fedspan.distributed_backend`` and is re-exported here, so the simulation imports the backend without
importing this command, which imports the simulation.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import torch.distributed as dist

from fedspan.distributed_backend import (  # noqa: F401  (re-exported: the backend's home is fedspan.distributed_backend)
    DistributedError,
    TorchDistributedBackend,
    init_process_group_from_env,
    shard_bounds,
    upward_messages,
)
from fedspan.simulation import SimulationConfig, run_simulation


def _config_from_file(path: Path, output_dir: str | None, rounds: int | None) -> SimulationConfig:
    """The settings of a TOML file (any ``config.toml`` a command wrote; flat keys and the ``[run]`` table),
    forced to this backend. Keys ``run`` ignores (``strategies``) are accepted and ignored."""
    from fedspan.config import config_from_file

    overrides = {"output_dir": output_dir, "rounds": rounds}
    return config_from_file(path, "run", backend="distributed",
                            **{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    """``torchrun --nproc_per_node R -m fedspan.distributed --config run.toml``: one simulation over R ranks.

    Every rank plans the same rounds (the plan is deterministic) and trains its shard of
    satellites; rank 0 alone writes metrics and checkpoints. Without torchrun's environment it
    runs as a single process.
    """
    parser = argparse.ArgumentParser(prog="python -m fedspan.distributed", description=main.__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="TOML file of simulation options")
    parser.add_argument("--output-dir", default=None, help="where rank 0 writes metrics (overrides the file)")
    parser.add_argument("--rounds", type=int, default=None, help="number of rounds (overrides the file)")
    args = parser.parse_args(argv)
    try:
        if "RANK" in os.environ:
            init_process_group_from_env()
        config = _config_from_file(args.config, args.output_dir, args.rounds)
        result = run_simulation(config)
        rank = dist.get_rank() if dist.is_initialized() else 0
        if rank == 0:
            world = dist.get_world_size() if dist.is_initialized() else 1
            print(f"{len(result.metrics)} rounds on {world} rank(s): final test accuracy "
                  f"{result.final_accuracy:.4f}" + (f", metrics in {config.output_dir}" if config.output_dir else ""))
        return 0
    except ValueError as exc:  # FedSpanError, OrbitsError and OptimizationError all derive from ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
