package proto_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/govnode/govnode/proto/govnode/v1"
)

// TestGeneratedCodeIsFresh compiles every .proto source and compares its
// descriptor with the one embedded in the committed generated Go code. Any
// edit to a .proto file without `make proto` fails here.
func TestGeneratedCodeIsFresh(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("govnode", "v1", "*.proto"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no proto sources found: %v", err)
	}
	comp := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"."}}),
		SourceInfoMode: protocompile.SourceInfoNone,
	}
	compiled, err := comp.Compile(context.Background(), files...)
	if err != nil {
		t.Fatalf("compile proto sources: %v", err)
	}
	for _, f := range compiled {
		path := f.Path()
		t.Run(path, func(t *testing.T) {
			gen, err := protoregistry.GlobalFiles.FindFileByPath(path)
			if err != nil {
				t.Fatalf("%s has no generated Go code: run `make proto`", path)
			}
			want := normalize(protodesc.ToFileDescriptorProto(f))
			got := normalize(protodesc.ToFileDescriptorProto(gen))
			if !gproto.Equal(want, got) {
				t.Fatalf("generated code for %s is stale: run `make proto` and commit the result", path)
			}
		})
	}
	// Every generated file must still have a source.
	protoregistry.GlobalFiles.RangeFilesByPackage("govnode.v1", func(fd protoreflect.FileDescriptor) bool {
		if _, err := os.Stat(fd.Path()); err != nil {
			t.Errorf("generated code for %s has no source any more: run `make proto`", fd.Path())
		}
		return true
	})
}

func normalize(fd *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	fd.SourceCodeInfo = nil
	var fixMsg func(m *descriptorpb.DescriptorProto)
	fixMsg = func(m *descriptorpb.DescriptorProto) {
		for _, f := range m.Field {
			// protoc fills json_name; both sides derive it from the name.
			if f.JsonName != nil && *f.JsonName == jsonName(f.GetName()) {
				f.JsonName = nil
			}
		}
		for _, n := range m.NestedType {
			fixMsg(n)
		}
	}
	for _, m := range fd.MessageType {
		fixMsg(m)
	}
	return fd
}

func jsonName(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			b.WriteString(strings.ToUpper(string(r)))
			up = false
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
