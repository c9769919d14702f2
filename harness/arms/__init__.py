"""Arms: each turns a golden example into the request one way of solving the task would send."""

from harness.arms.base import Arm
from harness.arms.factory import build_arms
from harness.arms.prompt import PromptArm
from harness.arms.tuned import TunedArm

__all__ = ["Arm", "PromptArm", "TunedArm", "build_arms"]
