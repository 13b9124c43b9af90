package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestReadFrame(t *testing.T) {
	big := binary.AppendUvarint(nil, 1<<40) // announces 1 TiB, carries nothing
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"empty frame", []byte{0}, 10, []byte{}, nil},
		{"small frame", []byte{3, 'a', 'b', 'c'}, 10, []byte("abc"), nil},
		{"exactly max", []byte{3, 'a', 'b', 'c'}, 3, []byte("abc"), nil},
		{"over max", []byte{4, 'a', 'b', 'c', 'd'}, 3, nil, wire.ErrFrameTooLarge},
		{"huge announce", big, 1 << 20, nil, wire.ErrFrameTooLarge},
		{"clean eof", nil, 10, nil, io.EOF},
		{"eof in payload", []byte{5, 'a'}, 10, nil, io.ErrUnexpectedEOF},
		{"eof in prefix", []byte{0x80}, 10, nil, io.ErrUnexpectedEOF},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), 10, nil, wire.ErrBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wire.ReadFrame(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMsgRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := &pb.SyncRequest{Req: &pb.SyncRequest_Blocks{Blocks: &pb.BlocksRequest{FromHeight: 3, ToHeight: 9}}}
	if err := wire.WriteMsg(&buf, in, 1024); err != nil {
		t.Fatal(err)
	}
	if err := wire.WriteMsg(&buf, in, 2); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("WriteMsg over limit: err = %v", err)
	}
	r := wire.NewReader(&buf)
	out := new(pb.SyncRequest)
	if err := wire.ReadMsg(r, 1024, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("got %v, want %v", out, in)
	}
	if err := wire.ReadMsg(wire.NewReader(bytes.NewReader([]byte{2, 0xff, 0xff})), 10, out); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("malformed: err = %v", err)
	}
}

// FuzzReadFrame checks that no input makes the frame decoder panic, allocate
// past its bound, or return a frame that does not re-encode to its input.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{3, 'a', 'b', 'c'})
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Add(bytes.Repeat([]byte{0xff}, 11))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 4096
		r := bytes.NewReader(in)
		got, err := wire.ReadFrame(r, max)
		if err != nil {
			return
		}
		if len(got) > max {
			t.Fatalf("frame of %d bytes passed a %d-byte bound", len(got), max)
		}
		consumed := len(in) - r.Len()
		if consumed < len(got) || !bytes.Equal(in[consumed-len(got):consumed], got) {
			t.Fatalf("frame %x is not the tail of the consumed input %x", got, in[:consumed])
		}
		// Decoding a frame as a sync request or response must not panic.
		_ = proto.Unmarshal(got, new(pb.SyncRequest))
		_ = proto.Unmarshal(got, new(pb.SyncResponse))
	})
}

// FuzzReadMsg runs whole request frames through ReadMsg, as the sync server
// does with what a peer sends.
func FuzzReadMsg(f *testing.F) {
	for _, m := range []proto.Message{
		&pb.SyncRequest{},
		&pb.SyncRequest{Req: &pb.SyncRequest_Blocks{Blocks: &pb.BlocksRequest{FromHeight: 1, ToHeight: 10}}},
		&pb.SyncRequest{Req: &pb.SyncRequest_Txs{Txs: &pb.TxsRequest{Hashes: [][]byte{bytes.Repeat([]byte{7}, 32)}}}},
		&pb.SyncRequest{Req: &pb.SyncRequest_Status{Status: &pb.SyncStatusRequest{}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(wire.AppendFrame(nil, b))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := wire.NewReader(bytes.NewReader(in))
		for range 4 {
			if err := wire.ReadMsg(r, 1<<16, new(pb.SyncRequest)); err != nil {
				return
			}
		}
	})
}

func TestReadFrameReserve(t *testing.T) {
	errFull := errors.New("scope full")
	var asked []int
	reserve := func(n int) error {
		asked = append(asked, n)
		if n > 3 {
			return errFull
		}
		return nil
	}
	if b, err := wire.ReadFrameReserve(bytes.NewReader([]byte{3, 'a', 'b', 'c'}), 10, reserve); err != nil || string(b) != "abc" {
		t.Fatalf("got %q, %v", b, err)
	}
	if _, err := wire.ReadFrameReserve(bytes.NewReader([]byte{4, 'a', 'b', 'c', 'd'}), 10, reserve); !errors.Is(err, errFull) {
		t.Fatalf("refused reservation: err = %v", err)
	}
	// An oversized frame is refused before anything is reserved.
	if _, err := wire.ReadFrameReserve(bytes.NewReader(binary.AppendUvarint(nil, 1<<40)), 10, reserve); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("oversized: err = %v", err)
	}
	if len(asked) != 2 || asked[0] != 3 || asked[1] != 4 {
		t.Fatalf("reservations asked: %v", asked)
	}
}
