package launch

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"
)

// cpuMaskWords is the size of the affinity masks used here: 1024 CPUs.
const cpuMaskWords = 16

// workerProcAttr puts a worker in its own process group, so that a Ctrl-C in the terminal
// reaches only the parent, which forwards it once (a worker that received it twice would die
// without its checkpoint); and asks the kernel to send the worker SIGTERM should the parent
// die, so that an orphaned worker checkpoints and stops rather than running on unwatched.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// allowedCPUs returns the CPUs in this process's affinity mask.
func allowedCPUs() []int {
	var mask [cpuMaskWords]uint64
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
	if errno != 0 {
		return nil
	}
	var cpus []int
	for w, bits := range mask {
		for b := range 64 {
			if bits&(1<<b) != 0 {
				cpus = append(cpus, w*64+b)
			}
		}
	}
	return cpus
}

// startPinned starts cmd bound to cpus (all CPUs when empty). A process inherits the affinity
// of the thread that forks it, so the start happens on a thread of its own whose affinity is
// set first. That thread stays until gone is closed (the worker has exited): the kernel sends
// the parent-death signal when the forking thread ends, not the process. It is never handed
// back to the Go scheduler (its goroutine ends locked, and the runtime then ends the thread).
func startPinned(cmd *exec.Cmd, cpus []int, gone <-chan struct{}) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	var mask [cpuMaskWords]uint64
	for _, c := range cpus {
		if c < 0 || c >= cpuMaskWords*64 {
			return fmt.Errorf("CPU %d out of range", c)
		}
		mask[c/64] |= 1 << (c % 64)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
		if errno != 0 {
			errc <- fmt.Errorf("binding to %s: %w", cpuName(cpus), errno)
			return
		}
		err := cmd.Start()
		errc <- err
		if err == nil {
			<-gone
		}
	}()
	return <-errc
}
