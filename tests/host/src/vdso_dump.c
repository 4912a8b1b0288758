/*
 * The vDSO this process was given, written to stdout: a header, then the whole image.
 *
 * Built by tests/host/hostrun.py, freestanding and static, for 64-bit code
 * (cc -nostdlib -static) and for 32-bit code (cc -m32 ...: that needs the 32-bit C headers,
 * which Debian's gcc-multilib brings). No C library is linked: _start below finds the
 * auxiliary vector past argv and envp, and the two system calls are made inline.
 *
 * Header (little-endian 64-bit words): "RSVDSO\0\0", the word size in bits, AT_SYSINFO,
 * AT_SYSINFO_EHDR, and the image's size (0 when there is no vDSO). The size is the end of the
 * ELF file the kernel copied into the vDSO: its section headers, or its last PT_LOAD bytes.
 */
#include <elf.h>
#include <stdint.h>

#if defined(__x86_64__)
typedef Elf64_Ehdr Ehdr;
typedef Elf64_Phdr Phdr;
#define NR_WRITE 1
#define NR_EXIT 60

static long sys3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

__asm__(".globl _start\n"
	"_start:\n"
	"	movq %rsp, %rdi\n"
	"	andq $-16, %rsp\n"
	"	call dump_main\n"
	"	hlt\n");
#else
typedef Elf32_Ehdr Ehdr;
typedef Elf32_Phdr Phdr;
#define NR_WRITE 4
#define NR_EXIT 1

static long sys3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

__asm__(".globl _start\n"
	"_start:\n"
	"	movl %esp, %eax\n"
	"	andl $-16, %esp\n"
	"	subl $12, %esp\n"
	"	pushl %eax\n"
	"	call dump_main\n"
	"	hlt\n");
#endif

struct header {
	char magic[8];
	uint64_t bits;
	uint64_t sysinfo;
	uint64_t sysinfo_ehdr;
	uint64_t size;
};

static void put(const void *data, unsigned long size)
{
	const char *p = data;

	while (size) {
		long done = sys3(NR_WRITE, 1, (long)p, (long)size);

		if (done <= 0)
			sys3(NR_EXIT, 2, 0, 0);
		p += done;
		size -= done;
	}
}

static unsigned long image_size(const Ehdr *e)
{
	unsigned long end = e->e_shoff + (unsigned long)e->e_shnum * e->e_shentsize;
	const Phdr *ph = (const Phdr *)((const char *)e + e->e_phoff);

	for (int i = 0; i < e->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > end)
			end = ph[i].p_offset + ph[i].p_filesz;
	return end;
}

__attribute__((used)) void dump_main(unsigned long *sp)
{
	unsigned long argc = sp[0];
	unsigned long *p = sp + argc + 2; /* envp */
	struct header h = { "RSVDSO", 8 * sizeof(long), 0, 0, 0 };

	while (*p)
		p++;
	for (p++; p[0] != AT_NULL; p += 2) {
		if (p[0] == AT_SYSINFO)
			h.sysinfo = p[1];
		else if (p[0] == AT_SYSINFO_EHDR)
			h.sysinfo_ehdr = p[1];
	}
	if (h.sysinfo_ehdr)
		h.size = image_size((const Ehdr *)(uintptr_t)h.sysinfo_ehdr);
	put(&h, sizeof(h));
	if (h.size)
		put((const void *)(uintptr_t)h.sysinfo_ehdr, h.size);
	sys3(NR_EXIT, 0, 0, 0);
	for (;;)
		;
}
