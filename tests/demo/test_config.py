"""The demo's config tree: profiles, YAML files and dotted overrides, with clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from robolearn.demo.config import load_config
from robolearn.learn.config import AGENT_PRESETS


def test_profiles_differ_where_the_budget_does():
    default, quick = load_config("default"), load_config("quick")
    assert default.task == "pick_cube" and quick.task == "reach"
    # the default profile trains with the training defaults, the same as `train serl`
    assert default.serl.agent == AGENT_PRESETS["default"]()
    assert default.pearl.agent == dataclasses.replace(AGENT_PRESETS["default"](), bc_prior_steps=0)
    assert default.record.episodes == 20
    assert quick.serl.env_steps < default.serl.env_steps


def test_yaml_file_then_dotted_overrides(tmp_path):
    f = tmp_path / "demo.yaml"
    f.write_text(
        "serl:\n  env_steps: 4000\n  agent:\n    hidden_dims: [64, 64]\narena:\n  seeds: 2\n"
    )
    c = load_config("quick", f, ["serl.env_steps=5000", "certify.lipschitz=8", "seed=3"])
    assert c.serl.env_steps == 5000  # the override wins over the file
    assert c.serl.agent.hidden_dims == (64, 64) and c.arena.seeds == 2
    assert c.certify.lipschitz == 8.0 and isinstance(c.certify.lipschitz, float)
    assert c.seed == 3
    c = load_config("quick", None, ["serl.agent={init_temperature: 0.1}"])
    assert c.serl.agent.init_temperature == 0.1
    c = load_config("quick", None, ["serl.agent.encoder_options.clip=5"])
    assert c.serl.agent.encoder_options == {"clip": 5}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("serl.env_step=5", "unknown key 'serl.env_step'"),
        ("serl.env_steps=many", "expected a number"),
        ("serl.env_steps=2.5", "expected an integer"),
        ("serl=3", "is a section"),
        ("task.x=1", "is a value"),
        ("task=stack", "choose one of"),
        ("pearl.source=reach", "must differ"),  # quick's task is reach
        ("serl.env_steps", "write key=value"),
        ("serl.agent.utd_ratio=0", "utd_ratio must be at least 1"),
        ("serl.action_mode=joints", "action_mode 'joints'"),
    ],
)
def test_bad_overrides_say_what_is_wrong(override, message):
    with pytest.raises(ValueError, match=message):
        load_config("quick", None, [override])


def test_unknown_profile():
    with pytest.raises(ValueError, match="known: default, quick"):
        load_config("fast")
