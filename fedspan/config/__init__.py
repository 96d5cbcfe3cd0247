"""The one vocabulary of Fed-Span: ``SimulationConfig``, its TOML form, and what each entry point reads.

Every setting is a field of :class:`SimulationConfig` declared with :func:`setting` (default, help
text, help panel, old spellings, parser). From those declarations come

* the command-line options of ``fedspan plan``, ``run`` and ``compare`` (``--num-trees``; the old
  spellings such as ``--trees`` stay accepted), typed and checked at parse time,
* the keys of a config file (``num-trees = 2`` or ``num_trees = 2``), flat or in a ``[plan]``,
  ``[run]`` or ``[compare]`` table, read by :func:`read_config` for every command and for
  ``torchrun -m fedspan.distributed --config``,
* the ``config.toml`` each command writes next to its outputs (:func:`write_config`), which every
  other entry point accepts back, and the typed ``options`` of ``plan.json``.

A key a command does not use (``faults`` for ``plan``, ``strategies`` for ``run``) is accepted and
ignored (see :func:`ignored_keys`); an unknown key is a one-line error naming it and the valid ones.
This package imports neither torch nor CVXPY: the registries behind choices load when first asked.

The package's modules, one job each: :mod:`fedspan.config.values` (what a setting accepts),
:mod:`fedspan.config.settings` (the settings and their lookups), :mod:`fedspan.config.file` (config files);
every public name is importable from ``fedspan.config``.
"""

from fedspan.config.values import (MAX_BATCH_SIZE, MAX_LOCAL_STEPS, 
    BACKEND, BACKENDS, BATTERY_PLANNING, BUILTIN_STRATEGIES, COMMANDS, DATASET, KNOB_RULES, LEARNING,
    LINK_POLICY, MAX_MODEL_WIDTH, MAX_ROUNDS, MAX_WINDOW_S, MODEL, OUTPUT, PARTITION, PARTITIONS, PRESET, RUN,
    SCENARIO, SCHEDULES, STRATEGY, Choice, ConfigError, SimulationError, parse_constellation,
    parse_existing_file, parse_faults, parse_fleet, parse_hardware, parse_mix, parse_output_dir, parse_seed,
    parse_strategy_options, parse_time, parse_trees, parse_weights, positive,
)
from fedspan.config.settings import (
    EXTRA_KEYS, FIELDS, HORIZON_FREE_POLICIES, SimulationConfig, field_type, ignored_keys, key_name,
    parse_setting, plans_with_horizon, setting,
)
from fedspan.config.file import (
    config_from_file, read_config, write_config,
)

__all__ = ["MAX_BATCH_SIZE", "MAX_LOCAL_STEPS", "LEARNING", "OUTPUT", "RUN", "SCENARIO", "BACKEND", "BACKENDS", "BATTERY_PLANNING", "BUILTIN_STRATEGIES", "COMMANDS", "Choice", "ConfigError", "DATASET", "KNOB_RULES", "LINK_POLICY", "MAX_MODEL_WIDTH", "MAX_ROUNDS", "MAX_WINDOW_S", "MODEL", "PARTITION", "PARTITIONS", "PRESET", "SCHEDULES", "STRATEGY", "SimulationError", "parse_constellation", "parse_existing_file", "parse_faults", "parse_fleet", "parse_hardware", "parse_mix", "parse_output_dir", "parse_seed", "parse_strategy_options", "parse_time", "parse_trees", "parse_weights", "positive", "EXTRA_KEYS", "FIELDS", "HORIZON_FREE_POLICIES", "SimulationConfig", "field_type", "ignored_keys", "key_name", "parse_setting", "plans_with_horizon", "setting", "config_from_file", "read_config", "write_config"]
