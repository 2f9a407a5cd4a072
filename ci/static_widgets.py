"""Widgets as static HTML, drawn from the widget state a notebook saved when it ran (the course site's pages).

A slider appears where it was left, disabled; moving it needs a live kernel (JupyterLab). Output widgets keep their
figures and text. The saved state is then dropped from the notebook, so no (remote) widget manager script is added.
"""

from __future__ import annotations

import base64
import html

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _ref(value: object) -> str | None:
    """The model id in an 'IPY_MODEL_<id>' reference."""
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def _labelled(state: dict, control: str) -> str:
    label = html.escape(state.get("description") or "")
    return f"<span class='course-widget-row'><label>{label}</label>{control}</span>"


def _output_html(output: dict, models: dict) -> str:
    """One nbformat output (from an Output widget's state) as HTML, images inline."""
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{html.escape(output.get('text', ''))}</pre>"
    if kind == "error":
        return f"<pre>{html.escape(output.get('ename', ''))}: {html.escape(output.get('evalue', ''))}</pre>"
    data = output.get("data", {})
    if WIDGET_VIEW in data:
        return widget_html(data[WIDGET_VIEW].get("model_id", ""), models)
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            payload = "".join(data[mime]) if isinstance(data[mime], list) else data[mime]
            return f"<img src='data:{mime};base64,{payload.strip()}' alt='figure'>"
    if "image/svg+xml" in data:
        svg = "".join(data["image/svg+xml"]) if isinstance(data["image/svg+xml"], list) else data["image/svg+xml"]
        return f"<img src='data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}' alt='figure'>"
    if "text/html" in data:
        return "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
    if "text/plain" in data:
        text = "".join(data["text/plain"]) if isinstance(data["text/plain"], list) else data["text/plain"]
        return f"<pre>{html.escape(text)}</pre>"
    return ""


def widget_html(model_id: str, models: dict, _depth: int = 0) -> str:
    """The widget `model_id` (and its children) as static HTML, from the saved widget state."""
    model = models.get(model_id)
    if model is None or _depth > 50:
        return "<span class='course-widget'>[widget not saved]</span>"
    name, state = model.get("model_name", ""), model.get("state", {})
    value = state.get("value")
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel", "StackModel"):
        kind = "course-widget-vbox" if name in ("VBoxModel", "AccordionModel", "TabModel", "StackModel") else ""
        children = "".join(widget_html(_ref(c) or "", models, _depth + 1) for c in state.get("children", []))
        return f"<div class='course-widget course-widget-box {kind}'>{children}</div>"
    if name == "OutputModel":
        inner = "".join(_output_html(o, models) for o in state.get("outputs", []))
        return f"<div class='course-widget course-widget-output'>{inner}</div>"
    if name in ("IntSliderModel", "FloatSliderModel", "FloatLogSliderModel"):
        control = (f"<input type='range' min='{state.get('min')}' max='{state.get('max')}' "
                   f"step='{state.get('step') or 'any'}' value='{value}' disabled><output>{value}</output>")
        return _labelled(state, control)
    if name in ("SelectionSliderModel", "DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel"):
        labels, index = state.get("_options_labels", []), state.get("index")
        options = "".join(f"<option{' selected' if i == index else ''}>{html.escape(str(label))}</option>"
                          for i, label in enumerate(labels))
        return _labelled(state, f"<select disabled>{options}</select>")
    if name in ("IntRangeSliderModel", "FloatRangeSliderModel"):
        return _labelled(state, f"<output>{html.escape(str(value))}</output>")
    if name in ("FloatProgressModel", "IntProgressModel"):
        return _labelled(state, f"<progress value='{value}' max='{state.get('max')}'></progress>")
    if name in ("HTMLModel", "HTMLMathModel"):
        return _labelled(state, f"<div>{value or ''}</div>") if state.get("description") else f"<div>{value or ''}</div>"
    if name in ("CheckboxModel", "ToggleButtonModel"):
        return _labelled(state, f"<input type='checkbox' disabled{' checked' if value else ''}>")
    if name == "ButtonModel":
        return f"<button disabled>{html.escape(state.get('description', ''))}</button>"
    if name == "ImageModel":
        return "<span class='course-widget'>[image widget]</span>"
    if value is not None:  # Label, Text, IntText, ... : show the value
        return _labelled(state, f"<output>{html.escape(str(value))}</output>")
    return f"<span class='course-widget'>[{html.escape(name)}]</span>"


def render_widgets_static(nb: nbformat.NotebookNode) -> int:
    """Replace every widget output by static HTML drawn from the notebook's saved widget state.

    Returns the number of widgets drawn. Widgets whose state was not saved keep their text fallback.
    The state itself is dropped from the metadata, so nbconvert adds no (remote) widget manager script.
    """
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    drawn = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id") in models:
                output["data"] = {"text/html": widget_html(view["model_id"], models)}
                drawn += 1
    nb.metadata.pop("widgets", None)
    return drawn


# ---- offline check ---------------------------------------------------------------------------
