"""Several processes interleave system calls; none sees another's memory, registers or state."""

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from simulator import Machine

MOTD = b"0123456789abcdefghijklmnopqrstuvwxyz"
VIAS = {"x86_64": ("syscall", "int80"), "x32": ("syscall", "int80")}
VIAS["i386"] = ("kernel_vsyscall", "int80", "sysenter")


class Processes(RuleBasedStateMachine):
    """A reference model per process: its buffer, what it wrote, its umask, its registers."""

    def __init__(self) -> None:
        super().__init__()
        self.m = Machine.boot(kernel="x86_64", cpu="intel")
        self.m.fs.add_file("/etc/motd", MOTD)
        self.procs = [self.m.spawn(a) for a in ("x86_64", "i386", "x32", "i386")]
        self.model = {}
        for p in self.procs:
            buf = p.alloc(64)
            path = p.alloc(16)
            p.write_mem(path, b"/etc/motd\0")
            fd = p.syscall("open", path, 0, 0, trace=False).ret
            assert fd == 3
            self.model[p.pid] = {
                "buf": buf,
                "content": bytes(64),
                "stdout": b"",
                "umask": 0o022,
                "regs": p.registers(),
                "offset": 0,
            }

    def _call(self, p, *args, **kw):
        result = p.syscall(*args, trace=False, **kw)
        self.model[p.pid]["regs"] = p.registers()
        return result

    @rule(i=st.integers(0, 3), mask=st.integers(0, 0o777), data=st.data())
    def set_umask(self, i, mask, data):
        p = self.procs[i]
        via = data.draw(st.sampled_from(VIAS[p.abi]))
        r = self._call(p, "umask", mask, via=via)
        assert r.ret == self.model[p.pid]["umask"]
        self.model[p.pid]["umask"] = mask

    @rule(i=st.integers(0, 3), payload=st.binary(min_size=1, max_size=32), data=st.data())
    def write_stdout(self, i, payload, data):
        p = self.procs[i]
        m = self.model[p.pid]
        p.write_mem(m["buf"], payload)
        m["content"] = payload + m["content"][len(payload) :]
        via = data.draw(st.sampled_from(VIAS[p.abi]))
        r = self._call(p, "write", 1, m["buf"], len(payload), via=via)
        assert r.ret == len(payload)
        m["stdout"] += payload

    @rule(i=st.integers(0, 3), count=st.integers(0, 16), data=st.data())
    def read_file(self, i, count, data):
        p = self.procs[i]
        m = self.model[p.pid]
        via = data.draw(st.sampled_from(VIAS[p.abi]))
        r = self._call(p, "read", 3, m["buf"], count, via=via)
        got = MOTD[m["offset"] : m["offset"] + count]
        assert r.ret == len(got)
        m["offset"] += len(got)
        m["content"] = got + m["content"][len(got) :]

    @rule(i=st.integers(0, 3))
    def getpid(self, i):
        p = self.procs[i]
        assert self._call(p, "getpid").ret == p.pid

    @invariant()
    def isolated(self):
        for p in self.procs:
            m = self.model[p.pid]
            assert p.read_mem(m["buf"], 64) == m["content"]
            assert p.stdout == m["stdout"]
            assert p.registers() == m["regs"]
            assert p.task.umask == m["umask"]


TestProcesses = Processes.TestCase
