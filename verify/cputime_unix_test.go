//go:build unix

package verify_test

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time so far, so that benchmarks
// can report a rate per CPU-second that other load on the machine does not
// distort.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
