"""robolearn.config: one typed tree per entry point (YAML, dotted overrides, flattening to ROS
parameters and back, diffs for resume), and one place for every training default: `train
serl --print-config`, the learner node's parameters and the demo agree."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
import yaml

from robolearn.config import (
    ConfigError,
    describe,
    diff,
    flatten,
    free_sections,
    from_flat,
    load,
    option,
    to_dict,
    to_yaml,
)
from robolearn.learn.config import AGENT_PRESETS, LearnerNodeConfig, TrainConfig
from robolearn.learn.rlpd import RLPDConfig


@dataclass(kw_only=True)
class Inner:
    rate: float = option(0.5, "a rate")
    sizes: tuple[int, ...] = option((2, 3), "sizes")
    extra: dict = option({}, "free-form options")

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"rate must be >= 0, got {self.rate}")


@dataclass(kw_only=True)
class Outer:
    name: str = option("x", "a name")
    count: int = option(1, "a count")
    flag: bool = option(False, "a flag")
    limit: float | None = option(None, "optional")
    inner: Inner = field(default_factory=Inner)


def test_yaml_then_overrides_typed(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("count: 3\ninner:\n  rate: 1\n  extra: {a: 1}\n")
    c = load(Outer(), f, ["inner.sizes=[4, 5, 6]", "flag=true", "inner.extra.b=[1, 2]"])
    assert c.count == 3 and c.inner.rate == 1.0 and isinstance(c.inner.rate, float)
    assert c.inner.sizes == (4, 5, 6) and c.flag is True
    assert c.inner.extra == {"a": 1, "b": [1, 2]}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("cout=3", "unknown key 'cout'"),
        ("inner.rat=1", "unknown key 'inner.rat' in inner"),
        ("count=2.5", "expected an integer"),
        ("count=many", "expected a number"),
        ("flag=1", "true or false"),
        ("inner=3", "is a section"),
        ("name.x=1", "is a value"),
        ("inner.rate=-1", "rate must be >= 0"),
        ("count", "write key=value"),
    ],
)
def test_errors_name_the_key(item, message):
    with pytest.raises(ConfigError, match=message):
        load(Outer(), None, [item])


def test_flatten_round_trip_and_free_sections():
    c = load(Outer(), None, ["inner.extra.depth=2", "limit=0.3"])
    flat = flatten(c)
    assert flat["inner.sizes"] == [2, 3] and flat["inner.extra.depth"] == 2
    assert free_sections(c) == ["inner.extra"]
    back = from_flat(Outer(), flat)
    assert back == c
    assert describe(c)["inner.rate"] == "a rate"


def test_diff_names_what_changed_and_ignores_run_time_keys():
    a = Outer()
    b = load(Outer(), None, ["count=2", "inner.extra.k=1", "name=y"])
    assert diff(a, b) == ["count: 1 -> 2", "inner.extra.k: '<unset>' -> 1", "name: 'x' -> 'y'"]
    assert diff(to_dict(a), b, ignore=("count", "inner")) == ["name: 'x' -> 'y'"]
    assert diff(yaml.safe_load(to_yaml(b)), b) == []


# --- one place for every training default -----------------------------------------------------
def test_train_serl_learner_node_and_demo_agree(capsys):
    """The agent and loop defaults are one set: `robolearn train serl --print-config`, the
    serl_learner node's parameter table and the demo's default profile show the same values."""
    pytest.importorskip("rclpy")
    from robolearn.cli.main import main
    from robolearn.demo.config import load_config
    from robolearn.ros import actor_node, learner_node

    assert main(["train", "serl", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    default_agent = to_dict(AGENT_PRESETS["default"]())
    assert printed["agent"] == default_agent
    assert printed["agent"] == to_dict(TrainConfig().agent)

    node = {k: v for k, (v, _) in learner_node.PARAMETERS.items()}
    assert {k: node[k] for k in flatten(printed) if k in node} == flatten(printed)
    assert set(flatten(printed)) <= set(node)  # every key of train serl is a node parameter
    for key, value in flatten({"agent": default_agent}).items():
        assert node[key] == value, key

    demo = load_config("default")
    assert to_dict(demo.serl.agent) == default_agent
    pearl = dict(default_agent, bc_prior_steps=0)  # varied-quality prior data: no BC anchor
    assert to_dict(demo.pearl.agent) == pearl
    assert demo.serl.learning_starts == printed["loop"]["learning_starts"]
    assert demo.serl.action_mode == printed["env"]["action_mode"]
    actor = {k: v for k, (v, _) in actor_node.PARAMETERS.items()}
    assert actor["env.action_mode"] == printed["env"]["action_mode"]


def test_every_rlpd_field_is_a_node_parameter_with_a_description():
    from robolearn.ros.params import config_parameters

    table = config_parameters(LearnerNodeConfig())
    for f in dataclasses.fields(RLPDConfig):
        if f.name == "encoder_options":
            continue  # a free-form section: its present keys are parameters
        default, text = table[f"agent.{f.name}"]
        assert len(text) > 10, f"agent.{f.name} needs a description"


def test_presets_differ_where_the_paper_does():
    paper, serl, ours = (AGENT_PRESETS[k]() for k in ("rlpd", "serl", "default"))
    assert (paper.utd_ratio, paper.num_critics, paper.discount) == (20, 10, 0.99)
    assert (serl.utd_ratio, serl.num_critics) == (1, 10)
    assert ours == RLPDConfig()  # the dataclass defaults are the project's default


def test_the_api_default_normalises_observations():
    """A new user's `RLPDAgent(obs, act)` standardises its inputs, as the CLI always did (with
    normalisation off a foreign pick-cube env stayed at 0.05 success after 20k steps)."""
    import gymnasium as gym
    import numpy as np

    from robolearn.learn.rlpd import RLPDAgent

    box = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    agent = RLPDAgent(box, gym.spaces.Box(-1, 1, (2,), np.float32), device="cpu")
    assert agent.needs_observation_stats


def test_exponent_without_a_dot_is_a_number():
    """YAML 1.1 reads ``3e-5`` as a string; a float field takes it as the number it is."""
    c = load(Outer(), None, ["inner.rate=3e-5"])
    assert c.inner.rate == 3e-5
