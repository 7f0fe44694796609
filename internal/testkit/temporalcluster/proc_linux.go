package temporalcluster

import "syscall"

// childAttr makes the kernel kill the server when the process that started
// it dies (a test binary killed by its timeout leaves no server behind).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
