package main

// Views: how API messages are printed. protojson writes bytes as base64 and
// 64-bit integers as strings; scripts want hashes in hex and heights as
// numbers, so messages are turned into an ordered view instead: fields in
// declaration order, under their proto names, bytes in hex, enums by name,
// unset fields left out. The same view prints as JSON and as indented text.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// viewField is one named value of a view. Values are string, bool, int64,
// uint64, viewV or []any.
type viewField struct {
	name  string
	value any
}

// viewV is an ordered object.
type viewV []viewField

func (v viewV) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.name)
		b.Write(k)
		b.WriteByte(':')
		val, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// with appends a field.
func (v viewV) with(name string, value any) viewV { return append(v, viewField{name, value}) }

// get returns a field's value.
func (v viewV) get(name string) (any, bool) {
	for _, f := range v {
		if f.name == name {
			return f.value, true
		}
	}
	return nil, false
}

// set replaces a field's value, or appends it.
func (v viewV) set(name string, value any) viewV {
	for i := range v {
		if v[i].name == name {
			v[i].value = value
			return v
		}
	}
	return v.with(name, value)
}

// msgView is the view of a message; nil gives an empty view.
func msgView(m proto.Message) viewV {
	if m == nil {
		return viewV{}
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return viewV{}
	}
	var v viewV
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !r.Has(fd) {
			continue
		}
		v = v.with(string(fd.Name()), fieldValue(fd, r.Get(fd)))
	}
	return v
}

func fieldValue(fd protoreflect.FieldDescriptor, val protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := val.List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = scalarValue(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		out := viewV{}
		val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out = out.with(k.String(), scalarValue(fd.MapValue(), mv))
			return true
		})
		return out
	default:
		return scalarValue(fd, val)
	}
}

func scalarValue(fd protoreflect.FieldDescriptor, val protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return msgView(val.Message().Interface())
	case protoreflect.BytesKind:
		return hex.EncodeToString(val.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(val.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(val.Enum())
	case protoreflect.BoolKind:
		return val.Bool()
	case protoreflect.StringKind:
		return val.String()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return val.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return val.Uint()
	default:
		return val.String()
	}
}

// writeView prints a view as indented "name: value" text.
func writeView(w io.Writer, v viewV, indent string) {
	for _, f := range v {
		switch x := f.value.(type) {
		case viewV:
			fmt.Fprintf(w, "%s%s:\n", indent, termText(f.name))
			writeView(w, x, indent+"  ")
		case []any:
			if len(x) == 0 {
				continue
			}
			if _, nested := x[0].(viewV); nested {
				fmt.Fprintf(w, "%s%s:\n", indent, termText(f.name))
				for i, e := range x {
					fmt.Fprintf(w, "%s  - [%d]\n", indent, i)
					writeView(w, e.(viewV), indent+"    ")
				}
				continue
			}
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = scalarText(e)
			}
			fmt.Fprintf(w, "%s%s: %s\n", indent, termText(f.name), strings.Join(parts, ", "))
		default:
			fmt.Fprintf(w, "%s%s: %s\n", indent, termText(f.name), scalarText(x))
		}
	}
}

// scalarText is the text form of a view's scalar; strings, which come
// from the chain, pass through termText.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return termText(x)
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int:
		return strconv.Itoa(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// printView writes v as JSON or text per --output.
func (c *cli) printView(w io.Writer, v viewV) error {
	if c.output == "json" {
		return writeJSON(w, v)
	}
	writeView(w, v, "")
	return nil
}

// eventView is the view of an event: its kind as "type", then the fields.
// blockHash, when given, is added (StreamEvents carries it per block).
func eventView(e *pb.Event, blockHash []byte) viewV {
	v := viewV{}.with("height", e.GetHeight())
	if blockHash != nil {
		v = v.with("block_hash", hex.EncodeToString(blockHash))
	}
	v = v.with("tx_hash", hex.EncodeToString(e.GetTxHash())).
		with("tx_index", uint64(e.GetTxIndex())).
		with("event_index", uint64(e.GetEventIndex())).
		with("time_unix_ms", e.GetTimeUnixMs())
	r := e.ProtoReflect()
	if fd := r.WhichOneof(r.Descriptor().Oneofs().ByName("kind")); fd != nil {
		v = v.with("type", string(fd.Name())).with(string(fd.Name()), msgView(r.Get(fd).Message().Interface()))
	}
	return v
}

// eventLine is one line of text for an event view:
// "height 12 tx 3f2a9c1d record created record_id=r1 ...".
func eventLine(v viewV) string {
	var b strings.Builder
	h, _ := v.get("height")
	fmt.Fprintf(&b, "height %s", scalarText(h))
	if tx, ok := v.get("tx_hash"); ok && tx != "" {
		s := tx.(string)
		fmt.Fprintf(&b, " tx %s", s[:min(len(s), 16)])
	}
	typ, ok := v.get("type")
	if !ok {
		return b.String()
	}
	fmt.Fprintf(&b, " %s", scalarText(typ))
	inner, _ := v.get(typ.(string))
	iv, _ := inner.(viewV)
	if a, ok := iv.get("action"); ok {
		fmt.Fprintf(&b, " %s", scalarText(a))
	}
	for _, f := range iv {
		if f.name == "action" {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", termText(f.name), scalarText(f.value))
	}
	return b.String()
}

// decodeJSONStrict decodes JSON refusing unknown fields.
func decodeJSONStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
