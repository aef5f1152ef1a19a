"""The Decoded tab: the decoded messages of an exchange as a tree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from dspscope.viewer.safe import literal

MAX_NODES = 3000
HEADLINE = ("protocol", "kind", "operation", "action", "message_id", "relates_to", "to",
            "job_token", "soap_version")


class DecodedTree(Tree[None]):
    """Request and response: addressing, body fields (vendor extensions
    included), fault and attachments.  Labels are always literal text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Text("exchange"), **kwargs)
        self.show_root = False
        self._budget = MAX_NODES

    def process_label(self, label: str | Text) -> Text:
        # Never parse markup: a str label is captured text like any other.
        return literal(label) if isinstance(label, str) else label

    def show(self, record: Mapping[str, Any]) -> None:
        self.clear()
        self._budget = MAX_NODES
        for side in ("request", "response"):
            message = record.get(side)
            if not isinstance(message, Mapping):
                self.root.add_leaf(Text.assemble((side, "bold"), ": ", ("none", "dim")))
                continue
            title = Text.assemble((side, "bold"), "  ")
            title.append_text(literal(str(message.get("operation") or message.get("protocol") or ""),
                                      limit=100))
            branch = self.root.add(title, expand=True)
            self._message(branch, message)
        self.root.expand()

    def _message(self, branch: TreeNode[None], message: Mapping[str, Any]) -> None:
        for key in HEADLINE:
            value = message.get(key)
            if value is not None:
                self._leaf(branch, key, value)
        fault = message.get("fault")
        if isinstance(fault, Mapping):
            node = branch.add(Text("fault", style="bold red"), expand=True)
            for key, value in fault.items():
                if value is not None:
                    self._leaf(node, key, value)
        fields = message.get("fields")
        if isinstance(fields, Mapping) and fields:
            self._tree(branch.add(Text("fields", style="bold"), expand=True), fields)
        attachments = message.get("attachments")
        if attachments:
            node = branch.add(Text(f"attachments ({len(attachments)})", style="bold"))
            for item in attachments:
                self._tree(node.add(literal(str(item.get("content_id", "")), limit=200)), item)

    def _tree(self, node: TreeNode[None], value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if self._budget <= 0:
                    node.add_leaf(Text("… (more not shown)", style="dim"))
                    return
                self._child(node, str(key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if self._budget <= 0:
                    node.add_leaf(Text("… (more not shown)", style="dim"))
                    return
                self._child(node, f"[{index}]", item)

    def _child(self, node: TreeNode[None], key: str, item: Any) -> None:
        self._budget -= 1
        if isinstance(item, Mapping | list):
            label = literal(key, style="bold", limit=200)
            if isinstance(item, list):
                label.append(f" ({len(item)})", style="dim")
            self._tree(node.add(label, expand=True), item)
        else:
            self._leaf(node, key, item)

    def _leaf(self, node: TreeNode[None], key: str, value: Any) -> None:
        label = literal(key, style="bold", limit=200)
        label.append(" = ")
        shown = value if isinstance(value, str) else repr(value).lower() if isinstance(value, bool) \
            else str(value)
        label.append_text(literal(shown, style="green" if isinstance(value, str) else "cyan",
                                  limit=2000))
        node.add_leaf(label)
