#!/usr/bin/env python3
"""Convert an ONNX Runtime `.ort` (FlatBuffers) model back to a plain `.onnx` file.

Why: ONNX Runtime applies no graph optimizations to models loaded in ORT format. The Moonshine
files shipped in `moonshine-cpp` keep their weights as int8 plus a Cast/Mul/Add dequantization
per weight, and their attention blocks unfused, so every decoder step re-dequantizes and
re-transposes ~41 M weights (~100 ms of CPU per token). The same graph loaded as `.onnx` gets
constant folding and fusions at session start, and a step costs a few milliseconds.

The conversion is lossless (same nodes, same initializers, same opsets); only the container
changes. Usage:

    ort_to_onnx.py INPUT.ort OUTPUT.onnx [--ort-tools DIR_OR_WHEEL]

Needs the PyPI packages `onnx` and `flatbuffers`, and the ORT FlatBuffers readers that ship in
the `onnxruntime` wheel (`onnxruntime/tools/ort_format_model/ort_flatbuffers_py`): either an
installed `onnxruntime`, or `--ort-tools` pointing at the wheel file or an unpacked copy.
"""

import argparse
import importlib.util
import os
import sys
import tempfile
import zipfile

import onnx
from onnx import helper

READER_SUBDIR = os.path.join("onnxruntime", "tools", "ort_format_model")


def find_readers(ort_tools):
    """Puts the directory holding `ort_flatbuffers_py` on sys.path."""
    if ort_tools is None:
        spec = importlib.util.find_spec("onnxruntime")
        if spec is None or spec.origin is None:
            sys.exit("onnxruntime is not installed: pass --ort-tools with the onnxruntime wheel")
        root = os.path.dirname(os.path.dirname(spec.origin))
        sys.path.insert(0, os.path.join(root, READER_SUBDIR))
        return
    if zipfile.is_zipfile(ort_tools):
        target = tempfile.mkdtemp(prefix="ort-tools-")
        with zipfile.ZipFile(ort_tools) as wheel:
            members = [m for m in wheel.namelist() if m.startswith(READER_SUBDIR.replace(os.sep, "/"))]
            if not members:
                sys.exit(f"{ort_tools} has no {READER_SUBDIR}")
            wheel.extractall(target, members)
        sys.path.insert(0, os.path.join(target, READER_SUBDIR))
    else:
        candidates = [os.path.join(ort_tools, READER_SUBDIR), ort_tools]
        sys.path.insert(0, next((c for c in candidates if os.path.isdir(os.path.join(c, "ort_flatbuffers_py"))), ort_tools))


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else (value or "")


class Converter:
    def __init__(self, fbs):
        self.fbs = fbs

    def tensor(self, t):
        dims = [t.Dims(i) for i in range(t.DimsLength())]
        proto = onnx.TensorProto()
        proto.name = text(t.Name())
        proto.doc_string = text(t.DocString())
        proto.dims.extend(dims)
        proto.data_type = t.DataType()
        if t.StringDataLength() > 0:
            proto.string_data.extend(t.StringData(i) for i in range(t.StringDataLength()))
        elif t.RawDataLength() > 0:
            proto.raw_data = t.RawDataAsNumpy().tobytes()
        elif t.ExternalDataOffset() > 0:
            sys.exit(f"initializer {proto.name} uses external data, which this converter does not read")
        return proto

    def type_proto(self, type_info):
        proto = onnx.TypeProto()
        if type_info is None or type_info.ValueType() != self.fbs.TypeInfoValue.TypeInfoValue.tensor_type:
            return None
        table = type_info.Value()
        tensor = self.fbs.TensorTypeAndShape.TensorTypeAndShape()
        tensor.Init(table.Bytes, table.Pos)
        proto.tensor_type.elem_type = tensor.ElemType()
        shape = tensor.Shape()
        if shape is not None:
            proto.tensor_type.shape.SetInParent()
            for i in range(shape.DimLength()):
                dim = proto.tensor_type.shape.dim.add()
                value = shape.Dim(i).Value()
                if value is None:
                    continue
                if value.DimType() == self.fbs.DimensionValueType.DimensionValueType.VALUE:
                    dim.dim_value = value.DimValue()
                elif value.DimType() == self.fbs.DimensionValueType.DimensionValueType.PARAM:
                    dim.dim_param = text(value.DimParam())
        return proto

    def attribute(self, a):
        kinds = self.fbs.AttributeType.AttributeType
        proto = onnx.AttributeProto()
        proto.name = text(a.Name())
        proto.doc_string = text(a.DocString())
        kind = a.Type()
        proto.type = kind  # same numbering as onnx.AttributeProto.AttributeType
        if kind == kinds.FLOAT:
            proto.f = a.F()
        elif kind == kinds.INT:
            proto.i = a.I()
        elif kind == kinds.STRING:
            proto.s = a.S() or b""
        elif kind == kinds.TENSOR:
            proto.t.CopyFrom(self.tensor(a.T()))
        elif kind == kinds.GRAPH:
            proto.g.CopyFrom(self.graph(a.G(), text(a.Name())))
        elif kind == kinds.FLOATS:
            proto.floats.extend(a.Floats(i) for i in range(a.FloatsLength()))
        elif kind == kinds.INTS:
            proto.ints.extend(a.Ints(i) for i in range(a.IntsLength()))
        elif kind == kinds.STRINGS:
            proto.strings.extend(a.Strings(i) for i in range(a.StringsLength()))
        elif kind == kinds.TENSORS:
            proto.tensors.extend(self.tensor(a.Tensors(i)) for i in range(a.TensorsLength()))
        elif kind == kinds.GRAPHS:
            proto.graphs.extend(self.graph(a.Graphs(i), f"{proto.name}_{i}") for i in range(a.GraphsLength()))
        else:
            sys.exit(f"attribute {proto.name}: unsupported type {kind}")
        return proto

    def graph(self, g, name):
        fused = self.fbs.NodeType.NodeType.Fused
        types = {}
        for i in range(g.NodeArgsLength()):
            arg = g.NodeArgs(i)
            types[text(arg.Name())] = self.type_proto(arg.Type())
        initializers = [self.tensor(g.Initializers(i)) for i in range(g.InitializersLength())]
        if g.SparseInitializersLength():
            sys.exit(f"graph {name}: sparse initializers are not supported")
        nodes = []
        for i in range(g.NodesLength()):
            n = g.Nodes(i)
            if n.Type() == fused:
                sys.exit(f"graph {name}: fused node {text(n.Name())} cannot be written as ONNX")
            node = helper.make_node(
                text(n.OpType()),
                [text(n.Inputs(j)) for j in range(n.InputsLength())],
                [text(n.Outputs(j)) for j in range(n.OutputsLength())],
                name=text(n.Name()),
                domain=text(n.Domain()),
            )
            node.doc_string = text(n.DocString())
            node.attribute.extend(self.attribute(n.Attributes(j)) for j in range(n.AttributesLength()))
            nodes.append((n.Index(), node))
        nodes.sort(key=lambda pair: pair[0])

        def value_info(value_name):
            info = onnx.ValueInfoProto()
            info.name = value_name
            if types.get(value_name) is not None:
                info.type.CopyFrom(types[value_name])
            return info

        init_names = {t.name for t in initializers}
        inputs = [text(g.Inputs(i)) for i in range(g.InputsLength())]
        outputs = [text(g.Outputs(i)) for i in range(g.OutputsLength())]
        graph = onnx.GraphProto()
        graph.name = name
        graph.node.extend(node for _, node in nodes)
        graph.initializer.extend(initializers)
        graph.input.extend(value_info(v) for v in inputs)
        graph.output.extend(value_info(v) for v in outputs)
        listed = set(inputs) | set(outputs) | init_names
        graph.value_info.extend(
            value_info(v) for v, t in types.items() if v and v not in listed and t is not None
        )
        return graph

    def model(self, m):
        proto = onnx.ModelProto()
        proto.ir_version = m.IrVersion()
        proto.producer_name = text(m.ProducerName()) or "ort_to_onnx"
        proto.producer_version = text(m.ProducerVersion())
        proto.domain = text(m.Domain())
        proto.model_version = m.ModelVersion()
        proto.doc_string = text(m.DocString())
        for i in range(m.OpsetImportLength()):
            opset = m.OpsetImport(i)
            entry = proto.opset_import.add()
            entry.domain = text(opset.Domain())
            entry.version = opset.Version()
        for i in range(m.MetadataPropsLength()):
            prop = m.MetadataProps(i)
            entry = proto.metadata_props.add()
            entry.key = text(prop.Key())
            entry.value = text(prop.Value())
        proto.graph.CopyFrom(self.graph(m.Graph(), "main_graph"))
        return proto


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", help="model in ORT format (.ort)")
    parser.add_argument("output", help="where to write the .onnx model")
    parser.add_argument("--ort-tools", help="onnxruntime wheel, or a folder holding its tools")
    args = parser.parse_args()
    find_readers(args.ort_tools)
    from ort_flatbuffers_py import fbs  # noqa: E402  (found by find_readers)
    from ort_flatbuffers_py.fbs import (  # noqa: F401,E402  (submodules used via fbs.X)
        AttributeType, DimensionValueType, InferenceSession, NodeType, TensorTypeAndShape, TypeInfoValue,
    )

    with open(args.input, "rb") as f:
        buffer = f.read()
    session = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(buffer, 0)
    model = Converter(fbs).model(session.Model())
    onnx.checker.check_model(model, full_check=False)
    tmp = args.output + ".part"
    onnx.save(model, tmp)
    os.replace(tmp, args.output)
    print(f"{args.input} -> {args.output}: {len(model.graph.node)} nodes, "
          f"{len(model.graph.initializer)} initializers")


if __name__ == "__main__":
    main()
