package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Process figures from /proc (Linux; elsewhere they read as zero).

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel fixes it for
// user space whatever its internal HZ).
const clockTicks = 100

// procStat is what the harness reads from /proc/<pid>/stat.
type procStat struct {
	comm       string
	ppid       int
	cpu        time.Duration // utime + stime
	rssPages   int64
	parseError error
}

// parseProcStat reads one /proc/<pid>/stat line. The command name is
// parenthesised and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parseProcStat(line string) procStat {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{parseError: fmt.Errorf("malformed stat line %q", line)}
	}
	st := procStat{comm: line[open+1 : end]}
	f := strings.Fields(line[end+1:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12) ... rss(21).
	if len(f) < 22 {
		return procStat{parseError: fmt.Errorf("stat line has %d fields after the name", len(f))}
	}
	num := func(i int) int64 {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil && st.parseError == nil {
			st.parseError = fmt.Errorf("stat field %d: %w", i, err)
		}
		return n
	}
	st.ppid = int(num(1))
	st.cpu = time.Duration(num(11)+num(12)) * time.Second / clockTicks
	st.rssPages = num(21)
	return st
}

func readProcStat(pid int) procStat {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{parseError: err}
	}
	return parseProcStat(strings.TrimSpace(string(b)))
}

// processes lists the pids whose stat matches keep.
func processes(keep func(procStat) bool) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st := readProcStat(pid); st.parseError == nil && keep(st) {
			out = append(out, pid)
		}
	}
	return out
}

// childrenNamed are this process's children called comm (a server started
// through testsuite or temporalcluster, whose pid is not exposed).
func childrenNamed(comm string) []int {
	self := os.Getpid()
	return processes(func(st procStat) bool { return st.ppid == self && st.comm == comm })
}

// cpuTime sums the CPU time of pids.
func cpuTime(pids ...int) time.Duration {
	var d time.Duration
	for _, p := range pids {
		if st := readProcStat(p); st.parseError == nil {
			d += st.cpu
		}
	}
	return d
}

// memStatus reads a kB field of /proc/<pid>/status (VmRSS: resident now,
// VmHWM: the high-water mark) in bytes.
func memStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// cpuGroup is a set of processes whose CPU use is reported together.
type cpuGroup struct {
	Name string
	pids func() []int
}

// CPUShare is how many cores a group used on average over a window.
type CPUShare struct {
	Name  string
	Cores float64
}

// cpuMeter measures the CPU use of groups over a window.
type cpuMeter struct {
	groups []cpuGroup
	start  time.Time
	before []time.Duration
	idle   time.Duration
}

func startCPUMeter(groups ...cpuGroup) *cpuMeter {
	m := &cpuMeter{groups: groups, start: time.Now(), idle: systemIdle()}
	for _, g := range groups {
		m.before = append(m.before, cpuTime(g.pids()...))
	}
	return m
}

// stop returns each group's share, then what the rest of the machine used
// (other processes: the machine is shared) and its idle cores.
func (m *cpuMeter) stop() []CPUShare {
	wall := time.Since(m.start)
	out := make([]CPUShare, 0, len(m.groups)+2)
	used := 0.0
	for i, g := range m.groups {
		c := float64(cpuTime(g.pids()...)-m.before[i]) / float64(wall)
		used += c
		out = append(out, CPUShare{g.Name, c})
	}
	idle := float64(systemIdle()-m.idle) / float64(wall)
	return append(out, CPUShare{"other processes", max(0, float64(runtime.NumCPU())-idle-used)}, CPUShare{"idle", idle})
}

// systemIdle is the machine's idle time summed over its CPUs (/proc/stat).
func systemIdle() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait ...
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	idle, _ := strconv.ParseInt(f[4], 10, 64)
	return time.Duration(idle) * time.Second / clockTicks
}
