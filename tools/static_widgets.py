"""Replace ipywidgets outputs of an executed notebook by what they showed when it was saved.

A page or a slide deck without a kernel cannot run an explorer, and the JavaScript that would draw
the saved widget state comes from a CDN. The notebooks are saved with their widget state (nbclient
stores it in metadata.widgets), so each widget output can be replaced by static outputs instead:
a line naming the controls and their values, then the outputs of the explorer's `Output` widget
(its figure, an inline PNG). A widget without an `Output` (a tqdm progress bar) becomes its text.
The notebook's widget state is then dropped, so no widget JavaScript is asked for.

Used by the website (docs/course_site.py) and the slides (tools/slides.py); the committed notebooks
are never changed.
"""

import copy
import html
import re

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
NOTE_CLASS = "static-widget-note"  # the line above a widget's static outputs (the site test looks for it)


def _model_id(ref):
    return ref[len("IPY_MODEL_"):] if isinstance(ref, str) and ref.startswith("IPY_MODEL_") else ref


def _walk(states, model_id, seen=None):
    """The widget models of a widget and of its children, depth first, in display order."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in states:
        return
    seen.add(model_id)
    model = states[model_id]
    yield model
    for child in model.get("state", {}).get("children", []):
        yield from _walk(states, _model_id(child), seen)


def _control_value(state):
    """The value a control shows, as text (a selection shows its label), or None for non-controls."""
    if "_options_labels" in state and "index" in state:  # Dropdown, SelectionSlider, ...
        index, labels = state["index"], state["_options_labels"]
        return labels[index] if isinstance(index, int) and 0 <= index < len(labels) else None
    if "value" in state and not isinstance(state["value"], (dict, list)):
        return state["value"]
    return None


def _text(value):
    """Plain text of an HTML widget's value."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(value))).replace("\u2007", " ")


def static_outputs(states, model_id):
    """The static outputs (nbformat output dicts) that stand for the widget `model_id`."""
    models = list(_walk(states, model_id))
    figures = [out for m in models if m.get("model_name") == "OutputModel"
               for out in m.get("state", {}).get("outputs", [])]
    if not figures:  # e.g. tqdm's progress bar: HBox(HTML description, FloatProgress, HTML counts)
        parts = []
        for m in models:
            s, name = m.get("state", {}), m.get("model_name", "")
            if name in ("HTMLModel", "LabelModel") and s.get("value"):
                parts.append(_text(s["value"]))
            elif name.endswith("ProgressModel") and s.get("max"):
                filled = round(10 * min(1.0, float(s.get("value", 0)) / float(s["max"])))
                parts.append("|" + "\u2588" * filled + " " * (10 - filled) + "|")
        if not parts:
            return []
        return [{"output_type": "stream", "name": "stdout", "text": "".join(parts) + "\n"}]
    controls = []
    for m in models:
        s = m.get("state", {})
        value = _control_value(s) if s.get("description") else None
        if value is not None:
            controls.append(f"{_text(s['description'])} = {value}")
    note = "Interactive explorer, shown as saved"
    note += f" ({', '.join(controls)})" if controls else ""
    note += ": run the notebook in JupyterLab to move its controls."
    note_output = {"output_type": "display_data", "metadata": {},
                   "data": {"text/html": f'<p class="{NOTE_CLASS}"><em>{html.escape(note)}</em></p>',
                            "text/plain": note}}
    return [note_output] + [_as_display(out) for out in figures]


def _as_display(output):
    """An Output widget's output as a cell output (execute results become display data)."""
    output = copy.deepcopy(output)
    if output.get("output_type") == "execute_result":
        output["output_type"] = "display_data"
        output.pop("execution_count", None)
    if output.get("output_type") == "display_data":
        output.setdefault("metadata", {})
    return output


def static_widgets(nb):
    """A copy of the notebook dict with every widget output replaced by its static outputs (see above)."""
    nb = copy.deepcopy(nb)
    widgets = nb.get("metadata", {}).pop("widgets", {})
    states = widgets.get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            replacement = static_outputs(states, view.get("model_id"))
            if replacement:
                outputs.extend(replacement)
            else:  # no saved state: keep what a static viewer would show, minus the widget view
                data = {k: v for k, v in out["data"].items() if k != WIDGET_VIEW}
                if data:
                    outputs.append({**out, "data": data})
        cell["outputs"] = outputs
    return nb
