"""errno names and numbers (asm-generic), and the rule that tells an error return apart."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from abi.errors import AbiLookupError

#: include/linux/err.h (Linux 3.16): the largest errno a syscall returns negated.
MAX_ERRNO = 4095

# include/uapi/asm-generic/errno-base.h (1..34) and errno.h (35..133), Linux 3.16, in file
# order. Two names are aliases there: EWOULDBLOCK is EAGAIN, EDEADLOCK is EDEADLK.
_ERRNO_ROWS: tuple[tuple[str, int], ...] = (
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("ENOTBLK", 15),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("EXDEV", 18),
    ("ENODEV", 19),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENFILE", 23),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("ETXTBSY", 26),
    ("EFBIG", 27),
    ("ENOSPC", 28),
    ("ESPIPE", 29),
    ("EROFS", 30),
    ("EMLINK", 31),
    ("EPIPE", 32),
    ("EDOM", 33),
    ("ERANGE", 34),
    ("EDEADLK", 35),
    ("ENAMETOOLONG", 36),
    ("ENOLCK", 37),
    ("ENOSYS", 38),
    ("ENOTEMPTY", 39),
    ("ELOOP", 40),
    ("ENOMSG", 42),
    ("EIDRM", 43),
    ("ECHRNG", 44),
    ("EL2NSYNC", 45),
    ("EL3HLT", 46),
    ("EL3RST", 47),
    ("ELNRNG", 48),
    ("EUNATCH", 49),
    ("ENOCSI", 50),
    ("EL2HLT", 51),
    ("EBADE", 52),
    ("EBADR", 53),
    ("EXFULL", 54),
    ("ENOANO", 55),
    ("EBADRQC", 56),
    ("EBADSLT", 57),
    ("EBFONT", 59),
    ("ENOSTR", 60),
    ("ENODATA", 61),
    ("ETIME", 62),
    ("ENOSR", 63),
    ("ENONET", 64),
    ("ENOPKG", 65),
    ("EREMOTE", 66),
    ("ENOLINK", 67),
    ("EADV", 68),
    ("ESRMNT", 69),
    ("ECOMM", 70),
    ("EPROTO", 71),
    ("EMULTIHOP", 72),
    ("EDOTDOT", 73),
    ("EBADMSG", 74),
    ("EOVERFLOW", 75),
    ("ENOTUNIQ", 76),
    ("EBADFD", 77),
    ("EREMCHG", 78),
    ("ELIBACC", 79),
    ("ELIBBAD", 80),
    ("ELIBSCN", 81),
    ("ELIBMAX", 82),
    ("ELIBEXEC", 83),
    ("EILSEQ", 84),
    ("ERESTART", 85),
    ("ESTRPIPE", 86),
    ("EUSERS", 87),
    ("ENOTSOCK", 88),
    ("EDESTADDRREQ", 89),
    ("EMSGSIZE", 90),
    ("EPROTOTYPE", 91),
    ("ENOPROTOOPT", 92),
    ("EPROTONOSUPPORT", 93),
    ("ESOCKTNOSUPPORT", 94),
    ("EOPNOTSUPP", 95),
    ("EPFNOSUPPORT", 96),
    ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98),
    ("EADDRNOTAVAIL", 99),
    ("ENETDOWN", 100),
    ("ENETUNREACH", 101),
    ("ENETRESET", 102),
    ("ECONNABORTED", 103),
    ("ECONNRESET", 104),
    ("ENOBUFS", 105),
    ("EISCONN", 106),
    ("ENOTCONN", 107),
    ("ESHUTDOWN", 108),
    ("ETOOMANYREFS", 109),
    ("ETIMEDOUT", 110),
    ("ECONNREFUSED", 111),
    ("EHOSTDOWN", 112),
    ("EHOSTUNREACH", 113),
    ("EALREADY", 114),
    ("EINPROGRESS", 115),
    ("ESTALE", 116),
    ("EUCLEAN", 117),
    ("ENOTNAM", 118),
    ("ENAVAIL", 119),
    ("EISNAM", 120),
    ("EREMOTEIO", 121),
    ("EDQUOT", 122),
    ("ENOMEDIUM", 123),
    ("EMEDIUMTYPE", 124),
    ("ECANCELED", 125),
    ("ENOKEY", 126),
    ("EKEYEXPIRED", 127),
    ("EKEYREVOKED", 128),
    ("EKEYREJECTED", 129),
    ("EOWNERDEAD", 130),
    ("ENOTRECOVERABLE", 131),
    ("ERFKILL", 132),
    ("EHWPOISON", 133),
)
_ALIASES: tuple[tuple[str, str], ...] = (("EWOULDBLOCK", "EAGAIN"), ("EDEADLOCK", "EDEADLK"))


def _build() -> tuple[Mapping[str, int], Mapping[int, str]]:
    by_name: dict[str, int] = {}
    by_number: dict[int, str] = {}
    for name, number in _ERRNO_ROWS:
        if name in by_name or number in by_number:
            raise ValueError(f"errno {name} = {number} is listed twice")
        if not 0 < number <= MAX_ERRNO:
            raise ValueError(f"errno {name} = {number} is outside 1..MAX_ERRNO")
        by_name[name] = number
        by_number[number] = name
    for alias, target in _ALIASES:
        by_name[alias] = by_name[target]
    return MappingProxyType(by_name), MappingProxyType(by_number)


#: errno numbers by name (aliases included); canonical names by number.
ERRNO, ERRNO_NAMES = _build()


def errno_number(name: str) -> int:
    """The number of errno ``name`` (``"EFAULT"`` is 14)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, received {type(name).__name__} {name!r}")
    try:
        return ERRNO[name]
    except KeyError:
        raise AbiLookupError(
            f"name: expected an asm-generic errno name, received {name!r}"
        ) from None


def errno_name(number: int) -> str:
    """The name of errno ``number`` (14 is ``"EFAULT"``; aliases give the first name)."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"number: expected an int, received {type(number).__name__} {number!r}")
    try:
        return ERRNO_NAMES[number]
    except KeyError:
        raise AbiLookupError(
            f"number: expected an asm-generic errno number, received {number!r}"
        ) from None


def to_signed(value: int, width: int = 64) -> int:
    """Read a ``width``-bit register value as the signed long the kernel returned."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value: expected an int, received {type(value).__name__} {value!r}")
    if width not in (32, 64):
        raise ValueError(f"width: expected 32 or 64, received {width!r}")
    if not -(1 << (width - 1)) <= value < 1 << width:
        raise ValueError(f"value: expected a {width}-bit value, received {value:#x}")
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def is_error(value: int, width: int = 64) -> bool:
    """Whether a syscall return value is an error: -MAX_ERRNO..-1 (IS_ERR_VALUE)."""
    return -MAX_ERRNO <= to_signed(value, width) <= -1


def error_number(value: int, width: int = 64) -> int | None:
    """The errno a return value carries, or None when it is not an error."""
    signed = to_signed(value, width)
    return -signed if -MAX_ERRNO <= signed <= -1 else None
