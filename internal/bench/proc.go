package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory is the server's resident memory during the run, from
// /proc/PID/status (Linux only).
type Memory struct {
	PID int `json:"pid"`
	// PeakMiB is VmHWM at the end: the most resident memory the process
	// ever had, start-up included.
	PeakMiB float64 `json:"peak_mib"`
	// MaxSampledMiB is the largest VmRSS seen, sampled every 100 ms.
	MaxSampledMiB float64 `json:"max_sampled_mib"`
	// EndMiB is VmRSS at the end of the load.
	EndMiB float64 `json:"end_mib"`
}

type sampler struct {
	pid  int
	max  int64 // KiB
	stp  chan struct{}
	done chan struct{}
}

// startSampler checks that pid's memory is readable and samples it until
// stop.
func startSampler(pid int) (*sampler, error) {
	if _, _, err := readMem(pid); err != nil {
		return nil, fmt.Errorf("cannot sample the memory of --pid %d: %v", pid, err)
	}
	s := &sampler{pid: pid, stp: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

func (s *sampler) run() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if rss, _, err := readMem(s.pid); err == nil {
			s.max = max(s.max, rss)
		}
		select {
		case <-s.stp:
			return
		case <-t.C:
		}
	}
}

func (s *sampler) stop() *Memory {
	close(s.stp)
	<-s.done
	m := &Memory{PID: s.pid, MaxSampledMiB: mib(s.max)}
	if rss, hwm, err := readMem(s.pid); err == nil {
		m.EndMiB, m.PeakMiB = mib(rss), mib(hwm)
		m.MaxSampledMiB = mib(max(s.max, rss))
	}
	return m
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// readMem returns VmRSS and VmHWM of pid, in KiB.
func readMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmRSS" && name != "VmHWM" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		if name == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if name, val, ok := strings.Cut(line, ":"); ok &&
			strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// cpuTime returns the CPU time, user and system, that pid has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may hold spaces: count from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// Fields 14 and 15 (utime, stime) are the 12th and 13th after it.
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
