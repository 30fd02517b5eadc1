"""A copy of a release gtmd that valgrind 3.19 (Debian 12) runs: `speed.py instructions` and
`scripts/link/make-order.py` count instructions with callgrind on it.

Two things stop valgrind on the release binary itself:
- It cannot read the DWARF 5 of the Swift toolchain's debug info and gives up. The copy has no debug sections;
  the symbol table, which callgrind needs for function names, stays.
- Its wrapper of rt_sigsuspend writes into the signal mask the program passes, and libdispatch passes a constant
  (`_dispatch_sigsuspend.mask`) that sits in `.rodata`, read-only since `scripts/link/sections.ld`: valgrind faults
  on its own write ("VALGRIND INTERNAL ERROR ... signal 11") as soon as Dispatch's signal thread starts, on any
  CPU. The copy's read-only load segments are marked writable (only the program header's flags change; the
  instructions and their addresses are the same).
"""
import struct
import subprocess

PT_LOAD, PF_W, PF_R = 1, 2, 4


def valgrind_copy(src, dst):
    """Writes the copy of `src` to `dst` (executable)."""
    subprocess.run(["objcopy", "--strip-debug", src, dst], check=True)
    with open(dst, "r+b") as f:
        elf = bytearray(f.read())
        if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
            raise SystemExit(f"valgrind_copy: {src} is not a 64-bit little-endian ELF file")
        phoff = struct.unpack_from("<Q", elf, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
        for i in range(phnum):
            at = phoff + i * phentsize
            kind, flags = struct.unpack_from("<II", elf, at)
            if kind == PT_LOAD and flags == PF_R:
                struct.pack_into("<I", elf, at + 4, PF_R | PF_W)
        f.seek(0)
        f.write(elf)
