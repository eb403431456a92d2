"""Intermediate tensors of an ONNX model in onnxruntime, with bounded memory.

``mode="segments"`` cuts the graph after the nodes that compute the wanted tensors, a few
wanted tensors per cut, and runs one small model per segment, feeding each the tensors
the previous ones computed and later nodes still need. Each tensor is handed out as soon
as its segment ran, and dropped from the live set when no later node reads it, so peak
memory is one segment's tensors plus the live frontier, not every tensor of the model.
``mode="all"`` adds every wanted tensor as a graph output of one run, the way
``polygraphy --onnx-outputs mark all`` does: the reference the segmented run must equal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort

from convstudy.localization.graph.onnx_graph import GraphView


def session_options() -> ort.SessionOptions:
    """One thread per session: the machine's cores are shared with other jobs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


#: onnxruntime's rewrite that moves quantize/dequantize pairs across MaxPool, Reshape and
#: Transpose (exact: those commute with a monotone grid). On a segment cut between a
#: QuantizeLinear and its DequantizeLinear at opset 21 it writes a QuantizeLinear whose
#: declared output type contradicts its zero point, and the session refuses to load.
DISABLED_OPTIMIZERS = ["QDQPropagationTransformer"]


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A CPU onnxruntime session of ``model`` with the options above."""
    return ort.InferenceSession(
        model.SerializeToString(),
        session_options(),
        providers=["CPUExecutionProvider"],
        disabled_optimizers=DISABLED_OPTIMIZERS,
    )


def run(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The graph outputs of one run."""
    return [np.asarray(x) for x in session(model).run(None, dict(feeds))]


def _value_info(name: str, value: np.ndarray) -> onnx.ValueInfoProto:
    elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
    return onnx.helper.make_tensor_value_info(name, elem, list(value.shape))


def _with_outputs(model: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    present = {o.name for o in out.graph.output}
    for name in names:
        if name not in present:
            out.graph.output.append(onnx.ValueInfoProto(name=name))
            present.add(name)
    return out


class TensorStream:
    """Yields ``(name, value)`` for the wanted tensors of one model, in graph order.

    Args:
        model: the model (not modified).
        wanted: tensor names to hand out (graph inputs, node outputs or initializers).
        mode: "segments" (bounded memory) or "all" (one run, every tensor at once).
        per_segment: wanted tensors per segment in "segments" mode.
        view: an existing view of ``model``, to avoid indexing it twice.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        wanted: Sequence[str],
        *,
        mode: str = "segments",
        per_segment: int = 6,
        view: GraphView | None = None,
    ) -> None:
        if mode not in ("segments", "all"):
            raise ValueError(f"mode must be 'segments' or 'all', got {mode!r}")
        self.model = model
        self.view = view or GraphView(model)
        self.mode = mode
        self.per_segment = max(1, per_segment)
        self.wanted = list(dict.fromkeys(wanted))
        self.segments_run = 0

    def position(self, name: str) -> int:
        """Index of the node computing ``name``; -1 for inputs and constants."""
        return self.view.producer.get(name, -1)

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray]]:
        """Run on ``feeds`` (graph input name -> array) and yield the wanted tensors."""
        view = self.view
        early = [n for n in self.wanted if self.position(n) < 0]
        for name in early:
            if name in feeds:
                yield name, np.asarray(feeds[name])
            else:
                value = view.const(name)
                if value is None:
                    raise KeyError(f"{name!r} is neither fed nor constant")
                yield name, value
        later = sorted((n for n in self.wanted if n not in early), key=self.position)
        if not later:
            return
        if self.mode == "all":
            sess = session(_with_outputs(self.model, later))
            self.segments_run = 1
            values = sess.run(later, dict(feeds))
            yield from zip(later, (np.asarray(v) for v in values), strict=True)
            return
        yield from self._segments(feeds, later)

    def _segments(
        self, feeds: Mapping[str, np.ndarray], later: list[str]
    ) -> Iterator[tuple[str, np.ndarray]]:
        view = self.view
        last_use: dict[str, int] = {}
        for index, names in enumerate(view.node_inputs):
            for name in names:
                last_use[name] = index
        end = len(view.nodes)
        for name in view.outputs:
            last_use[name] = end
        cuts: list[int] = []
        group: list[str] = []
        for name in later:
            group.append(name)
            if len(group) == self.per_segment:
                cuts.append(self.position(name))
                group = []
        if group:
            cuts.append(self.position(group[-1]))
        live: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in feeds.items()}
        start = 0
        pending = list(later)
        for cut in dict.fromkeys(cuts):
            stop = cut + 1
            inside = range(start, stop)
            produced = {o for i in inside for o in view.nodes[i].output if o}
            outputs = [n for n in pending if view.producer.get(n, -1) in inside]
            outputs += sorted(n for n in produced if last_use.get(n, -1) >= stop)
            outputs = list(dict.fromkeys(outputs))
            values = self._run_segment(start, stop, live, outputs)
            self.segments_run += 1
            for name, value in zip(outputs, values, strict=True):
                live[name] = value
            for name in [n for n in pending if n in produced]:
                yield name, live[name]
            pending = [n for n in pending if n not in produced]
            for name in list(live):
                if last_use.get(name, -1) < stop and name not in view.outputs:
                    del live[name]
            start = stop
        if pending:
            raise KeyError(f"tensors not computed: {pending[:3]}")

    def _run_segment(
        self, start: int, stop: int, live: Mapping[str, np.ndarray], outputs: list[str]
    ) -> list[np.ndarray]:
        view = self.view
        nodes = [view.nodes[i] for i in range(start, stop)]
        produced = {o for n in nodes for o in n.output if o}
        reads: list[str] = []
        for i in range(start, stop):
            reads.extend(n for n in view.node_inputs[i] if n not in produced)
        reads = list(dict.fromkeys(reads))
        inits = [view.initializers[n] for n in reads if n in view.initializers and n not in live]
        fed = [n for n in reads if n in live]
        missing = [n for n in reads if n not in live and n not in view.initializers]
        if missing:
            raise KeyError(f"segment {start}:{stop} lacks {missing[:3]}")
        graph = onnx.helper.make_graph(
            nodes,
            f"segment_{start}_{stop}",
            inputs=[_value_info(n, live[n]) for n in fed],
            outputs=[onnx.ValueInfoProto(name=n) for n in outputs],
            initializer=inits,
        )
        model = onnx.helper.make_model(
            graph, opset_imports=list(self.model.opset_import), ir_version=self.model.ir_version
        )
        model.functions.extend(self.model.functions)
        sess = session(model)
        values = sess.run(outputs, {n: live[n] for n in fed})
        return [np.asarray(v) for v in values]
