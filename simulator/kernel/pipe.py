"""fs/pipe.c (Linux 3.16), the part a blocking read needs: pipe(2), a buffer, readers that
sleep while it is empty and writers exist, and writers that wake them.

A read end and a write end are open file descriptions that share one Pipe. Whether a pipe
still has readers or writers is read off the open descriptors of the live tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from simulator.kernel import syscalls, uaccess
from simulator.kernel.syscalls import _enter, _fail, handler

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

PIPE_BUF_SIZE = 16 * 4096  # PIPE_DEF_BUFFERS pages (include/linux/pipe_fs_i.h)
WOULD_BLOCK = object()


@attrs.define(eq=False)
class Pipe:
    """The pipe's buffer (struct pipe_inode_info, as one byte string) and its number."""

    number: int
    data: bytearray = attrs.field(factory=bytearray)


@attrs.define(eq=False)
class PipeEnd:
    """One end of a pipe as an open file description (pipefifo_fops)."""

    pipe: Pipe
    readable: bool = False
    writable: bool = False

    def read(self, count: int) -> bytes | object:
        """pipe_read: what is in the buffer, up to ``count``; WOULD_BLOCK when it is empty and
        the caller must decide (writers left: sleep; none: end of file)."""
        if self.pipe.data:
            chunk = bytes(self.pipe.data[:count])
            del self.pipe.data[:count]
            return chunk
        return WOULD_BLOCK

    def write(self, data: bytes) -> int:
        room = PIPE_BUF_SIZE - len(self.pipe.data)
        chunk = bytes(data[:room])
        self.pipe.data += chunk
        return len(chunk)


def ends(k: Kernel, pipe: Pipe, *, writable: bool) -> bool:
    """Whether a live task holds an end of ``pipe`` of that kind (pipe->writers/readers)."""
    for task in k.tasks.values():
        if not task.alive:
            continue
        for f in task.fds.values():
            if isinstance(f, PipeEnd) and f.pipe is pipe and f.writable == writable:
                return True
    return False


def wake_readers(k: Kernel, pipe: Pipe) -> None:
    """wake_up_interruptible_sync_poll(&pipe->wait): every task asleep on this pipe."""
    for task in k.tasks.values():
        if task.sleeping == pipe.number:
            task.sleeping = 0
            k.note("pipe_write -> wake_up (fs/pipe.c)", f"pid {task.pid} is runnable again")


@handler("sys_pipe", "fs/pipe.c")
def sys_pipe(k: Kernel, fildes: int, *_: int) -> int:
    """pipe(fildes) = pipe2(fildes, 0): a read end and a write end at the two lowest free fds,
    written to user memory as two ints."""
    task = k.current
    assert task is not None
    if k.kind == "i386" or task.status & 0x2:
        fildes &= 0xFFFF_FFFF
    k.pipes += 1
    pipe = Pipe(k.pipes)
    read_fd = task.lowest_free_fd()
    task.fds[read_fd] = PipeEnd(pipe, readable=True)
    write_fd = task.lowest_free_fd()
    task.fds[write_fd] = PipeEnd(pipe, writable=True)
    blob = read_fd.to_bytes(4, "little") + write_fd.to_bytes(4, "little")
    if not uaccess.access_ok(k, fildes, 8) or uaccess.copy_to_user(k, fildes, blob):
        del task.fds[read_fd], task.fds[write_fd]
        return _fail(k, "sys_pipe", "EFAULT", "the fd pair could not be written")
    _enter(k, "sys_pipe", f"pipe {pipe.number}: read end fd {read_fd}, write end fd {write_fd}")
    return 0


syscalls.PIPE_TYPES = (PipeEnd,)
