"""How the nodes of one fused loop kernel map onto its iteration space.

A loop kernel iterates over a domain shape D, seen as rows x columns (R = prod(D[:-1]), C = D[-1]). Every
value it touches is one of four kinds:

    full    shape D                     read and written at [r, c]
    row     shape D[:-1] or D[:-1]+(1,) one value per row (a row reduction: softmax's max and sum)
    col     shape (C,)                  one value per column (a bias; a column reduction: the bias gradient)
    scalar  all dimensions 1            one value (the loss; a learning rate)

Column and whole-domain reductions finish only after the last row; nodes that read them are "post" nodes
and may only be scalar or col (they run after the row loop). Row reductions need a pass over the columns of
a row; their nesting depth ("level") decides how many column passes a row takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op

FULL, ROW, COL, SCALAR = "full", "row", "col", "scalar"
IDENTITY = "identity"  # a reduction over unit axes only: a copy
_ORDER = {SCALAR: 0, ROW: 1, COL: 1, FULL: 2}
REDUCTIONS = {"sum", "max", "min", "argmax", "argmin"}


def classify(shape, domain) -> str | None:
    """The kind of a value of `shape` inside a loop over `domain`, or None when it does not map onto it.

    Unit dimensions do not change a contiguous value's layout, so they are ignored where broadcasting allows.
    """
    shape, domain = tuple(shape), tuple(domain)
    if _squeeze(shape) == _squeeze(domain):
        return FULL
    if all(d == 1 for d in shape):
        return SCALAR
    lead, cols = domain[:-1], domain[-1:]
    # Broadcasting aligns shapes on the right: (C,) in a (C, C) loop is a column value, not a row value.
    if shape[-1:] == cols and _squeeze(shape) == cols:
        return COL
    if lead and (shape in (lead, lead + (1,)) or (shape[-1:] == (1,) and _squeeze(shape) == _squeeze(lead))):
        return ROW
    return None


def _squeeze(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def _join(kinds):
    kinds = set(kinds) or {SCALAR}
    if {ROW, COL} <= kinds:
        return FULL
    return max(kinds, key=_ORDER.__getitem__)


@dataclass
class LoopAnalysis:
    """The kinds, post flags and row-reduction levels of a group's nodes (see the module note)."""

    domain: tuple
    kind: dict[int, str] = field(default_factory=dict)
    post: dict[int, bool] = field(default_factory=dict)
    level: dict[int, int] = field(default_factory=dict)
    reduction_kind: dict[int, str] = field(default_factory=dict)

    def external_kind(self, graph: Graph, value: int) -> str:
        """The kind of a value read from memory (an input of the loop)."""
        return classify(graph.type(value).shape, self.domain)

    @property
    def levels(self) -> int:
        return max((lv for n, lv in self.level.items() if self.reduction_kind.get(n) == ROW), default=0)


class Unfusable(Exception):
    """Raised with the reason a set of nodes cannot run as one loop."""


def analyze(graph: Graph, nodes: list[int], domain: tuple, anchor: int | None = None) -> LoopAnalysis:
    """Kinds of every node of a candidate group, in topological order; raises Unfusable with the reason."""
    members = set(nodes)
    info = LoopAnalysis(tuple(domain))

    def kind_of(value: int) -> str:
        if value in members:
            return info.kind[value]
        shape = graph.type(value).shape
        kind = classify(shape, domain)
        if kind is None:
            raise Unfusable(
                f"input %{value} of shape {_fmt(shape)} does not map onto the loop over {_fmt(domain)}"
            )
        return kind

    for node_id in nodes:
        node = graph.node(node_id)
        values = node.inputs[1:] if node.op == "assign" else () if node_id == anchor else node.inputs
        in_kinds = [kind_of(i) for i in values]
        post = any(info.post.get(i, False) for i in values)
        level = max((info.level.get(i, 0) for i in values), default=0)
        if node_id == anchor:
            kind = FULL
        elif node.op in REDUCTIONS:
            kind, crosses_rows = _reduction_kind(
                in_kinds[0], graph.type(values[0]).shape, node.attrs["axes"], domain
            )
            if kind is None:
                raise Unfusable(
                    f"%{node_id} = {node.op} over axes {node.attrs['axes']} is not a row, column or "
                    f"whole reduction of the loop over {_fmt(domain)}"
                )
            if node.op in ("argmax", "argmin") and kind in (COL, SCALAR):
                raise Unfusable(
                    f"%{node_id} = {node.op} across rows keeps the index of each best value, which partial "
                    "results of row groups cannot combine"
                )
            info.reduction_kind[node_id] = kind
            if kind == IDENTITY:
                kind = in_kinds[0]
            elif post:
                raise Unfusable(f"%{node_id} = {node.op} reduces a value that needs all rows first")
            if info.reduction_kind[node_id] == ROW:
                level += 1
            post = post or crosses_rows
        elif node.op == "reshape":
            kind = in_kinds[0]
            if classify(node.type.shape, domain) != kind:
                raise Unfusable(
                    f"%{node_id} = reshape to {_fmt(node.type.shape)} changes how the value maps onto "
                    f"the loop over {_fmt(domain)}"
                )
        else:
            for value, value_kind in zip(values, in_kinds, strict=True):
                if value_kind == ROW and graph.type(value).rank < node.type.rank:
                    raise Unfusable(
                        f"%{node_id} = {node.op} broadcasts the per-row value %{value} against its last axes"
                    )
            kind = _join(in_kinds)
            declared = classify(node.type.shape, domain)
            if declared is None or not _broadcasts_to(kind, declared):
                raise Unfusable(
                    f"%{node_id} = {node.op} of shape {_fmt(node.type.shape)} does not map onto the "
                    f"loop over {_fmt(domain)}"
                )
            kind = declared
        if get_op(node.op).kind == "gemm" and node_id != anchor:
            raise Unfusable(f"%{node_id} = matmul is a kernel of its own")
        if post and kind in (FULL, ROW):
            raise Unfusable(f"%{node_id} = {node.op} needs a reduction over all rows first")
        info.kind[node_id], info.post[node_id], info.level[node_id] = kind, post, level
    return info


def _broadcasts_to(kind: str, declared: str) -> bool:
    return kind in (declared, SCALAR) or declared == FULL


def _reduction_kind(in_kind: str, shape, axes, domain) -> tuple[str | None, bool]:
    """(kind of the result, whether it needs every row first), or (None, False) when the loop cannot do it.

    Reducing unit axes only is a copy ("identity"). Otherwise the value's non-unit axes line up with the
    domain's (classify ignores unit axes), so the reduced axes are read in those squeezed coordinates: the
    last
    one is the loop's columns (when the domain has more than one column), the others its rows.
    """
    effective = [a for a in axes if shape[a] != 1]
    if not effective or in_kind == SCALAR:
        return IDENTITY, False
    non_unit = [i for i, d in enumerate(shape) if d != 1]
    reduced = {non_unit.index(a) for a in effective}
    last = len(non_unit) - 1
    has_columns = bool(domain) and domain[-1] != 1
    if in_kind == FULL:
        if has_columns and reduced == {last}:
            return ROW, False
        if has_columns and last >= 1 and reduced == set(range(last)):
            return COL, True
        if reduced == set(range(last + 1)):
            return SCALAR, True
    if in_kind == ROW and reduced == set(range(last + 1)):
        return SCALAR, True
    return None, False


def _fmt(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
