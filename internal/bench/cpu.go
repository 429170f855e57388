package bench

import (
	"os"
	"time"
)

// measureCPU runs phase, which fills e, and sets e.CPU from the CPU time
// this process and, if pid is positive, the server used meanwhile.
func measureCPU(pid int, e *Endpoint, phase func()) {
	self0, err := cpuTime(os.Getpid())
	if err != nil {
		phase()
		return
	}
	srv0, srvErr := time.Duration(0), error(nil)
	if pid > 0 {
		srv0, srvErr = cpuTime(pid)
	}
	phase()
	self1, err := cpuTime(os.Getpid())
	if err != nil || e.Seconds == 0 {
		return
	}
	e.CPU = &CPU{ClientCores: (self1 - self0).Seconds() / e.Seconds}
	if pid <= 0 || srvErr != nil {
		return
	}
	if srv1, err := cpuTime(pid); err == nil && e.Requests > 0 {
		e.CPU.ServerCores = (srv1 - srv0).Seconds() / e.Seconds
		e.CPU.ServerMicros = float64((srv1-srv0)/time.Microsecond) / float64(e.Requests)
	}
}
