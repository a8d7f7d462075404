"""The Teleoperator interface: commands, registry, configs, shared helpers."""

import dataclasses

import numpy as np
import pytest

from robolearn.data.schema import ActionSource
from robolearn.teleop import (
    TELEOP_CONFIGS,
    TELEOPERATORS,
    GamepadConfig,
    KeyboardConfig,
    ScriptedConfig,
    SpaceMouseConfig,
    TeleopCommand,
    TeleopEvent,
    make_teleoperator,
)
from robolearn.teleop.base import GripperLatch, apply_deadband


def test_builtin_teleoperators_are_registered_with_their_configs():
    assert TELEOPERATORS.names() == ["gamepad", "keyboard", "scripted", "spacemouse"]
    for name in TELEOPERATORS.names():
        config_cls = TELEOP_CONFIGS.get(name)
        assert config_cls.type == name
        assert dataclasses.is_dataclass(config_cls)
        # Keyword-only: a positional config would silently bind the wrong field.
        with pytest.raises(TypeError):
            config_cls(0.5)


def test_make_teleoperator_builds_without_opening_the_device():
    teleop = make_teleoperator("spacemouse", deadband=0.2)
    assert teleop.config.deadband == 0.2
    assert not teleop.is_connected  # pyspacemouse is only imported on connect()


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: gamepad, keyboard, scripted, spacemouse"):
        make_teleoperator("joystick9000")


@pytest.mark.parametrize(
    "config_cls, kwargs, match",
    [
        (SpaceMouseConfig, {"deadband": 1.0}, "deadband"),
        (SpaceMouseConfig, {"deadband": -0.1}, "deadband"),
        (SpaceMouseConfig, {"axis_map": ("x", "y")}, "6 entries"),
        (SpaceMouseConfig, {"axis_map": ("x", "y", "z", "roll", "pitch", "spin")}, "spin"),
        (SpaceMouseConfig, {"event_buttons": {0: "explode"}}, "unknown event 'explode'"),
        (GamepadConfig, {"axis_map": ("axis0",) * 5 + ("hat0",)}, "hat0"),
        (GamepadConfig, {"close_input": "trigger"}, "close_input"),
        (GamepadConfig, {"translation_scale": 0.0}, "translation_scale"),
        (GamepadConfig, {"trigger_threshold": 1.0}, "trigger_threshold"),
        (KeyboardConfig, {"hold_s": -1.0}, "hold_s"),
        (KeyboardConfig, {"rotation_scale": float("nan")}, "rotation_scale"),
        (ScriptedConfig, {"task": "juggle"}, "unknown task 'juggle'"),
        (ScriptedConfig, {"noise_std": -0.1}, "noise_std"),
        (ScriptedConfig, {"hesitation_prob": 1.5}, "hesitation_prob"),
        (ScriptedConfig, {"hesitation_steps": (5, 2)}, "hesitation_steps"),
    ],
)
def test_bad_config_values_raise_a_message_naming_the_field(config_cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        config_cls(**kwargs)


def test_command_copies_clips_and_freezes_the_action():
    raw = np.array([2.0, -3.0, 0.5, 0, 0, 0, 1.0])
    cmd = TeleopCommand(raw, engaged=1, events={"quit"})
    raw[2] = 0.9
    np.testing.assert_array_equal(cmd.action, [1.0, -1.0, 0.5, 0, 0, 0, 1.0])
    assert cmd.engaged is True
    assert cmd.source is ActionSource.HUMAN
    assert cmd.events == {TeleopEvent.QUIT}
    with pytest.raises(ValueError):
        cmd.action[0] = 0.0


@pytest.mark.parametrize(
    "bad, match", [(np.zeros(6), r"shape \(7,\)"), (np.full(7, np.nan), "NaN or inf")]
)
def test_command_rejects_malformed_actions(bad, match):
    with pytest.raises(ValueError, match=match):
        TeleopCommand(bad, engaged=True)


def test_deadband_zeroes_small_inputs_and_is_continuous_at_its_edge():
    out = apply_deadband(np.array([0.05, -0.1, 0.1000001, 0.55, -1.0, 1.0]), 0.1)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.0, 0.5, -1.0, 1.0], atol=1e-6)


def test_gripper_latch_follows_the_executed_gripper_then_toggles():
    latch = GripperLatch()
    assert latch.value == -1.0
    latch.follow(np.array([0, 0, 0, 0, 0, 0, 0.7]))
    assert latch.value == 1.0
    latch.toggle()
    assert latch.value == -1.0
    latch.follow(None)  # nothing executed yet: keep
    assert latch.value == -1.0
