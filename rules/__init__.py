"""rules — declarative fault injection and rewriting for WS-DSP traffic.

Pure: parse and validate rule files (``load``, ``parse``), decide which rules
fire for a message (``Engine.decide``), and compute what the proxy should
send instead (``edit_body``, ``fault_answer``, ``status_answer``).  The
proxy addon (addons/applyrules.py) does the acting; nothing here opens a socket
or imports mitmproxy or textual.
"""

from . import builtin_actions  # noqa: F401 - registers the built-in actions
from .answers import Answer, fault_answer, status_answer
from .edits import EditError, edit_body, edit_message
from .engine import Decision, Engine, Firing, RuleStatus, Subject
from .parse import RuleError, RuleFileError, load, parse
from .presets import Preset, find_preset, list_presets
from .registry import REGISTRY, ActionType, Context, Plan, plan_of, register
from .spec import Actions, Match, Rule, RuleSet

__all__ = [
    "REGISTRY",
    "ActionType",
    "Actions",
    "Answer",
    "Context",
    "Decision",
    "EditError",
    "Engine",
    "Firing",
    "Match",
    "Plan",
    "Preset",
    "Rule",
    "RuleError",
    "RuleFileError",
    "RuleSet",
    "RuleStatus",
    "Subject",
    "edit_body",
    "edit_message",
    "fault_answer",
    "find_preset",
    "list_presets",
    "load",
    "parse",
    "plan_of",
    "register",
    "status_answer",
]
