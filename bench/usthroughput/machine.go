package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine names the box a run was taken on: the figures mean little
// without it.
func machine() string {
	var un syscall.Utsname
	kernel := "unknown kernel"
	if syscall.Uname(&un) == nil {
		kernel = utsString(un.Release[:])
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fields := strings.Fields(string(load))
	if len(fields) > 3 {
		fields = fields[:3]
	}
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, GOMAXPROCS %d, load average %s",
		cpuModel(), runtime.NumCPU(), kernel, runtime.Version(), runtime.GOMAXPROCS(0), strings.Join(fields, " "))
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "unknown CPU"
}

// cpuSample is the CPU time used so far: by this process (every thread:
// the tunnels, which run in process, and the traffic generator and
// receiver, with the kernel time spent in their system calls), and the
// machine's softirq time (all CPUs), where the kernel does much of the
// receive work (veth, TUN and UDP receive) without charging a process.
type cpuSample struct {
	proc    time.Duration // user + system of this process (getrusage)
	softirq time.Duration // softirq of the whole machine (/proc/stat)
}

func sampleCPU() cpuSample {
	var ru syscall.Rusage
	var s cpuSample
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.softirq = softirqTime()
	return s
}

func (s cpuSample) sub(t cpuSample) cpuSample {
	return cpuSample{proc: s.proc - t.proc, softirq: s.softirq - t.softirq}
}

// softirqTime is the "softirq" column of /proc/stat's cpu line, in USER_HZ
// ticks (100 per second on Linux).
func softirqTime() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq ...
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	ticks, err := strconv.ParseUint(f[7], 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
