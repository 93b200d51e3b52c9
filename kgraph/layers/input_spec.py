"""Input requirements of a layer, checked before it builds or runs, with Keras's error messages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class InputSpec:
    ndim: int | None = None
    min_ndim: int | None = None
    axes: dict[int, int] = field(default_factory=dict)


def _fmt(shape) -> str:
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def check_input_spec(layer, spec, shapes) -> None:
    if spec is None:
        return
    specs = spec if isinstance(spec, list) else [spec] * len(shapes)
    for index, (s, shape) in enumerate(zip(specs, shapes, strict=False)):
        if s is None:
            continue
        rank = len(shape)
        if s.ndim is not None and rank != s.ndim:
            raise ValueError(
                f'Input {index} of layer "{layer.name}" is incompatible with the layer: expected '
                f"ndim={s.ndim}, found ndim={rank}. Full shape received: {_fmt(shape)}"
            )
        if s.min_ndim is not None and rank < s.min_ndim:
            raise ValueError(
                f'Input {index} of layer "{layer.name}" is incompatible with the layer: expected '
                f"min_ndim={s.min_ndim}, found ndim={rank}. Full shape received: {_fmt(shape)}"
            )
        for axis, value in s.axes.items():
            if -rank <= axis < rank and shape[axis] not in (None, value):
                raise ValueError(
                    f'Input {index} of layer "{layer.name}" is incompatible with the layer: '
                    f"expected axis {axis} of input shape to have value {value}, but received "
                    f"input with shape {_fmt(shape)}"
                )
