"""The result types: the command's JSON documents as dicts, with notebook views and DataFrames.

Each result *is* the document (a ``dict`` equal to ``json.loads`` of the command's
``--format json`` output); the methods only read it, so keys the command adds later show up
without a change here.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Dict, List, Optional

_UNITS = [(1e15, " P"), (1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")]


def human(v: Any) -> str:
    """A count in 3 significant digits with an SI suffix (8.48 G), as the command's tables print
    it; a symbolic count (a string such as ``"23376*N"``) is shown as it is."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    a = abs(v)
    if a < 999.5:
        return str(int(round(v)))
    scale, suffix = next(((s, u) for s, u in reversed(_UNITS) if a / s < 999.5), _UNITS[0])
    x = v / scale
    digits = 0 if abs(x) >= 99.95 else 1 if abs(x) >= 9.995 else 2
    return f"{x:.{digits}f}{suffix}"


def _sort_key(v: Any) -> float:
    """Integers by value; a symbolic count by its leading coefficient (``"8195202560*N"``)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    m = re.match(r"\s*(\d+)", str(v))
    return float(m.group(1)) if m else 0.0


def _shape(s: Any) -> str:
    if s is None:
        return "?"
    return "x".join(str(d) for d in s) if s else "scalar"


def _pct(part: Any, whole: Any) -> str:
    if isinstance(part, int) and isinstance(whole, int) and whole > 0:
        return f"{100.0 * part / whole:.2f}%"
    return ""


def _pandas():
    try:
        import pandas  # noqa: PLC0415
    except ImportError:
        raise ImportError(
            "onnxscope: DataFrames need pandas, which is not installed "
            "(pip install pandas, or pip install 'onnxscope[pandas]')"
        ) from None
    return pandas


def _html_table(head: List[str], rows: List[List[str]], right_from: int = 1) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        style = ' style="text-align:right"' if i >= right_from else ""
        return f"<{tag}{style}>{html.escape(text)}</{tag}>"

    out = ["<table>", "<thead><tr>"]
    out += [cell("th", i, h) for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _md_table(head: List[str], rows: List[List[str]], right_from: int = 1) -> str:
    def esc(t: str) -> str:
        return t.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in head) + " |"]
    lines.append("|" + "|".join("---" if i < right_from else "---:" for i in range(len(head))) + "|")
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


class _Document(dict):
    """A command's JSON document."""

    def to_json(self, indent: Optional[int] = 2) -> str:
        """The document as JSON text (the command's ``--format json`` output, re-serialised)."""
        return json.dumps(self, indent=indent, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class Profile(_Document):
    """The result of :func:`onnxscope.profile`: the ``profile --format json`` document.

    ``p["totals"]["flops"]``, ``p["nodes"]``, ``p["by_op_type"]``... as in the README's JSON
    schema. A count is an int, or a string expression when it depends on an unbound symbol.
    """

    TOP = 10

    def nodes_frame(self):
        """One row per node (execution order): every scalar key of the node, and
        ``output_shape`` (of its first output, ``1x64x112x112``) in place of the inputs and
        outputs lists. Needs pandas."""
        pd = _pandas()
        rows = []
        for n in self.get("nodes", []):
            row: Dict[str, Any] = {}
            for k, v in n.items():
                if k == "outputs":
                    row["output_shape"] = _shape(v[0].get("shape")) if v else ""
                elif not isinstance(v, (list, dict)):
                    row[k] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def by_op_frame(self):
        """One row per op type (first-appearance order): ``op_type``, ``count``, ``flops``,
        ``macs``, ``params`` and any key the command adds. Needs pandas."""
        pd = _pandas()
        return pd.DataFrame([dict(r) for r in self.get("by_op_type", [])])

    def _summary(self):
        t = self.get("totals", {})
        totals = [
            ["FLOPs", human(t.get("flops")), str(t.get("flops"))],
            ["MACs", human(t.get("macs")), str(t.get("macs"))],
            ["params", human(t.get("params")), str(t.get("params"))],
            ["weight bytes", human(t.get("param_bytes")), str(t.get("param_bytes"))],
            ["activation bytes", human(t.get("activation_bytes")), str(t.get("activation_bytes"))],
            ["nodes", str(t.get("nodes")), str(t.get("nodes"))],
        ]
        flops = t.get("flops")
        nodes = sorted(self.get("nodes", []), key=lambda n: -_sort_key(n.get("flops")))
        top = [
            [
                n.get("name", ""),
                n.get("op_type", ""),
                _shape(n["outputs"][0].get("shape")) if n.get("outputs") else "",
                human(n.get("flops")),
                human(n.get("macs")),
                human(n.get("params")),
                _pct(n.get("flops"), flops),
            ]
            for n in nodes[: self.TOP]
        ]
        ops = [
            [
                r.get("op_type", ""),
                str(r.get("count")),
                human(r.get("flops")),
                human(r.get("macs")),
                human(r.get("params")),
                _pct(r.get("flops"), flops),
            ]
            for r in self.get("by_op_type", [])
        ]
        dims = ", ".join(
            f"{k}={'unbound' if v is None else v}" for k, v in (self.get("dims") or {}).items()
        )
        return totals, top, ops, dims

    _TOTALS_HEAD = ["total", "value", "exact"]
    _TOP_HEAD = ["name", "op_type", "output_shape", "flops", "macs", "params", "flops_pct"]
    _OPS_HEAD = ["op_type", "count", "flops", "macs", "params", "flops_pct"]

    def _repr_html_(self) -> str:
        totals, top, ops, dims = self._summary()
        path = (self.get("model") or {}).get("path", "")
        parts = [f"<div><p><b>{html.escape(str(path))}</b>"]
        if dims:
            parts.append(f" ({html.escape(dims)})")
        parts.append("</p>")
        parts.append(_html_table(self._TOTALS_HEAD, totals))
        parts.append(f"<p>Top {len(top)} nodes by FLOPs</p>")
        parts.append(_html_table(self._TOP_HEAD, top, right_from=3))
        parts.append("<p>By op type</p>")
        parts.append(_html_table(self._OPS_HEAD, ops))
        for w in self.get("warnings", []):
            parts.append(f"<p>warning: {html.escape(str(w))}</p>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_markdown_(self) -> str:
        totals, top, ops, dims = self._summary()
        path = (self.get("model") or {}).get("path", "")
        out = [f"**{path}**" + (f" ({dims})" if dims else ""), ""]
        out += [_md_table(self._TOTALS_HEAD, totals), ""]
        out += [f"Top {len(top)} nodes by FLOPs", "", _md_table(self._TOP_HEAD, top, 3), ""]
        out += ["By op type", "", _md_table(self._OPS_HEAD, ops)]
        out += [f"\nwarning: {w}" for w in self.get("warnings", [])]
        return "\n".join(out)


class Comparison(_Document):
    """The result of :func:`onnxscope.compare`: the ``compare --format json`` document
    (``models``, ``by``, ``rows`` with ``values``, ``delta``, ``delta_pct``, ``node_diff``)."""

    def _table(self):
        labels = [m.get("label") or m.get("path", "") for m in self.get("models", [])]
        head = ["key"] + labels
        rows = []
        for r in self.get("rows", []):
            cells = [str(r.get("key", ""))]
            deltas = r.get("delta_pct") or []
            for i, v in enumerate(r.get("values", [])):
                d = deltas[i] if i < len(deltas) else None
                cells.append(human(v) + (f" ({d:+.2f}%)" if isinstance(d, (int, float)) and i else ""))
            rows.append(cells)
        return head, rows

    def _repr_html_(self) -> str:
        return _html_table(*self._table())

    def _repr_markdown_(self) -> str:
        return _md_table(*self._table())


class CheckResult(_Document):
    """The result of :func:`onnxscope.check`: the ``check --format json`` document, with
    ``.passed``, ``.violations`` and ``.exit_code`` (the command's: 0 passed, 1 over budget)."""

    def __init__(self, doc: Dict[str, Any], exit_code: int = 0):
        super().__init__(doc)
        self.exit_code = exit_code

    @property
    def passed(self) -> bool:
        """True when every model is within every limit."""
        return bool(self.get("pass"))

    @property
    def violations(self) -> List[Dict[str, Any]]:
        """The failed checks of every model, each the check's dict (``name``, ``value``,
        ``limit``, ``margin``, ``source``, ``message``, ...) with the model's ``path`` added as
        ``model``."""
        return [
            {**c, "model": m.get("path")}
            for m in self.get("models", [])
            for c in m.get("checks", [])
            if not c.get("pass")
        ]

    def _rows(self):
        return [
            [
                str(m.get("path", "")),
                str(c.get("name", "")),
                str(c.get("value")),
                str(c.get("limit")),
                str(c.get("margin")),
                "pass" if c.get("pass") else "FAIL",
            ]
            for m in self.get("models", [])
            for c in m.get("checks", [])
        ]

    _HEAD = ["model", "check", "value", "limit", "margin", "result"]

    def _repr_html_(self) -> str:
        return _html_table(self._HEAD, self._rows(), right_from=2)

    def _repr_markdown_(self) -> str:
        return _md_table(self._HEAD, self._rows(), right_from=2)
