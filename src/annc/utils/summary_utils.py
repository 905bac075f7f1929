"""``model.summary()``: Keras 3's box-drawn layer table, as plain text.

Keras 3 renders the table with ``rich``; annc has no such dependency, so this module lays the
table out itself with the same column arithmetic, so the text is the same as Keras 3 prints to a
log or to ``print_fn`` (no colours or bold are emitted, on a terminal or elsewhere).

What the model must offer: ``name``, ``layers``; each layer ``name``, ``output_shape``,
``count_params()``, ``built``, ``trainable_weights``/``non_trainable_weights`` (arrays); the model's
own ``trainable_weights``/``non_trainable_weights`` when it has them, and ``optimizer`` (None, or
an object with ``variables``; an optimizer with ``built == False`` is left out, as in Keras).
"""
from __future__ import annotations

import math
import re
import shutil
import sys
from typing import Any, Callable, List, Optional, Sequence

__all__ = [
    "print_summary",
    "count_params",
    "weight_memory_size",
    "readable_memory_size",
    "get_layer_index_bound_by_layer_name",
]

# Box characters of rich's HEAVY_HEAD box, the one Keras's table uses.
_HEAD_TOP = ("┏", "━", "┳", "┓")
_HEAD_ROW = ("┃", "┃", "┃")
_HEAD_SEP = ("┡", "━", "╇", "┩")
_ROW = ("│", "│", "│")
_ROW_SEP = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")
_ELLIPSIS = "…"
_CELL_PADDING = 1  # one space each side of every cell


# -- parameter counting -----------------------------------------------------------------------


def _unique(weights: Sequence[Any]) -> List[Any]:
    # Shared weights appear once per owner; count each array once.
    seen = {}
    for w in weights:
        seen.setdefault(id(w), w)
    return list(seen.values())


def count_params(weights: Sequence[Any]) -> int:
    """Number of scalars in ``weights`` (each distinct array counted once)."""
    return int(sum(math.prod(getattr(w, "shape", ())) for w in _unique(weights)))


def weight_memory_size(weights: Sequence[Any]) -> int:
    """Bytes taken by ``weights``; arrays without a dtype are taken as float32."""
    total = 0
    for w in _unique(weights):
        itemsize = getattr(getattr(w, "dtype", None), "itemsize", 4)
        total += math.prod(getattr(w, "shape", ())) * itemsize
    return int(total)


def readable_memory_size(size: float) -> str:
    """``310.59 KB``-style size with 1024 steps, as Keras prints it."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    for unit in units:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} {units[-1]}"


# -- layer fields -----------------------------------------------------------------------------


def _format_shape(shape: Any) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _format_output_shape(layer: Any) -> str:
    try:
        shape = layer.output_shape
    except Exception:  # an unbuilt layer may refuse to answer; Keras shows "?"
        return "?"
    if shape is None:
        return "?"
    if isinstance(shape, (list, tuple)) and shape and all(
        isinstance(s, (list, tuple)) for s in shape
    ):
        # Several outputs: a list of shapes, printed like Keras without quotes.
        inner = ", ".join(_format_shape(s) for s in shape)
        return f"[{inner}]" if isinstance(shape, list) else f"({inner})"
    if isinstance(shape, (list, tuple)):
        return _format_shape(shape)
    return str(shape)


def _format_params(layer: Any) -> str:
    if not hasattr(layer, "built"):
        return "0"
    if not layer.built:
        return "0 (unbuilt)"
    return f"{int(layer.count_params()):,}"


def _format_trainable(layer: Any) -> str:
    weights = list(getattr(layer, "trainable_weights", [])) + list(
        getattr(layer, "non_trainable_weights", [])
    )
    if not weights:
        return "-"
    return "Y" if getattr(layer, "trainable", True) else "N"


# -- rich-compatible column arithmetic ----------------------------------------------------------


def _shrink_evenly(excess: int, widths: List[int]) -> List[int]:
    """Take ``excess`` columns away, spread evenly left to right (rich's ratio_reduce)."""
    out = []
    remaining, slots = excess, sum(1 for w in widths if w)
    for w in widths:
        if w and slots > 0:
            cut = min(w, round(remaining / slots))
            out.append(w - cut)
            remaining -= cut
            slots -= 1
        else:
            out.append(w)
    return out


def _grow_proportionally(extra: int, widths: List[int]) -> List[int]:
    """Hand out ``extra`` columns in proportion to the widths (rich's ratio_distribute)."""
    out = []
    remaining, weight_left = extra, sum(widths)
    for w in widths:
        share = max(0, math.ceil(w * remaining / weight_left)) if weight_left > 0 else remaining
        out.append(w + share)
        weight_left -= w
        remaining -= share
    return out


def _cell_widths(column_widths: List[int], line_length: int) -> List[int]:
    """Widths of the cells (padding included, borders excluded) for a table of ``line_length``."""
    inner = line_length - (len(column_widths) + 1)  # one border character per column, plus one
    widths = [min(w + 2 * _CELL_PADDING, inner) for w in column_widths]
    total = sum(widths)
    if total > inner:
        widths = _shrink_evenly(total - inner, widths)
    elif total < inner:
        widths = _grow_proportionally(inner - total, widths)
    return widths


def _wrap(text: str, width: int) -> List[str]:
    """Greedy word wrap; a word longer than the cell is cut with an ellipsis."""
    if width <= 0:
        return [""]
    lines: List[str] = []
    current = ""
    # Leading blanks stay with the first word (nested-layer indentation survives).
    for word in re.findall(r"\s*\S+\s*", text) or [""]:
        candidate = current + word
        if current and len(candidate.rstrip()) > width:
            lines.append(current.rstrip())
            current = word
        else:
            current = candidate
    lines.append(current.rstrip())
    return [line if len(line) <= width else line[: width - 1] + _ELLIPSIS for line in lines]


def _justify(text: str, width: int, how: str) -> str:
    gap = width - len(text)
    if how == "right":
        return " " * gap + text
    if how == "center":
        left = gap // 2
        return " " * left + text + " " * (gap - left)
    return text + " " * gap


def _rule(chars: Sequence[str], widths: List[int]) -> str:
    left, fill, cross, right = chars
    return left + cross.join(fill * w for w in widths) + right


def _render_row(
    cells: List[str], widths: List[int], align: List[str], bars: Sequence[str], bottom: bool = False
) -> List[str]:
    left, mid, right = bars
    wrapped = [_wrap(c, w - 2 * _CELL_PADDING) for c, w in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    if bottom:
        # Header cells sit on the rule below them when a neighbour wraps onto more lines.
        wrapped = [[""] * (height - len(w)) + w for w in wrapped]
    out = []
    for i in range(height):
        parts = []
        for lines, w, how in zip(wrapped, widths, align):
            text = lines[i] if i < len(lines) else ""
            pad = " " * _CELL_PADDING
            parts.append(pad + _justify(text, w - 2 * _CELL_PADDING, how) + pad)
        out.append(left + mid.join(parts) + right)
    return out


# -- layer selection --------------------------------------------------------------------------


def get_layer_index_bound_by_layer_name(layers: Sequence[Any], layer_range: Optional[Sequence[str]] = None) -> List[int]:
    """``[first, last + 1]`` indices of the layers whose names match ``layer_range`` (regexes)."""
    if layer_range is None:
        return [0, len(layers)]
    if len(layer_range) != 2:
        raise ValueError(
            "layer_range must be a list or tuple of two layer names (or regexes), "
            f"first and last layer to show; received {layer_range!r} of length {len(layer_range)}."
        )
    if not all(isinstance(n, str) for n in layer_range):
        raise ValueError(f"layer_range must contain strings only; received {layer_range!r}.")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        names = ", ".join(layer.name for layer in layers)
        raise ValueError(
            f"layer_range {list(layer_range)!r} does not match the model's layers ({names})."
        )
    if min(lower) > max(upper):
        return [min(upper), max(lower) + 1]
    return [min(lower), max(upper) + 1]


# -- the summary ------------------------------------------------------------------------------


def _model_weights(model: Any, attr: str) -> List[Any]:
    weights = getattr(model, attr, None)
    if weights is None:
        weights = [w for layer in getattr(model, "layers", []) for w in getattr(layer, attr, [])]
    return list(weights)


def _optimizer_variables(model: Any) -> Optional[List[Any]]:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or getattr(optimizer, "built", True) is False:
        return None
    variables = getattr(optimizer, "variables", None)
    if callable(variables):
        variables = variables()
    if not variables:
        return None
    return list(variables)


def summary_lines(
    model: Any,
    line_length: Optional[int] = None,
    positions: Optional[Sequence[float]] = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: Optional[Sequence[str]] = None,
) -> List[str]:
    """The lines of ``print_summary``'s output, without newlines."""
    layers = list(getattr(model, "layers", []))
    default_line_length = 88
    positions = list(positions) if positions else [0.45, 0.80, 1.0]
    header = ["Layer (type)", "Output Shape", "Param #"]
    align = ["left", "left", "right"]
    if show_trainable:
        default_line_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        align.append("center")
    # Keras fits the table into the terminal, keeping 4 columns spare.
    default_line_length = min(default_line_length, shutil.get_terminal_size().columns - 4)
    line_length = int(line_length or default_line_length)

    if len(positions) != len(header):
        raise ValueError(
            f"positions must give {len(header)} column ends for columns {header}; "
            f"received {positions!r}."
        )
    if positions[-1] <= 1:
        ends = [int(p * line_length) for p in positions]
    else:  # Keras 2 also accepted absolute column ends
        ends = [int(p) for p in positions]
    column_widths = []
    start = 0
    for end in ends:
        width = end - start
        if width < 4:
            raise ValueError(
                f"Insufficient console width to print summary (line_length={line_length}); "
                "pass a larger line_length."
            )
        column_widths.append(width)
        start += width
    widths = _cell_widths(column_widths, line_length)

    def fields(layer: Any, prefix: str) -> List[str]:
        row = [
            f"{prefix}{layer.name} ({layer.__class__.__name__})",
            _format_output_shape(layer),
            _format_params(layer),
        ]
        if show_trainable:
            row.append(_format_trainable(layer))
        return row

    def rows_for(layer: Any, level: int = 0) -> List[List[str]]:
        prefix = "   " * level + "└ " if level else ""
        rows = [fields(layer, prefix)]
        nested = getattr(layer, "layers", None) if expand_nested else None
        if nested:
            for sub in nested:
                rows.extend(rows_for(sub, level + 1))
        return rows

    lo, hi = get_layer_index_bound_by_layer_name(layers, layer_range)
    body = [row for layer in layers[lo:hi] for row in rows_for(layer)]

    lines = [f'Model: "{model.name}"', _rule(_HEAD_TOP, widths)]
    lines += _render_row(header, widths, align, _HEAD_ROW, bottom=True)
    lines.append(_rule(_HEAD_SEP, widths))
    for i, row in enumerate(body):
        if i:
            lines.append(_rule(_ROW_SEP, widths))
        lines += _render_row(row, widths, align, _ROW)
    lines.append(_rule(_BOTTOM, widths))

    trainable = _model_weights(model, "trainable_weights")
    non_trainable = _model_weights(model, "non_trainable_weights")
    trainable_count, trainable_bytes = count_params(trainable), weight_memory_size(trainable)
    frozen_count, frozen_bytes = count_params(non_trainable), weight_memory_size(non_trainable)
    opt_vars = _optimizer_variables(model)
    opt_count = count_params(opt_vars) if opt_vars else 0
    opt_bytes = weight_memory_size(opt_vars) if opt_vars else 0
    total_count = trainable_count + frozen_count + opt_count
    total_bytes = trainable_bytes + frozen_bytes + opt_bytes

    lines.append(f" Total params: {total_count:,} ({readable_memory_size(total_bytes)})")
    lines.append(f" Trainable params: {trainable_count:,} ({readable_memory_size(trainable_bytes)})")
    lines.append(f" Non-trainable params: {frozen_count:,} ({readable_memory_size(frozen_bytes)})")
    if opt_vars:
        lines.append(f" Optimizer params: {opt_count:,} ({readable_memory_size(opt_bytes)})")
    return lines


def print_summary(
    model: Any,
    line_length: Optional[int] = None,
    positions: Optional[Sequence[float]] = None,
    print_fn: Optional[Callable[..., Any]] = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: Optional[Sequence[str]] = None,
) -> None:
    """Print a summary of ``model``: Keras 3's layer table and parameter totals.

    Args:
        model: the model (see the module docstring for what it must offer).
        line_length: total width of the table; default 88, or the terminal width less 4 if
            that is smaller (76 when the width is unknown, as in a log file).
        positions: ends of the columns, as fractions of ``line_length``
            (default ``[0.45, 0.80, 1.0]``).
        print_fn: called once with the whole summary text (ending in a newline), as Keras 3
            does; default writes it to ``sys.stdout``.
        expand_nested: also list the layers of nested models, indented.
        show_trainable: add a ``Trainable`` column (Y / N / - for layers without weights).
        layer_range: two layer names or regexes, first and last layer to show.
    """
    text = "\n".join(
        summary_lines(model, line_length, positions, expand_nested, show_trainable, layer_range)
    ) + "\n"
    if print_fn is not None:
        print_fn(text)
        return
    stream = sys.stdout
    if stream is not None:
        stream.write(text)
        stream.flush()
