//go:build linux

package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel has no sch_netem here, so Delayer delays packets in user
// space: iptables sends them to an NFQUEUE, the Delayer reads each queued
// packet's id (metadata only, no payload), and gives the kernel its ACCEPT
// verdict once the delay has passed. Every packet is held the same time, so
// releases are in queue order and one batch verdict ("every id up to N")
// releases all that are due.
//
// The netlink protocol (linux/netfilter/nfnetlink_queue.h):
const (
	nfnlSubsysQueue      = 3
	nfqnlMsgPacket       = 0
	nfqnlMsgConfig       = 2
	nfqnlMsgVerdictBatch = 3
	nfqaPacketHdr        = 1
	nfqaVerdictHdr       = 2
	nfqaCfgCmd           = 1
	nfqaCfgParams        = 2
	nfqaCfgQueueMaxlen   = 3
	nfqnlCfgCmdBind      = 1
	nfqnlCopyMeta        = 1
	nfAccept             = 1
	nfqMaxLen            = 1 << 14
)

// Delayer holds the packets of one NFQUEUE queue in one namespace for a
// fixed delay.
type Delayer struct {
	fd    int
	queue uint16
	delay time.Duration
	seq   uint32

	held chan heldPacket
	stop chan struct{}
	wg   sync.WaitGroup

	nHeld atomic.Int64 // packets held so far

	mu    sync.Mutex
	maxID uint32 // highest packet id released
	err   error
}

type heldPacket struct {
	id  uint32
	due time.Time
}

// NewDelayer binds queue in network namespace ns (a name under
// /var/run/netns) and starts holding its packets for delay. The netlink
// socket is opened inside ns from a thread that enters it and returns; the
// socket stays in ns.
func NewDelayer(ns string, queue uint16, delay time.Duration) (*Delayer, error) {
	fd, err := socketInNS(ns)
	if err != nil {
		return nil, err
	}
	d := &Delayer{fd: fd, queue: queue, delay: delay, held: make(chan heldPacket, nfqMaxLen), stop: make(chan struct{})}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink: %w", err)
	}
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0} // command, pad, pf (unused since Linux 3.8)
	params := make([]byte, 5)               // copy_range (be32) 0, copy_mode
	params[4] = nfqnlCopyMeta
	maxlen := binary.BigEndian.AppendUint32(nil, nfqMaxLen)
	for _, attrs := range [][]byte{
		attr(nfqaCfgCmd, cmd),
		append(attr(nfqaCfgParams, params), attr(nfqaCfgQueueMaxlen, maxlen)...),
	} {
		if err := d.request(nfqnlMsgConfig, attrs); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("configure NFQUEUE %d in %s: %w", queue, ns, err)
		}
	}
	d.wg.Add(2)
	go d.read()
	go d.release()
	return d, nil
}

func socketInNS(ns string) (int, error) {
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters ns; if it cannot return to its own namespace
		// it is left locked and dies with the goroutine.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("enter %s: %w", ns, err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{fd, serr}
			return
		}
		runtime.UnlockOSThread()
		done <- result{fd, serr}
	}()
	r := <-done
	if r.err != nil {
		return -1, fmt.Errorf("netlink socket in %s: %w", ns, r.err)
	}
	return r.fd, nil
}

// attr is one netlink attribute, padded to 4 bytes.
func attr(typ uint16, payload []byte) []byte {
	n := 4 + len(payload)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], payload)
	return b
}

// message is a netlink message of the queue subsystem: nlmsghdr, nfgenmsg
// (family unspecified, version 0, queue number), attributes.
func (d *Delayer) message(msg uint16, flags uint16, attrs []byte) []byte {
	d.seq++
	b := make([]byte, 16+4, 16+4+len(attrs))
	binary.NativeEndian.PutUint32(b[0:], uint32(20+len(attrs)))
	binary.NativeEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|msg)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], d.seq)
	binary.BigEndian.PutUint16(b[18:], d.queue)
	return append(b, attrs...)
}

// request sends a config message and waits for its acknowledgement. It is
// used before the reader starts.
func (d *Delayer) request(msg uint16, attrs []byte) error {
	m := d.message(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK, attrs)
	if err := unix.Sendto(d.fd, m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(d.fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, nm := range msgs {
		if nm.Header.Type == unix.NLMSG_ERROR && len(nm.Data) >= 4 {
			if e := int32(binary.NativeEndian.Uint32(nm.Data)); e != 0 {
				return syscall.Errno(-e)
			}
			return nil
		}
	}
	return errors.New("no acknowledgement")
}

// read takes queued packets' ids and hands them to release.
func (d *Delayer) read() {
	defer d.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		n, _, err := unix.Recvfrom(d.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.ENOBUFS) {
				// The kernel could not deliver some packets to us and
				// dropped them: a little extra loss, not a harness error.
				continue
			}
			d.fail(err)
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			d.fail(err)
			return
		}
		now := time.Now()
		for _, m := range msgs {
			if m.Header.Type != nfnlSubsysQueue<<8|nfqnlMsgPacket || len(m.Data) < 4 {
				continue
			}
			for a := m.Data[4:]; len(a) >= 4; {
				l := int(binary.NativeEndian.Uint16(a))
				if l < 4 || l > len(a) {
					break
				}
				if binary.NativeEndian.Uint16(a[2:])&0x7fff == nfqaPacketHdr && l >= 8 {
					id := binary.BigEndian.Uint32(a[4:])
					d.nHeld.Add(1)
					select {
					case d.held <- heldPacket{id: id, due: now.Add(d.delay)}:
					case <-d.stop:
						return
					}
				}
				a = a[min((l+3)&^3, len(a)):]
			}
		}
	}
}

// release gives the verdict for every packet whose delay has passed.
func (d *Delayer) release() {
	defer d.wg.Done()
	for {
		var p heldPacket
		select {
		case p = <-d.held:
		case <-d.stop:
			return
		}
		if wait := time.Until(p.due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.stop:
				return
			}
		}
		last := p.id
	drain:
		for {
			select {
			case q := <-d.held:
				last = q.id
				if time.Until(q.due) > 0 {
					// Not due yet: release up to the packet before it.
					d.verdict(q.id - 1)
					if wait := time.Until(q.due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-d.stop:
							return
						}
					}
				}
			default:
				break drain
			}
		}
		d.verdict(last)
	}
}

// verdict accepts every queued packet with an id up to id.
func (d *Delayer) verdict(id uint32) {
	v := binary.BigEndian.AppendUint32(nil, nfAccept)
	v = binary.BigEndian.AppendUint32(v, id)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.maxID = max(d.maxID, id)
	m := d.message(nfqnlMsgVerdictBatch, unix.NLM_F_REQUEST, attr(nfqaVerdictHdr, v))
	if err := unix.Sendto(d.fd, m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil && d.err == nil {
		d.err = fmt.Errorf("NFQUEUE verdict: %w", err)
	}
}

func (d *Delayer) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = fmt.Errorf("NFQUEUE read: %w", err)
	}
}

// Held is how many packets the delayer has held so far.
func (d *Delayer) Held() int64 { return d.nHeld.Load() }

// Close releases every held packet at once and unbinds the queue. Remove
// the iptables rule first, or packets queued after Close pass unheld
// (--queue-bypass) only once the socket is gone. It returns the first error
// the delayer met.
func (d *Delayer) Close() error {
	close(d.stop)
	d.wg.Wait()
	last := uint32(0)
	for {
		select {
		case p := <-d.held:
			last = p.id
			continue
		default:
		}
		break
	}
	if last != 0 {
		d.verdict(last)
	}
	unix.Close(d.fd)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}
