package forward

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// peerReadAll reports, after the peer's end of stream, whether the peer
// closed in answer to the sink's own FIN, having read everything before it
// (ADR 0033). Then the peer's FIN acknowledged the sink's and the socket is
// closed (TIME_WAIT lives on in the kernel) without error. A peer that
// closed on its own before the sink's last bytes arrived answers them with
// a reset: the socket is closed with an error (EPIPE or ECONNRESET), or
// still waiting for the sink's FIN to be acknowledged (CLOSING) until the
// reset comes. known is false when the state cannot be read.
func peerReadAll(c *net.TCPConn, deadline time.Time) (ok, known bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	for {
		var state uint8
		var soErr int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			var info *unix.TCPInfo
			if info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); gerr != nil {
				return
			}
			state = info.State
			if state == tcpClose {
				soErr, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
			}
		}); err != nil || gerr != nil {
			return false, false
		}
		if state == tcpClose {
			return soErr == 0, true
		}
		if time.Now().After(deadline) {
			return false, true
		}
		time.Sleep(time.Millisecond)
	}
}

// tcpClose is Linux's TCP_CLOSE state.
const tcpClose = 7
