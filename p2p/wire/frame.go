package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// Errors callers test for.
var (
	// ErrFrameTooLarge: the announced length exceeds the reader's bound. No
	// payload byte has been read or allocated.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrBadLength: the length prefix is not a valid uvarint.
	ErrBadLength = errors.New("wire: malformed length prefix")
	// ErrMalformed: the payload is not a valid protobuf of the expected type.
	ErrMalformed = errors.New("wire: malformed message")
)

// ByteReader is what ReadFrame needs: byte-wise reads for the varint and
// bulk reads for the payload. *bufio.Reader satisfies it.
type ByteReader interface {
	io.Reader
	io.ByteReader
}

// NewReader wraps r for ReadFrame. The buffer is small on purpose: the
// payload is read with io.ReadFull into a slice of exactly the frame's size.
func NewReader(r io.Reader) ByteReader {
	if br, ok := r.(ByteReader); ok {
		return br
	}
	return bufio.NewReaderSize(r, 512)
}

// ReadFrame reads one frame whose payload is at most max bytes. It returns
// ErrFrameTooLarge before allocating when the prefix announces more,
// ErrBadLength for a broken prefix, io.EOF when the stream ends cleanly
// before a frame, and io.ErrUnexpectedEOF when it ends inside one.
func ReadFrame(r ByteReader, max int) ([]byte, error) {
	return ReadFrameReserve(r, max, nil)
}

// ReadFrameReserve is ReadFrame that, once the length is known and within
// max, asks reserve for that many bytes before allocating them (a libp2p
// stream scope's ReserveMemory, so frames count against the resource
// manager's per-peer and system memory). A refusal ends the read with the
// reserve error wrapped; nil reserve reserves nothing.
func ReadFrameReserve(r ByteReader, max int, reserve func(n int) error) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		switch {
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, io.ErrUnexpectedEOF
		default:
			// binary.ReadUvarint reports overflow with its own error value.
			return nil, fmt.Errorf("%w: %v", ErrBadLength, err)
		}
	}
	if max < 0 || n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, max)
	}
	if reserve != nil {
		if err := reserve(int(n)); err != nil {
			return nil, fmt.Errorf("wire: reserve %d bytes: %w", n, err)
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// AppendFrame appends the frame of payload to dst.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// WriteFrame writes payload as one frame with a single Write call, so a
// frame is never interleaved with anything else the caller writes.
func WriteFrame(w io.Writer, payload []byte) error {
	_, err := w.Write(AppendFrame(make([]byte, 0, binary.MaxVarintLen64+len(payload)), payload))
	return err
}

// WriteMsg encodes m and writes it as one frame. It refuses to write a frame
// larger than max, which the peer would refuse anyway.
func WriteMsg(w io.Writer, m proto.Message, max int) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("wire: encode %T: %w", m, err)
	}
	if len(b) > max {
		return fmt.Errorf("%w: %d-byte %T, limit %d", ErrFrameTooLarge, len(b), m, max)
	}
	return WriteFrame(w, b)
}

// ReadMsg reads one frame of at most max bytes and decodes it into m.
func ReadMsg(r ByteReader, max int, m proto.Message) error {
	return ReadMsgReserve(r, max, m, nil)
}

// ReadMsgReserve is ReadMsg with ReadFrameReserve's reservation. The frame
// buffer is garbage once m is decoded (proto.Unmarshal copies), so the
// caller may release the reservation when it returns.
func ReadMsgReserve(r ByteReader, max int, m proto.Message, reserve func(n int) error) error {
	b, err := ReadFrameReserve(r, max, reserve)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrMalformed, m, err)
	}
	return nil
}
