package local

import (
	"encoding/binary"
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM inside the sandbox. Each one reaches
// kernel surface a test run never needs and an escape often does:
// debugging other processes, kernel keyrings, eBPF, new mounts or
// namespaces, kernel modules, io_uring (a history of privilege bugs),
// and the host clock.
var deniedSyscalls = []string{
	"ptrace", "process_vm_readv", "process_vm_writev",
	"bpf", "perf_event_open", "userfaultfd",
	"add_key", "request_key", "keyctl",
	"mount", "umount2", "pivot_root", "move_mount", "fsopen", "fsmount",
	"fsconfig", "fspick", "open_tree", "open_tree_attr", "mount_setattr",
	"unshare", "setns", "chroot",
	"init_module", "finit_module", "delete_module",
	"kexec_load", "kexec_file_load",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"acct", "swapon", "swapoff", "reboot", "quotactl", "syslog",
	"name_to_handle_at", "open_by_handle_at", "lookup_dcookie",
	"uselib", "iopl", "ioperm", "vhangup",
}

// namespaceFlags are the clone flags that create namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// errnoAction returns the action that fails a syscall with errno.
func errnoAction(errno unix.Errno) seccomp.Action {
	return seccomp.ActionErrno | seccomp.Action(errno)
}

// policy is the deny list, assembled by go-seccomp-bpf. The default is
// allow: the sandbox's namespaces, capabilities and cgroups are the
// primary walls, this filter removes kernel attack surface behind them.
func policy() *seccomp.Policy {
	return &seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: deniedSyscalls, Action: seccomp.ActionErrno},
			// clone3 passes its flags in memory a filter cannot read;
			// ENOSYS makes libc and language runtimes fall back to clone.
			{Names: []string{"clone3"}, Action: errnoAction(unix.ENOSYS)},
			{NamesWithCondtions: []seccomp.NameWithConditions{{
				Name: "clone",
				Conditions: seccomp.ArgumentConditions{{
					Argument: 0, Operation: seccomp.BitsSet,
					Value: namespaceFlags,
				}},
			}}, Action: seccomp.ActionErrno},
			// Only unix and IP sockets: netlink, packet, vsock, bluetooth,
			// alg and the rest are kernel surface, and packet or vsock
			// sockets reach past the network namespace.
			{NamesWithCondtions: socketRules(), Action: errnoAction(unix.EAFNOSUPPORT)},
		},
	}
}

func socketRules() []seccomp.NameWithConditions {
	notAllowed := seccomp.ArgumentConditions{
		{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_UNIX},
		{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_INET},
		{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_INET6},
	}
	return []seccomp.NameWithConditions{
		{Name: "socket", Conditions: notAllowed},
		{Name: "socketpair", Conditions: notAllowed},
	}
}

// prefix runs before the generated policy. It kills any process that
// makes a syscall through a foreign ABI (the 32-bit int 0x80 entry on
// amd64 would otherwise skip the policy, which allows foreign arches),
// and refuses ioctl(TIOCSTI), which pushes input into a terminal. The
// ioctl request is compared on its low 32 bits only, as the kernel
// truncates it: a value with high bits set must not slip through.
func prefix(info *arch.Info) ([]bpf.Instruction, error) {
	ioctl, ok := info.SyscallNames["ioctl"]
	if !ok {
		return nil, fmt.Errorf("no ioctl syscall on %s", info.Name)
	}
	const (
		offNR   = 0
		offArch = 4
		offArg1 = 16 + 8 // little-endian: low half of args[1]
	)
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionKillProcess)},
		bpf.LoadAbsolute{Off: offNR, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ioctl), SkipFalse: 3},
		bpf.LoadAbsolute{Off: offArg1, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCSTI, SkipFalse: 1},
		bpf.RetConstant{Val: uint32(errnoAction(unix.EPERM))},
	}, nil
}

// Filter returns the sandbox's seccomp program as the array of struct
// sock_filter that bwrap's --seccomp option reads.
func Filter() ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp architecture: %w", err)
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, fmt.Errorf("seccomp filter: big-endian %s unsupported", info.Name)
	}
	head, err := prefix(info)
	if err != nil {
		return nil, err
	}
	body, err := policy().Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp policy: %w", err)
	}
	raw, err := bpf.Assemble(append(head, body...))
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp program: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, ins := range raw {
		out = binary.NativeEndian.AppendUint16(out, ins.Op)
		out = append(out, ins.Jt, ins.Jf)
		out = binary.NativeEndian.AppendUint32(out, ins.K)
	}
	return out, nil
}
