"""Flower interop: a Flower strategy object (``flwr.serverapp.strategy``) as the aggregation rule of a Fed-Span run.

``fedspan run --strategy flower:FedAdam --strategy-options eta=0.01`` (or
``make_strategy("flower:FedAdam", eta=0.01)``) builds Flower's own ``FedAdam`` and runs it over the
constellation: a Fed-Span topology (``topology``, default the Fed-Span planner) decides who trains and
how the models travel, and Flower's ``configure_train`` / ``aggregate_train`` decide the next global
model. The Flower calls are the real ones of the installed ``flwr`` (1.42.0, the Message API), made
in process without a SuperLink: a small :class:`LocalGrid` lists the round's satellites as node ids,
and each satellite's trained model comes back as a reply ``Message`` carrying an ``ArrayRecord``
(one flat float array under the key ``"params"``) and a ``MetricRecord`` with its sample count under
the strategy's ``weighted_by_key`` and its last mini-batch loss as ``"train_loss"``.

Two ways the updates reach Flower (``reduce``):

* ``"tree"``: rules that act on the data-weighted mean (FedAvg, FedAvgM, FedProx, FedAdam, FedYogi,
  FedAdagrad and subclasses that keep their ``aggregate_train``). The satellites reduce along the tree
  as in every Fed-Span round and the root hands Flower *one* reply, the tree's mean with the total
  weight; Flower's server step (momentum, Adam, ...) then runs on it. Clock and ledger are those of
  the spanning aggregation.
* ``"clients"``: any other rule (FedMedian, FedTrimmedAvg, Krum, MultiKrum, Bulyan, a user's own
  ``aggregate_train``) gets one reply per contributing satellite (``needs_client_updates``), and the
  clock charges relaying every model to the root unsummed (``relays_client_updates``).

Client-side settings that Flower puts in the train ``ConfigRecord`` reach local training where
Fed-Span's trainer has them: ``"proximal-mu"`` (FedProx) becomes ``RoundPlan.proximal_mu``. Other keys
(besides ``"server-round"``) are reported once with a warning, since Fed-Span does not run a Flower
``ClientApp``.

References
----------
Beutel et al., "Flower: A Friendly Federated Learning Research Framework", arXiv:2007.14390, 2020.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import random
import warnings
from dataclasses import replace
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from fedspan.backend import RoundUpdate
from fedspan.clock import RoundCost
from fedspan.errors import FedSpanWarning
from fedspan.strategies.base import AggregationStrategy, RoundContext, RoundPlan, StrategyError, tree_cost
from fedspan.strategies.registry import make_strategy, register_strategy_family, strategy_class

#: The Flower version the adapter is written and tested against (``pip install flwr==1.42.0``).
FLOWER_VERSION = "1.42.0"
PREFIX = "flower:"
REDUCES = ("tree", "clients")
#: Flower classes whose ``aggregate_train`` is the weighted mean followed (or not) by a server step on it.
MEAN_RULES = ("FedAvg", "FedAvgM", "FedProx", "FedOpt", "FedAdam", "FedYogi", "FedAdagrad")
#: Train-config keys Fed-Span's local training understands ("server-round" is informational).
CLIENT_KEYS = ("proximal-mu", "server-round")
ARRAY_KEY = "params"


def flower_module() -> Any:
    """``flwr.serverapp.strategy``, imported on first use; StrategyError saying how to install it otherwise."""
    try:
        import flwr
        from flwr.serverapp import strategy
    except ImportError as exc:
        raise StrategyError(f"Flower strategies need Flower {FLOWER_VERSION} ({exc}): pip install -e \".[flower]\" "
                            f"&& pip install --no-deps flwr=={FLOWER_VERSION}") from None
    if getattr(flwr, "__version__", FLOWER_VERSION) != FLOWER_VERSION:
        warnings.warn(f"Flower {flwr.__version__} is installed; Fed-Span's adapter is tested with {FLOWER_VERSION}",
                      FedSpanWarning, stacklevel=3)
    return strategy


def flower_strategy_names() -> tuple[str, ...]:
    """The ``flower:<Class>`` names of the installed Flower's strategies (needs ``flwr``)."""
    module = flower_module()
    return tuple(sorted(PREFIX + n for n in dir(module)
                        if inspect.isclass(getattr(module, n)) and issubclass(getattr(module, n), module.Strategy)
                        and getattr(module, n) is not module.Strategy))


_CLASSES: dict[str, type] = {}


def flower_strategy_class(name: str) -> type[FlowerStrategy]:
    """The Fed-Span policy class for ``flower:<Class>`` (a Flower strategy of ``flwr.serverapp.strategy``).

    >>> flower_strategy_class("flower:FedAdam").name  # doctest: +SKIP
    'flower:FedAdam'
    """
    class_name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if class_name in _CLASSES:
        return _CLASSES[class_name]
    module = flower_module()
    found = getattr(module, class_name, None) if class_name.isidentifier() else None
    if not (inspect.isclass(found) and issubclass(found, module.Strategy)) or found is module.Strategy:
        raise StrategyError(f"unknown Flower strategy '{class_name}' (choose from "
                            f"{', '.join(flower_strategy_names())})")
    cls = type(f"Flower{class_name}", (FlowerStrategy,), {"flower_class": found, "name": PREFIX + class_name,
                                                           "__doc__": f"Flower's {class_name} over a Fed-Span topology."})
    _CLASSES[class_name] = cls
    return cls


def is_flower_name(text: str) -> bool:
    """Whether ``text`` names a Flower strategy (``flower:<Class>``); StrategyError when flwr or the class is missing."""
    if not str(text).startswith(PREFIX):
        return False
    flower_strategy_class(str(text))
    return True


@contextlib.contextmanager
def _quiet_flower() -> Iterator[None]:
    """The process state Flower's server-side code expects, and nothing more, for the span of one call.

    Flower's messages take their run and node ids from ``TaskIdentity``, which a SuperLink sets for a
    ServerApp; here it is set as Flower's own compatibility layer does (task 1, run 0, the SuperLink's
    node id) unless something already set it, and cleared again after. Flower logs every aggregation at
    INFO; a run's progress bar is the place for progress. Python's global ``random`` (Flower samples
    nodes with it) is left as it was, so a run's other users of it are unaffected. Flower's
    ``ArrayRecord.to_numpy_ndarrays(keep_input=False)`` (Bulyan) runs a full ``gc.collect()`` per reply,
    0.3 s each beside torch's heap (22 s a round for 66 satellites); ``gc.freeze()`` leaves the
    objects that exist before the call out of those collections, and ``gc.unfreeze()`` returns them.
    """
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    logger = logging.getLogger("flwr")
    level, state = logger.level, random.getstate()
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    if TaskIdentity._run_id is None:
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 0, SUPERLINK_NODE_ID
    logger.setLevel(max(level, logging.WARNING))
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        logger.setLevel(level)
        random.setstate(state)
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


def _local_grid(node_ids: Iterable[int]) -> Any:
    """A ``flwr.serverapp.Grid`` that only lists ``node_ids``: enough for ``configure_train`` to sample nodes.

    Fed-Span runs the round itself (training, the reduce, the clock), so sending through the grid is an error.
    """
    from flwr.serverapp import Grid

    ids = [int(i) for i in node_ids]

    class LocalGrid(Grid):
        """The round's satellites as Flower node ids; nothing is sent (Fed-Span runs the round)."""

        def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
            raise StrategyError("a Flower strategy tried to send messages itself: under Fed-Span only "
                                "configure_train and aggregate_train are called")

        set_run = create_message = push_messages = pull_messages = send_and_receive = _refuse

        @property
        def run(self) -> Any:
            return self._refuse()

        def get_node_ids(self) -> Iterable[int]:
            return list(ids)

    return LocalGrid()


def _flat_record(params: np.ndarray) -> Any:
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({ARRAY_KEY: Array(np.ascontiguousarray(params))})


def _record_to_flat(record: Any, num_params: int) -> np.ndarray:
    arrays = [np.asarray(a.numpy()).reshape(-1) for a in record.values()]
    flat = np.concatenate(arrays) if arrays else np.zeros(0)
    if flat.shape != (num_params,):
        raise StrategyError(f"the Flower strategy returned {flat.size} parameters, the model has {num_params}")
    return flat


def _check_options(flower_class: type, options: dict[str, Any]) -> dict[str, Any]:
    """Flower's own keyword arguments, named and typed from its ``__init__`` (one-line errors for bad ones)."""
    params = inspect.signature(flower_class.__init__).parameters
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [k for k, p in params.items() if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    where = f"strategy '{PREFIX}{flower_class.__name__}'"
    out = {}
    for key, value in options.items():
        if key not in params and not open_kwargs:
            raise StrategyError(f"{where} has no option '{key}' (options: topology, reduce, num_trees, "
                                f"{', '.join(known)})")
        default = params[key].default if key in params else inspect.Parameter.empty
        if isinstance(default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise StrategyError(f"{where}: option {key}={value!r} must be true or false")
            value = bool(value)
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise StrategyError(f"{where}: option {key}={value!r} must be a number")
            if isinstance(default, int) and float(value) != int(value):
                raise StrategyError(f"{where}: option {key}={value!r} must be an integer")
            value = type(default)(value)
        out[key] = value
    return out


def _defining_class(obj: Any, method: str) -> type:
    return next(c for c in type(obj).__mro__ if method in vars(c))


def mean_based(flower: Any) -> bool:
    """Whether ``flower.aggregate_train`` is one of Flower's weighted-mean rules (so the tree reduce may feed it)."""
    module = flower_module()
    owner = _defining_class(flower, "aggregate_train")
    return any(owner is getattr(module, n, None) for n in MEAN_RULES)


class FlowerStrategy(AggregationStrategy):
    """A Flower ``Strategy`` object as the aggregation rule of a Fed-Span topology (one global model).

    ``flower``: a ``flwr.serverapp.strategy.Strategy`` instance; when None, ``flower_class(**flower_options)``
    (the ``flower:<Class>`` names set ``flower_class``). ``topology``: the registered Fed-Span policy that
    plans each round's forest and resources (a forest policy or ``star``). ``reduce``: ``"tree"`` (the
    in-network weighted mean feeds Flower) or ``"clients"`` (every satellite's model does, relayed to the
    root unsummed); default "tree" for Flower's weighted-mean rules, "clients" otherwise.

    Example (any Flower strategy object, here FedAvgM with server momentum)::

        from flwr.serverapp.strategy import FedAvgM
        from fedspan.strategies import register_strategy
        from fedspan.strategies.flower import FlowerStrategy

        @register_strategy("my-fedavgm")
        class MyFedAvgM(FlowerStrategy):
            flower_class = FedAvgM

        run_simulation(SimulationConfig(strategy="my-fedavgm", strategy_options={"server_momentum": 0.9}))
    """

    name = "flower"
    takes_num_trees = True
    #: The Flower class that ``flower_options`` build when no strategy object is given.
    flower_class: type | None = None

    def __init__(self, flower: Any = None, topology: str = "fedspan", reduce: str | None = None,
                 num_trees: Any = 1, **flower_options: Any) -> None:
        from fedspan.strategies.star import GroundStar
        from fedspan.strategies.trees import ForestStrategy

        module = flower_module()
        if flower is None:
            if self.flower_class is None:
                raise StrategyError(f"strategy '{self.name}': give a Flower strategy object or set flower_class")
            options = _check_options(self.flower_class, flower_options)
            try:
                with _quiet_flower():
                    flower = self.flower_class(**options)
            except Exception as exc:  # Flower's own checks (e.g. FedTrimmedAvg's beta) raise plain errors
                raise StrategyError(f"strategy '{self.name}': {exc}") from None
        elif flower_options:
            raise StrategyError(f"strategy '{self.name}': options {', '.join(sorted(flower_options))} go to the "
                                f"Flower class, but a Flower strategy object was given")
        if not isinstance(flower, module.Strategy):
            raise StrategyError(f"strategy '{self.name}': {type(flower).__name__} is not a flwr.serverapp Strategy")
        if float(getattr(flower, "fraction_train", 1.0)) != 1.0:
            raise StrategyError(f"strategy '{self.name}': fraction_train = {flower.fraction_train} (Fed-Span's topology "
                                f"decides who trains each round; use 1.0)")
        self.flower = flower
        if topology.startswith(PREFIX) or topology == self.name:
            raise StrategyError(f"strategy '{self.name}': topology must be a Fed-Span policy, got {topology!r}")
        inner_cls = strategy_class(topology)
        if not issubclass(inner_cls, (ForestStrategy, GroundStar)):
            raise StrategyError(f"strategy '{self.name}': topology {topology!r} keeps several models; use a forest "
                                f"policy (fedspan, mst, bfs, random-tree) or star")
        self.topology = make_strategy(topology, **({"num_trees": num_trees} if inner_cls.takes_num_trees else {}))
        if reduce is None:
            reduce = "tree" if mean_based(flower) else "clients"
        if reduce not in REDUCES:
            raise StrategyError(f"strategy '{self.name}': reduce must be one of {', '.join(REDUCES)}, got {reduce!r}")
        self.reduce = reduce
        # Instance attributes: the same adapter class serves both transports.
        self.needs_client_updates = self.relays_client_updates = reduce == "clients"
        self.tree_clock = self.topology.tree_clock
        self._warned_keys: set[str] = set()
        self._planned: tuple[int, np.ndarray] = (-1, np.zeros(0, np.int64))

    @property
    def chooses_knobs(self) -> bool:
        """As the topology it plans with (Fed-Span's planner chooses steps and batch)."""
        return self.topology.chooses_knobs

    # --- planning: the topology's plan, Flower's train config --------------------------------------------
    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """The topology's forest and resources with one model id, and Flower's client config applied."""
        from fedspan.strategies.isolated import plan_round

        plan = plan_round(self.topology, ctx)
        participating = np.asarray(plan.participating, bool).copy()
        need = self._min_nodes()
        info = dict(plan.info)
        if participating.sum() < need:
            # Flower would wait for more nodes; a satellite round cannot, so nobody trains this round.
            info["fallback"] = (f"{int(participating.sum())} satellite(s) in the round, fewer than the "
                                f"{need} nodes {type(self.flower).__name__} needs: no training")
            participating[:] = False
        mu = self._client_config(ctx, np.flatnonzero(participating))
        # Flower's configure_train in ``aggregate`` sees the satellites planned (faults may drop some later).
        self._planned = (ctx.round_index, np.flatnonzero(participating))
        return replace(plan, tree_of=np.zeros(len(participating), np.int64), participating=participating, mix=False,
                       info=info, proximal_mu=mu)

    def _min_nodes(self) -> int:
        """How many nodes Flower's ``configure_train`` waits for (``sample_nodes``: min_available, min_train)."""
        return max(int(getattr(self.flower, "min_available_nodes", 0)), int(getattr(self.flower, "min_train_nodes", 0)), 1)

    def _client_config(self, ctx: RoundContext, nodes: np.ndarray) -> float:
        """What Flower's ``configure_train`` would send this round, read from a shallow copy (the real call,
        with the round's global model, happens in ``aggregate``): FedProx's mu, and a warning for keys
        Fed-Span's local training does not use."""
        import copy

        from flwr.app import ArrayRecord, ConfigRecord

        if not len(nodes):
            return 0.0
        with _quiet_flower():
            messages = list(copy.copy(self.flower).configure_train(ctx.round_index + 1, ArrayRecord(), ConfigRecord(),
                                                                   _local_grid(nodes)))
        if not messages:
            return 0.0
        config = messages[0].content[getattr(self.flower, "configrecord_key", "config")]
        unused = sorted(set(config) - set(CLIENT_KEYS) - self._warned_keys)
        if unused:
            self._warned_keys |= set(unused)
            warnings.warn(f"strategy '{self.name}': train config key(s) {', '.join(unused)} are not used by Fed-Span's "
                          f"local training (it understands {', '.join(CLIENT_KEYS)})", FedSpanWarning, stacklevel=3)
        mu = float(config.get("proximal-mu", 0.0))
        if not (np.isfinite(mu) and mu >= 0):
            raise StrategyError(f"strategy '{self.name}': proximal-mu = {mu} must be a finite number >= 0")
        return mu

    def round_cost(self, ctx: RoundContext, plan: RoundPlan) -> RoundCost:
        """The topology's clock; with ``reduce="clients"`` on a forest, every model relayed to the root."""
        if self.relays_client_updates and self.topology.tree_clock:
            return tree_cost(ctx, plan, relay=True)
        return self.topology.round_cost(ctx, plan)

    def repair(self, ctx: RoundContext, plan: RoundPlan, failures: Any) -> RoundPlan:
        """The topology's repair (the default forest repair for forest policies)."""
        return self.topology.repair(ctx, plan, failures)

    # --- aggregation: Flower's configure_train + aggregate_train ----------------------------------------
    def aggregate(self, ctx: RoundContext, plan: RoundPlan, update: RoundUpdate, models: torch.Tensor) -> torch.Tensor:
        """The next global model: Flower's ``aggregate_train`` on the tree's mean or on every satellite's model."""
        from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict

        num_params = models.shape[1]
        current = models[0].detach().cpu().numpy().astype(np.float32)
        ids = np.flatnonzero(np.asarray(plan.participating, bool))
        key = getattr(self.flower, "weighted_by_key", "num-examples")
        array_key = getattr(self.flower, "arrayrecord_key", "arrays")
        if self.reduce == "clients":
            clients = update.client_updates
            if clients is None:
                raise StrategyError(f"strategy '{self.name}': the backend returned no per-satellite updates")
            rows = [(int(i), clients.params[j].numpy(), float(clients.weights[j]), float(clients.train_loss[j]))
                    for j, i in enumerate(clients.ids)]
        else:
            weight = float(update.weight_sums[0])
            mean = (update.tree_sums[0] / weight).cpu().numpy() if weight > 0 else None
            # The root's reply: the tree's weighted mean with the total weight (what the in-network reduce delivers).
            rows = [] if mean is None else [(int(ids[0]) if len(ids) else 0, mean, weight, float(update.train_loss))]
        server_round = ctx.round_index + 1
        planned = self._planned[1] if self._planned[0] == ctx.round_index else ids
        nodes = sorted(set(planned.tolist()) | set(ids.tolist()) | {r[0] for r in rows})
        if len(nodes) < self._min_nodes():
            return models.clone()  # nobody trained (plan_round): Flower's sampling would wait for nodes forever
        with _quiet_flower():
            sent = {m.metadata.dst_node_id: m for m in self.flower.configure_train(
                server_round, _flat_record(current), ConfigRecord(), _local_grid(nodes))}
            replies = [Message(RecordDict({array_key: _flat_record(np.asarray(p)),
                                           "metrics": MetricRecord({key: w, "train_loss": loss if np.isfinite(loss) else 0.0})}),
                               reply_to=sent[node]) for node, p, w, loss in rows if node in sent]
            try:
                arrays, _metrics = self.flower.aggregate_train(server_round, replies)
            except Exception as exc:  # Flower's AggregationError and friends: name the round and the rule
                raise StrategyError(f"strategy '{self.name}' round {ctx.round_index}: Flower's aggregate_train "
                                    f"failed: {exc}") from None
        if arrays is None:  # Flower keeps the global model when it cannot aggregate (no replies, too few for Bulyan)
            return models.clone()
        new = torch.as_tensor(_record_to_flat(arrays, num_params), dtype=torch.float64)
        return new[None].to(models.dtype)

    def num_models(self, scenario: Any) -> int:
        """One global model, as in Flower."""
        return 1


register_strategy_family(PREFIX, flower_strategy_class)
