"""Block Kit: validation the way Slack's API does it, and rendering as readable text.

Validation covers the block and element types deskbot sends (section, header, context, divider,
actions with buttons and selects, image, input, rich_text) with Slack's documented limits. Each
problem is reported like Slack reports it in ``response_metadata.messages``:
``[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100

_TEXT_TYPES = ("plain_text", "mrkdwn")
_SELECT_TYPES = (
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
)
_INTERACTIVE = (
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    *_SELECT_TYPES,
)
_INPUT_ELEMENTS = (
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    *_SELECT_TYPES,
)
_RICH_TEXT_CONTAINERS = (
    "rich_text_section",
    "rich_text_list",
    "rich_text_quote",
    "rich_text_preformatted",
)


class _Checker:
    """Collects Slack-style error strings (without the ``[ERROR]`` prefix)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def required(self, obj: dict[str, Any], key: str, pointer: str) -> bool:
        if key not in obj or obj[key] is None:
            self.add(f"missing required field: {key}", pointer)
            return False
        return True

    def string(self, value: Any, pointer: str, *, max_len: int, min_len: int = 0) -> bool:
        if not isinstance(value, str):
            self.add("must be a string", pointer)
            return False
        if len(value) > max_len:
            self.add(f"must be less than {max_len + 1} characters", pointer)
            return False
        if len(value) < min_len:
            self.add(f"must be more than {min_len - 1} characters", pointer)
            return False
        return True

    def obj(self, value: Any, pointer: str) -> bool:
        if not isinstance(value, dict):
            self.add("must be an object", pointer)
            return False
        return True

    def array(self, value: Any, pointer: str, *, max_items: int, min_items: int = 0) -> bool:
        if not isinstance(value, list):
            self.add("must be an array", pointer)
            return False
        if len(value) > max_items:
            self.add(f"no more than {max_items} items allowed", pointer)
            return False
        if len(value) < min_items:
            self.add(f"must provide at least {min_items} items", pointer)
            return False
        return True

    def text(
        self,
        value: Any,
        pointer: str,
        *,
        max_len: int,
        plain_only: bool = False,
    ) -> None:
        if not self.obj(value, pointer):
            return
        kind = value.get("type")
        allowed = ("plain_text",) if plain_only else _TEXT_TYPES
        if kind not in allowed:
            self.add(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
            return
        if self.required(value, "text", pointer):
            self.string(value["text"], f"{pointer}/text", max_len=max_len, min_len=1)
        if kind == "mrkdwn" and "emoji" in value:
            self.add("emoji is not allowed in mrkdwn text", f"{pointer}/emoji")

    def action_id(self, element: dict[str, Any], pointer: str) -> None:
        if "action_id" in element:
            self.string(element["action_id"], f"{pointer}/action_id", max_len=255, min_len=1)

    def option(self, value: Any, pointer: str) -> None:
        if not self.obj(value, pointer):
            return
        if self.required(value, "text", pointer):
            self.text(value["text"], f"{pointer}/text", max_len=75)
        if self.required(value, "value", pointer):
            self.string(value["value"], f"{pointer}/value", max_len=150, min_len=1)

    def element(self, value: Any, pointer: str, allowed: tuple[str, ...]) -> None:
        if not self.obj(value, pointer):
            return
        kind = value.get("type")
        if kind not in allowed:
            self.add(f"unsupported type: {kind}", f"{pointer}/type")
            return
        checker = _ELEMENTS.get(kind)
        if checker is not None:
            checker(self, value, pointer)
        self.action_id(value, pointer)


def _button(c: _Checker, el: dict[str, Any], p: str) -> None:
    if c.required(el, "text", p):
        c.text(el["text"], f"{p}/text", max_len=75, plain_only=True)
    if "value" in el:
        c.string(el["value"], f"{p}/value", max_len=2000)
    if "url" in el:
        c.string(el["url"], f"{p}/url", max_len=3000, min_len=1)
    if "style" in el and el["style"] not in ("primary", "danger"):
        c.add("must be one of: primary, danger", f"{p}/style")


def _image_element(c: _Checker, el: dict[str, Any], p: str) -> None:
    if "image_url" not in el and "slack_file" not in el:
        c.add("missing required field: image_url", p)
    elif "image_url" in el:
        c.string(el["image_url"], f"{p}/image_url", max_len=3000, min_len=1)
    if c.required(el, "alt_text", p):
        c.string(el["alt_text"], f"{p}/alt_text", max_len=2000, min_len=1)


def _static_select(c: _Checker, el: dict[str, Any], p: str) -> None:
    kind = el["type"]
    if kind in ("static_select", "multi_static_select"):
        if "options" not in el and "option_groups" not in el:
            c.add("missing required field: options", p)
        elif "options" in el and c.array(el["options"], f"{p}/options", max_items=100, min_items=1):
            for i, option in enumerate(el["options"]):
                c.option(option, f"{p}/options/{i}")
    if "placeholder" in el:
        c.text(el["placeholder"], f"{p}/placeholder", max_len=150, plain_only=True)


def _options_list(c: _Checker, el: dict[str, Any], p: str) -> None:
    limit = 5 if el["type"] == "overflow" else 10
    if c.required(el, "options", p) and c.array(
        el["options"], f"{p}/options", max_items=limit, min_items=1
    ):
        for i, option in enumerate(el["options"]):
            c.option(option, f"{p}/options/{i}")


def _plain_text_input(c: _Checker, el: dict[str, Any], p: str) -> None:
    if "placeholder" in el:
        c.text(el["placeholder"], f"{p}/placeholder", max_len=150, plain_only=True)
    if "initial_value" in el:
        c.string(el["initial_value"], f"{p}/initial_value", max_len=3000)
    if "max_length" in el and (not isinstance(el["max_length"], int) or el["max_length"] > 3000):
        c.add("must be an integer no greater than 3000", f"{p}/max_length")


def _number_input(c: _Checker, el: dict[str, Any], p: str) -> None:
    if c.required(el, "is_decimal_allowed", p) and not isinstance(el["is_decimal_allowed"], bool):
        c.add("must be a boolean", f"{p}/is_decimal_allowed")


_ELEMENTS: dict[str, Callable[[_Checker, dict[str, Any], str], None]] = {
    "button": _button,
    "image": _image_element,
    "overflow": _options_list,
    "checkboxes": _options_list,
    "radio_buttons": _options_list,
    "plain_text_input": _plain_text_input,
    "number_input": _number_input,
    **dict.fromkeys(_SELECT_TYPES, _static_select),
}


def _section(c: _Checker, b: dict[str, Any], p: str) -> None:
    if "text" not in b and "fields" not in b:
        c.add("must provide either text or fields", p)
    if "text" in b:
        c.text(b["text"], f"{p}/text", max_len=3000)
    if "fields" in b and c.array(b["fields"], f"{p}/fields", max_items=10, min_items=1):
        for i, field in enumerate(b["fields"]):
            c.text(field, f"{p}/fields/{i}", max_len=2000)
    if "accessory" in b:
        c.element(b["accessory"], f"{p}/accessory", (*_INTERACTIVE, "image"))


def _header(c: _Checker, b: dict[str, Any], p: str) -> None:
    if c.required(b, "text", p):
        c.text(b["text"], f"{p}/text", max_len=150, plain_only=True)


def _context(c: _Checker, b: dict[str, Any], p: str) -> None:
    if not c.required(b, "elements", p):
        return
    if c.array(b["elements"], f"{p}/elements", max_items=10, min_items=1):
        for i, el in enumerate(b["elements"]):
            ep = f"{p}/elements/{i}"
            if isinstance(el, dict) and el.get("type") == "image":
                _image_element(c, el, ep)
            else:
                c.text(el, ep, max_len=3000)


def _actions(c: _Checker, b: dict[str, Any], p: str) -> None:
    if c.required(b, "elements", p) and c.array(
        b["elements"], f"{p}/elements", max_items=25, min_items=1
    ):
        for i, el in enumerate(b["elements"]):
            c.element(el, f"{p}/elements/{i}", _INTERACTIVE)


def _image(c: _Checker, b: dict[str, Any], p: str) -> None:
    _image_element(c, b, p)
    if "title" in b:
        c.text(b["title"], f"{p}/title", max_len=2000, plain_only=True)


def _input(c: _Checker, b: dict[str, Any], p: str) -> None:
    if c.required(b, "label", p):
        c.text(b["label"], f"{p}/label", max_len=2000, plain_only=True)
    if c.required(b, "element", p):
        c.element(b["element"], f"{p}/element", _INPUT_ELEMENTS)
    if "hint" in b:
        c.text(b["hint"], f"{p}/hint", max_len=2000, plain_only=True)
    if "optional" in b and not isinstance(b["optional"], bool):
        c.add("must be a boolean", f"{p}/optional")


def _rich_text(c: _Checker, b: dict[str, Any], p: str) -> None:
    if not c.required(b, "elements", p) or not c.array(
        b["elements"], f"{p}/elements", max_items=100, min_items=1
    ):
        return
    for i, el in enumerate(b["elements"]):
        ep = f"{p}/elements/{i}"
        if not c.obj(el, ep):
            continue
        if el.get("type") not in _RICH_TEXT_CONTAINERS:
            c.add(f"unsupported type: {el.get('type')}", f"{ep}/type")
        elif c.required(el, "elements", ep):
            c.array(el["elements"], f"{ep}/elements", max_items=1000)


def _divider(c: _Checker, b: dict[str, Any], p: str) -> None:
    return None


_BLOCKS: dict[str, Callable[[_Checker, dict[str, Any], str], None]] = {
    "section": _section,
    "header": _header,
    "context": _context,
    "divider": _divider,
    "actions": _actions,
    "image": _image,
    "input": _input,
    "rich_text": _rich_text,
}


def validate_blocks(
    blocks: Any, *, pointer: str = "/blocks", max_blocks: int = MAX_MESSAGE_BLOCKS
) -> list[str]:
    """Slack-style problems with ``blocks`` (empty when valid), without the ``[ERROR]`` prefix."""
    c = _Checker()
    if not c.array(blocks, pointer, max_items=max_blocks):
        return c.errors
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        bp = f"{pointer}/{i}"
        if not c.obj(block, bp):
            continue
        kind = block.get("type")
        checker = _BLOCKS.get(kind) if isinstance(kind, str) else None
        if checker is None:
            c.add(f"unsupported type: {kind}", f"{bp}/type")
            continue
        checker(c, block, bp)
        block_id = block.get("block_id")
        if block_id is not None and c.string(block_id, f"{bp}/block_id", max_len=255, min_len=1):
            if block_id in seen_ids:
                c.add(f"duplicate block_id: {block_id}", f"{bp}/block_id")
            seen_ids.add(block_id)
    return c.errors


def validate_view(view: Any) -> list[str]:
    """Slack-style problems with a modal or home-tab view object."""
    c = _Checker()
    if not c.obj(view, "/view"):
        return c.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        c.add("must be one of: modal, home", "/view/type")
        return c.errors
    if kind == "modal":
        if c.required(view, "title", "/view"):
            c.text(view["title"], "/view/title", max_len=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view and view[key] is not None:
                c.text(view[key], f"/view/{key}", max_len=24, plain_only=True)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and not view.get("submit"):
            c.add("must provide submit when an input block is present", "/view/submit")
    for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        if key in view and view[key] is not None:
            c.string(view[key], f"/view/{key}", max_len=limit)
    if c.required(view, "blocks", "/view"):
        c.errors += validate_blocks(
            view["blocks"], pointer="/view/blocks", max_blocks=MAX_VIEW_BLOCKS
        )
    return c.errors


# --------------------------------------------------------------------------- rendering


def _plain(obj: Any) -> str:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return str(obj) if obj is not None else ""


def _rich_text_plain(block: dict[str, Any]) -> str:
    parts: list[str] = []
    for container in block.get("elements") or []:
        if not isinstance(container, dict):
            continue
        inner = container.get("elements") or []
        pieces = []
        for el in inner:
            if not isinstance(el, dict):
                continue
            if el.get("type") == "text":
                pieces.append(str(el.get("text", "")))
            elif el.get("type") == "user":
                pieces.append(f"<@{el.get('user_id', '')}>")
            elif el.get("type") == "channel":
                pieces.append(f"<#{el.get('channel_id', '')}>")
            elif el.get("type") == "link":
                pieces.append(str(el.get("text") or el.get("url", "")))
            elif el.get("type") == "emoji":
                pieces.append(f":{el.get('name', '')}:")
            elif el.get("type") in _RICH_TEXT_CONTAINERS:
                pieces.append(_rich_text_plain({"elements": [el]}))
        line = "".join(pieces)
        if container.get("type") == "rich_text_quote":
            line = "> " + line
        elif container.get("type") == "rich_text_preformatted":
            line = f"```{line}```"
        parts.append(line)
    return "\n".join(parts)


def _element_label(el: Any) -> str:  # noqa: PLR0911 (one label per element type)
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "button":
        return f"[{_plain(el.get('text'))}]"
    if kind == "image":
        return f"(image: {el.get('alt_text', '')})"
    if kind == "overflow":
        return "[…]"
    if kind in _SELECT_TYPES:
        placeholder = _plain(el.get("placeholder")) or kind.replace("_", " ")
        return f"[{placeholder} ▾]"
    if kind in ("checkboxes", "radio_buttons"):
        marks = "☐" if kind == "checkboxes" else "○"
        return " ".join(f"{marks} {_plain(o.get('text'))}" for o in el.get("options") or [])
    if kind in ("datepicker", "timepicker", "datetimepicker"):
        return f"[{el.get('initial_date') or el.get('initial_time') or kind}]"
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        value = el.get("initial_value")
        return f"[{value}]" if value else "[____]"
    return f"[{kind}]"


def render_blocks(blocks: list[Any]) -> list[str]:  # noqa: PLR0912 (one branch per block type)
    """Block Kit as lines of readable text: buttons as ``[Claim]``, headers bold, fields listed."""
    lines: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            lines.append(f"**{_plain(block.get('text'))}**")
        elif kind == "section":
            if "text" in block:
                lines.append(_plain(block.get("text")))
            for field in block.get("fields") or []:
                lines.append("  • " + " ".join(_plain(field).split()))
            if "accessory" in block:
                lines.append(f"  {_element_label(block['accessory'])}")
        elif kind == "context":
            bits = [
                _element_label(el)
                if isinstance(el, dict) and el.get("type") == "image"
                else _plain(el)
                for el in block.get("elements") or []
            ]
            lines.append("_" + " · ".join(b for b in bits if b) + "_")
        elif kind == "divider":
            lines.append("---")
        elif kind == "actions":
            lines.append(" ".join(_element_label(el) for el in block.get("elements") or []))
        elif kind == "image":
            title = _plain(block.get("title")) or block.get("alt_text", "")
            lines.append(f"(image: {title} <{block.get('image_url', '')}>)")
        elif kind == "input":
            optional = " (optional)" if block.get("optional") else ""
            lines.append(
                f"{_plain(block.get('label'))}{optional}: {_element_label(block.get('element'))}"
            )
        elif kind == "rich_text":
            lines.append(_rich_text_plain(block))
        else:
            lines.append(f"({kind} block)")
    return lines


def find_action(blocks: list[Any], action_id: str) -> tuple[str, dict[str, Any]] | None:
    """The (block_id, element) of the interactive element with ``action_id``, if present."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section" and "accessory" in block:
            candidates = [block["accessory"]]
        elif block.get("type") == "input":
            candidates = [block.get("element")]
        for el in candidates:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return str(block.get("block_id", "")), el
    return None
