package sim

import (
	"container/heap"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type eventKind int

const (
	evTick eventKind = iota
	evDeliver
	evFetch
	evAction
)

type event struct {
	at   uint64
	seq  uint64
	kind eventKind
	to   int
	from int
	msg  *pb.ConsensusMessage
	hash []byte
	act  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

var _ heap.Interface = (*eventQueue)(nil)
