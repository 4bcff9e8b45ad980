package local

import (
	"encoding/binary"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// filterVM loads Filter's output back into a BPF VM, so each test checks
// the exact bytes bwrap receives.
func filterVM(t *testing.T) *bpf.VM {
	t.Helper()
	raw, err := Filter()
	if err != nil {
		t.Fatal(err)
	}
	var ins []bpf.Instruction
	for i := 0; i < len(raw); i += 8 {
		r := bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(raw[i:]), Jt: raw[i+2], Jf: raw[i+3],
			K: binary.NativeEndian.Uint32(raw[i+4:]),
		}
		ins = append(ins, r.Disassemble())
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// seccompData builds a struct seccomp_data. The VM reads it big-endian,
// as network packets are, so loads of native words are byte-swapped
// here to match what the kernel's little-endian loads would see.
func seccompData(auditArch uint32, nr int, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], auditArch)
	for i, a := range args {
		// Kernel: low word at 16+8i, high word at 20+8i (little-endian).
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	return b
}

func TestFilterDecisions(t *testing.T) {
	vm := filterVM(t)
	x86 := uint32(arch.X86_64.ID)
	nr := func(name string) int { return arch.X86_64.SyscallNames[name] }
	allow := uint32(seccomp.ActionAllow)
	eperm := uint32(seccomp.ActionErrno) | uint32(unix.EPERM)
	tests := []struct {
		name string
		data []byte
		want uint32
	}{
		{"read is allowed", seccompData(x86, nr("read")), allow},
		{"ptrace is refused", seccompData(x86, nr("ptrace")), eperm},
		{"clock_settime is refused", seccompData(x86, nr("clock_settime")), eperm},
		{"unshare is refused", seccompData(x86, nr("unshare")), eperm},
		{"io_uring_setup is refused", seccompData(x86, nr("io_uring_setup")), eperm},
		{"clone3 gets ENOSYS", seccompData(x86, nr("clone3")),
			uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
		{"thread clone is allowed", seccompData(x86, nr("clone"),
			unix.CLONE_VM|unix.CLONE_THREAD|unix.CLONE_SIGHAND), allow},
		{"clone with a new user namespace is refused",
			seccompData(x86, nr("clone"), unix.CLONE_NEWUSER), eperm},
		{"clone with a new network namespace is refused",
			seccompData(x86, nr("clone"), unix.CLONE_NEWNET|uint64(unix.SIGCHLD)), eperm},
		{"inet socket is allowed", seccompData(x86, nr("socket"), unix.AF_INET), allow},
		{"unix socket is allowed", seccompData(x86, nr("socket"), unix.AF_UNIX), allow},
		{"inet6 socket is allowed", seccompData(x86, nr("socket"), unix.AF_INET6), allow},
		{"netlink socket is refused", seccompData(x86, nr("socket"), unix.AF_NETLINK),
			uint32(seccomp.ActionErrno) | uint32(unix.EAFNOSUPPORT)},
		{"vsock socket is refused", seccompData(x86, nr("socket"), unix.AF_VSOCK),
			uint32(seccomp.ActionErrno) | uint32(unix.EAFNOSUPPORT)},
		{"packet socket is refused", seccompData(x86, nr("socket"), unix.AF_PACKET),
			uint32(seccomp.ActionErrno) | uint32(unix.EAFNOSUPPORT)},
		{"inet with high bits set is refused", seccompData(x86, nr("socket"), 1<<32|unix.AF_INET),
			uint32(seccomp.ActionErrno) | uint32(unix.EAFNOSUPPORT)},
		{"TIOCSTI is refused", seccompData(x86, nr("ioctl"), 0, unix.TIOCSTI), eperm},
		{"TIOCSTI with high bits set is refused",
			seccompData(x86, nr("ioctl"), 0, 0xffffffff00000000|unix.TIOCSTI), eperm},
		{"other ioctls are allowed", seccompData(x86, nr("ioctl"), 0, unix.TCGETS), allow},
		{"i386 syscalls kill the process", seccompData(uint32(arch.I386.ID), 1),
			uint32(seccomp.ActionKillProcess)},
		{"x32 syscalls get ENOSYS", seccompData(x86, nr("read")|0x40000000),
			uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vm.Run(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if uint32(got) != tt.want {
				t.Errorf("got %#x, want %#x", uint32(got), tt.want)
			}
		})
	}
}
