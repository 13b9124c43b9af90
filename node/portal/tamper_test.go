package portal_test

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A tampering of a bundle: one change at one place, named by its path.
type tampering struct {
	name  string
	apply func(*pb.ProofBundle)
}

// step is one step of a path into a message: a field, and the element
// of a list field (-1 for a singular one).
type step struct {
	fd    protoreflect.FieldDescriptor
	index int
}

// tamperings are one change per scalar field of b, everywhere in it: a
// bit flipped in the middle of each bytes value and in the last character
// of each string, one added to each number, each bool negated; and the
// structural ones: a version or an access entry dropped, two versions
// swapped, a version duplicated. It is the bundle's every part, as the
// issue's "any single byte changed" asks.
func tamperings(b *pb.ProofBundle) []tampering {
	var out []tampering
	var walk func(m protoreflect.Message, path []step)
	walk = func(m protoreflect.Message, path []step) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			n := 1
			if fd.IsList() {
				n = v.List().Len()
			}
			for i := range n {
				idx := -1
				if fd.IsList() {
					idx = i
				}
				p := append(append([]step(nil), path...), step{fd, idx})
				elem := v
				if fd.IsList() {
					elem = v.List().Get(i)
				}
				if fd.Kind() == protoreflect.MessageKind {
					walk(elem.Message(), p)
					continue
				}
				if fd.Kind() == protoreflect.BytesKind && len(elem.Bytes()) == 0 || fd.Kind() == protoreflect.StringKind && elem.String() == "" {
					continue
				}
				out = append(out, tampering{name: pathName(p), apply: func(c *pb.ProofBundle) { mutate(c.ProtoReflect(), p) }})
			}
			return true
		})
	}
	walk(b.ProtoReflect(), nil)
	out = append(out,
		tampering{"versions: the second dropped", func(c *pb.ProofBundle) { c.Versions = append(c.Versions[:1], c.Versions[2:]...) }},
		tampering{"versions: the first two swapped", func(c *pb.ProofBundle) { c.Versions[0], c.Versions[1] = c.Versions[1], c.Versions[0] }},
		tampering{"versions: the last duplicated", func(c *pb.ProofBundle) { c.Versions = append(c.Versions, c.Versions[len(c.Versions)-1]) }},
		tampering{"access_entries: dropped", func(c *pb.ProofBundle) { c.AccessEntries = nil }},
		tampering{"anchors: the last dropped", func(c *pb.ProofBundle) { c.Anchors = c.Anchors[:len(c.Anchors)-1] }},
	)
	return out
}

// mutate changes the scalar at path in m (a clone of the bundle).
func mutate(m protoreflect.Message, path []step) {
	for _, s := range path[:len(path)-1] {
		v := m.Mutable(s.fd)
		if s.index >= 0 {
			m = v.List().Get(s.index).Message()
		} else {
			m = v.Message()
		}
	}
	last := path[len(path)-1]
	get := func() protoreflect.Value {
		if last.index >= 0 {
			return m.Get(last.fd).List().Get(last.index)
		}
		return m.Get(last.fd)
	}
	set := func(v protoreflect.Value) {
		if last.index >= 0 {
			m.Mutable(last.fd).List().Set(last.index, v)
		} else {
			m.Set(last.fd, v)
		}
	}
	v := get()
	switch last.fd.Kind() {
	case protoreflect.BytesKind:
		b := append([]byte(nil), v.Bytes()...)
		b[len(b)/2] ^= 0x01
		set(protoreflect.ValueOfBytes(b))
	case protoreflect.StringKind:
		s := []byte(v.String())
		s[len(s)-1] ^= 0x01
		set(protoreflect.ValueOfString(string(s)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		set(protoreflect.ValueOfUint64(v.Uint() + 1))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		set(protoreflect.ValueOfUint32(uint32(v.Uint()) + 1))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		set(protoreflect.ValueOfInt64(v.Int() + 1))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		set(protoreflect.ValueOfInt32(int32(v.Int()) + 1))
	case protoreflect.BoolKind:
		set(protoreflect.ValueOfBool(!v.Bool()))
	case protoreflect.EnumKind:
		set(protoreflect.ValueOfEnum(v.Enum() + 1))
	default:
		panic(fmt.Sprintf("tamper: field kind %v at %s", last.fd.Kind(), pathName(path)))
	}
}

func pathName(p []step) string {
	var parts []string
	for _, s := range p {
		if s.index >= 0 {
			parts = append(parts, fmt.Sprintf("%s[%d]", s.fd.Name(), s.index))
		} else {
			parts = append(parts, string(s.fd.Name()))
		}
	}
	return strings.Join(parts, ".")
}

// applyTampering is b with t applied, serialized.
func applyTampering(b *pb.ProofBundle, t tampering) ([]byte, error) {
	c := proto.Clone(b).(*pb.ProofBundle)
	t.apply(c)
	return proto.Marshal(c)
}
