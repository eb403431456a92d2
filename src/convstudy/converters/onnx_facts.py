"""Facts read back from a written ONNX file."""

from __future__ import annotations

from pathlib import Path


def opset_written(path: Path) -> int:
    """The default-domain opset an ONNX file declares."""
    import onnx

    written = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in written.opset_import if o.domain in ("", "ai.onnx"))


#: Node metadata that records where the exporter ran (file paths of the checkout and the
#: environment): the same model exported from two clones would differ by it.
LOCAL_METADATA = ("pkg.torch.onnx.stack_trace",)


def strip_local_metadata(path: Path) -> int:
    """Remove :data:`LOCAL_METADATA` from every node of the ONNX file at ``path`` (its
    subgraphs and functions included), in place; return how many entries were removed."""
    import onnx

    model = onnx.load(str(path))
    removed = 0

    def graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
        found = [graph]
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.g.node:
                    found += graphs(attribute.g)
                for sub in attribute.graphs:
                    found += graphs(sub)
        return found

    nodes = [n for g in graphs(model.graph) for n in g.node]
    nodes += [n for function in model.functions for n in function.node]
    for node in nodes:
        kept = [p for p in node.metadata_props if p.key not in LOCAL_METADATA]
        removed += len(node.metadata_props) - len(kept)
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))
    return removed
