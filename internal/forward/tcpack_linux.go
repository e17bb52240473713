package forward

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerReadAll reports, after the peer's end of stream, whether the peer
// closed in answer to the sink's own FIN (ADR 0033): only then does the
// socket reach TIME_WAIT, the peer's FIN acknowledging the sink's. A peer
// that closed on its own before the sink's last bytes arrived never
// acknowledges them (its kernel answers them with a reset), and one that
// closed with bytes unread resets the connection. known is false when the
// state cannot be read.
func peerReadAll(c *net.TCPConn) (ok, known bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || gerr != nil {
		return false, false
	}
	return info.State == tcpTimeWait, true
}

// tcpTimeWait is Linux's TCP_TIME_WAIT state.
const tcpTimeWait = 6
